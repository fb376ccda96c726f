"""TREC run files: ``query_id Q0 doc_id rank score tag``, one line per retrieved document."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..data.ids import id_problem
from ..errors import SpladeError
from ..io import atomic_path

# query_id -> [(doc_id, score), ...] in rank order
Run = dict[str, list[tuple[str, float]]]


def run_from_topk(query_ids: Sequence[str], doc_ids: Sequence[str], doc_idx: np.ndarray, scores: np.ndarray) -> Run:
    """Turn top-k arrays (doc index -1 = empty place) into a Run."""
    doc_ids = np.asarray(doc_ids)
    run: Run = {}
    for query_id, row_idx, row_scores in zip(query_ids, doc_idx, scores):
        keep = row_idx >= 0
        run[str(query_id)] = list(zip(doc_ids[row_idx[keep]].tolist(), row_scores[keep].tolist()))
    return run


def write_trec_run(path: str | os.PathLike, run: Run, tag: str = "splade-core") -> None:
    """Write a run; ids that would not survive TREC's whitespace-split columns are an error."""
    if id_problem(tag) is not None:
        raise ValueError(f"run tag must be one word, got {tag!r}")
    checked: set[str] = set()
    with atomic_path(path) as tmp, open(tmp, "w") as out:
        for query_id, ranking in run.items():
            _check_run_id(query_id, "query", checked)
            for rank, (doc_id, score) in enumerate(ranking, 1):
                _check_run_id(doc_id, "document", checked)
                if not math.isfinite(score):
                    raise ValueError(f"score {score} of document {doc_id!r} for query {query_id!r} is not finite")
                out.write(f"{query_id} Q0 {doc_id} {rank} {_format_score(score)} {tag}\n")


def _check_run_id(value: str, kind: str, checked: set[str]) -> None:
    if value not in checked:
        problem = id_problem(value)
        if problem is not None:
            raise ValueError(f"{kind} id {value!r} {problem}: a TREC run cannot hold it")
        checked.add(value)


def read_trec_run(path: str | os.PathLike) -> Run:
    """Read a run; each query's documents come back in rank order (the file's rank column)."""
    path = Path(path)
    if not path.is_file():
        raise SpladeError(f"{path}: no such file")
    rows: dict[str, list[tuple[int, str, float]]] = {}
    with open(path) as handle:
        for number, line in enumerate(handle, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 6:
                raise SpladeError(
                    f"{path}:{number}: expected 6 columns (qid Q0 docid rank score tag), got {len(fields)}"
                )
            query_id, _, doc_id, rank, score, _ = fields
            try:
                rows.setdefault(query_id, []).append((int(rank), doc_id, float(score)))
            except ValueError:
                raise SpladeError(f"{path}:{number}: rank and score must be numbers") from None
    return {
        qid: [(doc_id, score) for _, doc_id, score in sorted(entries, key=lambda e: e[0])]
        for qid, entries in rows.items()
    }


def _format_score(score: float) -> str:
    return str(int(score)) if float(score).is_integer() else f"{score:.6f}"
