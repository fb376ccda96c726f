"""Anserini and CIFF exports: round trips through small readers written here."""

from __future__ import annotations

import gzip
import json
import struct

import numpy as np
import pytest

from splade_core.formats import CIFF_VERSION, ciff, write_anserini_docs, write_anserini_queries, write_ciff
from splade_core.sparse import SparseVectors, VectorFile

VOCAB = ["[PAD]", "the", "##ing", "cat", "dog", "zebra", "apple", "run"]


def vectors(dtype=np.uint8) -> SparseVectors:
    """Three documents, the middle one empty; term 0 unused."""
    indptr = np.array([0, 3, 3, 6], dtype=np.int64)
    indices = np.array([1, 3, 5, 2, 3, 7], dtype=np.int32)
    data = np.array([2, 1, 3, 200, 5, 1], dtype=dtype)
    return SparseVectors(indptr, indices, data, np.array(["d0", "d1", "d2"]), len(VOCAB))


# --- a minimal protobuf reader (varints, length-delimited and 64-bit fields) -----------------


def read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def parse_message(buf: bytes) -> dict[int, list]:
    fields: dict[int, list] = {}
    pos = 0
    while pos < len(buf):
        key, pos = read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = read_varint(buf, pos)
        elif wire == 1:
            value, pos = struct.unpack("<d", buf[pos : pos + 8])[0], pos + 8
        elif wire == 2:
            length, pos = read_varint(buf, pos)
            value, pos = buf[pos : pos + length], pos + length
        else:
            raise AssertionError(f"unexpected wire type {wire}")
        fields.setdefault(number, []).append(value)
    return fields


def read_ciff(path):
    """(header fields, [(term, df, cf, [(doc, tf)...])], [(docid, collection_docid, length)])."""
    buf = path.read_bytes()
    messages, pos = [], 0
    while pos < len(buf):
        length, pos = read_varint(buf, pos)
        messages.append(parse_message(buf[pos : pos + length]))
        pos += length
    header = {k: v[0] for k, v in messages[0].items()}
    lists = []
    for message in messages[1 : 1 + header[2]]:
        doc, postings = 0, []
        for raw in message.get(4, []):
            posting = parse_message(raw)
            doc += posting.get(1, [0])[0]
            postings.append((doc, posting.get(2, [0])[0]))
        lists.append((message[1][0].decode(), message[2][0], message[3][0], postings))
    docs = [(m.get(1, [0])[0], m.get(2, [b""])[0].decode(), m.get(3, [0])[0]) for m in messages[1 + header[2] :]]
    assert len(docs) == header[3]
    return header, lists, docs


# --- CIFF ------------------------------------------------------------------------------------


def test_ciff_round_trip(tmp_path):
    write_ciff(vectors(), tmp_path / "index.ciff", VOCAB, description="toy")
    header, lists, docs = read_ciff(tmp_path / "index.ciff")
    assert header[1] == CIFF_VERSION
    assert header[2] == header[4] == 5  # terms with postings
    assert header[3] == header[5] == 3
    assert header[6] == 2 + 1 + 3 + 200 + 5 + 1
    assert header[7] == pytest.approx(212 / 3)
    assert header[8] == b"toy"
    assert lists == [
        ("##ing", 1, 200, [(2, 200)]),
        ("cat", 2, 6, [(0, 1), (2, 5)]),
        ("run", 1, 1, [(2, 1)]),
        ("the", 1, 2, [(0, 2)]),
        ("zebra", 1, 3, [(0, 3)]),
    ]
    assert docs == [(0, "d0", 6), (1, "d1", 0), (2, "d2", 206)]


def test_ciff_postings_are_gaps_and_zero_fields_are_left_out(tmp_path):
    write_ciff(vectors(), tmp_path / "index.ciff", VOCAB)
    buf = (tmp_path / "index.ciff").read_bytes()
    header_length, pos = read_varint(buf, 0)
    pos += header_length
    length, pos = read_varint(buf, pos)
    first = parse_message(buf[pos : pos + length])  # "##ing": one posting, document 2, tf 200
    assert first[4] == [bytes([0x08, 2, 0x10, 0xC8, 0x01])]
    cat_length, pos2 = read_varint(buf, pos + length)
    cat = parse_message(buf[pos2 : pos2 + cat_length])
    assert cat[4][0] == bytes([0x10, 1])  # document 0: the gap field (0) is absent
    assert parse_message(cat[4][1]) == {1: [2], 2: [5]}  # gap 2 - 0


def test_ciff_large_values_and_many_postings(tmp_path):
    rng = np.random.default_rng(0)
    n_docs, vocab = 3000, 40
    dense = (rng.random((n_docs, vocab)) < 0.3) * rng.integers(1, 65536, (n_docs, vocab))
    dense[:, 7] = 0
    sv = SparseVectors.from_csr(dense.astype(np.uint16), [f"doc{i}" for i in range(n_docs)])
    (tmp_path / "v").mkdir()
    write_ciff(sv, tmp_path / "v" / "index.ciff.gz")
    plain = tmp_path / "index.ciff"
    plain.write_bytes(gzip.decompress((tmp_path / "v" / "index.ciff.gz").read_bytes()))
    header, lists, docs = read_ciff(plain)
    assert [term for term, *_ in lists] == sorted(str(t) for t in range(vocab) if t != 7)
    for term, df, cf, postings in lists:
        column = dense[:, int(term)]
        assert postings == [(int(d), int(column[d])) for d in np.flatnonzero(column)]
        assert (df, cf) == (len(postings), int(column.sum()))
    assert [d[2] for d in docs] == dense.sum(axis=1).tolist()
    assert header[6] == int(dense.sum())


def test_ciff_refuses_float_weights_and_clashing_tokens(tmp_path):
    floats = SparseVectors.from_csr(np.array([[0.5, 0.0], [0.0, 1.5]], dtype=np.float32), ["a", "b"])
    with pytest.raises(ValueError, match="quantize"):
        write_ciff(floats, tmp_path / "x.ciff")
    with pytest.raises(ValueError, match="same token string"):
        write_ciff(vectors(), tmp_path / "x.ciff", ["t"] * len(VOCAB))
    with pytest.raises(ValueError, match="vocabulary has 4 tokens"):
        write_ciff(vectors(), tmp_path / "x.ciff", VOCAB[:4])
    assert not list(tmp_path.iterdir())  # nothing half-written left behind


# --- Anserini --------------------------------------------------------------------------------


def test_anserini_documents(tmp_path):
    write_anserini_docs(vectors(), VOCAB, tmp_path / "docs.jsonl")
    lines = [json.loads(line) for line in (tmp_path / "docs.jsonl").read_text().splitlines()]
    assert lines == [
        {"id": "d0", "contents": "", "vector": {"the": 2, "cat": 1, "zebra": 3}},
        {"id": "d1", "contents": "", "vector": {}},
        {"id": "d2", "contents": "", "vector": {"##ing": 200, "cat": 5, "run": 1}},
    ]
    assert all(isinstance(w, int) for line in lines for w in line["vector"].values())


def test_anserini_documents_gzip(tmp_path):
    write_anserini_docs(vectors(np.uint16), VOCAB, tmp_path / "docs.jsonl.gz")
    with gzip.open(tmp_path / "docs.jsonl.gz", "rt") as handle:
        assert json.loads(handle.readline())["vector"] == {"the": 2, "cat": 1, "zebra": 3}


def test_anserini_queries_repeat_tokens_by_weight(tmp_path):
    write_anserini_queries(vectors(), VOCAB, tmp_path / "queries.tsv")
    lines = (tmp_path / "queries.tsv").read_text().split("\n")
    assert lines[0] == "d0\tthe the cat zebra zebra zebra"
    assert lines[1] == "d1\t"
    qid, tokens = lines[2].split("\t")
    assert qid == "d2" and tokens.split().count("##ing") == 200 and tokens.endswith("cat cat cat cat cat run")
    assert lines[3] == ""


def test_anserini_queries_jsonl_and_bad_tokens(tmp_path):
    write_anserini_queries(vectors(), VOCAB, tmp_path / "queries.jsonl", format="jsonl")
    first = json.loads((tmp_path / "queries.jsonl").read_text().splitlines()[0])
    assert first == {"id": "d0", "vector": {"the": 2, "cat": 1, "zebra": 3}}
    spaced = [*VOCAB[:3], "ca t", *VOCAB[4:]]
    with pytest.raises(ValueError, match="whitespace"):
        write_anserini_queries(vectors(), spaced, tmp_path / "q.tsv")
    with pytest.raises(ValueError, match="query format"):
        write_anserini_queries(vectors(), VOCAB, tmp_path / "q.xml", format="xml")


# --- streaming: what a VectorFile streams equals what the whole file in memory gives ------------


def many(rows: int = 400, vocab: int = 50, seed: int = 1) -> SparseVectors:
    rng = np.random.default_rng(seed)
    dense = (rng.random((rows, vocab)) < 0.2) * rng.integers(1, 300, (rows, vocab))
    dense[::7] = 0  # empty documents too
    return SparseVectors.from_csr(dense.astype(np.uint16), [f"doc-{i}" for i in range(rows)])


@pytest.mark.parametrize("compress", [False, True])
def test_ciff_from_a_vector_file_in_chunks_and_term_groups_equals_the_in_memory_one(tmp_path, monkeypatch, compress):
    original = many()
    original.save(tmp_path / "docs.npz")
    write_ciff(original, tmp_path / "memory.ciff", compress=compress)
    monkeypatch.setattr(ciff, "_BLOCK_POSTINGS", 97)  # dozens of term groups
    with VectorFile(tmp_path / "docs.npz") as streamed:
        monkeypatch.setattr(streamed, "chunks", lambda: VectorFile.chunks(streamed, max_entries=131))
        write_ciff(streamed, tmp_path / "streamed.ciff", compress=compress)
    written = (tmp_path / "streamed.ciff").read_bytes()
    assert written == (tmp_path / "memory.ciff").read_bytes()
    assert (written[:2] == b"\x1f\x8b") == compress  # the gzip magic only when asked
    (tmp_path / "plain.ciff").write_bytes(gzip.decompress(written) if compress else written)
    _, lists, docs = read_ciff(tmp_path / "plain.ciff")
    dense = original.to_csr().toarray()
    assert [term for term, *_ in lists] == sorted(str(t) for t in np.flatnonzero(dense.any(axis=0)))
    for term, *_, postings in lists:
        column = dense[:, int(term)]
        assert postings == [(int(d), int(column[d])) for d in np.flatnonzero(column)]
    assert docs == [(row, f"doc-{row}", int(dense[row].sum())) for row in range(len(dense))]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["docs.npz", "memory.ciff", "plain.ciff", "streamed.ciff"]


def test_anserini_documents_streamed_from_a_vector_file(tmp_path, monkeypatch):
    original = many(rows=60)
    original.save(tmp_path / "docs.npz")
    tokens = [f"w{i}" for i in range(original.vocab_size)]
    write_anserini_docs(original, tokens, tmp_path / "memory.jsonl")
    with VectorFile(tmp_path / "docs.npz") as streamed:
        monkeypatch.setattr(streamed, "chunks", lambda: VectorFile.chunks(streamed, max_entries=50))
        write_anserini_docs(streamed, tokens, tmp_path / "streamed.jsonl", compress=True)
    with gzip.open(tmp_path / "streamed.jsonl", "rb") as streamed_lines:
        assert streamed_lines.read() == (tmp_path / "memory.jsonl").read_bytes()
