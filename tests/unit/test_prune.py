"""Static pruning kernels against straightforward NumPy references (exact equality)."""

from __future__ import annotations

import numpy as np
import pytest

from splade_core.sparse import SparseVectors
from splade_core.sparse.prune import (
    PRUNING_METHODS,
    prune,
    prune_agnostic_csr,
    prune_document_csr,
    prune_term_csr,
    prune_term_quantile_csr,
)

VOCAB = 50
DTYPES = [np.uint8, np.uint16, np.float32]


def random_csr(seed: int, dtype, n_rows: int = 60, sorted_terms: bool = True):
    """Rows of 0-40 entries (some empty) over VOCAB terms, with many tied weights."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(0, 41, n_rows)
    lengths[rng.random(n_rows) < 0.15] = 0
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    rows = []
    for length in lengths:
        terms = rng.choice(VOCAB, size=length, replace=False)
        rows.append(np.sort(terms) if sorted_terms else terms)
    indices = np.concatenate(rows).astype(np.int32) if rows else np.zeros(0, np.int32)
    if dtype == np.float32:
        data = (rng.integers(1, 8, len(indices)) / 4).astype(np.float32)
    else:
        data = rng.integers(1, 6, len(indices)).astype(dtype)
    return indptr, indices, data


def compact(indptr, indices, data, keep):
    """Reference compaction: the kept entries of each row, in input order."""
    kept_before = np.concatenate([[0], np.cumsum(keep, dtype=np.int64)])
    out_indptr = kept_before[indptr]
    return out_indptr, indices[keep], data[keep]


def reference_document(indptr, indices, data, k):
    keep = np.zeros(len(data), dtype=bool)
    for row in range(len(indptr) - 1):
        pos = np.arange(indptr[row], indptr[row + 1])
        order = np.lexsort((pos, indices[pos], -data[pos].astype(np.float64)))
        keep[pos[order[:k]]] = True
    return compact(indptr, indices, data, keep)


def reference_term(indptr, indices, data, k):
    keep = np.zeros(len(data), dtype=bool)
    for term in np.unique(indices):
        pos = np.flatnonzero(indices == term)
        order = np.lexsort((pos, -data[pos].astype(np.float64)))
        keep[pos[order[:k]]] = True
    return compact(indptr, indices, data, keep)


def reference_term_quantile(indptr, indices, data, quantile):
    keep = np.zeros(len(data), dtype=bool)
    for term in np.unique(indices):
        pos = np.flatnonzero(indices == term)
        keep[pos] = data[pos] >= np.quantile(data[pos], quantile, method="lower")
    return compact(indptr, indices, data, keep)


def assert_csr_equal(got, expected):
    for g, e in zip(got, expected):
        assert g.dtype == e.dtype
        np.testing.assert_array_equal(g, e)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", [0, 1, 3, 10, 40, 1000])
@pytest.mark.parametrize("sorted_terms", [True, False])
def test_document_centric_matches_reference(dtype, k, sorted_terms):
    csr = random_csr(k, dtype, sorted_terms=sorted_terms)
    assert_csr_equal(prune_document_csr(*csr, k), reference_document(*csr, k))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", [0, 1, 2, 5, 20, 1000])
def test_term_centric_matches_reference(dtype, k):
    csr = random_csr(100 + k, dtype, sorted_terms=k % 2 == 0)
    assert_csr_equal(prune_term_csr(*csr, VOCAB, k), reference_term(*csr, k))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("quantile", [0.0, 0.1, 0.5, 0.75, 0.9, 1.0])
def test_term_quantile_matches_reference(dtype, quantile):
    csr = random_csr(200, dtype)
    assert_csr_equal(prune_term_quantile_csr(*csr, VOCAB, quantile), reference_term_quantile(*csr, quantile))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("threshold", [0, 1, 2.5, 3, 100])
def test_agnostic_matches_reference(dtype, threshold):
    indptr, indices, data = random_csr(300, dtype)
    expected = compact(indptr, indices, data, data >= threshold)
    assert_csr_equal(prune_agnostic_csr(indptr, indices, data, threshold), expected)


def test_document_ties_keep_the_smaller_term_id():
    indptr = np.array([0, 4], dtype=np.int64)
    indices = np.array([9, 3, 7, 1], dtype=np.int32)
    data = np.array([5, 5, 8, 5], dtype=np.uint8)
    out_indptr, out_indices, out_data = prune_document_csr(indptr, indices, data, 2)
    assert out_indptr.tolist() == [0, 2]
    assert out_indices.tolist() == [7, 1]  # 8 first, then the smallest id among the 5s, in input order
    assert out_data.tolist() == [8, 5]


def test_term_ties_keep_the_earlier_document():
    indptr = np.array([0, 1, 2, 3, 4], dtype=np.int64)
    indices = np.array([2, 2, 2, 2], dtype=np.int32)
    data = np.array([1.0, 3.0, 1.0, 1.0], dtype=np.float32)
    out_indptr, _, out_data = prune_term_csr(indptr, indices, data, 3, 2)
    assert out_indptr.tolist() == [0, 1, 2, 2, 2]
    assert out_data.tolist() == [1.0, 3.0]


def test_k_zero_and_empty_collections_give_empty_rows():
    indptr, indices, data = random_csr(1, np.uint8)
    for got in (prune_document_csr(indptr, indices, data, 0), prune_term_csr(indptr, indices, data, VOCAB, 0)):
        assert got[0].tolist() == [0] * len(indptr)
        assert len(got[1]) == len(got[2]) == 0
    empty = (np.zeros(4, np.int64), np.zeros(0, np.int32), np.zeros(0, np.float32))
    for got in (
        prune_document_csr(*empty, 3),
        prune_term_csr(*empty, VOCAB, 3),
        prune_term_quantile_csr(*empty, VOCAB, 0.5),
        prune_agnostic_csr(*empty, 1.0),
    ):
        assert got[0].tolist() == [0, 0, 0, 0] and len(got[1]) == 0 and got[2].dtype == np.float32


def test_inputs_are_coerced_and_left_untouched():
    indptr, indices, data = random_csr(7, np.float32)
    before = data.copy()
    got = prune_document_csr(indptr.astype(np.int32), indices.astype(np.int64), data.astype(np.float64), 5)
    assert_csr_equal(got, reference_document(indptr, indices, data, 5))
    np.testing.assert_array_equal(data, before)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda csr: prune_document_csr(*csr, -1), "non-negative integer"),
        (lambda csr: prune_document_csr(*csr, 2.5), "non-negative integer"),
        (lambda csr: prune_term_csr(*csr, VOCAB, True), "non-negative integer"),
        (lambda csr: prune_term_quantile_csr(*csr, VOCAB, 1.5), r"\[0, 1\]"),
        (lambda csr: prune_agnostic_csr(*csr, float("nan")), "finite"),
        (lambda csr: prune_term_csr(*csr, 10, 3), r"term ids must lie in \[0, 10\)"),
        (lambda csr: prune_document_csr(csr[0], csr[1][:-1], csr[2], 3), "indptr ends at"),
        (lambda csr: prune_document_csr(csr[0], csr[1], csr[2].astype(np.int32), 3), "weights must be"),
    ],
)
def test_invalid_input_is_rejected(call, message):
    with pytest.raises(ValueError, match=message):
        call(random_csr(3, np.uint8))


def test_nan_weights_are_rejected():
    indptr, indices, data = random_csr(3, np.float32)
    data[0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        prune_document_csr(indptr, indices, data, 3)


@pytest.mark.parametrize(("method", "value"), [("document", 4), ("term", 3), ("term_quantile", 0.5), ("agnostic", 3)])
def test_prune_records_what_it_did(method, value):
    indptr, indices, data = random_csr(11, np.uint8)
    ids = np.array([f"d{i}" for i in range(len(indptr) - 1)])
    vectors = SparseVectors(indptr, indices, data, ids, VOCAB, {"model": "m"})
    pruned = prune(vectors, method, value)
    assert pruned.n_rows == vectors.n_rows and (pruned.ids == ids).all()
    assert pruned.data.dtype == np.uint8 and pruned.vocab_size == VOCAB and pruned.meta["model"] == "m"
    record = pruned.meta["pruning"]
    assert (record["method"], record["value"]) == (method, value)
    assert record["postings_before"] == vectors.nnz > record["postings_after"] == pruned.nnz
    twice = prune(pruned, "agnostic", 2)
    assert twice.meta["pruning"]["previous"] == record


def test_prune_rejects_an_unknown_method():
    vectors = SparseVectors(*random_csr(5, np.uint8), ids=np.array([str(i) for i in range(60)]), vocab_size=VOCAB)
    with pytest.raises(ValueError, match="pruning method must be one of"):
        prune(vectors, "random", 3)
    assert set(PRUNING_METHODS) == {"document", "term", "term_quantile", "agnostic"}


def test_the_study_schema_sweeps_exactly_the_registered_pruning_methods():
    from pathlib import Path

    import yaml

    from splade_core.registry import PRUNING_METHODS, STUDY_PRUNING_METHODS, TOP_K_PRUNING_METHODS

    schema = yaml.safe_load((Path(__file__).parents[2] / "workflow" / "schemas" / "config.schema.yaml").read_text())
    assert set(schema["properties"]["pruning"]["properties"]) - {"settings"} == set(STUDY_PRUNING_METHODS)
    assert set(STUDY_PRUNING_METHODS) <= set(PRUNING_METHODS) and set(TOP_K_PRUNING_METHODS) <= set(PRUNING_METHODS)
