"""Recall-targeted approximate presets: calibrated per index from queries, stored in the index
file, and reaching their recall@10 target on held-out queries of the same distribution while
returning true scores."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp

from splade_core.index import IndexFormatError, InvertedIndex
from splade_core.index import presets as presets_module
from splade_core.index.inverted_index import BMP_MIN_DOCS, CLUSTERS_MIN_DOCS
from splade_core.index.presets import ALPHAS, BOUND_SHARES, PRESET_MAX_K, PRESETS, PRESETS_KEY, recall_at_k

VOCAB, TOPICS, TOPIC_TERMS = 12000, 250, 40


def topical_rows(rng, topics: np.ndarray, n_topic: int, n_background: int, topic_terms: np.ndarray) -> sp.csr_array:
    """One row per entry of `topics`: terms of its topic plus Zipf-like background terms,
    integer weights 1-255 (heavier for topic terms)."""
    rows, cols, data = [], [], []
    for r, topic in enumerate(topics):
        own = rng.choice(topic_terms[topic], n_topic, replace=False)
        background = np.minimum(rng.zipf(1.3, n_background) - 1, VOCAB - 1)
        terms, first = np.unique(np.concatenate([own, background]), return_index=True)
        weights = np.where(first < n_topic, rng.integers(60, 256, len(terms)), rng.integers(1, 120, len(terms)))
        rows.append(np.full(len(terms), r))
        cols.append(terms)
        data.append(weights)
    matrix = sp.csr_array(
        (np.concatenate(data).astype(np.uint8), (np.concatenate(rows), np.concatenate(cols))),
        shape=(len(topics), VOCAB),
    )
    matrix.sum_duplicates()
    return matrix


@pytest.fixture(scope="module")
def collection():
    """BMP_MIN_DOCS documents of TOPICS topics, indexed grouped by topic (the locality that BP
    gives real collections), and two disjoint sets of queries from the same distribution."""
    rng = np.random.default_rng(11)
    topic_terms = rng.permutation(VOCAB)[: TOPICS * TOPIC_TERMS].reshape(TOPICS, TOPIC_TERMS)
    doc_topics = rng.integers(0, TOPICS, BMP_MIN_DOCS)
    docs = topical_rows(rng, doc_topics, 12, 12, topic_terms)
    queries = topical_rows(rng, rng.integers(0, TOPICS, 800), 10, 6, topic_terms)
    index = InvertedIndex.build(docs, doc_order=np.argsort(doc_topics, kind="stable"))
    return docs, index, queries[:400], queries[400:]


def test_presets_reach_their_targets_on_held_out_queries_with_true_scores(collection):
    docs, index, calibration, held_out = collection
    assert index.default_algorithm(10) == "bmp"
    presets = index.calibrate_presets(calibration, threads=2, clusters=False)
    assert set(presets) == set(PRESETS) and index.presets == presets
    exact = index.search(held_out, k=10, algorithm="exhaustive")
    dense = (held_out.astype(np.int64) @ docs.astype(np.int64).T).toarray()
    for name, preset in presets.items():
        assert preset.target == PRESETS[name] and preset.algorithm == "bmp" and preset.queries == 400
        assert preset.bound_share in (1.0, *BOUND_SHARES) and preset.alpha in (1.0, *ALPHAS)
        assert preset.recall >= preset.target
        doc_idx, scores = index.search(held_out, k=10, algorithm=name)
        reached = np.nanmean(recall_at_k(exact, (doc_idx, scores)))
        print(f"{name}: {preset}, held-out recall@10 {reached:.4f}")
        assert reached >= preset.target
        hit = doc_idx >= 0
        np.testing.assert_array_equal(scores[hit], np.take_along_axis(dense, np.maximum(doc_idx, 0), axis=1)[hit])
    # The lower target walks the same ladder at least as far, and it does leave exact search.
    loose, strict = presets["approx-95"], presets["approx-99"]
    assert (loose.bound_share, loose.alpha) <= (strict.bound_share, strict.alpha) < (1.0, 1.0)
    assert index.calibrate_presets(calibration, clusters=False) == presets  # deterministic, threads or not
    assert not index.has_clusters


def test_presets_choose_between_bmp_and_clustered_search(collection):
    """With both ladders, each target gets the faster of their settings; either reaches it."""
    docs, index, calibration, held_out = collection
    assert len(index) >= CLUSTERS_MIN_DOCS
    presets = index.calibrate_presets(calibration)
    exact = index.search(held_out, k=10, algorithm="exhaustive")
    for name, preset in presets.items():
        assert preset.algorithm in ("bmp", "clustered") and preset.recall >= preset.target
        assert np.nanmean(recall_at_k(exact, index.search(held_out, k=10, algorithm=name))) >= preset.target
    assert index.has_clusters == any(p.algorithm == "clustered" for p in presets.values())


def test_a_looser_target_may_take_a_stricter_targets_faster_setting(collection, monkeypatch):
    """A setting that reaches 0.99 reaches 0.95: where the settings are timed, approx-95 chooses
    among approx-99's candidates too, so it is never the slower of the two."""
    docs, index, calibration, held_out = collection
    strict = index.calibrate_presets(calibration)["approx-99"].search_options
    timed = []

    def strict_is_fastest(index, queries, settings, k):
        timed.append(settings)
        return {s: 0.0 if dict(s) == strict else 1.0 for s in settings}

    monkeypatch.setattr(presets_module, "_timed_in_turns", strict_is_fastest)
    presets = index.calibrate_presets(calibration)
    assert any(dict(s) == strict for s in timed[0])
    assert presets["approx-95"].search_options == presets["approx-99"].search_options == strict
    assert presets["approx-95"].target == 0.95 and presets["approx-95"].recall >= 0.99


def test_a_preset_searches_exactly_past_preset_max_k(collection):
    """Past PRESET_MAX_K, approximate bmp was slower than exact search: a preset then returns the
    exact top-k (exhaustive's, ties included)."""
    docs, index, calibration, held_out = collection
    index.calibrate_presets(calibration, clusters=False)
    assert index.presets["approx-95"].bound_share < 1.0  # approximate at smaller k
    k = PRESET_MAX_K + 1
    exact = index.search(held_out, k=k, algorithm="exhaustive")
    for name in PRESETS:
        for got, want in zip(index.search(held_out, k=k, algorithm=name), exact):
            np.testing.assert_array_equal(got, want)


def test_presets_travel_with_the_index_file(collection, tmp_path):
    docs, _, calibration, held_out = collection
    index = InvertedIndex.build(docs[:5000], meta={"model": "m"}, calibration_queries=calibration)
    index.save(tmp_path / "index.bin")
    loaded = InvertedIndex.load(tmp_path / "index.bin")
    assert loaded.presets == index.presets and loaded.meta["model"] == "m"
    # Below BMP_MIN_DOCS no approximate setting pays: the presets are exact.
    assert {p.algorithm for p in loaded.presets.values()} == {"exhaustive"}
    for name in PRESETS:
        for got, want in zip(loaded.search(held_out, k=10, algorithm=name), loaded.search(held_out, k=10)):
            np.testing.assert_array_equal(got, want)


def test_an_uncalibrated_index_refuses_presets_and_bad_presets_are_refused(collection, tmp_path):
    docs, _, calibration, _ = collection
    index = InvertedIndex.build(docs[:2000])
    with pytest.raises(ValueError, match="holds no calibrated preset 'approx-95'"):
        index.search(calibration, algorithm="approx-95")
    calibrated = InvertedIndex.build(docs[:2000], calibration_queries=calibration)
    with pytest.raises(ValueError, match="sets its options itself"):
        calibrated.search(calibration, algorithm="approx-95", bound_share=0.5)
    with pytest.raises(ValueError, match="must not hold 'search_presets'"):
        InvertedIndex.build(docs[:2000], meta={PRESETS_KEY: {}})
    with pytest.raises(ValueError, match="queries that match"):
        index.calibrate_presets(sp.csr_array((1, docs.shape[1]), dtype=np.int64))
    bad = {"target": 0.95, "algorithm": "bmp", "bound_share": 0.0, "alpha": 1.0, "query_cut": 0, "heap_factor": 1.0}
    bad |= {"recall": 0.97, "queries": 9}
    forged = InvertedIndex(index._engine.with_metadata(json.dumps({PRESETS_KEY: {"approx-95": bad}})))
    forged.save(tmp_path / "forged.bin")
    with pytest.raises(IndexFormatError, match="preset 'approx-95': a preset's bound_share must be"):
        InvertedIndex.load(tmp_path / "forged.bin")
