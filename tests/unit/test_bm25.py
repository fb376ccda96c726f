"""One BM25 for the baseline run and for mining: exact over the collection, ties by the lower row."""

import numpy as np

from splade_core.data.mining import bm25_rankings
from splade_core.retrieve.bm25 import BM25

TEXTS = [
    "sparse retrieval with learned weights",
    "dense retrieval with dual encoders",
    "sparse retrieval with learned weights",  # a copy of row 0: tied with it on every query
    "inverted index compression",
]


def test_ties_go_to_the_lower_row_and_only_positive_scores_are_ranked():
    rows, scores = BM25(TEXTS).topk(["sparse weights", "retrieval", "zebra"], k=4)
    assert rows[0].tolist() == [0, 2, -1, -1] and scores[0, 0] == scores[0, 1] > 0
    # three documents of one length, "retrieval" once in each: a three-way tie in row order;
    # row 3 shares no term with the query
    assert rows[1].tolist() == [0, 1, 2, -1] and len(set(scores[1, :3])) == 1 and scores[1, 3] == 0
    assert (rows[2] == -1).all() and (scores[2] == 0).all()  # no known token


def test_scores_are_ranked_best_first():
    rows, scores = BM25(TEXTS).topk(["retrieval with learned weights"], k=3)
    assert np.all(np.diff(scores[0]) <= 0) and rows[0, 0] == 0


def test_mining_ranks_with_the_same_bm25():
    queries = ["sparse weights", "dual encoders", "zebra"]
    rows, _ = BM25(TEXTS).topk(queries, k=3)
    assert bm25_rankings(TEXTS, queries, 3) == [row[row >= 0].tolist() for row in rows]
