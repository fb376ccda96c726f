"""Metrics of a run against relevance judgments, and SPLADE's FLOPS.

Runs are evaluated as ranked: pytrec_eval (trec_eval) would re-sort documents with equal
scores by doc id, which changes the order of integer-scored (quantized) runs, so each
document is scored by its rank before evaluation. Queries judged but absent from the run
count as 0 (trec_eval -c); a document is relevant when its judgment is >= 1.

`write_per_query` keeps the value of every judged query, those zeros included (their mean is
the aggregate figure), for paired significance tests between runs (`significance.py`).
"""

from __future__ import annotations

import math
import numbers as numbers_module
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytrec_eval

from ..data.ids import first_id_problem
from ..errors import SpladeError
from ..io import atomic_path
from ..retrieve.runs import Run
from ..sparse import SparseVectors, VectorFile

_QUERIES_PER_BATCH = 500
# name shown -> (pytrec_eval measure, ranking cut-off applied before evaluating)
DEFAULT_METRICS = {
    "MRR@10": ("recip_rank", 10),
    "nDCG@10": ("ndcg_cut_10", None),
    "R@100": ("recall_100", None),
    "R@1000": ("recall_1000", None),
}


def evaluate_run(
    run: Run | Iterable[tuple[str, list[tuple[str, float]]]],
    qrels: dict[str, dict[str, int]],
    metrics=DEFAULT_METRICS,
) -> dict:
    """Mean of each metric over the judged queries, plus per-query values.

    `run` is a Run or an iterable of (query id, ranking) pairs, e.g. `iter_trec_run(path)`:
    queries are evaluated a batch at a time, so a 6,980-query × 1,000 run is never held whole.
    """
    # negative grades (TREC's -2: junk) gain nothing in trec_eval, and crash pytrec_eval: as 0
    judged = {qid: {doc: max(grade, 0) for doc, grade in docs.items()} for qid, docs in qrels.items() if docs}
    per_query: dict[str, dict[str, float]] = {qid: dict.fromkeys(metrics, 0.0) for qid in judged}
    evaluators = {
        name: pytrec_eval.RelevanceEvaluator(judged, {measure}, relevance_level=1)
        for name, (measure, _) in metrics.items()
    }
    retrieved = 0
    pairs = run.items() if isinstance(run, dict) else run
    for batch in _batches((pair for pair in pairs if pair[0] in judged), _QUERIES_PER_BATCH):
        retrieved += len(batch)
        for name, (measure, cutoff) in metrics.items():
            for qid, values in evaluators[name].evaluate(_rank_scored(batch, cutoff)).items():
                per_query[qid][name] = values[measure]
    means = {name: float(np.mean([q[name] for q in per_query.values()])) if per_query else 0.0 for name in metrics}
    return {"metrics": means, "queries": len(judged), "queries_retrieved": retrieved, "per_query": per_query}


def recall_against_exact(pairs: Iterable[tuple[list, list]], cutoffs: Iterable[int] = (10,)) -> dict[str, float]:
    """How much of an exact run an approximate one keeps: per cut-off k, the mean over the exact
    run's queries of the share of its top k that the other run's top k reaches, a document
    counting when its score reaches the exact k-th score (tied documents are interchangeable;
    approximate presets return true scores). `pairs`: (exact ranking, other ranking) per query
    of the exact run, e.g. `paired_rankings`, taken one at a time. Named "R@k vs exact"."""
    cutoffs = list(cutoffs)
    totals, counts = dict.fromkeys(cutoffs, 0.0), dict.fromkeys(cutoffs, 0)
    for exact, ranking in pairs:
        for k in cutoffs:
            truth = exact[:k]
            if not truth:
                continue
            kth = truth[-1][1]
            reached = sum(score >= kth for _, score in ranking[:k])
            totals[k] += min(reached, len(truth)) / len(truth)
            counts[k] += 1
    return {f"R@{k} vs exact": totals[k] / counts[k] if counts[k] else float("nan") for k in cutoffs}


# Header of a per-query file: one line per (judged query, metric), as `trec_eval -q` lists them.
PER_QUERY_COLUMNS = ("query_id", "metric", "value")


def write_per_query(path: str | os.PathLike, per_query: dict[str, dict[str, float]]) -> None:
    """Per-query values (`evaluate_run(...)["per_query"]`) as a tab-separated file with the
    header `query_id metric value`: queries in judgment order, metrics in the given order,
    values exact (shortest round-trip repr), judged queries the run lacks as 0."""
    found = first_id_problem(list(per_query))
    if found is not None:
        raise ValueError(f"query id {found[0]!r} {found[1]}: a per-query file cannot hold it")
    with atomic_path(path) as tmp, open(tmp, "w") as out:
        out.write("\t".join(PER_QUERY_COLUMNS) + "\n")
        for query_id, values in per_query.items():
            out.writelines(f"{query_id}\t{name}\t{float(value)!r}\n" for name, value in values.items())


def read_per_query(path: str | os.PathLike) -> pd.DataFrame:
    """A per-query file as a frame: one row per query id (the index), one column per metric
    (NaN where a query lacks one). Anything but `write_per_query`'s format is a SpladeError
    naming the file (and the line)."""
    path = Path(path)
    if not path.is_file():
        raise SpladeError(f"{path}: no such file")
    values: dict[str, dict[str, float]] = {}
    try:
        with open(path, encoding="utf-8") as handle:
            if handle.readline().rstrip("\n").split("\t") != list(PER_QUERY_COLUMNS):
                raise SpladeError(f"{path}: not a per-query file (no header line {' '.join(PER_QUERY_COLUMNS)!r})")
            for number, line in enumerate(handle, 2):
                fields = line.rstrip("\n").split("\t")
                if len(fields) != len(PER_QUERY_COLUMNS):
                    raise SpladeError(f"{path}:{number}: expected 3 tab-separated columns, got {len(fields)}")
                query_id, metric, text = fields
                value = _finite(text)
                if value is None:
                    raise SpladeError(f"{path}:{number}: value {text!r} is not a finite number")
                if metric in values.setdefault(query_id, {}):
                    raise SpladeError(f"{path}:{number}: query {query_id!r} has a second {metric} value")
                values[query_id][metric] = value
    except UnicodeDecodeError:
        raise SpladeError(f"{path}: not a per-query file (not UTF-8 text)") from None
    frame = pd.DataFrame.from_dict(values, orient="index", dtype=float)
    frame.index.name = PER_QUERY_COLUMNS[0]
    return frame


def _finite(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if np.isfinite(value) else None


def _batches(pairs: Iterable, size: int) -> Iterator[dict]:
    batch = {}
    for qid, ranking in pairs:
        batch[qid] = ranking
        if len(batch) == size:
            yield batch
            batch = {}
    if batch:
        yield batch


def _rank_scored(run: Run, cutoff: int | None) -> dict[str, dict[str, float]]:
    scored = {}
    for qid, ranking in run.items():
        ranking = ranking[:cutoff] if cutoff else ranking
        scored[qid] = {doc_id: float(len(ranking) - rank) for rank, (doc_id, _) in enumerate(ranking)}
    return scored


def sparsity_stats(queries: SparseVectors, docs: SparseVectors | VectorFile) -> dict:
    """Average non-zeros per query and document, and FLOPS = Σ_j p_q(j)·p_d(j) (Paria et al.
    2020; Formal et al. 2021): the expected number of multiplications of one query-document
    dot product, p(j) being the fraction of rows in which term j is non-zero. The documents may
    be an open `VectorFile`: their term counts are counted from their term ids, streamed a chunk
    at a time (`VectorFile.checked_term_df`; the weights are not read), never taken on trust
    from the counts the file stores."""
    if queries.vocab_size != docs.vocab_size:
        raise ValueError(f"query vocabulary ({queries.vocab_size}) differs from the documents' ({docs.vocab_size})")
    p_q = queries.term_df() / max(queries.n_rows, 1)
    doc_df = docs.checked_term_df() if isinstance(docs, VectorFile) else docs.term_df()
    p_d = doc_df / max(docs.n_rows, 1)
    return {
        "flops": float(p_q @ p_d),
        "avg_query_nnz": queries.nnz / max(queries.n_rows, 1),
        "avg_doc_nnz": docs.nnz / max(docs.n_rows, 1),
        "postings": int(docs.nnz),
    }


def format_cell(value) -> str:
    """A table cell: numbers to 4 decimals (whole numbers from 100 on as integers)."""
    if isinstance(value, float) and value.is_integer() and abs(value) >= 100:
        return str(int(value))
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 100 else f"{value:.1f}"
    return str(value)


def column_decimals(values: Iterable) -> int | None:
    """Decimals that show a column's numbers alike: none if all are whole, else 4 (1 from 100
    on), more when a non-zero value would print as zero (a λ of 1e-5); None for no numbers."""
    numbers = [float(v) for v in values if isinstance(v, numbers_module.Real) and not isinstance(v, (bool, np.bool_))]
    numbers = [v for v in numbers if math.isfinite(v)]
    if not numbers:
        return None
    if all(v.is_integer() for v in numbers):
        return 0
    decimals = 4 if max(abs(v) for v in numbers) < 100 else 1
    smallest = min((abs(v) for v in numbers if v), default=1.0)
    return min(8, max(decimals, math.ceil(-math.log10(smallest)) + 1))


def format_columns(rows: list[dict], columns: list[str]) -> list[dict[str, str]]:
    """Rows as table cells, every number of a column to the same decimals (column_decimals)."""
    decimals = {column: column_decimals(row.get(column) for row in rows) for column in columns}

    def cell(value, places):
        if places is None or isinstance(value, (str, bool, np.bool_)) or not isinstance(value, numbers_module.Real):
            return str(value)
        return f"{float(value):.{places}f}" if math.isfinite(value) else str(value)

    return [{column: cell(row.get(column, ""), decimals[column]) for column in columns} for row in rows]


def format_table(rows: list[dict], columns: list[str]) -> str:
    """A GitHub-flavoured Markdown table (numbers to 4 decimals)."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(format_cell(row.get(c, "")) for c in columns) + " |" for row in rows]
    return "\n".join(lines)
