"""Search a whole query file against an index (or by brute force) and time it.

Latency is measured as users meet it: one query at a time on one thread (mean, p50, p99),
after untimed warm-up calls (`timed_calls`, which the index benchmark uses too, so the study's
figures and benchmarks/RESULTS.md are measured alike); throughput (QPS) is the batch search
over `threads` threads that produces the run.
"""

from __future__ import annotations

import os
import time

import numpy as np

from ..sparse import SparseVectors
from ..sparse.vectors import check_pairing
from .brute_force import brute_force_search


def search_index(
    path: str | os.PathLike,
    queries: SparseVectors,
    k: int,
    algorithm: str = "default",
    threads: int = 1,
    measure_latency: bool = True,
    queries_path: str | os.PathLike = "the queries",
    allow_model_mismatch: bool = False,
):
    """(doc_ids, doc_idx [nq,k], scores [nq,k], stats) from an index file, once the queries
    (read from `queries_path`) are known to fit it (`check_pairing`)."""
    from ..index import InvertedIndex
    from ..index.presets import PRESETS

    index = InvertedIndex.load(path)
    check_pairing(queries, index, queries_path, path, allow_model_mismatch)
    ran = index.default_algorithm(k) if algorithm == "default" else algorithm
    options = {"algorithm": ran}
    csr = queries.to_csr()
    stats: dict = {"k": k, "threads": threads, "queries": queries.n_rows, "algorithm": ran}
    if ran in PRESETS:
        stats["preset"] = index.preset(ran).to_json()
    if measure_latency and queries.n_rows:
        wall, cpu, _ = timed_calls(
            [
                lambda row=row: index.search(csr[row : row + 1], k=k, threads=1, **options)
                for row in range(queries.n_rows)
            ]
        )
        stats.update(_latency_ms(wall, cpu))
    began = time.perf_counter()
    doc_idx, scores = index.search(csr, k=k, threads=threads, **options)
    seconds = time.perf_counter() - began
    stats["qps"] = round(queries.n_rows / seconds, 1) if seconds > 0 else None
    index_stats = index.stats()
    stats["index_bytes"] = index_stats.get("total_bytes")
    stats["postings"] = index_stats.get("postings")
    return index.doc_ids, doc_idx, scores, stats


def search_brute_force(queries: SparseVectors, docs: SparseVectors, k: int):
    """(doc_idx, scores, stats) of the exact scipy search; QPS only."""
    began = time.perf_counter()
    doc_idx, scores = brute_force_search(queries.to_csr(), docs.to_csr(), k)
    seconds = time.perf_counter() - began
    stats = {
        "k": k,
        "threads": 1,
        "queries": queries.n_rows,
        "algorithm": "brute-force",
        "qps": round(queries.n_rows / seconds, 1) if seconds > 0 else None,
    }
    return doc_idx, scores, stats


WARMUP_CALLS = 10


def timed_calls(calls, warmup: int = WARMUP_CALLS) -> tuple[np.ndarray, np.ndarray, list]:
    """Wall-clock and process-CPU milliseconds of each call, and its result, after the first
    `warmup` calls were made once untimed (page cache, allocator, branch predictors)."""
    for call in calls[:warmup]:
        call()
    wall, cpu, results = np.empty(len(calls)), np.empty(len(calls)), []
    for i, call in enumerate(calls):
        began, began_cpu = time.perf_counter_ns(), time.process_time_ns()
        results.append(call())
        wall[i] = (time.perf_counter_ns() - began) / 1e6
        cpu[i] = (time.process_time_ns() - began_cpu) / 1e6
    return wall, cpu, results


def _latency_ms(wall: np.ndarray, cpu: np.ndarray) -> dict:
    return {
        "latency_mean_ms": round(float(wall.mean()), 4),
        "latency_p50_ms": round(float(np.percentile(wall, 50)), 4),
        "latency_p99_ms": round(float(np.percentile(wall, 99)), 4),
        "latency_cpu_p50_ms": round(float(np.percentile(cpu, 50)), 4),
        "warmup_calls": min(WARMUP_CALLS, len(wall)),
    }
