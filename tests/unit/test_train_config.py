"""Training config: validation, JSON/YAML files, overrides, and the train CLI verb."""

import argparse
import json

import pytest

from splade_core.errors import SpladeError
from splade_core.train import TrainConfig, load_config
from splade_core.train.cli import add_parser
from splade_core.train.config import resolve_model
from splade_core.train.schedule import linear_factor

REQUIRED = {"train_data": "beir/scifact/train", "train_examples": "ex.jsonl", "output": "out"}


def _parser():
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="verb", required=True))
    return parser


def test_defaults_and_derived_values():
    config = TrainConfig(**REQUIRED, steps=300)
    assert config.doc_max_length == 256 and config.query_max_length == 64
    assert config.lambda_warmup == 100  # a third of the steps unless set
    assert config.replace(lambda_warmup_steps=0).lambda_warmup == 0
    assert (config.device, config.processes) == ("cpu", 1)
    assert resolve_model("bundled/splade-tiny").endswith("resources/models/splade-tiny")


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"steps": 0}, "steps must be an integer ≥ 1"),
        ({"batch_size": 2.5}, "batch_size"),
        ({"lr": 0.0}, "lr must be > 0"),
        ({"lambda_q": -1}, "lambda_q"),
        ({"reg_d": "l2"}, "reg_d"),
        ({"loss": "hinge"}, "loss must be one of"),
        ({"precision": "fp8"}, "precision"),
        ({"pooling": "mean"}, "pooling"),
        ({"device": "tpu"}, "device"),
        ({"loss": "kl", "n_negatives": 0}, "needs n_negatives"),
        ({"separate_query_encoder": True, "inference_free_query": True}, "inference_free_query"),
        ({"warmup_steps": 20, "steps": 10}, "warmup_steps must not exceed"),
        ({"max_grad_norm": 0}, "max_grad_norm"),
        ({"inference_free_query": "yes"}, "true or false"),
        ({"processes": 0}, "processes must be an integer ≥ 1"),
        (
            {"processes": 3, "batch_size": 32},
            r"batch_size \(32\) must be a multiple of processes × grad_accum \(3 × 1\)",
        ),
        ({"processes": 2, "grad_accum": 4, "batch_size": 12}, r"multiple of processes × grad_accum \(2 × 4\)"),
        ({"processes": 2, "device": "cuda:1"}, "would put all 2 processes on one GPU"),
        ({"train_examples": ""}, "train_examples must be a non-empty string"),
    ],
)
def test_invalid_settings_are_rejected_in_one_line(changes, message):
    values = {**REQUIRED, **changes}
    with pytest.raises(SpladeError, match=message) as info:
        TrainConfig(**values)
    assert "\n" not in str(info.value)


def test_load_yaml_then_overrides(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text(
        "train_data: beir/scifact/train\ntrain_examples: ex.jsonl\noutput: runs/a\nlr: 1e-5\nsteps: 50\n"
        "max_grad_norm: 1.0\n"
    )
    config = load_config(path, {"steps": 70, "max_grad_norm": None})
    assert config.lr == 1e-5 and config.steps == 70 and config.max_grad_norm is None


def test_unknown_and_missing_keys(tmp_path):
    path = tmp_path / "train.json"
    path.write_text(json.dumps({"train_data": "x", "train_examples": "e", "output": "y", "random_seed": 3}))
    with pytest.raises(SpladeError, match=r"unknown training settings \['random_seed'\]"):
        load_config(path)
    with pytest.raises(SpladeError, match=r"missing required settings \['train_examples', 'output'\].*splade mine"):
        load_config(None, {"train_data": "x"})
    (tmp_path / "bad.yaml").write_text("a: [\n")
    with pytest.raises(SpladeError, match="cannot parse config"):
        load_config(tmp_path / "bad.yaml")
    with pytest.raises(SpladeError, match="no such config file"):
        load_config(tmp_path / "none.yaml")


def test_train_verb_flags_override_the_config_file(tmp_path):
    path = tmp_path / "train.json"
    path.write_text(json.dumps({**REQUIRED, "steps": 10, "lambda_q": 0.1}))
    args = _parser().parse_args(
        [
            "train",
            "--config",
            str(path),
            "--steps",
            "20",
            "--lambda-d",
            "0.05",
            "--seed",
            "7",
            "--threads",
            "2",
            "--device",
            "cpu",
            "--inference-free-query",
            "--max-grad-norm",
            "none",
            "--model",
            "m",
            "--processes",
            "2",
        ]
    )
    assert args.func.__name__ == "run_train"
    names = {f for f in TrainConfig.__dataclass_fields__}
    config = load_config(args.config, {k: v for k, v in vars(args).items() if k in names})
    assert (config.steps, config.lambda_q, config.lambda_d, config.seed, config.threads) == (20, 0.1, 0.05, 7, 2)
    assert config.inference_free_query and config.max_grad_norm is None and config.model == "m"
    assert config.processes == 2
    assert "lr" not in vars(args)  # flags not given do not override the file


def test_mine_verb_arguments():
    from splade_core.mine import cli

    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers(dest="verb", required=True))
    args = parser.parse_args(
        ["mine", "--train-data", "beir/scifact/train", "--output", "ex.jsonl", "--teacher", "self"]
    )
    assert (args.method, args.depth, args.teacher, args.func.__name__) == ("bm25", 50, "self", "run_mine")
    assert (args.device, args.precision) == ("cpu", "fp32")


def test_linear_schedule_factor():
    assert [linear_factor(s, 2, 6) for s in range(7)] == [0.0, 0.5, 1.0, 0.75, 0.5, 0.25, 0.0]
    assert linear_factor(3, 0, 3) == 0.0 and linear_factor(0, 0, 3) == 1.0


def test_the_workflow_schema_speaks_the_trainers_vocabulary():
    """One config vocabulary: every training key of the study schema is a TrainConfig field (so
    also a `splade train` flag) with the same default, but those the study itself reads."""
    import dataclasses
    from pathlib import Path

    import yaml

    schema = yaml.safe_load((Path(__file__).parents[2] / "workflow" / "schemas" / "config.schema.yaml").read_text())
    from splade_core.study.plan import STUDY_TRAINING_KEYS

    keys = schema["properties"]["training"]["properties"]
    keys = {name: spec for name, spec in keys.items() if name not in STUDY_TRAINING_KEYS}
    fields = {field.name: field for field in dataclasses.fields(TrainConfig)}
    assert set(keys) <= set(fields), sorted(set(keys) - set(fields))
    for name, spec in keys.items():
        if fields[name].default is not dataclasses.MISSING:
            assert spec.get("default") == fields[name].default, name


def test_the_workflow_schema_speaks_the_miners_vocabulary():
    """Likewise every mining key of the study schema is a MineConfig field (a `splade mine` flag)
    with the same default."""
    import dataclasses
    from pathlib import Path

    import yaml

    from splade_core.mine import MineConfig

    schema = yaml.safe_load((Path(__file__).parents[2] / "workflow" / "schemas" / "config.schema.yaml").read_text())
    keys = schema["properties"]["mining"]["properties"]
    fields = {field.name: field for field in dataclasses.fields(MineConfig)}
    assert set(keys) <= set(fields), sorted(set(keys) - set(fields))
    for name, spec in keys.items():
        assert spec.get("default") == fields[name].default, name
