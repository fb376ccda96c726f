"""TREC run files: ``query_id Q0 doc_id rank score tag``, one line per retrieved document."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from ..data.ids import first_id_problem, id_problem
from ..errors import SpladeError
from ..io import atomic_path

# query_id -> [(doc_id, score), ...] in rank order
Run = dict[str, list[tuple[str, float]]]


def run_from_topk(query_ids: Sequence[str], doc_ids: Sequence[str], doc_idx: np.ndarray, scores: np.ndarray) -> Run:
    """Turn top-k arrays (doc index -1 = empty place) into a Run."""
    return dict(iter_topk(query_ids, doc_ids, doc_idx, scores))


def iter_topk(
    query_ids: Sequence[str], doc_ids: Sequence[str], doc_idx: np.ndarray, scores: np.ndarray
) -> Iterator[tuple[str, list[tuple[str, float]]]]:
    """(query id, ranking) of each row of top-k arrays, one query at a time (for write_trec_run)."""
    doc_ids = np.asarray(doc_ids)
    for query_id, row_idx, row_scores in zip(query_ids, doc_idx, scores):
        keep = row_idx >= 0
        yield str(query_id), list(zip(doc_ids[row_idx[keep]].tolist(), row_scores[keep].tolist()))


def write_trec_run(
    path: str | os.PathLike, run: Run | Iterable[tuple[str, list[tuple[str, float]]]], tag: str = "splade-core"
) -> None:
    """Write a run (a Run, or (query id, ranking) pairs); ids that would not survive TREC's
    whitespace-split columns are an error."""
    if id_problem(tag) is not None:
        raise ValueError(f"run tag must be one word, got {tag!r}")
    with atomic_path(path) as tmp, open(tmp, "w") as out:
        for query_id, ranking in run.items() if isinstance(run, dict) else run:
            _check_run_ids([query_id], "query")
            _check_run_ids([doc_id for doc_id, _ in ranking], "document")
            for rank, (doc_id, score) in enumerate(ranking, 1):
                if not math.isfinite(score):
                    raise ValueError(f"score {score} of document {doc_id!r} for query {query_id!r} is not finite")
                out.write(f"{query_id} Q0 {doc_id} {rank} {_format_score(score)} {tag}\n")


def _check_run_ids(values: list, kind: str) -> None:
    """Raise on the first id a run line cannot hold (a query's ids are checked together)."""
    found = first_id_problem(values)
    if found is not None:
        raise ValueError(f"{kind} id {found[0]!r} {found[1]}: a TREC run cannot hold it")


class UngroupedRun(SpladeError):
    """A run whose lines of one query are not contiguous (`iter_trec_run` cannot stream it)."""


def read_trec_run(path: str | os.PathLike) -> Run:
    """Read a run; each query's documents come back in rank order (the file's rank column)."""
    rows: dict[str, list[tuple[int, str, float]]] = {}
    for query_id, entries in _line_groups(path):
        rows.setdefault(query_id, []).extend(entries)
    return {qid: _ranked(entries) for qid, entries in rows.items()}


def iter_trec_run(path: str | os.PathLike) -> Iterator[tuple[str, list[tuple[str, float]]]]:
    """(query id, its documents in rank order) of each query in file order, one query held at a
    time; raises UngroupedRun if a query's lines are not contiguous (read_trec_run reads those)."""
    done: set[str] = set()
    for query_id, entries in _line_groups(path):
        if query_id in done:
            raise UngroupedRun(f"{path}: the lines of query {query_id!r} are not contiguous")
        done.add(query_id)
        yield query_id, _ranked(entries)


def paired_rankings(path: str | os.PathLike, reference_path: str | os.PathLike) -> Iterator[tuple[list, list]]:
    """(reference ranking, ranking of `path` for that query, [] if absent) for each query of the
    reference run, reading both a query at a time: runs that list their queries in one order
    (as `splade search` writes them) hold one query each in memory. Raises UngroupedRun as
    `iter_trec_run` does."""
    rankings = iter_trec_run(path)
    ahead: dict[str, list] = {}
    for query_id, reference in iter_trec_run(reference_path):
        while query_id not in ahead:
            found = next(rankings, None)
            if found is None:
                break
            ahead[found[0]] = found[1]
        yield reference, ahead.pop(query_id, [])


def _line_groups(path: str | os.PathLike) -> Iterator[tuple[str, list[tuple[int, str, float]]]]:
    """Runs of consecutive lines of one query: (query id, [(rank, doc id, score)])."""
    path = Path(path)
    if not path.is_file():
        raise SpladeError(f"{path}: no such file")
    current, entries = None, []
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
            if query_id != current:
                if current is not None:
                    yield current, entries
                current, entries = query_id, []
            try:
                entries.append((int(rank), doc_id, float(score)))
            except ValueError:
                raise SpladeError(f"{path}:{number}: rank and score must be numbers") from None
    if current is not None:
        yield current, entries


def _ranked(entries: list[tuple[int, str, float]]) -> list[tuple[str, float]]:
    return [(doc_id, score) for _, doc_id, score in sorted(entries, key=lambda e: e[0])]


def _format_score(score: float) -> str:
    return str(int(score)) if float(score).is_integer() else f"{score:.6f}"
