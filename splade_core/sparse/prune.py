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
import os

import numpy as np

from ..registry import PRUNING_METHODS
from . import _prune
from .vectors import CHUNK_ENTRIES, WEIGHT_DTYPES, SparseVectors, SparseVectorsWriter, VectorFile

_DENSE_TABLE = 1 << 25  # largest term × impact table counted densely (256 MB)

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
    _check_method(method, value, vectors.data.dtype)
    if method == "document":
        arrays = prune_document_csr(vectors.indptr, vectors.indices, vectors.data, value)
    elif method == "term":
        arrays = prune_term_csr(vectors.indptr, vectors.indices, vectors.data, vectors.vocab_size, value)
    elif method == "term_quantile":
        arrays = prune_term_quantile_csr(vectors.indptr, vectors.indices, vectors.data, vectors.vocab_size, value)
    else:
        arrays = prune_agnostic_csr(vectors.indptr, vectors.indices, vectors.data, value)
    meta = _pruned_meta(vectors.meta, method, value, vectors.nnz, len(arrays[2]))
    return SparseVectors(*arrays, ids=vectors.ids, vocab_size=vectors.vocab_size, meta=meta)


def prune_file(
    source: str | os.PathLike, output: str | os.PathLike, method: str, value, chunk_entries: int = CHUNK_ENTRIES
) -> dict:
    """`prune` from file to file, a row chunk at a time: byte for byte the file `prune` writes.

    Row-local methods (document, agnostic) prune each chunk; the term-centric ones first count,
    chunk by chunk, how many postings of each term carry each impact, which fixes every term's
    threshold (and, for top-k, how many postings at the threshold fit, earliest rows first).
    Memory: one chunk and a (term, impact) table. Term-centric pruning of float weights, whose
    values cannot be tabled, reads the whole file instead.
    """
    with VectorFile(source) as vectors:
        _check_method(method, value, vectors.dtype)
        if method in ("term", "term_quantile") and not vectors.is_quantized:
            pruned = prune(vectors.read_all(), method, value)
            pruned.save(output)
            return pruned.meta["pruning"]
        if method in ("term", "term_quantile"):
            threshold, quota = _term_thresholds(vectors, method, value, chunk_entries)
        meta = _pruned_meta(vectors.meta, method, value, vectors.nnz, None)
        with SparseVectorsWriter(output, vectors.vocab_size, vectors.dtype, meta) as writer:
            for chunk in vectors.chunks(chunk_entries):
                if method == "document":
                    arrays = prune_document_csr(chunk.indptr, chunk.indices, chunk.data, value)
                elif method == "agnostic":
                    arrays = prune_agnostic_csr(chunk.indptr, chunk.indices, chunk.data, value)
                else:
                    arrays = _compact(chunk.indptr, chunk.indices, chunk.data, _keep_term(chunk, threshold, quota))
                writer.append(*arrays, chunk.ids)
            meta["pruning"]["postings_after"] = writer.nnz
        return meta["pruning"]


def _check_method(method: str, value, dtype: np.dtype) -> None:
    if method not in PRUNING_METHODS:
        raise ValueError(f"pruning method must be one of {PRUNING_METHODS}, not {method!r}")
    if method == "agnostic" and dtype.kind == "u" and value > np.iinfo(dtype).max:
        raise ValueError(
            f"agnostic threshold {value:g} is above the largest {dtype} impact "
            f"({np.iinfo(dtype).max}): it would prune every posting"
        )


def _pruned_meta(meta: dict, method: str, value, before: int, after: int | None) -> dict:
    meta = dict(meta)
    record = {
        "method": method,
        "value": value.item() if isinstance(value, np.generic) else value,
        "rule": RULES[method],
        "postings_before": before,
        "postings_after": after,
    }
    if "pruning" in meta:
        record["previous"] = meta["pruning"]
    meta["pruning"] = record
    return meta


def _term_thresholds(vectors: VectorFile, method: str, value, chunk_entries: int):
    """Per term: the impact threshold, and for top-k how many postings at it are kept.

    Top-k keeps the postings above the threshold and the first `quota` at it (threshold -1:
    the whole list fits); a quantile keeps every posting at or above the threshold.
    """
    terms, impacts, counts = _term_impact_counts(vectors, chunk_entries)
    vocab = vectors.vocab_size
    df = np.bincount(terms, weights=counts, minlength=vocab).astype(np.int64)
    threshold = np.full(vocab, -1, dtype=np.int32)  # impacts fit: uint16 at most
    quota = np.zeros(vocab, dtype=np.int64)
    if method == "term":
        k = _check_count(value)
        order = np.lexsort((-impacts, terms))  # each term's impacts, heaviest first
        terms, impacts, counts = terms[order], impacts[order], counts[order]
        covered = _cumsum_within(terms, counts)  # postings at or above each impact
        first = _first_per_term(terms, covered >= k)
        cut = first[df[terms[first]] > k]
        threshold[terms[cut]] = impacts[cut]
        quota[terms[cut]] = k - (covered[cut] - counts[cut])
    else:
        quantile = _check_real(value, "quantile")
        if not 0.0 <= quantile <= 1.0:
            raise ValueError(f"quantile must lie in [0, 1], not {quantile}")
        covered = _cumsum_within(terms, counts)  # postings at or below each impact
        position = np.floor(quantile * (df[terms] - 1).astype(np.float64)).astype(np.int64)
        cut = _first_per_term(terms, covered > position)
        threshold[terms[cut]] = impacts[cut]
        quota[:] = -1  # no quota: ties at the threshold are kept
    return threshold, quota


def _term_impact_counts(vectors: VectorFile, chunk_entries: int):
    """(term, impact, count) of every impact each term carries, sorted by term then impact."""
    width = int(np.iinfo(vectors.dtype).max) + 1
    vocab = vectors.vocab_size
    if vocab * width <= _DENSE_TABLE:  # uint8: a dense term × impact table
        table = np.zeros(vocab * width, dtype=np.int64)
        for chunk in vectors.chunks(chunk_entries):
            table += np.bincount(chunk.indices.astype(np.int64) * width + chunk.data, minlength=vocab * width)
        keys = np.flatnonzero(table)
        counts = table[keys]
    else:  # uint16: the distinct (term, impact) pairs, merged chunk by chunk
        keys, counts = np.zeros(0, np.int64), np.zeros(0, np.int64)
        for chunk in vectors.chunks(chunk_entries):
            new_keys, new_counts = np.unique(chunk.indices.astype(np.int64) * width + chunk.data, return_counts=True)
            keys, inverse = np.unique(np.concatenate([keys, new_keys]), return_inverse=True)
            counts = np.bincount(inverse, weights=np.concatenate([counts, new_counts]), minlength=len(keys))
            counts = counts.astype(np.int64)
    return keys // width, keys % width, counts


def _cumsum_within(groups: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Running sum of `counts`, restarting where `groups` (sorted) changes."""
    if not len(groups):
        return np.zeros(0, dtype=np.int64)
    total = np.cumsum(counts)
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    before = np.repeat(total[starts] - counts[starts], np.diff(np.r_[starts, len(groups)]))
    return total - before


def _first_per_term(terms: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Position of the first True of each term's run (terms sorted), for the terms that have one."""
    hits = np.flatnonzero(mask)
    if not len(hits):
        return hits
    return hits[np.r_[True, terms[hits][1:] != terms[hits][:-1]]]


def _keep_term(chunk: SparseVectors, threshold: np.ndarray, quota: np.ndarray) -> np.ndarray:
    """Entries of the chunk that term-centric pruning keeps; spends the quotas of ties."""
    terms = chunk.indices
    impacts = chunk.data.astype(np.int32)
    cut = threshold[terms]
    keep = impacts > cut
    ties = np.flatnonzero(impacts == cut)
    if len(ties):  # entries at their term's threshold
        limited = quota[terms[ties]] >= 0
        keep[ties[~limited]] = True
        ties = ties[limited]
        order = np.argsort(terms[ties], kind="stable")  # each term's ties, earliest row first
        grouped = terms[ties][order]
        rank = _cumsum_within(grouped, np.ones(len(grouped), dtype=np.int64)) - 1
        allowed = rank < quota[grouped]
        keep[ties[order[allowed]]] = True
        quota -= np.bincount(grouped[allowed], minlength=len(quota))
    return keep.view(np.uint8)


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
