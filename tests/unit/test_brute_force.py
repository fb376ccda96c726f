import numpy as np
import pytest
import scipy.sparse as sp

from splade_core.retrieve import brute_force_search, topk_rows


def test_ties_are_broken_by_smaller_doc_index():
    scores = np.array([[5, 7, 7, 5, 7, 0]])
    idx, val = topk_rows(scores, 4)
    assert idx.tolist() == [[1, 2, 4, 0]] and val.tolist() == [[7, 7, 7, 5]]


def test_tie_straddling_the_cut_keeps_the_smallest_indices():
    scores = np.array([[3, 3, 3, 3, 9]])
    idx, _ = topk_rows(scores, 3)
    assert idx.tolist() == [[4, 0, 1]]


def test_zero_scores_are_not_returned_and_places_are_padded():
    idx, val = topk_rows(np.array([[0, 2, 0]]), 3)
    assert idx.tolist() == [[1, -1, -1]] and val.tolist() == [[2, 0, 0]]


def test_integer_impacts_do_not_overflow():
    docs = sp.csr_array(np.full((2, 300), 255, dtype=np.uint8))
    queries = sp.csr_array(np.full((1, 300), 255, dtype=np.uint8))
    _, val = brute_force_search(queries, docs, k=2)
    assert val.dtype == np.int64 and val.tolist() == [[255 * 255 * 300] * 2]


def test_matches_dense_numpy_ranking_on_random_data():
    rng = np.random.default_rng(3)
    docs = sp.random(200, 60, density=0.1, format="csr", random_state=rng) * 10
    queries = sp.random(9, 60, density=0.2, format="csr", random_state=rng) * 10
    docs.data, queries.data = np.ceil(docs.data).astype(np.int64), np.ceil(queries.data).astype(np.int64)
    idx, val = brute_force_search(queries, docs, k=15, batch_size=4)
    dense = queries.toarray() @ docs.toarray().T
    for row, scores in enumerate(dense):
        order = sorted((i for i in range(200) if scores[i] > 0), key=lambda i: (-scores[i], i))[:15]
        got = [i for i in idx[row] if i >= 0]
        assert got == order and val[row, : len(order)].tolist() == scores[order].tolist()


def test_vocabulary_mismatch_is_rejected():
    with pytest.raises(ValueError, match="terms"):
        brute_force_search(sp.csr_array((1, 5)), sp.csr_array((1, 6)), k=1)


def test_timed_calls_warm_up_then_time_every_call_once():
    from splade_core.retrieve.search import timed_calls

    made = []
    calls = [lambda i=i: made.append(i) or i * 10 for i in range(15)]
    wall, cpu, results = timed_calls(calls, warmup=10)
    assert made == [*range(10), *range(15)] and results == [i * 10 for i in range(15)]
    assert wall.shape == cpu.shape == (15,) and (wall >= 0).all() and (cpu >= 0).all()
