"""Pre-encoded vectors: what `export` writes (Anserini JsonVectorCollection, TSV queries, npz)
imports back to the same impacts; unknown tokens and bad records are clear errors."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from splade_core.errors import SpladeError
from splade_core.formats import Vocabulary, import_vectors, write_anserini_docs, write_anserini_queries, write_ciff
from splade_core.sparse import SparseVectors, quantize

TOKENS = [f"tok{i}" for i in range(40)] + ["##ing", "[CLS]"]


@pytest.fixture
def vocabulary() -> Vocabulary:
    return Vocabulary(TOKENS, "test-vocab")


def impacts(seed: int = 0, rows: int = 25) -> SparseVectors:
    rng = np.random.default_rng(seed)
    dense = np.where(rng.random((rows, len(TOKENS))) < 0.3, rng.integers(1, 256, (rows, len(TOKENS))), 0)
    weights = SparseVectors.from_csr(dense.astype(np.float32) / 100, [f"doc-{i}" for i in range(rows)])
    return quantize(weights, 100.0, "uint8")


def assert_same_impacts(imported: SparseVectors, original: SparseVectors) -> None:
    requantized = quantize(imported, 100.0, "uint8")
    np.testing.assert_array_equal(requantized.indptr, original.indptr)
    np.testing.assert_array_equal(requantized.indices, original.indices)
    np.testing.assert_array_equal(requantized.data, original.data)
    np.testing.assert_array_equal(requantized.ids, original.ids)


def test_json_vector_collection_in_shards_round_trips(tmp_path, vocabulary):
    original = impacts()
    first, second = (original.to_csr()[:10], original.to_csr()[10:])
    write_anserini_docs(
        SparseVectors.from_csr(first, original.ids[:10], original.meta), TOKENS, tmp_path / "a.jsonl.gz"
    )
    write_anserini_docs(SparseVectors.from_csr(second, original.ids[10:], original.meta), TOKENS, tmp_path / "b.jsonl")
    stats = import_vectors(
        [tmp_path / "a.jsonl.gz", tmp_path / "b.jsonl"], tmp_path / "docs.npz", vocabulary, scale=100
    )
    assert stats == {"rows": 25, "nnz": original.nnz, "dropped_tokens": 0, "format": "jsonl"}
    imported = SparseVectors.load(tmp_path / "docs.npz")
    assert imported.meta["imported"]["files"][0].endswith("a.jsonl.gz")
    assert_same_impacts(imported, original)


@pytest.mark.parametrize("query_format", ["tsv", "jsonl"])
def test_anserini_queries_round_trip(tmp_path, vocabulary, query_format):
    original = impacts(1, rows=6)
    path = tmp_path / f"queries.{query_format}"
    write_anserini_queries(original, TOKENS, path, format=query_format)
    import_vectors([path], tmp_path / "queries.npz", vocabulary, scale=100)
    assert_same_impacts(SparseVectors.load(tmp_path / "queries.npz"), original)


def test_a_quantized_npz_imports_as_the_weights_it_stands_for(tmp_path):
    original = impacts(2)
    original.save(tmp_path / "q.npz")
    import_vectors([tmp_path / "q.npz"], tmp_path / "float.npz", None)
    imported = SparseVectors.load(tmp_path / "float.npz")
    assert not imported.is_quantized
    assert_same_impacts(imported, original)


def write_lines(path, records) -> None:
    with gzip.open(path, "wt") as out:
        out.writelines(json.dumps(record) + "\n" for record in records)


def test_unknown_tokens_are_an_error_naming_the_line_or_dropped_and_counted(tmp_path, vocabulary):
    records = [{"id": "a", "vector": {"tok1": 50}}, {"id": "b", "contents": "", "vector": {"tok2": 7, "zebra": 3}}]
    write_lines(tmp_path / "docs.jsonl.gz", records)
    with pytest.raises(SpladeError, match=r"docs\.jsonl\.gz:2: token 'zebra' is not in the vocabulary of test-vocab"):
        import_vectors([tmp_path / "docs.jsonl.gz"], tmp_path / "out.npz", vocabulary)
    assert not (tmp_path / "out.npz").exists()
    stats = import_vectors([tmp_path / "docs.jsonl.gz"], tmp_path / "out.npz", vocabulary, unknown="drop")
    assert stats["dropped_tokens"] == 1
    imported = SparseVectors.load(tmp_path / "out.npz")
    assert imported.meta["imported"]["dropped_tokens"] == 1
    assert imported.indices.tolist() == [1, 2] and imported.data.tolist() == [50.0, 7.0]


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("{not json", r"docs\.jsonl:2: not valid JSON"),
        ('{"id": "x"}', r'docs\.jsonl:2: a record needs an "id" and a "vector"'),
        ('{"id": "x", "vector": {"tok1": -1}}', r"docs\.jsonl:2: weights must be finite non-negative"),
        ('{"id": "x", "vector": {"tok1": "heavy"}}', r"docs\.jsonl:2: weights must be finite non-negative"),
        ('{"id": "a", "vector": {"tok1": 1}}', r"docs\.npz: row id 'a' appears twice \(rows 1 and 2\)"),
        ('{"id": "x y", "vector": {"tok1": 1}}', r"docs\.npz: row id 'x y' \(row 2\) contains whitespace"),
    ],
)
def test_bad_records_are_one_line_errors(tmp_path, vocabulary, line, problem):
    (tmp_path / "docs.jsonl").write_text('{"id": "a", "vector": {"tok0": 1}}\n' + line + "\n")
    with pytest.raises((SpladeError, ValueError), match=problem):
        import_vectors([tmp_path / "docs.jsonl"], tmp_path / "docs.npz", vocabulary)
    assert not (tmp_path / "docs.npz").exists()
    assert not list(tmp_path.glob(".tmp-*"))


def test_the_vocabulary_of_a_model_numbers_tokens_as_its_tokenizer():
    from transformers import AutoTokenizer

    from splade_core.registry import resolve_model

    vocabulary = Vocabulary.of_model("bundled/splade-tiny")
    tokenizer = AutoTokenizer.from_pretrained(resolve_model("bundled/splade-tiny"))
    words = ["retrieval", "sparse", "[CLS]", "##ing"]
    assert vocabulary.ids_of(words).tolist() == tokenizer.convert_tokens_to_ids(words)
    assert vocabulary.ids_of(["no-such-token-here"]).tolist() == [-1]


def test_the_config_schema_offers_the_import_choices_of_the_library():
    from pathlib import Path

    import yaml

    from splade_core.registry import UNKNOWN_TOKENS

    schema = yaml.safe_load((Path(__file__).parents[2] / "workflow" / "schemas" / "config.schema.yaml").read_text())
    vectors = schema["properties"]["models"]["additionalProperties"]["properties"]["vectors"]["properties"]
    assert tuple(vectors["unknown"]["enum"]) == UNKNOWN_TOKENS


# --- CIFF ------------------------------------------------------------------------------------


def varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    return bytes(out + bytes([value]))


def field(number: int, value: int | bytes) -> bytes:
    """A protobuf field, written here independently of the project's writer."""
    if isinstance(value, bytes):
        return varint(number << 3 | 2) + varint(len(value)) + value
    return varint(number << 3) + varint(value)


def delimited(message: bytes) -> bytes:
    return varint(len(message)) + message


def assert_same_rows(imported: SparseVectors, original: SparseVectors) -> None:
    np.testing.assert_array_equal(imported.indptr, original.indptr)
    np.testing.assert_array_equal(imported.indices, original.indices)
    np.testing.assert_array_equal(imported.data, original.data.astype(np.float32))
    np.testing.assert_array_equal(imported.ids, original.ids)


@pytest.mark.parametrize("name", ["docs.ciff", "docs.ciff.gz"])
def test_ciff_round_trips_to_the_same_rows(tmp_path, vocabulary, monkeypatch, name):
    """Written by `write_ciff`, read back through many document blocks (both sort paths)."""
    from splade_core.formats import ciff

    original = impacts(3, rows=300)
    original = SparseVectors.from_csr(original.to_csr(), [f"id-{i}-é" for i in range(300)], original.meta)
    write_ciff(original, tmp_path / name, TOKENS)
    monkeypatch.setattr(ciff, "_BLOCK_POSTINGS", 64)
    monkeypatch.setattr(ciff, "_RADIX_LIMIT", 16)  # blocks of <= 16 rows; term ids sort as int32
    stats = import_vectors([tmp_path / name], tmp_path / "docs.npz", vocabulary)
    assert stats == {"rows": 300, "nnz": original.nnz, "dropped_tokens": 0, "format": "ciff"}
    imported = SparseVectors.load(tmp_path / "docs.npz")
    assert_same_rows(imported, original)
    assert imported.meta["imported"]["format"] == "ciff"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, "docs.npz"])
    import_vectors([tmp_path / name], tmp_path / "scaled.npz", vocabulary, scale=100)  # impacts -> weights
    assert_same_impacts(SparseVectors.load(tmp_path / "scaled.npz"), original)


def test_ciff_in_any_valid_encoding_reads_the_same(tmp_path, vocabulary):
    """Fields in another order, unknown fields, non-minimal varints, omitted zero fields and
    DocRecords out of docid order: the field-by-field path reads what protobuf would."""
    header = field(8, b"hand-made") + field(5, 3) + field(3, 3) + field(2, 2) + field(1, 1) + field(9, 7)
    tok1 = field(4, field(2, 4) + field(1, 1)) + field(4, field(1, 1) + field(2, 9) + field(3, 5))
    tok1 += field(1, b"tok1") + field(2, 2) + field(3, 13)  # postings first: doc 1 (tf 4, before its gap), doc 2 (tf 9)
    # doc 0 (gap left out) with tf 3 as a two-byte varint, then a regular posting: doc 2, tf 6
    ing = field(1, b"##ing") + field(2, 2) + field(4, bytes([0x10, 0x83, 0x00])) + field(4, b"\x08\x02\x10\x06")
    records = [field(3, 5) + field(2, b"third") + field(1, 2), field(2, b"first"), field(1, 1) + field(2, b"second")]
    data = delimited(header) + delimited(tok1) + delimited(ing) + b"".join(delimited(r) for r in records)
    (tmp_path / "hand.ciff").write_bytes(data)
    import_vectors([tmp_path / "hand.ciff"], tmp_path / "docs.npz", vocabulary)
    imported = SparseVectors.load(tmp_path / "docs.npz")
    assert imported.ids.tolist() == ["first", "second", "third"]
    assert imported.indptr.tolist() == [0, 1, 2, 4]
    assert imported.indices.tolist() == [40, 1, 1, 40]
    assert imported.data.tolist() == [3.0, 4.0, 9.0, 6.0]


def small_ciff(path, tokens=TOKENS) -> SparseVectors:
    original = impacts(4, rows=8)
    write_ciff(original, path, tokens)
    return original


def test_a_ciff_term_the_vocabulary_lacks_is_an_error_naming_it_or_dropped_and_counted(tmp_path, vocabulary):
    tokens = ["zebra" if token == "tok7" else token for token in TOKENS]
    original = small_ciff(tmp_path / "docs.ciff", tokens)
    with pytest.raises(SpladeError, match=r"docs\.ciff: term 'zebra' \(postings list \d+\) is not in the vocabulary"):
        import_vectors([tmp_path / "docs.ciff"], tmp_path / "out.npz", vocabulary)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["docs.ciff"]
    stats = import_vectors([tmp_path / "docs.ciff"], tmp_path / "out.npz", vocabulary, unknown="drop")
    assert stats["dropped_tokens"] == int(original.term_df()[7]) > 0
    kept = original.to_csr().toarray()
    kept[:, 7] = 0
    assert_same_rows(SparseVectors.load(tmp_path / "out.npz"), SparseVectors.from_csr(kept, original.ids))


def test_two_postings_lists_of_one_term_are_refused(tmp_path, vocabulary):
    header = field(1, 1) + field(2, 2) + field(3, 1)
    lists = [field(1, b"tok1") + field(2, 1) + field(4, field(2, 5)) for _ in range(2)]
    data = delimited(header) + b"".join(map(delimited, lists)) + delimited(field(2, b"d0"))
    (tmp_path / "twice.ciff").write_bytes(data)
    with pytest.raises(SpladeError, match="term 'tok1' has two postings lists"):
        import_vectors([tmp_path / "twice.ciff"], tmp_path / "out.npz", vocabulary)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda data: data + b"\x00", "bytes follow the last of the 8 DocRecords"),
        (lambda data: b"\x05" + data[1:], "Header"),
        (lambda data: delimited(field(2, 1 << 40)) + data, "num_postings_lists .* is not a count this file can hold"),
        (lambda data: b"\xff" * 12, "truncated|not a valid CIFF"),
        (lambda data: b'{"id": "x", "vector": {}}\n', "truncated|not a valid CIFF"),
    ],
)
def test_a_corrupt_ciff_is_one_line_naming_the_file(tmp_path, vocabulary, change, problem):
    small_ciff(tmp_path / "good.ciff")
    (tmp_path / "bad.ciff").write_bytes(change((tmp_path / "good.ciff").read_bytes()))
    with pytest.raises(SpladeError, match=problem) as caught:
        import_vectors([tmp_path / "bad.ciff"], tmp_path / "out.npz", vocabulary)
    assert str(caught.value).startswith(f"{tmp_path / 'bad.ciff'}: ") and "\n" not in str(caught.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.ciff", "good.ciff"]


@pytest.mark.parametrize("name", ["docs.ciff", "docs.ciff.gz"])
def test_a_ciff_cut_short_anywhere_is_a_one_line_error(tmp_path, vocabulary, name):
    small_ciff(tmp_path / name)
    data = (tmp_path / name).read_bytes()
    for cut in range(1, len(data), max(1, len(data) // 150)):
        (tmp_path / f"cut-{name}").write_bytes(data[:cut])
        with pytest.raises(SpladeError, match="truncated|not a valid CIFF|cannot read"):
            import_vectors([tmp_path / f"cut-{name}"], tmp_path / "out.npz", vocabulary)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, f"cut-{name}"])


def test_a_ciff_with_random_bytes_changed_reads_or_is_a_one_line_error(tmp_path, vocabulary):
    """Seeded mutations: every outcome is a valid vector file or a SpladeError, never another
    exception, a hang or a half-written output."""
    small_ciff(tmp_path / "good.ciff")
    data = np.frombuffer((tmp_path / "good.ciff").read_bytes(), np.uint8)
    rng = np.random.default_rng(11)
    outcomes = {"read": 0, "refused": 0}
    for _ in range(300):
        mutated = data.copy()
        at = rng.integers(0, len(data), rng.integers(1, 4))
        mutated[at] = rng.integers(0, 256, len(at))
        (tmp_path / "bad.ciff").write_bytes(mutated.tobytes())
        try:
            import_vectors([tmp_path / "bad.ciff"], tmp_path / "out.npz", vocabulary, unknown="drop")
        except SpladeError as exc:
            assert "\n" not in str(exc)
            outcomes["refused"] += 1
        except ValueError as exc:  # what the vector writer refuses (e.g. an id with whitespace), named
            assert str(exc).startswith(str(tmp_path / "out.npz")), exc
            outcomes["refused"] += 1
        else:
            SparseVectors.load(tmp_path / "out.npz")
            (tmp_path / "out.npz").unlink()
            outcomes["read"] += 1
        assert not list(tmp_path.glob(".tmp-*"))
    assert outcomes["read"] and outcomes["refused"]
