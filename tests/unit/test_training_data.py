"""Training examples: file formats and the drawn stream (mining: test_mine.py)."""

import gzip
import json

import numpy as np
import pytest

from splade_core.data.examples import FORMAT, TrainingExample, read_examples, write_examples
from splade_core.data.training import TrainingData
from splade_core.errors import SpladeError
from splade_core.mine import MineConfig
from splade_core.mine import mine_examples as mine


def test_jsonl_round_trip_with_header(tmp_path):
    examples = [
        TrainingExample("q1", ("d1",), ("d7", "d3"), {"d1": 12.5, "d7": 3.0, "d3": 1.0}),
        TrainingExample("q2", ("d2", "d4"), ()),
    ]
    path = write_examples(tmp_path / "ex.jsonl", examples, {"method": "bm25"})
    assert json.loads(path.read_text().splitlines()[0])["format"] == FORMAT
    read, header = read_examples(path)
    assert list(read) == examples
    assert header["method"] == "bm25"


def test_jsonl_without_header_gz_and_single_positive(tmp_path):
    path = tmp_path / "ex.jsonl.gz"
    with gzip.open(path, "wt") as handle:
        handle.write(json.dumps({"qid": 7, "pos": "d1", "neg": ["d2"], "scores": {"d1": 2, "d2": "1.5"}}) + "\n\n")
    (example,), header = read_examples(path)
    assert example == TrainingExample("7", ("d1",), ("d2",), {"d1": 2.0, "d2": 1.5})
    assert header == {}


@pytest.mark.parametrize(
    "line, message",
    [
        ('{"qid": "q", "pos": ["d"], "negatives": []}', "unknown keys"),
        ('{"pos": ["d"]}', "needs 'qid'"),
        ('{"qid": "q", "pos": []}', "empty"),
        ('{"qid": "q", "pos": ["d"], "scores": {"d": "high"}}', "numbers"),
        ("{not json", "not valid JSON"),
    ],
)
def test_jsonl_errors_name_the_line(tmp_path, line, message):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"qid": "q0", "pos": ["d0"]}\n' + line + "\n")
    with pytest.raises(SpladeError, match=f"bad.jsonl:2.*{message}"):
        read_examples(path)


def test_msmarco_id_triples_merge_per_query(tmp_path):
    path = tmp_path / "qidpidtriples.train.tsv"
    path.write_text("q1\tp1\tp5\nq1\tp1\tp6\nq2\tp2\tp7\nq1\tp1\tp5\n")
    examples, _ = read_examples(path)
    assert list(examples) == [TrainingExample("q1", ("p1",), ("p5", "p6")), TrainingExample("q2", ("p2",), ("p7",))]


def test_teacher_margin_tsv(tmp_path):
    path = tmp_path / "scores.tsv"
    path.write_text("10.5\t2.0\tq1\tp1\tp5\n10.5\t-1\tq1\tp1\tp6\n")
    (example,), _ = read_examples(path)
    assert example == TrainingExample("q1", ("p1",), ("p5", "p6"), {"p1": 10.5, "p5": 2.0, "p6": -1.0})


def test_tsv_and_file_errors(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("q1\tp1\n")
    with pytest.raises(SpladeError, match="bad.tsv:1: expected 3 columns"):
        read_examples(bad)
    with pytest.raises(SpladeError, match="no such"):
        read_examples(tmp_path / "missing.jsonl")
    other = tmp_path / "x.csv"
    other.write_text("")
    with pytest.raises(SpladeError, match=".jsonl or .tsv"):
        read_examples(other)


def test_tsv_grouping_matches_the_per_query_rules(tmp_path):
    """Lines of a query merge wherever they are; a pair keeps the last score it got (a line's
    + before its -); a negative that is one of the query's positives is dropped; CRLF, blank
    and whitespace lines, a missing final newline and gzip read the same."""
    lines = [
        "1.0\t0.5\tq1\tp1\tp5",
        "",
        "2.0\t0.25\tq2\tp2\tp1",
        "  ",
        "3.0\t0.75\tq1\tp1\tp6",  # p1 re-scored: 3.0 wins over 1.0
        "q1\tp5\tp7",  # p5 becomes a positive of q1: no longer a negative, keeps its score
        "4.0\t9.0\tq1\tp6\tp5",  # p6 also positive; p5 scored again as a negative: 9.0
        "\t\t",
        "q2\tp2\tp1",
    ]
    expected = [
        TrainingExample("q1", ("p1", "p5", "p6"), ("p7",), {"p1": 3.0, "p5": 9.0, "p6": 4.0}),
        TrainingExample("q2", ("p2",), ("p1",), {"p2": 2.0, "p1": 0.25}),
    ]
    plain = tmp_path / "scores.tsv"
    plain.write_text("\r\n".join(lines))
    packed = tmp_path / "scores.tsv.gz"
    packed.write_bytes(gzip.compress("\n".join(lines).encode() + b"\n"))
    for path in (plain, packed):
        examples, header = read_examples(path)
        assert list(examples) == expected and header == {}
    assert examples.doc_ids.tolist() == sorted(examples.doc_ids.tolist())  # compact and sorted


def test_tsv_read_in_many_blocks_and_groups_equals_one_of_each(tmp_path, monkeypatch):
    """A file read a few lines at a time and grouped a query or two at a time gives the same
    examples as one block and one group: blocks and groups only bound the memory."""
    import splade_core.data.examples as module

    rng = np.random.default_rng(7)
    lines = []
    for _ in range(3000):  # queries interleaved, documents repeated across and within them
        query, pos, neg = rng.integers(0, 60), rng.integers(0, 400), rng.integers(0, 400)
        if rng.random() < 0.3:
            lines.append(f"q{query}\tp{pos}\tp{neg}")  # a triple line, no scores
        else:
            lines.append(f"{rng.normal():.4f}\t{rng.normal():.4f}\tq{query}\tp{pos}\tp{neg}")
    path = tmp_path / "mixed.tsv"
    path.write_text("\n".join(lines) + "\n")
    whole, _ = read_examples(path)
    monkeypatch.setattr(module, "_TSV_BLOCK_BYTES", 512)
    monkeypatch.setattr(module, "_GROUP_LINES", 50)
    pieces, _ = read_examples(path)
    assert len(whole) == 60 and list(pieces) == list(whole)
    for name in ("pos_ptr", "pos", "neg_ptr", "neg", "scored"):
        assert np.array_equal(getattr(pieces, name), getattr(whole, name))
    for name in ("pos_scores", "neg_scores"):
        assert np.array_equal(getattr(pieces, name), getattr(whole, name), equal_nan=True)


@pytest.mark.parametrize(
    "text, message",
    [
        ("q1\tp1\tp2\n" * 3 + "q1\tp1\tp2\tp3\tp4\tp5\n", "bad.tsv:4: expected 3 columns.*got 6 columns"),
        ("q1\tp1\tp2\tp3\tp4\tp5\tp6\n", "bad.tsv:1: expected 3 columns.*got 7 columns"),
        ("q1\t\tp2\n", "bad.tsv:1: .*got an empty field"),
        ("q1\tp 1\tp2\n", "bad.tsv:1: document id 'p 1' contains whitespace"),
        ("1\tx\tq1\tp1\tp2\n", "bad.tsv:1: expected score\\+, score-"),
    ],
)
def test_tsv_errors_name_the_line(tmp_path, text, message):
    path = tmp_path / "bad.tsv"
    path.write_text(text)
    with pytest.raises(SpladeError, match=message):
        read_examples(path)


def test_truncated_gzip_is_an_error(tmp_path):
    lines = "".join(f"q{i % 97}\tp{i}\tp{i * 7919 % 100003}\n" for i in range(50_000)).encode()
    path = tmp_path / "triples.tsv.gz"
    packed = gzip.compress(lines)
    path.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(SpladeError, match="triples.tsv.gz: cannot read"):
        read_examples(path)


def test_examples_are_arrays_that_select_and_check_scores():
    from splade_core.data.examples import Examples

    listed = [
        TrainingExample("q1", ("d1",), ("d7", "d3"), {"d1": 1.0, "d7": 2.0, "d3": 3.0}),
        TrainingExample("q2", ("d2", "d4"), ()),
        TrainingExample("q3", ("d3",), ("d1",), {"d3": 1.0}),
    ]
    examples = Examples.of(listed)
    assert list(examples) == [listed[0], listed[1], listed[2]]
    assert examples.negative_counts.tolist() == [2, 0, 1]
    assert examples.unscored().tolist() == [False, True, True]  # q3 lacks its negative's score
    assert list(examples.take([2, 0])) == [listed[2], listed[0]]
    assert examples.pos.dtype == examples.neg.dtype == np.int32


def mine_examples(collection, method, depth):
    return mine(MineConfig(collection, method=method, depth=depth, progress=False))


def test_stream_is_a_pure_function_of_seed_and_position(collection):
    examples, _ = mine_examples(collection, "bm25", depth=4)
    data = TrainingData.load(collection, examples, seed=3, needs_negatives=True)
    stream = data.items(0, 20, n_negatives=2)
    assert len({(it.query, it.positive) for it in stream[:6]}) == 6  # one epoch = each example once
    fresh = TrainingData.load(collection, examples, seed=3, needs_negatives=True)
    assert fresh.items(13, 7, n_negatives=2) == stream[13:]
    other_seed = TrainingData.load(collection, examples, seed=4, needs_negatives=True).items(0, 20, n_negatives=2)
    assert other_seed != stream
    assert all(len(it.negatives) == 2 and it.positive not in it.negatives for it in stream)


def test_stream_validates_texts_and_scores(collection):
    with pytest.raises(SpladeError, match="not in the collection"):
        TrainingData.load(collection, [TrainingExample("q0", ("nope",), ("d1_0",))])
    with pytest.raises(SpladeError, match="lacks teacher scores"):
        TrainingData.load(collection, [TrainingExample("q0", ("d0_0",), ("d1_0",), {"d0_0": 1.0})], needs_scores=True)
    with pytest.raises(SpladeError, match="no training example has hard negatives"):
        TrainingData.load(collection, [TrainingExample("q0", ("d0_0",))], needs_negatives=True)
    data = TrainingData.load(
        collection, [TrainingExample("q0", ("d0_0",), ("d1_0",), {"d0_0": 3.0, "d1_0": 1.0})], needs_scores=True
    )
    item = data.item(5, n_negatives=3)  # fewer negatives than asked: drawn with replacement
    assert item.negatives == ("Study 1.0 " + "cancer tumor growth and vaccine immune response",) * 3
    assert item.teacher_positive == 3.0 and item.teacher_negatives == (1.0, 1.0, 1.0)


def test_a_downloaded_corpus_serves_texts_from_disk_with_the_same_stream(collection, tmp_path):
    """Training on the download stage's copy holds document ids, not texts (a seek per drawn
    document); the stream equals the one read from the folder itself."""
    from splade_core.data.download import download_collection
    from splade_core.data.training import CorpusTexts

    folder = download_collection(collection, tmp_path / "resources", progress=False)["topics"]["path"]
    examples, _ = mine_examples(collection, "bm25", depth=4)
    in_memory = TrainingData.load(collection, examples, seed=3, needs_negatives=True)
    from_disk = TrainingData.load(folder, examples, seed=3, needs_negatives=True)
    assert isinstance(from_disk.doc_text, CorpusTexts) and isinstance(in_memory.doc_text, dict)
    assert len(from_disk.doc_text) == len(in_memory.doc_text)
    assert from_disk.items(0, 30, n_negatives=2) == in_memory.items(0, 30, n_negatives=2)
    with pytest.raises(SpladeError, match="not in the collection"):
        TrainingData.load(folder, [TrainingExample("q0", ("nope",), ("d1_0",))])
