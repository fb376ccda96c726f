"""Clustered approximate search: true scores for whatever it returns, brute force exactly when
nothing is pruned, its sections saved and checked with the index, presets that use it."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from splade_core.index import IndexFormatError, InvertedIndex
from splade_core.index.clusters import CLUSTERS_KEY, ClusterOptions
from splade_core.index.presets import PRESETS, recall_at_k

from .test_presets import TOPIC_TERMS, TOPICS, VOCAB, topical_rows

N_DOCS = 6000


@pytest.fixture(scope="module")
def collection():
    rng = np.random.default_rng(5)
    topic_terms = rng.permutation(VOCAB)[: TOPICS * TOPIC_TERMS].reshape(TOPICS, TOPIC_TERMS)
    doc_topics = rng.integers(0, TOPICS, N_DOCS)
    docs = topical_rows(rng, doc_topics, 12, 12, topic_terms)
    queries = topical_rows(rng, rng.integers(0, TOPICS, 600), 10, 6, topic_terms)
    index = InvertedIndex.build(docs, doc_order=rng.permutation(N_DOCS))  # a doc map to go through
    index.build_clusters(threads=2)
    return docs, index, queries[:300], queries[300:]


def brute_force(docs, queries) -> np.ndarray:
    return (queries.astype(np.int64) @ docs.astype(np.int64).T).toarray()


def test_returned_scores_are_true_dot_products_best_first(collection):
    docs, index, _, queries = collection
    dense = brute_force(docs, queries)
    for query_cut, heap_factor in ((1, 1.0), (3, 0.9), (10, 0.5)):
        doc_idx, scores = index.search(
            queries, k=20, algorithm="clustered", query_cut=query_cut, heap_factor=heap_factor
        )
        for q in range(len(doc_idx)):
            found = doc_idx[q] >= 0
            assert len(set(doc_idx[q][found])) == found.sum()  # no document twice
            np.testing.assert_array_equal(scores[q][found], dense[q, doc_idx[q][found]])
            order = np.lexsort((doc_idx[q][found], -scores[q][found]))
            np.testing.assert_array_equal(order, np.arange(found.sum()))  # score desc, then row
            assert (scores[q][found] > 0).all() and (scores[q][~found] == 0).all()


def test_nothing_pruned_equals_brute_force_with_ties_by_row(collection):
    """Every posting kept, whole summaries, every query term cut in, every cluster opened: the
    clustered search visits every matching document, so it must return the exact top-k, ties
    included (many here: impacts of 1-255 over few terms)."""
    docs, _, _, queries = collection
    everything = ClusterOptions(postings_share=1.0, max_share=1e9, summary_energy=1.0)
    index = InvertedIndex.build(docs, doc_order=np.random.default_rng(0).permutation(N_DOCS))
    index.build_clusters(everything)
    flat = sp.csr_array((np.ones(queries.nnz, dtype=np.uint8), queries.indices, queries.indptr), shape=queries.shape)
    for batch in (queries, flat):  # flat weights: ties everywhere
        dense = brute_force(docs, batch)
        for k in (1, 10, N_DOCS + 5):
            got = index.search(batch, k=k, algorithm="clustered", query_cut=10_000, heap_factor=1e-9)
            exact = index.search(batch, k=k, algorithm="exhaustive")
            np.testing.assert_array_equal(got[0], exact[0])
            np.testing.assert_array_equal(got[1], exact[1])
            best = np.argsort(-dense[0], kind="stable")[: min(k, int((dense[0] > 0).sum()))]
            np.testing.assert_array_equal(got[0][0][: len(best)], best)


def test_recall_grows_with_query_cut_and_lower_heap_factor(collection):
    _, index, _, queries = collection
    exact = index.search(queries, k=10, algorithm="exhaustive")

    def recall(query_cut, heap_factor):
        got = index.search(queries, k=10, algorithm="clustered", query_cut=query_cut, heap_factor=heap_factor)
        return np.nanmean(recall_at_k(exact, got))

    assert recall(2, 1.0) <= recall(8, 1.0) <= recall(30, 1.0) <= recall(30, 0.5)
    assert recall(30, 0.5) > 0.9


def test_clusters_travel_with_the_index_file_and_are_checked(collection, tmp_path):
    _, index, _, queries = collection
    index.save(tmp_path / "index.bin")
    loaded = InvertedIndex.load(tmp_path / "index.bin")
    assert loaded.has_clusters and loaded.meta[CLUSTERS_KEY] == index.meta[CLUSTERS_KEY]
    assert loaded.meta[CLUSTERS_KEY]["n_postings"] >= 1
    for a, b in zip(index.search(queries, algorithm="clustered"), loaded.search(queries, algorithm="clustered")):
        np.testing.assert_array_equal(a, b)
    stats = loaded.stats()
    assert stats["clusters"] > 0 and stats["bytes"]["forward"] == 4 * stats["postings"]
    data = bytearray((tmp_path / "index.bin").read_bytes())
    data[-200] ^= 0xFF  # inside the last section: the summary values
    (tmp_path / "flipped.bin").write_bytes(bytes(data))
    with pytest.raises(IndexFormatError, match="checksum mismatch in section 1[56]"):
        InvertedIndex.load(tmp_path / "flipped.bin")


def test_clustered_search_refuses_what_it_cannot_do(collection):
    docs, index, _, queries = collection
    plain = InvertedIndex.build(docs[:500])
    assert not plain.has_clusters
    with pytest.raises(ValueError, match="no clusters for clustered search"):
        plain.search(queries, algorithm="clustered")
    with pytest.raises(ValueError, match="apply to clustered search only"):
        index.search(queries, algorithm="bmp", query_cut=5)
    with pytest.raises(ValueError, match="not alpha or term_ratio"):
        index.search(queries, algorithm="clustered", alpha=0.9)
    with pytest.raises(ValueError, match="heap_factor must be in"):
        index.search(queries, algorithm="clustered", heap_factor=1.5)
    with pytest.raises(ValueError, match="query_cut must be"):
        index.search(queries, algorithm="clustered", query_cut=0)
    wide = InvertedIndex.build(sp.csr_array(docs[:500].astype(np.uint16) * 200))
    with pytest.raises(ValueError, match="needs 8-bit impacts"):
        wide.build_clusters()
    with pytest.raises(ValueError, match="postings_share must be"):
        ClusterOptions(postings_share=0)
    with pytest.raises(ValueError, match="must not hold 'clusters'"):
        InvertedIndex.build(docs[:500], meta={CLUSTERS_KEY: {}})


def test_presets_calibrated_with_clusters_reach_their_targets(collection):
    docs, _, calibration, held_out = collection
    index = InvertedIndex.build(docs)
    presets = index.calibrate_presets(calibration, clusters=True)
    assert set(presets) == set(PRESETS)
    exact = index.search(held_out, k=10, algorithm="exhaustive")
    dense = brute_force(docs, held_out)
    for name, preset in presets.items():
        got = index.search(held_out, k=10, algorithm=name)
        assert np.nanmean(recall_at_k(exact, got)) >= preset.target - 0.02
        found = got[0] >= 0
        np.testing.assert_array_equal(got[1][found], np.take_along_axis(dense, np.maximum(got[0], 0), 1)[found])
    # clusters that no preset uses are not kept
    assert index.has_clusters == any(p.algorithm == "clustered" for p in presets.values())


def test_a_corrupt_cluster_fails_its_search_only(collection, tmp_path):
    """A cluster doc index out of range (a file loaded without checksums) raises
    IndexFormatError, and the search scratch it leaves goes back clean: the next search of a
    sound index gives the same results as before."""
    _, index, _, queries = collection
    before = index.search(queries, algorithm="clustered", query_cut=5)
    index.save(tmp_path / "index.bin")
    data = bytearray((tmp_path / "index.bin").read_bytes())
    table = 96 + 12 * 32  # the section table follows 96 header bytes; cluster_docs is section 13
    offset, size = (int.from_bytes(data[table + at : table + at + 8], "little") for at in (8, 16))
    assert size > 0
    data[offset : offset + size] = b"\xff" * size
    (tmp_path / "bad.bin").write_bytes(bytes(data))
    damaged = InvertedIndex.load(tmp_path / "bad.bin", verify=False)
    with pytest.raises(IndexFormatError, match="doc index out of range"):
        damaged.search(queries, algorithm="clustered", query_cut=5)
    for got, want in zip(index.search(queries, algorithm="clustered", query_cut=5), before):
        np.testing.assert_array_equal(got, want)
