"""Static pruning of sparse vectors: pure functions CSR → CSR.

Lassance, Lupart, Déjean, Clinchant, Nardini, "A Static Pruning Study on Sparse Neural
Retrievers", SIGIR 2023, prune a SPLADE index before it is built in three ways, all here:

- ``document``: document-centric, keep the k heaviest terms of each document (row);
- ``term``: term-centric, keep the k heaviest postings of each term (posting list);
  ``term_quantile`` keeps instead the postings at or above a per-term quantile q of the
  posting list's weights (numpy.quantile, method="lower"), ties included;
- ``agnostic``: keep every weight w >= t, whatever its document or term.

Ties at a top-k cut go to the smaller term id (document-centric) or the smaller document
index, i.e. the earlier row (term-centric). Kept entries stay in their input order, and
rows emptied by pruning stay as empty rows, so row i is still document i. The kernels
(`_prune`, Cython) work on uint8/uint16 impacts and float32 weights alike.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..registry import PRUNING_METHODS
from . import _prune
from .vectors import WEIGHT_DTYPES, SparseVectors

RULES = {
    "document": "keep the k heaviest entries of each row; ties: smaller term id",
    "term": "keep the k heaviest postings of each term; ties: smaller document index",
    "term_quantile": "keep postings w >= numpy.quantile(term's weights, q, method='lower')",
    "agnostic": "keep entries w >= t",
}


def prune_document_csr(indptr, indices, data, k: int):
    """Keep the k heaviest entries of each row; returns new (indptr, indices, data)."""
    k = _check_count(k)
    indptr, indices, data = _coerce(indptr, indices, data)
    keep = np.zeros(len(data), dtype=np.uint8)
    _prune.document_topk(indptr, indices, data, k, keep)
    return _compact(indptr, indices, data, keep)


def prune_term_csr(indptr, indices, data, vocab_size: int, k: int):
    """Keep the k heaviest postings of each term; returns new (indptr, indices, data)."""
    k = _check_count(k)
    indptr, indices, data = _coerce(indptr, indices, data, vocab_size)
    keep = np.zeros(len(data), dtype=np.uint8)
    _prune.term_select(indptr, indices, data, vocab_size, k, -1.0, keep)
    return _compact(indptr, indices, data, keep)


def prune_term_quantile_csr(indptr, indices, data, vocab_size: int, quantile: float):
    """Keep each term's postings at or above its quantile; returns new (indptr, indices, data)."""
    quantile = _check_real(quantile, "quantile")
    if not 0.0 <= quantile <= 1.0:
        raise ValueError(f"quantile must lie in [0, 1], not {quantile}")
    indptr, indices, data = _coerce(indptr, indices, data, vocab_size)
    keep = np.zeros(len(data), dtype=np.uint8)
    _prune.term_select(indptr, indices, data, vocab_size, 0, quantile, keep)
    return _compact(indptr, indices, data, keep)


def prune_agnostic_csr(indptr, indices, data, threshold: float):
    """Keep every entry of weight >= threshold; returns new (indptr, indices, data)."""
    threshold = _check_real(threshold, "threshold")
    indptr, indices, data = _coerce(indptr, indices, data)
    keep = np.zeros(len(data), dtype=np.uint8)
    _prune.at_least(data, threshold, keep)
    return _compact(indptr, indices, data, keep)


def prune(vectors: SparseVectors, method: str, value) -> SparseVectors:
    """Prune vectors by one of PRUNING_METHODS; records what was done in meta["pruning"].

    `value` is k for "document" and "term", the quantile q in [0, 1] for "term_quantile", and
    the threshold t for "agnostic" (in the vectors' own units: impacts once quantized).
    """
    if method == "document":
        arrays = prune_document_csr(vectors.indptr, vectors.indices, vectors.data, value)
    elif method == "term":
        arrays = prune_term_csr(vectors.indptr, vectors.indices, vectors.data, vectors.vocab_size, value)
    elif method == "term_quantile":
        arrays = prune_term_quantile_csr(vectors.indptr, vectors.indices, vectors.data, vectors.vocab_size, value)
    elif method == "agnostic":
        if vectors.data.dtype.kind == "u" and value > np.iinfo(vectors.data.dtype).max:
            raise ValueError(
                f"agnostic threshold {value:g} is above the largest {vectors.data.dtype} impact "
                f"({np.iinfo(vectors.data.dtype).max}): it would prune every posting"
            )
        arrays = prune_agnostic_csr(vectors.indptr, vectors.indices, vectors.data, value)
    else:
        raise ValueError(f"pruning method must be one of {PRUNING_METHODS}, not {method!r}")
    meta = dict(vectors.meta)
    record = {
        "method": method,
        "value": value.item() if isinstance(value, np.generic) else value,
        "rule": RULES[method],
        "postings_before": vectors.nnz,
        "postings_after": len(arrays[2]),
    }
    if "pruning" in meta:
        record["previous"] = meta["pruning"]
    meta["pruning"] = record
    return SparseVectors(*arrays, ids=vectors.ids, vocab_size=vectors.vocab_size, meta=meta)


def _check_count(k) -> int:
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise ValueError(f"k must be a non-negative integer, not {k!r}")
    if k < 0:
        raise ValueError(f"k must be a non-negative integer, not {k}")
    return int(k)


def _check_real(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite number, not {value!r}")
    return float(value)


def _coerce(indptr, indices, data, vocab_size: int | None = None):
    """C-contiguous int64 indptr, int32 indices and float32/uint8/uint16 weights, checked."""
    indptr = np.ascontiguousarray(indptr, dtype=np.int64)
    indices = np.ascontiguousarray(indices, dtype=np.int32)
    data = np.ascontiguousarray(data)
    if data.dtype not in WEIGHT_DTYPES:
        if not np.issubdtype(data.dtype, np.floating):
            raise ValueError(f"weights must be float or uint8/uint16 impacts, not {data.dtype}")
        data = data.astype(np.float32)
    if indptr.ndim != 1 or indices.ndim != 1 or data.ndim != 1 or len(indptr) == 0:
        raise ValueError("indptr, indices and data must be 1-d, indptr with at least one entry")
    if indptr[0] != 0 or np.any(np.diff(indptr) < 0):
        raise ValueError("indptr must start at 0 and never decrease")
    if not indptr[-1] == len(indices) == len(data):
        raise ValueError(f"indptr ends at {indptr[-1]}, with {len(indices)} term ids and {len(data)} weights")
    if data.dtype == np.float32 and not np.isfinite(data).all():
        raise ValueError("weights contain NaN or infinity")
    if vocab_size is not None:
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, numbers.Integral) or vocab_size < 0:
            raise ValueError(f"vocab_size must be a non-negative integer, not {vocab_size!r}")
        if len(indices) and not 0 <= int(indices.min()) <= int(indices.max()) < vocab_size:
            raise ValueError(f"term ids must lie in [0, {vocab_size})")
    return indptr, indices, data


def _compact(indptr, indices, data, keep):
    counts = _prune.row_counts(indptr, keep)
    out_indptr = np.zeros(len(indptr), dtype=np.int64)
    np.cumsum(counts, out=out_indptr[1:])
    out_indices = np.empty(out_indptr[-1], dtype=np.int32)
    out_data = np.empty(out_indptr[-1], dtype=data.dtype)
    _prune.compact(indptr, indices, data, keep, out_indptr, out_indices, out_data)
    return out_indptr, out_indices, out_data
