"""Document reordering by recursive graph bisection: a deterministic permutation of the rows
that groups similar documents, its options, and how an index built with it behaves."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from splade_core.errors import SpladeError
from splade_core.index import BPOptions, InvertedIndex, bp_order, bp_order_chunks
from splade_core.sparse import SparseVectors


def clustered(n_topics=8, per_topic=64, vocab=400, seed=0) -> tuple[sp.csr_array, np.ndarray]:
    """Documents of n_topics disjoint term sets, shuffled; returns (docs, topic of each row)."""
    rng = np.random.default_rng(seed)
    topic_terms = rng.permutation(vocab).reshape(n_topics, -1)
    topics = rng.permutation(np.repeat(np.arange(n_topics), per_topic))
    rows, cols = [], []
    for r, topic in enumerate(topics):
        terms = rng.choice(topic_terms[topic], 20, replace=False)
        rows.append(np.full(len(terms), r))
        cols.append(terms)
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    data = rng.integers(1, 256, len(rows)).astype(np.uint8)
    return sp.csr_array((data, (rows, cols)), shape=(len(topics), vocab)), topics


def test_order_is_a_deterministic_permutation():
    docs, _ = clustered()
    order = bp_order(docs, block_size=16)
    assert order.dtype == np.uint32 and sorted(order.tolist()) == list(range(docs.shape[0]))
    np.testing.assert_array_equal(order, bp_order(docs, block_size=16))
    np.testing.assert_array_equal(order, bp_order(docs, block_size=16, threads=2))
    np.testing.assert_array_equal(order, bp_order(docs, block_size=16, threads=3))
    seeded = bp_order(docs, block_size=16, options=BPOptions(seed=7))
    np.testing.assert_array_equal(seeded, bp_order(docs, block_size=16, options=BPOptions(seed=7), threads=2))
    assert sorted(seeded.tolist()) == list(range(docs.shape[0]))


def test_similar_documents_share_blocks():
    docs, topics = clustered()
    order = bp_order(docs, block_size=16)
    blocks = topics[order].reshape(-1, 16)
    pure = np.mean([len(np.unique(b)) == 1 for b in blocks])
    assert pure >= 0.9, f"only {pure:.0%} of the blocks hold a single topic"
    reordered = InvertedIndex.build(docs, block_size=16, reorder="bp")
    np.testing.assert_array_equal(reordered.doc_order, order)


def test_depth_and_partition_limits():
    docs, _ = clustered()
    halves = bp_order(docs, block_size=16, options=BPOptions(max_depth=1))
    n1 = docs.shape[0] // 2
    assert (np.diff(halves[:n1].astype(np.int64)) > 0).all() and (np.diff(halves[n1:].astype(np.int64)) > 0).all()
    untouched = bp_order(docs, block_size=16, options=BPOptions(min_partition=docs.shape[0]))
    np.testing.assert_array_equal(untouched, np.arange(docs.shape[0]))
    no_rounds = bp_order(docs, block_size=16, options=BPOptions(iterations=0))
    np.testing.assert_array_equal(no_rounds, np.arange(docs.shape[0]))
    only_rare = bp_order(docs, block_size=16, options=BPOptions(min_df=10**6))  # no term kept
    np.testing.assert_array_equal(only_rare, np.arange(docs.shape[0]))


def test_edge_collections():
    assert len(bp_order(sp.csr_array((0, 5), dtype=np.uint8))) == 0
    one = bp_order(sp.csr_array(np.array([[1, 0, 2]], dtype=np.uint8)))
    np.testing.assert_array_equal(one, [0])
    empty_rows = bp_order(sp.csr_array((300, 5), dtype=np.uint8), block_size=8)
    np.testing.assert_array_equal(empty_rows, np.arange(300))


def test_bad_options_and_inputs():
    docs, _ = clustered()
    for bad in (
        {"iterations": -1},
        {"min_partition": 0},
        {"max_df_ratio": 0.0},
        {"max_df_ratio": 1.5},
        {"seed": -1},
        {"max_depth": 0},
        {"min_df": 1.5},
    ):
        with pytest.raises(ValueError):
            BPOptions(**bad)
    with pytest.raises(TypeError, match="need reorder='bp'"):
        InvertedIndex.build(docs, bp_iterations=3)
    with pytest.raises(TypeError, match="unknown codec option"):
        InvertedIndex.build(docs, reorder="bp", bp_colour=3)
    with pytest.raises(ValueError, match="reorder must be"):
        InvertedIndex.build(docs, reorder="random")
    with pytest.raises(ValueError, match="either reorder or doc_order"):
        InvertedIndex.build(docs, reorder="bp", doc_order=np.arange(docs.shape[0]))
    with pytest.raises(ValueError, match="permutation"):
        InvertedIndex.build(docs, doc_order=np.zeros(docs.shape[0], dtype=np.int64))
    with pytest.raises(ValueError, match="entries"):
        InvertedIndex.build(docs, doc_order=np.arange(3))
    duplicate = (np.array([0, 2]), np.array([1, 1]), np.array([3, 4], dtype=np.uint8))
    with pytest.raises(ValueError, match="twice"):
        bp_order(duplicate, vocab_size=4)
    with pytest.raises(ValueError, match="twice"):
        InvertedIndex.build(duplicate, vocab_size=4, reorder="bp")


def test_bp_keywords_and_options_object_agree():
    docs, _ = clustered()
    a = InvertedIndex.build(docs, block_size=16, reorder="bp", bp_iterations=5, bp_seed=3)
    b = InvertedIndex.build(docs, block_size=16, reorder=BPOptions(iterations=5, seed=3))
    np.testing.assert_array_equal(a.doc_order, b.doc_order)
    assert a.stats() == b.stats()


def test_wide_vocabularies_give_the_same_order():
    docs, _ = clustered()
    shifted = sp.csr_array((docs.data, docs.indices + 66_000, docs.indptr), shape=(docs.shape[0], 66_400))
    np.testing.assert_array_equal(bp_order(shifted, block_size=16), bp_order(docs, block_size=16))


def test_rows_given_in_chunks_get_the_same_order():
    docs, _ = clustered(per_topic=96)
    whole = bp_order(docs, block_size=16, options=BPOptions(seed=9))
    bounds = [0, 1, 2, 50, 50, 300, 301, docs.shape[0]]  # an empty chunk and one-row chunks among them
    chunks = (docs[a:b] for a, b in zip(bounds, bounds[1:]))
    got = bp_order_chunks(chunks, vocab_size=docs.shape[1], block_size=16, options=BPOptions(seed=9), threads=2)
    np.testing.assert_array_equal(got, whole)
    duplicate = (np.array([0, 2]), np.array([1, 1]), np.array([3, 4], dtype=np.uint8))
    with pytest.raises(ValueError, match="document row 301 holds term id 1 twice"):
        bp_order_chunks([docs[:301], duplicate], vocab_size=docs.shape[1])
    with pytest.raises(ValueError, match="term id 400 >= vocab_size 400"):
        bp_order_chunks([(np.array([0, 1]), np.array([400]), np.array([1], dtype=np.uint8))], vocab_size=400)


def test_an_index_built_from_a_file_equals_one_built_in_memory(tmp_path):
    docs, _ = clustered(per_topic=96)
    vectors = SparseVectors.from_csr(
        docs, [f"d{i}" for i in range(docs.shape[0])], meta={"quantization": {"scale": 2.0}}
    )
    vectors.save(tmp_path / "docs.q.npz")
    for reorder in (None, "bp"):
        extra = {"bp_seed": 4} if reorder else {}
        in_memory = InvertedIndex.from_vectors(vectors, block_size=16, reorder=reorder, **extra)
        from_file = InvertedIndex.from_file(tmp_path / "docs.q.npz", block_size=16, reorder=reorder, **extra)
        in_memory.save(tmp_path / "a.bin")
        from_file.save(tmp_path / "b.bin")
        assert (tmp_path / "a.bin").read_bytes() == (tmp_path / "b.bin").read_bytes()
        assert from_file.stats()["doc_order"] == reorder
    SparseVectors.from_csr(docs.astype(np.float32), [f"d{i}" for i in range(docs.shape[0])]).save(tmp_path / "f.npz")
    with pytest.raises(SpladeError, match=r"f\.npz: the index takes quantized vectors"):
        InvertedIndex.from_file(tmp_path / "f.npz")


def test_auto_reorders_from_bmp_min_docs_on():
    """reorder="auto" (the CLI's and the workflow's default) runs BP where it pays: from
    BMP_MIN_DOCS documents on, where bmp on the reordered index becomes the default algorithm."""
    from splade_core.index.inverted_index import BMP_MIN_DOCS

    rng = np.random.default_rng(3)
    rows = np.repeat(np.arange(BMP_MIN_DOCS), 2)
    docs = sp.csr_array(
        (rng.integers(1, 256, rows.size), (rows, rng.integers(0, 64, rows.size))), shape=(BMP_MIN_DOCS, 64)
    )
    docs.sum_duplicates()
    docs.data = np.minimum(docs.data, 255).astype(np.uint8)
    large = InvertedIndex.build(docs, reorder="auto", bp_iterations=2)
    small = InvertedIndex.build(docs[: BMP_MIN_DOCS - 1], reorder="auto", bp_iterations=2)
    assert large.stats()["doc_order"] == "bp" and large.default_algorithm(10) == "bmp"
    assert small.doc_order is None and small.default_algorithm(10) == "exhaustive"
    with pytest.raises(ValueError, match="reorder must be None, 'bp', 'auto' or a BPOptions"):
        InvertedIndex.build(docs[:10], reorder="always")
