"""One BM25 for the baseline run and for mining (tests/unit/test_mine.py): exact over the collection,
ties by the lower row."""

from pathlib import Path

import numpy as np

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


def test_scores_equal_bm25s_bit_for_bit_whatever_the_chunking():
    """The index is built a chunk of texts at a time; its scores are bm25s' (Lucene variant)."""
    import json

    import bm25s

    from splade_core.registry import BM25_B, BM25_K1

    corpus = Path(__file__).resolve().parents[2] / "splade_core" / "resources" / "datasets" / "cranfield"
    texts = [f"{d.get('title') or ''} {d['text']}" for d in map(json.loads, (corpus / "corpus.jsonl").open())]
    texts.append("")  # a document without a token
    queries = [json.loads(line)["text"] for line in (corpus / "queries.jsonl").open()]
    reference = bm25s.BM25(k1=BM25_K1, b=BM25_B, method="lucene")
    reference.index(bm25s.tokenize(texts, show_progress=False), show_progress=False)
    ours = [BM25(texts), BM25(iter(texts), chunk_texts=97)]
    compared = 0
    for query in bm25s.tokenize(queries, return_ids=False, show_progress=False):
        known = [token for token in query if token in reference.vocab_dict]
        if known:
            expected = reference.get_scores(known)
            for index in ours:
                np.testing.assert_array_equal(index.scores(query), expected)
            compared += 1
    assert compared > 10 and ours[0].size == ours[1].size == len(texts)
