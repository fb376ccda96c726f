"""Metrics of a run against relevance judgments, and SPLADE's FLOPS.

Runs are evaluated as ranked: pytrec_eval (trec_eval) would re-sort documents with equal
scores by doc id, which changes the order of integer-scored (quantized) runs, so each
document is scored by its rank before evaluation. Queries judged but absent from the run
count as 0 (trec_eval -c); a document is relevant when its judgment is >= 1.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import pytrec_eval

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
    judged = {qid: docs for qid, docs in qrels.items() if docs}
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
    be an open `VectorFile`: their stored term counts are all this reads of them."""
    if queries.vocab_size != docs.vocab_size:
        raise ValueError(f"query vocabulary ({queries.vocab_size}) differs from the documents' ({docs.vocab_size})")
    p_q = queries.term_df() / max(queries.n_rows, 1)
    p_d = docs.term_df() / max(docs.n_rows, 1)
    return {
        "flops": float(p_q @ p_d),
        "avg_query_nnz": queries.nnz / max(queries.n_rows, 1),
        "avg_doc_nnz": docs.nnz / max(docs.n_rows, 1),
        "postings": int(docs.nnz),
    }


def format_table(rows: list[dict], columns: list[str]) -> str:
    """A GitHub-flavoured Markdown table (numbers to 4 decimals)."""

    def cell(value) -> str:
        if isinstance(value, float) and value.is_integer() and abs(value) >= 100:
            return str(int(value))
        if isinstance(value, float):
            return f"{value:.4f}" if abs(value) < 100 else f"{value:.1f}"
        return str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(cell(row.get(c, "")) for c in columns) + " |" for row in rows]
    return "\n".join(lines)
