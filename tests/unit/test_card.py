"""Model cards of trained models: hub metadata that parses as YAML, usage for splade-core and
sentence-transformers, and a study's metrics written into the metadata afterwards."""

import re

import pandas as pd
import pytest
import yaml

from splade_core.errors import SpladeError
from splade_core.registry import BUNDLED_MODEL
from splade_core.train import TrainConfig
from splade_core.train.card import HUB_TAGS, add_study_metrics, model_card


def _training(**changes) -> dict:
    """The training record the trainer gives `model_card` (training_config.json)."""
    values = {"train_data": "beir/scifact/train", "train_examples": "examples.jsonl", "output": "run", **changes}
    config = TrainConfig(**values)
    return {
        **config.to_dict(),
        "splade_core": "0.1.0",
        "model_path": config.model,
        "lambda_warmup": config.lambda_warmup,
        "world_size": 1,
        "examples": 809,
        "examples_source": "examples.jsonl",
        "mining": None,
        "train_seconds": 12.0,
        "final_metrics": {"loss": 1.5, "nnz_q": 20.0},
    }


def _front_matter(card: str) -> dict:
    match = re.match(r"\A---\n(.*?\n)---\n", card, re.DOTALL)
    assert match, card[:200]
    return yaml.safe_load(match.group(1))


def test_card_metadata_is_what_the_hub_reads():
    card = model_card(_training(model="naver/splade-cocondenser-ensembledistil"))
    metadata = _front_matter(card)
    assert metadata["base_model"] == "naver/splade-cocondenser-ensembledistil"
    assert metadata["library_name"] == "sentence-transformers" and metadata["pipeline_tag"] == "feature-extraction"
    assert set(HUB_TAGS) <= set(metadata["tags"]) and metadata["language"] == ["en"]
    assert metadata["datasets"] == ["BeIR/scifact"]  # beir/scifact/train's copy on the hub
    assert "license" not in metadata  # not known offline for a hub model
    for usage in (
        "Splade.from_pretrained(",
        "splade encode --model",
        "SparseEncoder(",
        "encode_query(",
        "encode_document(",
    ):
        assert usage in card
    assert "model.max_seq_length = 64" in card  # a shared encoder's long queries, in sentence-transformers


@pytest.mark.parametrize(("changes", "tag"), [({"inference_free_query": True}, "inference-free"),
                                              ({"separate_query_encoder": True}, "asymmetric")],
                         ids=["inference-free", "separate"])  # fmt: skip
def test_card_of_a_bundled_base_model_has_its_license_and_no_hub_base_model(changes, tag):
    metadata = _front_matter(model_card(_training(model=BUNDLED_MODEL, **changes)))
    assert metadata["license"] == "apache-2.0" and "base_model" not in metadata and tag in metadata["tags"]


def test_local_training_data_is_not_named_as_a_hub_dataset(tmp_path):
    assert "datasets" not in _front_matter(model_card(_training(train_data=f"{tmp_path}:train")))


def _summary(path, dataset: str, rows: list[dict]) -> str:
    columns = {"dataset": dataset, "lq": "", "ld": "", "MRR@10": 0.5, "nDCG@10": 0.6, "R@100": 0.9, "R@1000": 0.95}
    columns.update(flops=3.2, avg_query_nnz=20.5, avg_doc_nnz=150.25, training_s="")
    pd.DataFrame([{**columns, **row} for row in rows]).to_csv(path, index=False)
    return str(path)


def test_study_metrics_go_into_the_model_index_and_the_rest_of_the_card_stays(tmp_path):
    card = model_card(_training())
    (tmp_path / "README.md").write_text(card)
    setting = "lq=0.01_ld=0.008"
    summaries = [
        _summary(tmp_path / "scifact.csv", "scifact", [
            {"model": "splade-tiny", "setting": "pretrained", "prune": "none", "nDCG@10": 0.64},
            {"model": "splade-tiny", "setting": setting, "prune": "none", "nDCG@10": 0.66712},
            {"model": "splade-tiny", "setting": setting, "prune": "document-64", "nDCG@10": 0.5},
            {"model": "splade-tiny", "setting": setting, "prune": "none", "search": "approx-95", "nDCG@10": 0.6},
        ]),
        _summary(tmp_path / "nfcorpus.csv", "nfcorpus", [
            {"model": "splade-tiny", "setting": setting, "prune": "none", "nDCG@10": 0.31, "MRR@10": ""},
        ]),
    ]  # fmt: skip
    for _ in range(2):  # a second run replaces the first
        assert add_study_metrics(tmp_path, summaries, "splade-tiny", setting, {"scifact": "beir/scifact/test"}) == 2
    text = (tmp_path / "README.md").read_text()
    metadata = _front_matter(text)
    assert text.split("\n---\n", 1)[1] == card.split("\n---\n", 1)[1]
    assert metadata["library_name"] == "sentence-transformers"
    (index,) = metadata["model-index"]
    scifact, nfcorpus = index["results"]
    assert scifact["dataset"] == {"type": "beir/scifact/test", "name": "scifact"}
    assert scifact["task"]["type"] == "sparse-information-retrieval"
    metrics = {m["type"]: m["value"] for m in scifact["metrics"]}
    assert metrics["ndcg_at_10"] == 0.6671 and metrics["corpus_active_dims"] == 150.25 and metrics["avg_flops"] == 3.2
    assert "mrr_at_10" not in {m["type"] for m in nfcorpus["metrics"]}  # an empty cell is left out


def test_study_metrics_need_a_card_a_summary_and_the_row(tmp_path):
    summary = _summary(tmp_path / "s.csv", "scifact", [{"model": "m", "setting": "pretrained", "prune": "none"}])
    with pytest.raises(SpladeError, match="README.md: no model card"):
        add_study_metrics(tmp_path, [summary], "m", "pretrained")
    (tmp_path / "README.md").write_text(model_card(_training()))
    with pytest.raises(SpladeError, match="no unpruned row of model 'm', setting 'lq=1_ld=1'"):
        add_study_metrics(tmp_path, [summary], "m", "lq=1_ld=1")
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(SpladeError, match="bad.csv: not a study summary"):
        add_study_metrics(tmp_path, [str(tmp_path / "bad.csv")], "m", "pretrained")
