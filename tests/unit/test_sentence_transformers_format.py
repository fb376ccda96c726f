"""Model folders as sentence-transformers SparseEncoder folders, both ways: what splade-core saves,
SparseEncoder loads as it is and encodes to the same vectors; what SparseEncoder saves (shared,
sum pooling, asymmetric Router, inference-free Router with static weights), splade-core loads
and encodes to the same vectors; what it cannot reproduce, it refuses in one line."""

import copy
import importlib
import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml

from splade_core.encode import encode_sparse
from splade_core.errors import SpladeError
from splade_core.mine import MineConfig, mine_examples
from splade_core.model import Splade
from splade_core.model.encoder import StaticWeightsEncoder
from splade_core.registry import BUNDLED_MODEL, resolve_model

BUNDLED = resolve_model(BUNDLED_MODEL)
DOCS = [
    "Microstructural development of human newborn cerebral white matter assessed in vivo by diffusion tensor "
    "magnetic resonance imaging. Alterations of the architecture of cerebral white matter in the developing "
    "human brain can affect cortical development and result in functional disabilities.",
    "Induction of myelodysplasia by myeloid-derived suppressor cells. Myelodysplastic syndromes (MDS) are "
    "age-dependent stem cell malignancies that share biological features of activated adaptive immune response.",
    " ".join(
        [
            "Vitamin D supplementation and the risk of fractures in older adults: a randomized controlled trial of "
            "monthly high-dose cholecalciferol in community-dwelling women and men."
        ]
        * 12
    ),  # fmt: skip  (well over 256 tokens)
    "",
]
QUERIES = [
    "0-dimensional biomaterials show inductive properties.",
    "ALDH1 expression is associated with poorer prognosis for breast cancer primary tumors.",
    "[UNK] spelled out, a [SEP] too, a snowman ☃ and repeated repeated words",
]
LONG_QUERY = " ".join(["Antibiotic resistance of gut bacteria rises after repeated courses of treatment."] * 8)


@pytest.fixture(scope="module")
def sentence_transformers():
    return pytest.importorskip("sentence_transformers")


def _splade_vectors(model: Splade, side: str, texts: list[str]) -> torch.Tensor:
    return torch.as_tensor(encode_sparse(model, side, texts).toarray())


def _sparse_encoder_vectors(encoder, side: str, texts: list[str]) -> torch.Tensor:
    encode = encoder.encode_query if side == "query" else encoder.encode_document
    return encode(texts, convert_to_tensor=True, convert_to_sparse_tensor=False).float().cpu()


def _assert_same_vectors(model: Splade, encoder, queries: list[str]) -> None:
    for side, texts in (("doc", DOCS), ("query", queries)):
        ours, theirs = _splade_vectors(model, side, texts), _sparse_encoder_vectors(encoder, side, texts)
        torch.testing.assert_close(theirs, ours, atol=1e-5, rtol=1e-5, msg=lambda m, side=side: f"{side}s: {m}")


def test_texts_reach_past_the_max_lengths(splade_tiny):
    tokenizer = splade_tiny.doc_encoder.tokenizer
    assert len(tokenizer(DOCS[2])["input_ids"]) > 256 and len(tokenizer(LONG_QUERY)["input_ids"]) > 64


def test_bundled_model_saved_by_splade_core_is_a_sparse_encoder_with_the_same_vectors(
    sentence_transformers, splade_tiny, tmp_path
):
    splade_tiny.save_pretrained(tmp_path / "m")
    encoder = sentence_transformers.SparseEncoder(str(tmp_path / "m"), device="cpu")
    assert encoder.max_seq_length == 256 and encoder.similarity_fn_name == "dot"
    _assert_same_vectors(splade_tiny, encoder, QUERIES)


def test_shared_encoder_cuts_long_queries_at_the_query_max_length_once_told(
    sentence_transformers, splade_tiny, tmp_path
):
    """A shared encoder is one module with one max length in sentence-transformers (the documents'):
    a query of more than 64 tokens is cut at 64 once `max_seq_length` says so, as the card explains."""
    splade_tiny.save_pretrained(tmp_path / "m")
    encoder = sentence_transformers.SparseEncoder(str(tmp_path / "m"), device="cpu")
    ours = _splade_vectors(splade_tiny, "query", [LONG_QUERY])
    assert not torch.allclose(_sparse_encoder_vectors(encoder, "query", [LONG_QUERY]), ours, atol=1e-5)
    encoder.max_seq_length = splade_tiny.query_max_length
    torch.testing.assert_close(_sparse_encoder_vectors(encoder, "query", [LONG_QUERY]), ours, atol=1e-5, rtol=1e-5)


@pytest.fixture(scope="module")
def trained(collection, tmp_path_factory):
    """splade-tiny fine-tuned one step by the project's trainer: shared, separate with sum pooling,
    inference-free (the project's default lengths: 256 document, 64 query tokens)."""
    from splade_core.data.examples import write_examples
    from splade_core.train import TrainConfig, train

    root = tmp_path_factory.mktemp("st-trained")
    examples, header = mine_examples(MineConfig(collection, depth=3, progress=False))
    examples_file = str(write_examples(root / "examples.jsonl", examples, header))
    variants = {
        "shared": {},
        "separate-sum": {"separate_query_encoder": True, "pooling": "sum"},
        "inference-free": {"inference_free_query": True},
    }
    common = dict(train_data=collection, train_examples=examples_file, steps=1, batch_size=2, lr=1e-4)
    common.update(threads=1, device="cpu", progress=False, log_every=1)
    return {
        name: train(TrainConfig(output=str(root / name), **common, **changes)) for name, changes in variants.items()
    }


@pytest.mark.parametrize("variant", ["shared", "separate-sum", "inference-free"])
def test_trained_model_is_a_sparse_encoder_with_the_same_vectors(sentence_transformers, trained, variant):
    model = Splade.from_pretrained(trained[variant])
    assert (model.separate, model.inference_free_query) == (variant == "separate-sum", variant == "inference-free")
    encoder = sentence_transformers.SparseEncoder(str(trained[variant]), device="cpu")
    _assert_same_vectors(model, encoder, QUERIES if variant == "shared" else [*QUERIES, LONG_QUERY])
    card = (trained[variant] / "README.md").read_text()
    metadata = yaml.safe_load(card.split("---\n")[1])
    assert metadata["library_name"] == "sentence-transformers" and "sparse-encoder" in metadata["tags"]


def test_training_does_not_turn_static_query_weights_into_ones(splade_tiny, collection, tmp_path):
    from splade_core.train import TrainConfig
    from splade_core.train.model import load_splade

    weights = torch.linspace(0.0, 2.0, splade_tiny.vocab_size)
    bag = StaticWeightsEncoder(splade_tiny.doc_encoder.tokenizer, weights)
    Splade(splade_tiny.doc_encoder, inference_free_query=True, query_bag=bag).save_pretrained(tmp_path / "m")
    config = TrainConfig(model=str(tmp_path / "m"), train_data=collection, train_examples="x", output="run")
    assert not load_splade(config).inference_free_query  # trains the shared encoder's query side
    with pytest.raises(SpladeError, match="its query side weights tokens"):
        load_splade(config.replace(inference_free_query=True))


def _bundled_module(models, max_seq_length=None):
    return models.MLMTransformer(BUNDLED, max_seq_length=max_seq_length)


def _sparse_encoder(sentence_transformers, kind: str):
    """A SparseEncoder built with sentence-transformers' public modules from the bundled model (their
    5.0 import paths, which later versions keep)."""
    models = importlib.import_module("sentence_transformers.sparse_encoder.models")
    router = importlib.import_module("sentence_transformers.models").Router
    if kind == "max":  # no max length given: the tokenizer's, capped at the model's 512 positions
        modules = [_bundled_module(models), models.SpladePooling("max")]
    elif kind == "sum":
        modules = [_bundled_module(models, 128), models.SpladePooling("sum")]
    elif kind == "asymmetric":
        query = [_bundled_module(models, 32), models.SpladePooling("max")]
        modules = [router.for_query_document(
            query, [_bundled_module(models, 256), models.SpladePooling("max")]
        )]  # fmt: skip
    else:  # inference-free: idf-like static weights on every token, special ones too
        document = _bundled_module(models, 256)
        weight = torch.rand(document.tokenizer.vocab_size, generator=torch.Generator().manual_seed(0)) * 3
        static = models.SparseStaticEmbedding(tokenizer=document.tokenizer, weight=weight, frozen=True)
        modules = [router.for_query_document([static], [document, models.SpladePooling("max")])]
    return sentence_transformers.SparseEncoder(modules=modules, device="cpu", similarity_fn_name="dot")


@pytest.mark.parametrize(
    ("kind", "settings"),
    [
        ("max", {"pooling": "max", "doc_max_length": 512, "query_max_length": 512}),
        ("sum", {"pooling": "sum", "doc_max_length": 128, "query_max_length": 128}),
        ("asymmetric", {"separate_query_encoder": True, "doc_max_length": 256, "query_max_length": 32}),
        ("inference-free", {"inference_free_query": True, "doc_max_length": 256, "query_max_length": 258}),
    ],
    ids=["max-512", "sum-128", "asymmetric", "inference-free"],
)
def test_sparse_encoder_folder_loads_in_splade_core_with_the_same_vectors(
    sentence_transformers, tmp_path, kind, settings
):
    encoder = _sparse_encoder(sentence_transformers, kind)
    encoder.save(str(tmp_path / kind))
    model = Splade.from_pretrained(tmp_path / kind)
    assert settings.items() <= model.config_dict().items()
    assert isinstance(model.encoder_for("query")[0], StaticWeightsEncoder) is (kind == "inference-free")
    _assert_same_vectors(model, encoder, [*QUERIES, LONG_QUERY])


@pytest.mark.parametrize("variant", ["shared", "separate", "inference-free"])
def test_saved_model_reloads_from_its_sparse_encoder_files(splade_tiny, tmp_path, variant):
    if variant == "separate":
        model = Splade(splade_tiny.doc_encoder, copy.deepcopy(splade_tiny.doc_encoder))
    else:
        model = Splade(splade_tiny.doc_encoder, inference_free_query=variant == "inference-free")
    model.query_max_length = 24
    model.save_pretrained(tmp_path / "m")
    assert (tmp_path / "m" / "modules.json").is_file()
    loaded = Splade.from_pretrained(tmp_path / "m")
    assert loaded.config_dict() == model.config_dict()
    for side, texts in (("doc", DOCS), ("query", [*QUERIES, LONG_QUERY])):
        torch.testing.assert_close(_splade_vectors(loaded, side, texts), _splade_vectors(model, side, texts))


def test_saves_without_sentence_transformers_files_still_load(splade_tiny, tmp_path):
    model = Splade(splade_tiny.doc_encoder, inference_free_query=True)
    model.save_pretrained(tmp_path / "m")
    for name in ("modules.json", "router_config.json", "sentence_bert_config.json", "1_SpladePooling"):
        shutil.rmtree(tmp_path / "m" / name) if name.endswith("Pooling") else (tmp_path / "m" / name).unlink()
    loaded = Splade.from_pretrained(tmp_path / "m")
    assert loaded.config_dict() == model.config_dict()
    torch.testing.assert_close(_splade_vectors(loaded, "query", QUERIES), _splade_vectors(model, "query", QUERIES))


def _edit(path: Path, change) -> None:
    value = json.loads(path.read_text())
    path.write_text(json.dumps(change(value) or value))


@pytest.mark.parametrize(
    ("file", "change", "message"),
    [
        ("1_SpladePooling/config.json", lambda c: c.update(activation_function="log1p_relu"), "activation_function"),
        ("config_sentence_transformers.json", lambda c: c.update(prompts={"query": "query: "}), "prompts"),
        ("sentence_bert_config.json", lambda c: c.update(do_lower_case=True), "do_lower_case"),
        (
            "modules.json",
            lambda m: [
                *m,
                {
                    "idx": 2,
                    "name": "2",
                    "path": "2_SAE",
                    "type": "sentence_transformers.sparse_encoder.models.SparseAutoEncoder",
                },
            ],  # noqa: E501
            "SparseAutoEncoder",
        ),
        ("modules.json", lambda m: [{**m[0], "type": "my_package.Custom"}, m[1]], "no sentence-transformers module"),
        ("modules.json", lambda m: [{**m[0], "type": "sentence_transformers.models.Transformer"}, m[1]], "masked LM"),
        ("modules.json", lambda m: [m[0], {**m[1], "path": "../elsewhere"}], "not a folder inside the model"),
        ("splade_config.json", lambda c: c.update(pooling="sum"), "pooling is 'sum'"),
    ],
    ids=[
        "activation",
        "prompt",
        "lower-case",
        "auto-encoder",
        "custom-module",
        "not-fill-mask",
        "outside",
        "disagreement",
    ],
)
def test_what_splade_core_cannot_reproduce_is_refused_in_one_line(splade_tiny, tmp_path, file, change, message):
    splade_tiny.save_pretrained(tmp_path / "m")
    _edit(tmp_path / "m" / file, change)
    with pytest.raises(SpladeError, match=message) as error:
        Splade.from_pretrained(tmp_path / "m")
    assert "\n" not in str(error.value) and str(tmp_path / "m") in str(error.value)


def test_static_weights_must_be_safetensors_of_the_vocabulary(splade_tiny, tmp_path):
    from safetensors.torch import save_file

    Splade(splade_tiny.doc_encoder, inference_free_query=True).save_pretrained(tmp_path / "m")
    weights = tmp_path / "m" / "query_0_SparseStaticEmbedding" / "model.safetensors"
    save_file({"weight": torch.ones(7)}, weights)
    with pytest.raises(SpladeError, match="weight must be 30522 floats"):
        Splade.from_pretrained(tmp_path / "m")
    weights.unlink()
    with pytest.raises(SpladeError, match="safetensors only"):
        Splade.from_pretrained(tmp_path / "m")
