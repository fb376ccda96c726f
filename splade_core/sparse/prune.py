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


def prune_document_csr(indptr, indices, data, k: int):
    """Keep the k heaviest entries of each row; returns new (indptr, indices, data)."""
    return _pruned_arrays("document", indptr, indices, data, None, k)


def prune_term_csr(indptr, indices, data, vocab_size: int, k: int):
    """Keep the k heaviest postings of each term; returns new (indptr, indices, data)."""
    return _pruned_arrays("term", indptr, indices, data, vocab_size, k)


def prune_term_quantile_csr(indptr, indices, data, vocab_size: int, quantile: float):
    """Keep each term's postings at or above its quantile; returns new (indptr, indices, data)."""
    return _pruned_arrays("term_quantile", indptr, indices, data, vocab_size, quantile)


def prune_agnostic_csr(indptr, indices, data, threshold: float):
    """Keep every entry of weight >= threshold; returns new (indptr, indices, data)."""
    return _pruned_arrays("agnostic", indptr, indices, data, None, threshold)


def _pruned_arrays(method: str, indptr, indices, data, vocab_size: int | None, value):
    unit = METHODS[method]
    value = unit.checked(value)
    indptr, indices, data = _coerce(indptr, indices, data, vocab_size)
    return _compact(indptr, indices, data, unit.keep(indptr, indices, data, vocab_size, value))


class _Method:
    """One static pruning method: its value checked, the entries it keeps of vectors held in
    memory (`keep`), and of a file read a row chunk at a time (`streamed`: a function of each
    chunk, or None where the file must be read whole). Both give the same entries."""

    rule = ""

    def checked(self, value):
        return value

    def keep(self, indptr, indices, data, vocab_size, value) -> np.ndarray:
        raise NotImplementedError

    def streamed(self, vectors: VectorFile, value, chunk_entries: int):
        """Row-local methods prune each chunk alone."""
        return lambda chunk: self.keep(*_coerce(chunk.indptr, chunk.indices, chunk.data), None, value)


class _DocumentTopK(_Method):
    rule = "keep the k heaviest entries of each row; ties: smaller term id"

    def checked(self, value):
        return _check_count(value)

    def keep(self, indptr, indices, data, vocab_size, value):
        keep = np.zeros(len(data), dtype=np.uint8)
        _prune.document_topk(indptr, indices, data, value, keep)
        return keep


class _Agnostic(_Method):
    rule = "keep entries w >= t"

    def checked(self, value):
        return _check_real(value, "threshold")

    def keep(self, indptr, indices, data, vocab_size, value):
        keep = np.zeros(len(data), dtype=np.uint8)
        _prune.at_least(data, value, keep)
        return keep


class _TermCentric(_Method):
    """Term-centric pruning. Integer impacts: each term's threshold (and for top-k how many
    postings at it fit, earliest rows first) from a count of how many postings of each term
    carry each impact, in memory and streamed alike (`_term_thresholds`). Float weights cannot
    be tabled: the Cython selection over each whole posting list, in memory only."""

    def keep(self, indptr, indices, data, vocab_size, value):
        if data.dtype == np.float32:
            keep = np.zeros(len(data), dtype=np.uint8)
            k, quantile = (value, -1.0) if isinstance(self, _TermTopK) else (0, value)
            _prune.term_select(indptr, indices, data, vocab_size, k, quantile, keep)
            return keep
        threshold, quota = self.thresholds(
            _term_impact_counts([(indices, data)], vocab_size, data.dtype), vocab_size, value
        )
        return _keep_term(indices, data, threshold, quota)

    def streamed(self, vectors: VectorFile, value, chunk_entries: int):
        if not vectors.is_quantized:
            return None
        chunks = ((chunk.indices, chunk.data) for chunk in vectors.chunks(chunk_entries))
        threshold, quota = self.thresholds(
            _term_impact_counts(chunks, vectors.vocab_size, vectors.dtype), vectors.vocab_size, value
        )
        return lambda chunk: _keep_term(chunk.indices, chunk.data, threshold, quota)


class _TermTopK(_TermCentric):
    rule = "keep the k heaviest postings of each term; ties: smaller document index"

    def checked(self, value):
        return _check_count(value)

    def thresholds(self, counts, vocab: int, k: int):
        """Top-k keeps the postings above the threshold and the first `quota` at it (threshold -1:
        the whole list fits)."""
        terms, impacts, counts = counts
        df = np.bincount(terms, weights=counts, minlength=vocab).astype(np.int64)
        threshold = np.full(vocab, -1, dtype=np.int32)  # impacts fit: uint16 at most
        quota = np.zeros(vocab, dtype=np.int64)
        order = np.lexsort((-impacts, terms))  # each term's impacts, heaviest first
        terms, impacts, counts = terms[order], impacts[order], counts[order]
        covered = _cumsum_within(terms, counts)  # postings at or above each impact
        first = _first_per_term(terms, covered >= k)
        cut = first[df[terms[first]] > k]
        threshold[terms[cut]] = impacts[cut]
        quota[terms[cut]] = k - (covered[cut] - counts[cut])
        return threshold, quota


class _TermQuantile(_TermCentric):
    rule = "keep postings w >= numpy.quantile(term's weights, q, method='lower')"

    def checked(self, value):
        quantile = _check_real(value, "quantile")
        if not 0.0 <= quantile <= 1.0:
            raise ValueError(f"quantile must lie in [0, 1], not {quantile}")
        return quantile

    def thresholds(self, counts, vocab: int, quantile: float):
        """A quantile keeps every posting at or above the threshold (no quota)."""
        terms, impacts, counts = counts
        df = np.bincount(terms, weights=counts, minlength=vocab).astype(np.int64)
        threshold = np.full(vocab, -1, dtype=np.int32)
        covered = _cumsum_within(terms, counts)  # postings at or below each impact
        position = np.floor(quantile * (df[terms] - 1).astype(np.float64)).astype(np.int64)
        cut = _first_per_term(terms, covered > position)
        threshold[terms[cut]] = impacts[cut]
        return threshold, np.full(vocab, -1, dtype=np.int64)


# Each method of registry.PRUNING_METHODS, one unit each: the one place a method is dispatched.
METHODS = dict(zip(PRUNING_METHODS, (_DocumentTopK(), _TermTopK(), _TermQuantile(), _Agnostic())))
RULES = {name: unit.rule for name, unit in METHODS.items()}


def prune(vectors: SparseVectors, method: str, value) -> SparseVectors:
    """Prune vectors by one of PRUNING_METHODS; records what was done in meta["pruning"].

    `value` is k for "document" and "term", the quantile q in [0, 1] for "term_quantile", and
    the threshold t for "agnostic" (in the vectors' own units: impacts once quantized).
    """
    _check_method(method, value, vectors.data.dtype)
    arrays = _pruned_arrays(method, vectors.indptr, vectors.indices, vectors.data, vectors.vocab_size, value)
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
        unit = METHODS[method]
        keep = unit.streamed(vectors, unit.checked(value), chunk_entries)
        if keep is None:
            pruned = prune(vectors.read_all(), method, value)
            pruned.save(output)
            return pruned.meta["pruning"]
        meta = _pruned_meta(vectors.meta, method, value, vectors.nnz, None)
        with SparseVectorsWriter(output, vectors.vocab_size, vectors.dtype, meta) as writer:
            for chunk in vectors.chunks(chunk_entries):
                writer.append(*_compact(chunk.indptr, chunk.indices, chunk.data, keep(chunk)), chunk.ids)
            meta["pruning"]["postings_after"] = writer.nnz
        return meta["pruning"]


def _check_method(method: str, value, dtype: np.dtype) -> None:
    if method not in PRUNING_METHODS:
        raise ValueError(f"pruning method must be one of {PRUNING_METHODS}, not {method!r}")
    if method == "agnostic" and (problem := agnostic_problem(value, dtype)) is not None:
        raise ValueError(f"agnostic threshold {problem}")


def agnostic_problem(threshold, dtype) -> str | None:
    """Why an agnostic threshold cannot prune impacts of `dtype` (it is above the largest one),
    or None: the one check `splade prune` and the study's plan both make."""
    dtype = np.dtype(dtype)
    if dtype.kind == "u" and threshold > np.iinfo(dtype).max:
        return (
            f"{threshold:g} is above the largest {dtype} impact ({np.iinfo(dtype).max}): it would prune every posting"
        )
    return None


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


def _term_impact_counts(chunks, vocab: int, dtype: np.dtype):
    """(term, impact, count) of every impact each term carries in `chunks` ((term ids, impacts)
    pairs), sorted by term then impact."""
    width = int(np.iinfo(dtype).max) + 1
    if vocab * width <= _DENSE_TABLE:  # uint8: a dense term × impact table
        table = np.zeros(vocab * width, dtype=np.int64)
        for indices, data in chunks:
            table += np.bincount(indices.astype(np.int64) * width + data, minlength=vocab * width)
        keys = np.flatnonzero(table)
        counts = table[keys]
    else:  # uint16: the distinct (term, impact) pairs, merged chunk by chunk
        keys, counts = np.zeros(0, np.int64), np.zeros(0, np.int64)
        for indices, data in chunks:
            new_keys, new_counts = np.unique(indices.astype(np.int64) * width + data, return_counts=True)
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


def _keep_term(terms: np.ndarray, impacts: np.ndarray, threshold: np.ndarray, quota: np.ndarray) -> np.ndarray:
    """Entries (term ids, impacts) that term-centric pruning keeps, rows in order; spends the
    quotas of ties (`quota` is updated: the next chunk continues where this one ended)."""
    impacts = impacts.astype(np.int32)
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
