"""Exact top-k by scipy sparse products: the correctness oracle for the inverted index.

Order: score descending, then doc index ascending. Only documents with a positive score are
returned (an inverted index never sees the others); missing places hold doc index -1 and
score 0.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def score_dtype(queries: sp.sparray, docs: sp.sparray) -> np.dtype:
    """int64 for integer impacts (exact, no overflow), float64 otherwise."""
    integer = np.issubdtype(queries.dtype, np.integer) and np.issubdtype(docs.dtype, np.integer)
    return np.dtype(np.int64 if integer else np.float64)


def brute_force_search(queries, docs, k: int, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Top-k of every query row against every document row: (doc_idx int32 [nq,k], scores [nq,k])."""
    if k < 1:
        raise ValueError(f"k must be positive, got {k}")
    queries, docs = sp.csr_array(queries), sp.csr_array(docs)
    if queries.shape[1] != docs.shape[1]:
        raise ValueError(f"queries have {queries.shape[1]} terms, documents {docs.shape[1]}")
    dtype = score_dtype(queries, docs)
    docs_t = docs.astype(dtype).T.tocsr()
    doc_idx = np.full((queries.shape[0], k), -1, dtype=np.int32)
    scores = np.zeros((queries.shape[0], k), dtype=dtype)
    for start in range(0, queries.shape[0], batch_size):
        block = (queries[start : start + batch_size].astype(dtype) @ docs_t).toarray()
        idx, val = topk_rows(block, k)
        doc_idx[start : start + len(block)] = idx
        scores[start : start + len(block)] = val
    return doc_idx, scores


def topk_rows(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the k best positive scores, ties broken by smaller column index."""
    n_rows, n_cols = scores.shape
    out_idx = np.full((n_rows, k), -1, dtype=np.int32)
    out_val = np.zeros((n_rows, k), dtype=scores.dtype)
    for row, values in enumerate(scores):
        candidates = np.flatnonzero(values > 0)
        if len(candidates) > k:
            kth = np.partition(values[candidates], len(candidates) - k)[len(candidates) - k]
            candidates = candidates[values[candidates] >= kth]
        order = candidates[np.lexsort((candidates, -values[candidates]))][:k]
        out_idx[row, : len(order)] = order
        out_val[row, : len(order)] = values[order]
    return out_idx, out_val
