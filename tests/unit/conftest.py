"""Fixtures of the unit tests."""

import json

import pytest

TOPICS = [
    "protein folding structure",
    "cancer tumor growth",
    "vaccine immune response",
    "climate ocean warming",
    "neural network learning",
    "gene expression regulation",
    "heart disease risk",
    "bacteria antibiotic resistance",
]


@pytest.fixture(scope="session")
def collection(tmp_path_factory):
    """A BEIR folder: 3 documents per topic (the first six), one query per topic judging the
    first; q0 also judges d0_1 as not relevant (judged documents are never negatives)."""
    topics = TOPICS[:6]
    root = tmp_path_factory.mktemp("collection")
    (root / "qrels").mkdir()
    docs = [
        {
            "_id": f"d{i}_{j}",
            "title": f"Study {i}.{j}",
            "text": f"{topic} " * (j + 1) + f"and {topics[(i + 1) % len(topics)]}",
        }
        for i, topic in enumerate(topics)
        for j in range(3)
    ]
    (root / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (root / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": f"q{i}", "text": f"{t}?"}) + "\n" for i, t in enumerate(topics))
    )
    qrels = "query-id\tcorpus-id\tscore\n" + "".join(f"q{i}\td{i}_0\t1\n" for i in range(len(topics))) + "q0\td0_1\t0\n"
    (root / "qrels" / "train.tsv").write_text(qrels)
    return f"{root}:train"
