"""InvertedIndex search against a NumPy/SciPy brute force: exact top-k (ids and scores) for
every exact algorithm and thread count, on random and adversarial collections, each indexed in
input order, reordered by graph bisection, and in reversed order (ties must still go to the
smaller input row)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import scipy.sparse as sp

from splade_core.index import InvertedIndex
from splade_core.index.clusters import CLUSTER_SECTIONS
from splade_core.sparse import SparseVectors

THREADS = (1, 2, 3)
ORDERS = ("input", "bp", "reversed")


@pytest.fixture(params=ORDERS)
def order(request) -> str:
    return request.param


def build(docs, doc_ids=None, order: str = "input", **options) -> InvertedIndex:
    """An index of `docs` in input order, BP order, or reversed order."""
    if order == "bp":
        return InvertedIndex.build(docs, doc_ids, reorder="bp", bp_iterations=8, threads=2, **options)
    if order == "reversed":
        return InvertedIndex.build(docs, doc_ids, doc_order=np.arange(docs.shape[0])[::-1], **options)
    return InvertedIndex.build(docs, doc_ids, **options)


def brute_force(docs: sp.csr_array, queries: sp.csr_array, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k by (score desc, doc index asc), matched documents only, padded with -1 / 0."""
    scores = (queries.astype(np.int64) @ docs.astype(np.int64).T).toarray()
    doc_idx = np.full((queries.shape[0], k), -1, dtype=np.int32)
    top_scores = np.zeros((queries.shape[0], k), dtype=np.int64)
    for q, row in enumerate(scores):
        matched = np.flatnonzero(row > 0)
        order = matched[np.lexsort((matched, -row[matched]))][:k]
        doc_idx[q, : len(order)] = order
        top_scores[q, : len(order)] = row[order]
    return doc_idx, top_scores


def random_csr(rng, n_rows, vocab, per_row, high, dtype=np.uint8, skew=True) -> sp.csr_array:
    rows, cols = [], []
    for r in range(n_rows):
        size = int(rng.integers(0, per_row + 1))
        pool = (
            np.minimum(rng.integers(0, vocab, 2 * size), rng.integers(0, vocab, 2 * size))
            if skew
            else rng.integers(0, vocab, 2 * size)
        )
        terms = np.unique(pool)[:size]
        rows.append(np.full(len(terms), r))
        cols.append(terms)
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    data = rng.integers(1, high + 1, len(rows)).astype(dtype)
    return sp.csr_array((data, (rows, cols)), shape=(n_rows, vocab))


def assert_exact(index: InvertedIndex, docs, queries, ks=(1, 5, 10, 100)):
    for k in ks:
        expected = brute_force(docs, queries, k)
        for algorithm in index.exact_algorithms:
            for threads in THREADS:
                doc_idx, scores = index.search(queries, k=k, algorithm=algorithm, threads=threads)
                assert doc_idx.dtype == np.int32 and scores.dtype == np.int64
                assert doc_idx.shape == scores.shape == (queries.shape[0], k)
                np.testing.assert_array_equal(doc_idx, expected[0], err_msg=f"{algorithm} k={k} threads={threads}")
                np.testing.assert_array_equal(scores, expected[1], err_msg=f"{algorithm} k={k} threads={threads}")


@pytest.fixture(scope="module")
def collection():
    rng = np.random.default_rng(0)
    docs = random_csr(rng, 3000, 300, 40, 255)
    queries = random_csr(rng, 25, 300, 25, 255)
    return docs, queries


@pytest.mark.parametrize("block_size", [8, 64, 512])
def test_random_collection_matches_brute_force(collection, block_size, order):
    docs, queries = collection
    index = build(docs, None, order, block_size=block_size)
    assert index.stats()["doc_order"] == {"input": None, "bp": "bp", "reversed": "given"}[order]
    assert_exact(index, docs, queries)


def test_all_terms_dense_or_all_sparse(collection, order):
    docs, queries = collection
    for dense_min_df in (1, 10**9):  # every term with a block-max row / none
        assert_exact(build(docs, None, order, dense_min_df=dense_min_df), docs, queries, ks=(10,))


@pytest.fixture(scope="module")
def bucketed():
    """~400k postings: several buckets of the transpose (each holds at least 65,536)."""
    rng = np.random.default_rng(1)
    return random_csr(rng, 20_000, 2_000, 40, 255), random_csr(rng, 20, 2_000, 25, 255)


@pytest.mark.parametrize("pass_entries", [1, 100_000, 250_000])
def test_a_build_in_passes_writes_the_same_index(tmp_path, bucketed, order, pass_entries):
    """Transposing a few buckets at a time (bounded memory) changes nothing in the file."""
    docs, queries = bucketed
    build(docs, None, order).save(tmp_path / "one.bin")
    passes = build(docs, None, order, pass_entries=pass_entries)
    passes.save(tmp_path / "passes.bin")
    assert (tmp_path / "passes.bin").read_bytes() == (tmp_path / "one.bin").read_bytes()
    assert_exact(passes, docs, queries, ks=(10,))


@pytest.mark.parametrize("dtype, high", [(np.uint8, 255), (np.uint16, 60000)])
def test_sparse_term_bounds_across_block_ranges(order, dtype, high):
    """bmp computes the bounds of terms without block-max rows a range of 4096 (uint32
    scores) or 2048 (uint64) doc-range blocks at a time: 70,000 documents in blocks of 8
    span several ranges, with runs of postings inside blocks."""
    rng = np.random.default_rng(3)
    n_docs, vocab, per_doc = 70_000, 150, 6
    rows = np.repeat(np.arange(n_docs), per_doc)
    cols = np.minimum(rng.integers(0, vocab, rows.size), rng.integers(0, vocab, rows.size))
    docs = sp.csr_array((rng.integers(1, high + 1, rows.size), (rows, cols)), shape=(n_docs, vocab))
    docs.data = np.minimum(docs.data, high).astype(dtype)  # repeated (row, term) pairs were summed
    queries = random_csr(rng, 6, vocab, 15, 255)
    index = build(docs, None, order, block_size=8, dense_min_df=10**9)
    assert index.stats()["doc_blocks"] == 8750 and index.stats()["dense_block_max_rows"] == 0
    assert_exact(index, docs, queries, ks=(1, 10, 300))


def test_ties_everywhere(order):
    rng = np.random.default_rng(1)
    docs = random_csr(rng, 2000, 40, 10, 1)  # every impact is 1
    queries = random_csr(rng, 20, 40, 6, 1)
    assert_exact(build(docs, None, order, block_size=16), docs, queries, ks=(1, 10, 500))


def test_large_k_over_several_windows_with_ties(order):
    """140,003 documents span three exhaustive windows (the last one not a multiple of 16
    long); posting blocks straddle window ends, spanning less than the carried-over spill
    (terms in ~10% and ~1.5% of the documents) or more (~0.2%). Impacts 1-2 make ties
    everywhere; large k takes candidates in bulk, up to the whole collection."""
    rng = np.random.default_rng(5)
    n_docs, vocab, per_doc = 140_003, 30, 3
    rows = np.repeat(np.arange(n_docs), per_doc)
    cols = rng.integers(0, vocab, rows.size)
    for term, share in ((vocab, 0.015), (vocab + 1, 0.002)):
        extra = np.flatnonzero(rng.random(n_docs) < share)
        rows, cols = np.concatenate([rows, extra]), np.concatenate([cols, np.full(extra.size, term)])
    docs = sp.csr_array((np.ones(rows.size, dtype=np.int64), (rows, cols)), shape=(n_docs, vocab + 2))
    docs.data = np.minimum(docs.data, 2).astype(np.uint8)  # repeated (row, term) pairs were summed
    queries = random_csr(rng, 4, vocab + 2, 10, 2).toarray()
    queries[:, [vocab, vocab + 1]] = 2
    queries = sp.csr_array(queries)
    assert_exact(build(docs, None, order), docs, queries, ks=(1, 10, 64, 1000, n_docs))


def test_uint16_extremes_do_not_overflow(order):
    rng = np.random.default_rng(2)
    docs = random_csr(rng, 300, 400, 300, 1, dtype=np.uint16) * np.uint16(65535)
    queries = sp.csr_array(docs[:5].toarray().astype(np.int64))  # weights 65535, ~150 terms
    index = build(sp.csr_array(docs.astype(np.uint16)), None, order)
    assert index.stats()["impact_dtype"] == "uint16"
    assert_exact(index, docs, queries, ks=(3, 50))
    _, scores = index.search(queries, k=1)
    assert scores.max() > 2**32  # really in the 64-bit accumulator range


def test_uint8_max_impacts_many_terms(order):
    docs = sp.csr_array(np.full((50, 600), 255, dtype=np.uint8))
    queries = sp.csr_array(np.full((2, 600), 255, dtype=np.uint8))
    assert_exact(build(docs, None, order), docs, queries, ks=(10, 60))


def test_empty_unknown_and_absent_terms(order):
    docs = sp.csr_array(np.array([[0, 3, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]], dtype=np.uint8))
    index = build(docs, None, order, vocab_size=6)  # terms 2, 4, 5: no postings
    indptr = np.array([0, 0, 2, 3, 5])
    terms = np.array([2, 4, 70000, 5, 1])  # empty row; absent; unknown (>= vocab); mixed
    weights = np.array([9, 9, 9, 9, 2])
    for algorithm in index.algorithms:
        doc_idx, scores = index.search((indptr, terms, weights), k=3, algorithm=algorithm)
        np.testing.assert_array_equal(doc_idx, [[-1] * 3, [-1] * 3, [-1] * 3, [0, -1, -1]])
        np.testing.assert_array_equal(scores, [[0] * 3, [0] * 3, [0] * 3, [6, 0, 0]])


def test_k_beyond_collection_and_one_document(order):
    docs = sp.csr_array(np.array([[5, 0, 2]], dtype=np.uint8))
    queries = sp.csr_array(np.array([[1, 1, 0], [0, 0, 3], [0, 1, 0]], dtype=np.uint8))
    index = build(docs, ["only"], order)
    assert len(index) == 1
    assert_exact(index, docs, queries, ks=(1, 4))
    doc_idx, _ = index.search(queries, k=4)
    assert index.to_doc_ids(doc_idx)[1].tolist() == ["only", "", "", ""]


def test_a_term_in_every_document(order):
    n = 5000
    docs = sp.csr_array((np.arange(n) % 7 + 1).astype(np.uint8)[:, None] * np.ones((1, 2), dtype=np.uint8))
    queries = sp.csr_array(np.array([[3, 0], [0, 1], [2, 5]], dtype=np.uint8))
    assert_exact(build(docs, None, order), docs, queries, ks=(10, 1000))


def test_empty_collection(order):
    index = build(sp.csr_array((0, 5), dtype=np.uint8), [], order)
    doc_idx, scores = index.search(sp.csr_array(np.ones((2, 5), dtype=np.uint8)), k=3)
    assert (doc_idx == -1).all() and (scores == 0).all() and len(index) == 0


def test_unsorted_rows_and_dtypes_are_normalised(collection):
    docs, queries = collection
    rng = np.random.default_rng(3)
    indptr, indices, data = docs.indptr, docs.indices.copy(), docs.data.copy()
    for r in range(docs.shape[0]):  # shuffle the terms inside every row
        perm = rng.permutation(indptr[r + 1] - indptr[r]) + indptr[r]
        indices[indptr[r] : indptr[r + 1]], data[indptr[r] : indptr[r + 1]] = indices[perm], data[perm]
    index = InvertedIndex.build(
        (indptr.astype(np.int32), indices.astype(np.int64), data.astype(np.int32)), None, vocab_size=docs.shape[1]
    )
    assert index.stats()["impact_dtype"] == "uint8"
    q = (queries.indptr, queries.indices.astype(np.uint32), queries.data.astype(np.uint16))
    expected = brute_force(docs, queries, 10)
    for got, want in zip(index.search(q, k=10), expected):
        np.testing.assert_array_equal(got, want)


def test_float_queries_scored_in_fixed_point(collection):
    docs, queries = collection
    index = InvertedIndex.build(docs, None)
    rng = np.random.default_rng(4)
    float_queries = sp.csr_array(
        (rng.random(queries.nnz).astype(np.float32) * 3, queries.indices, queries.indptr), shape=queries.shape
    )
    exact = (float_queries.astype(np.float64) @ docs.astype(np.float64).T).toarray()
    for algorithm in index.algorithms:
        doc_idx, scores = index.search(float_queries, k=10, algorithm=algorithm)
        assert scores.dtype == np.float32
        for q in range(queries.shape[0]):
            hit = doc_idx[q] >= 0
            np.testing.assert_allclose(scores[q][hit], exact[q][doc_idx[q][hit]], rtol=1e-4)
            top = np.sort(exact[q])[::-1][: hit.sum()]
            np.testing.assert_allclose(np.sort(scores[q][hit])[::-1], top, rtol=1e-4)


def test_concurrent_python_threads_share_one_index(collection, order):
    docs, queries = collection
    index = build(docs, None, order)
    expected = brute_force(docs, queries, 10)
    jobs = [(algorithm, threads) for algorithm in index.algorithms for threads in (1, 2)] * 4
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda job: index.search(queries, k=10, algorithm=job[0], threads=job[1]), jobs))
    for doc_idx, scores in results:
        np.testing.assert_array_equal(doc_idx, expected[0])
        np.testing.assert_array_equal(scores, expected[1])


def test_approximate_options_give_valid_results_and_measured_recall(collection, order):
    docs, queries = collection
    index = build(docs, None, order)
    exact_idx, _ = brute_force(docs, queries, 10)
    dense = (queries.astype(np.int64) @ docs.astype(np.int64).T).toarray()
    for algorithm, options in [
        ("bmp", {"alpha": 0.7}),
        ("maxscore", {"alpha": 0.5}),
        ("bmp", {"term_ratio": 0.5}),
        ("bmp", {"bound_share": 0.4}),
        ("bmp", {"bound_share": 0.6, "alpha": 0.8}),
        ("exhaustive", {"term_ratio": 0.3}),
    ]:
        doc_idx, scores = index.search(queries, k=10, algorithm=algorithm, **options)
        for q in range(queries.shape[0]):
            hit = doc_idx[q] >= 0
            assert len(np.unique(doc_idx[q][hit])) == hit.sum()
            assert (np.diff(scores[q][hit]) <= 0).all()
            if "term_ratio" not in options:  # scores are still true scores, only possibly not the best
                np.testing.assert_array_equal(scores[q][hit], dense[q][doc_idx[q][hit]])
        recall = np.mean(
            [len(np.intersect1d(a[a >= 0], b[b >= 0])) / max(1, (b >= 0).sum()) for a, b in zip(doc_idx, exact_idx)]
        )
        print(f"{algorithm} {options}: recall@10 = {recall:.3f}")
        assert 0.0 <= recall <= 1.0


@pytest.mark.parametrize("reorder", [None, "bp"])
def test_from_vectors_keeps_scale_and_ids(collection, reorder):
    docs, _ = collection
    ids = np.array([f"doc-{i}" for i in range(docs.shape[0])])
    vectors = SparseVectors.from_csr(docs, ids, meta={"quantization": {"scale": 100.0}})
    index = InvertedIndex.from_vectors(vectors, reorder=reorder)
    assert index.scale == 100.0 and index.doc_ids.tolist() == ids.tolist()
    doc_idx, _ = index.search(docs[:3], k=1)
    assert index.to_doc_ids(doc_idx).ravel().tolist() == ["doc-0", "doc-1", "doc-2"]


def test_stats_repr_and_len(collection):
    docs, _ = collection
    index = InvertedIndex.build(docs, None, scale=50.0)
    stats = index.stats()
    assert stats["docs"] == len(index) == docs.shape[0] and stats["postings"] == docs.nnz
    assert stats["terms"] == docs.shape[1] and stats["scale"] == 50.0
    assert set(stats["bytes"]) == {
        "terms",
        "blocks",
        "postings",
        "block_max",
        "doc_id_offsets",
        "doc_ids",
        "doc_order",
        "metadata",
        *CLUSTER_SECTIONS,
    }
    assert all(stats["bytes"][name] == 0 for name in CLUSTER_SECTIONS) and stats["clusters"] == 0
    assert stats["total_bytes"] >= sum(stats["bytes"].values())
    assert stats["doc_order"] is None and stats["bytes"]["doc_order"] == 0 and index.doc_order is None
    assert "InvertedIndex(docs=3000" in repr(index) and "doc_order" not in repr(index)
    reordered = InvertedIndex.build(docs, None, reorder="bp")
    assert reordered.stats()["doc_order"] == "bp" and "doc_order=bp" in repr(reordered)
    assert reordered.stats()["bytes"]["doc_order"] == 4 * docs.shape[0]
    assert set(index.algorithms) == {"bmp", "maxscore", "exhaustive"}


def test_bmp_max_k_grows_with_the_collection():
    """The largest k at which bmp is the default, from the measured table: none below the first
    size, then each size's own, the largest reached applying."""
    from splade_core.index.inverted_index import BMP_MAX_K, BMP_MIN_DOCS, bmp_max_k

    assert bmp_max_k(0) == bmp_max_k(BMP_MIN_DOCS - 1) == 0
    for (docs, k), (next_docs, _) in zip(BMP_MAX_K, BMP_MAX_K[1:] + ((2**32, 0),)):
        assert bmp_max_k(docs) == bmp_max_k(next_docs - 1) == k
    assert bmp_max_k(8_841_823) == BMP_MAX_K[-1][1]
    assert [k for _, k in BMP_MAX_K] == sorted(k for _, k in BMP_MAX_K)


def test_default_algorithm_follows_order_size_and_k():
    """`algorithm="default"` resolves per index and k (bmp only where it was measured faster: documents
    reordered, >= BMP_MIN_DOCS of them, k <= bmp_max_k of their number) and returns the exact top-k."""
    from splade_core.index.inverted_index import BMP_MIN_DOCS, bmp_max_k

    rng = np.random.default_rng(6)
    n_docs = BMP_MIN_DOCS
    rows = np.repeat(np.arange(n_docs), 2)
    docs = sp.csr_array((rng.integers(1, 256, rows.size), (rows, rng.integers(0, 50, rows.size))), shape=(n_docs, 50))
    docs.data = np.minimum(docs.data, 255).astype(np.uint8)
    queries = random_csr(rng, 3, 50, 6, 255)
    small = build(docs[:1000], None, "reversed")
    plain, reordered = build(docs, None, "input"), build(docs, None, "reversed")
    assert small.default_algorithm(10) == plain.default_algorithm(10) == "exhaustive"
    assert reordered.default_algorithm(bmp_max_k(n_docs)) == "bmp"
    assert reordered.default_algorithm(bmp_max_k(n_docs) + 1) == "exhaustive"
    for k in (10, 1000):
        expected = brute_force(docs, queries, k)
        for index in (plain, reordered):
            for got, want in zip(index.search(queries, k=k), expected):
                np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="unknown algorithm"):
        plain.search(queries, algorithm="fastest")
