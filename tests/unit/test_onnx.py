"""`splade export-model`: ONNX graphs that output the pooled vector, run by onnxruntime, equal the
project's own vectors (the `splade encode` path) on SciFact texts."""

import copy
import itertools
import json
import shutil
import sys

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")
onnx = pytest.importorskip("onnx")
from packaging.version import Version  # noqa: E402

if Version(torch.__version__).release < (2, 9):
    pytest.skip(
        "the ONNX export is checked with torch >= 2.9 (dynamo exporter by default), not the CI floor's torch",
        allow_module_level=True,
    )

from splade_core.cli import main  # noqa: E402
from splade_core.data import load_collection  # noqa: E402
from splade_core.encode import encode_window  # noqa: E402
from splade_core.errors import SpladeError  # noqa: E402
from splade_core.model import Splade, SpladeEncoder  # noqa: E402
from splade_core.model.onnx import ONNX_CONFIG, OUTPUT_NAME, OnnxEncoder  # noqa: E402

from ..conftest import EMBEDDED_MODEL  # noqa: E402

TOLERANCE = 1e-4  # largest |onnxruntime - torch| weight allowed


@pytest.fixture(scope="module")
def scifact():
    """16 SciFact documents (the longest of the first 200 among them: truncated at 256 tokens) and
    16 queries."""
    collection = load_collection("bundled/scifact")
    docs = [text for _, text in itertools.islice(collection.docs(), 200)]
    longest = max(docs, key=len)
    return [longest, *docs[:15]], [text for _, text in collection.queries()[:16]]


def _export(model, tmp_path_factory, name, *options):
    output = tmp_path_factory.mktemp("onnx") / name
    assert main(["export-model", str(model), "--format", "onnx", "--output", str(output), *options]) == 0
    return output


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    return _export(EMBEDDED_MODEL, tmp_path_factory, "shared", "--anserini")


def _dense(encoder, texts, max_length):
    """The vectors `splade encode` writes (its batching, pooling path and precision)."""
    indptr, indices, data = encode_window(encoder, texts, max_length, batch_size=8)
    out = np.zeros((len(texts), encoder.vocab_size), np.float32)
    for row in range(len(texts)):
        out[row, indices[indptr[row] : indptr[row + 1]]] = data[indptr[row] : indptr[row + 1]]
    return out


def test_documents_and_queries_equal_splade_encode(shared, splade_tiny, scifact):
    docs, queries = scifact
    assert len(splade_tiny.doc_encoder.tokenizer(docs[0])["input_ids"]) > 256  # one document is truncated
    for side, texts in (("doc", docs), ("query", queries)):
        encoder, max_length = splade_tiny.encoder_for(side)
        onnx_vectors = OnnxEncoder.load(shared, side, threads=2).encode(texts, batch_size=5)
        reference = _dense(encoder, texts, max_length)
        assert onnx_vectors.shape == (16, 30522) and onnx_vectors.dtype == np.float32
        assert np.abs(onnx_vectors - reference).max() <= TOLERANCE, side
        assert (reference > 0).sum(axis=1).min() > 10  # real vectors, not all zeros


def test_one_padded_batch_equals_texts_encoded_alone(shared, scifact):
    """Padding is masked inside the graph: a text's vector does not depend on its batch."""
    encoder = OnnxEncoder.load(shared, "doc", threads=2)
    texts = scifact[0][:4]
    batched = encoder.encode_batch(texts)
    alone = np.concatenate([encoder.encode_batch([text]) for text in texts])
    assert np.abs(batched - alone).max() <= TOLERANCE


def test_the_layout_json_describes_the_graph(shared):
    import onnxruntime

    config = json.loads((shared / ONNX_CONFIG).read_text())
    assert config["format"] == "splade-onnx" and config["pooling"] == "max" and config["model"] == str(EMBEDDED_MODEL)
    assert config["output"] == {**config["output"], "name": OUTPUT_NAME, "dtype": "float32", "shape": ["batch", 30522]}
    doc, query = config["sides"]["doc"], config["sides"]["query"]
    assert doc["file"] == query["file"] == "encoder.onnx" and (doc["max_length"], query["max_length"]) == (256, 64)
    assert doc["check_max_abs_diff"] <= TOLERANCE
    session = onnxruntime.InferenceSession(str(shared / doc["file"]), providers=["CPUExecutionProvider"])
    graph_inputs = [(node.name, node.shape, node.type) for node in session.get_inputs()]
    assert graph_inputs == [(i["name"], ["batch", "sequence"], "tensor(int64)") for i in doc["inputs"]]
    assert [i["name"] for i in doc["inputs"]] == ["input_ids", "attention_mask", "token_type_ids"]
    assert [(node.name, node.shape) for node in session.get_outputs()] == [(OUTPUT_NAME, ["batch", 30522])]
    assert onnx.load(str(shared / doc["file"])).ir_version <= 9  # onnxruntime 1.17 (Anserini's) loads IR <= 9
    vocab = (shared / "vocab.txt").read_text().splitlines()
    assert len(vocab) == 30522 and vocab[101] == "[CLS]" and vocab[0] == "[PAD]"
    assert sorted(p.name for p in shared.iterdir()) == [
        "anserini", "encoder.onnx", ONNX_CONFIG, "tokenizer.json", "tokenizer_config.json", "vocab.txt"
    ]  # fmt: skip


def test_the_anserini_graph_has_anserinis_layout_and_the_same_vectors(shared, splade_tiny, scifact):
    """Anserini's SpladeEncoder feeds one query ([CLS] tokens [SEP], mask of ones, token types 0)
    as input_ids, token_type_ids, attention_mask and reads 1-D output_idx (int64) and
    output_weights (float32)."""
    import onnxruntime

    config = json.loads((shared / ONNX_CONFIG).read_text())["anserini"]
    assert config["file"] == "anserini/query_encoder.onnx" and config["check_max_abs_diff"] <= TOLERANCE
    assert (shared / config["vocab"]).read_text() == (shared / "vocab.txt").read_text()
    session = onnxruntime.InferenceSession(str(shared / config["file"]), providers=["CPUExecutionProvider"])
    assert [node.name for node in session.get_inputs()] == ["input_ids", "token_type_ids", "attention_mask"]
    assert [node.name for node in session.get_outputs()] == ["output_idx", "output_weights"]
    assert onnx.load(str(shared / config["file"])).ir_version <= 9
    encoder = splade_tiny.query_encoder
    queries = scifact[1]
    reference = _dense(encoder, queries, 64)
    for query, expected in zip(queries, reference):
        ids = np.asarray(encoder.tokenizer([query], truncation=True, max_length=64)["input_ids"], np.int64)
        feed = {"input_ids": ids, "token_type_ids": np.zeros_like(ids), "attention_mask": np.ones_like(ids)}
        terms, weights = session.run(None, feed)
        assert terms.ndim == weights.ndim == 1 and terms.dtype == np.int64 and weights.dtype == np.float32
        vector = np.zeros_like(expected)
        vector[terms] = weights
        assert np.abs(vector - expected).max() <= TOLERANCE and (weights > 0).all()


def test_sum_pooling_is_inside_the_graph(shared, tmp_path, splade_tiny, scifact):
    output = tmp_path / "sum"
    shutil.copytree(shared, output)  # an earlier export is replaced, whole
    argv = ["export-model", str(EMBEDDED_MODEL), "--pooling", "sum", "--doc-max-length", "128", "--output", str(output)]
    assert main(argv) == 0
    assert json.loads((output / ONNX_CONFIG).read_text())["pooling"] == "sum" and not (output / "anserini").exists()
    summing = SpladeEncoder(splade_tiny.doc_encoder.mlm, splade_tiny.doc_encoder.tokenizer, "sum", max_length=128)
    docs = scifact[0][:8]
    onnx_vectors = OnnxEncoder.load(output, "doc", threads=2).encode(docs)
    reference = _dense(summing, docs, 128)
    assert np.abs(onnx_vectors - reference).max() <= TOLERANCE * max(1.0, float(reference.max()))
    maxima = _dense(splade_tiny.doc_encoder, docs, 128)
    assert (onnx_vectors >= maxima - TOLERANCE).all() and (onnx_vectors > maxima + 1.0).any()  # sums, not maxima


def test_a_separate_query_encoder_gets_its_own_graph(tmp_path_factory, splade_tiny, scifact):
    query_encoder = copy.deepcopy(splade_tiny.doc_encoder)
    with torch.no_grad():
        query_encoder.mlm.get_output_embeddings().bias += 0.5  # differs from the document side
    folder = tmp_path_factory.mktemp("models") / "separate"
    Splade(splade_tiny.doc_encoder, query_encoder).save_pretrained(folder)
    output = _export(folder, tmp_path_factory, "separate")
    config = json.loads((output / ONNX_CONFIG).read_text())
    assert config["separate_query_encoder"] and config["sides"]["query"]["file"] == "query_encoder.onnx"
    assert config["sides"]["doc"]["file"] == "doc_encoder.onnx"
    assert (output / "query_tokenizer" / "tokenizer.json").is_file()
    queries = scifact[1]
    onnx_queries = OnnxEncoder.load(output, "query", threads=2).encode(queries)
    assert np.abs(onnx_queries - _dense(query_encoder, queries, 64)).max() <= TOLERANCE
    assert np.abs(onnx_queries - _dense(splade_tiny.doc_encoder, queries, 64)).max() > 0.1
    onnx_docs = OnnxEncoder.load(output, "doc", threads=2).encode(scifact[0][:4])
    assert np.abs(onnx_docs - _dense(splade_tiny.doc_encoder, scifact[0][:4], 256)).max() <= TOLERANCE


def test_an_inference_free_query_side_writes_only_the_document_graph(tmp_path_factory, splade_tiny):
    folder = tmp_path_factory.mktemp("models") / "inference-free"
    model = Splade(splade_tiny.doc_encoder, inference_free_query=True)
    model.query_max_length = 48
    model.save_pretrained(folder)
    output = _export(folder, tmp_path_factory, "inference-free")
    config = json.loads((output / ONNX_CONFIG).read_text())
    query = config["sides"]["query"]
    assert config["inference_free_query"] and query["inference_free"] and query["file"] is None
    assert query["max_length"] == 48
    assert set(query["special_ids"]) == {0, 100, 101, 102, 103}
    weights = np.load(output / query["weights"], allow_pickle=False)
    assert weights.dtype == np.float32 and weights.shape == (30522,)
    assert set(np.flatnonzero(weights == 0)) == {0, 100, 101, 102, 103} and set(weights.tolist()) == {0.0, 1.0}
    assert sorted(p.name for p in output.glob("*.onnx")) == ["doc_encoder.onnx"]
    with pytest.raises(SpladeError, match="inference-free"):
        OnnxEncoder.load(output, "query")


def test_static_query_weights_are_written_beside_the_graph(tmp_path_factory, splade_tiny):
    from splade_core.model.encoder import StaticWeightsEncoder

    weights = torch.rand(splade_tiny.vocab_size, generator=torch.Generator().manual_seed(0))
    bag = StaticWeightsEncoder(splade_tiny.doc_encoder.tokenizer, weights)
    folder = tmp_path_factory.mktemp("models") / "static"
    Splade(splade_tiny.doc_encoder, inference_free_query=True, query_bag=bag).save_pretrained(folder)
    output = _export(folder, tmp_path_factory, "static")
    query = json.loads((output / ONNX_CONFIG).read_text())["sides"]["query"]
    np.testing.assert_array_equal(np.load(output / query["weights"], allow_pickle=False), weights.numpy())


def test_anserini_layout_of_an_inference_free_model_is_refused(tmp_path, capsys, splade_tiny):
    model = Splade(splade_tiny.doc_encoder, inference_free_query=True)
    model.query_max_length = 48
    model.save_pretrained(tmp_path / "model")
    capsys.readouterr()
    assert main(["export-model", str(tmp_path / "model"), "--anserini", "--output", str(tmp_path / "out")]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("splade")]  # not progress
    assert len(errors) == 1 and "--anserini: the query side is inference-free" in errors[0]
    assert not (tmp_path / "out").exists()


def test_a_folder_that_is_no_model_is_one_line_and_exit_2(tmp_path, capsys):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("not a model\n")
    output = tmp_path / "out"
    assert main(["export-model", str(tmp_path / "notes"), "--output", str(output)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("splade export-model: error: cannot load model directory")
    assert str(tmp_path / "notes") in err[0] and not output.exists()


def test_an_output_folder_that_is_no_export_is_not_replaced(tmp_path, capsys):
    output = tmp_path / "precious"
    output.mkdir()
    (output / "data.txt").write_text("keep me\n")
    assert main(["export-model", str(EMBEDDED_MODEL), "--output", str(output)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not an ONNX export" in err[0] and str(output) in err[0]
    assert [p.name for p in output.iterdir()] == ["data.txt"]


def test_a_missing_onnx_package_names_the_extra(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxscript", None)  # import onnxscript raises ImportError
    assert main(["export-model", str(EMBEDDED_MODEL), "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "splade export-model: error: ONNX export needs the onnxscript package: pip install 'splade-core[onnx]'"
    ]
