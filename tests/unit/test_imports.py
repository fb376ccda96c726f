"""Pre-encoded vectors: what `export` writes (Anserini JsonVectorCollection, TSV queries, npz)
imports back to the same impacts; unknown tokens and bad records are clear errors."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from splade_core.errors import SpladeError
from splade_core.sparse import SparseVectors, quantize, write_anserini_docs, write_anserini_queries
from splade_core.sparse.imports import Vocabulary, import_vectors

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
        ("{not json", r"docs\.jsonl:2: not JSON"),
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
