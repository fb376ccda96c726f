"""End-to-end training on a tiny random BERT: layout, step counting, resume after SIGKILL, DDP."""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
from importlib import resources
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from splade_core.data.examples import write_examples
from splade_core.errors import SpladeError
from splade_core.mine import MineConfig, mine_examples
from splade_core.model import Splade
from splade_core.train import INFERENCE_FREE_KEY, TrainConfig, train

from .conftest import TOPICS

TOKENIZER = resources.files("splade_core") / "resources" / "models" / "splade-tiny"
ENV = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}


def _tiny_model(path: Path, dropout: float) -> str:
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

    tokenizer = AutoTokenizer.from_pretrained(str(TOKENIZER))
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
    )
    BertForMaskedLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    collection = root / "collection"
    (collection / "qrels").mkdir(parents=True)
    docs = [
        {"_id": f"d{i}_{j}", "title": f"Study {i}.{j}", "text": f"{t} " * (j + 1) + f"and {TOPICS[(i + j + 1) % 8]}"}
        for i, t in enumerate(TOPICS)
        for j in range(3)
    ]
    (collection / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (collection / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": f"q{i}", "text": f"{t}?"}) + "\n" for i, t in enumerate(TOPICS))
    )
    (collection / "qrels" / "train.tsv").write_text("".join(f"q{i}\td{i}_0\t1\n" for i in range(8)))
    spec = f"{collection}:train"
    examples, header = mine_examples(MineConfig(spec, depth=5, progress=False))
    model = _tiny_model(root / "model-dropout", 0.1)
    scored, scored_header = mine_examples(
        MineConfig(spec, depth=5, teacher="self", model=model, doc_max_length=24, query_max_length=12, progress=False)
    )
    return {
        "root": root,
        "spec": spec,
        "examples": str(write_examples(root / "examples.jsonl", examples, header)),
        "scored_examples": str(write_examples(root / "scored.jsonl", scored, scored_header)),
        "model": model,
        "model_no_dropout": _tiny_model(root / "model-no-dropout", 0.0),
    }


def _config(setup, output, **changes) -> TrainConfig:
    values = dict(
        model=setup["model"],
        train_data=setup["spec"],
        train_examples=setup["examples"],
        output=str(output),
        steps=4,
        batch_size=4,
        lr=1e-3,
        doc_max_length=24,
        query_max_length=12,
        log_every=1,
        threads=1,
        device="cpu",
        progress=False,
        lambda_q=1e-3,
        lambda_d=1e-3,
    )
    values.update(changes)
    return TrainConfig(**values)


def _log(output) -> list[dict]:
    return [json.loads(line) for line in (Path(output) / "train_log.jsonl").read_text().splitlines()]


def _weights(model_dir) -> dict[str, torch.Tensor]:
    return load_file(Path(model_dir) / "model.safetensors")


def test_layout_and_optimizer_steps_with_gradient_accumulation(setup, tmp_path):
    config = _config(setup, tmp_path / "run", steps=3, grad_accum=2, warmup_steps=1, lambda_warmup_steps=2)
    seen = []
    model_dir = train(config, on_step=seen.append)
    assert model_dir == tmp_path / "run" / "model" and seen == [1, 2, 3]
    log = _log(tmp_path / "run")
    assert [r["step"] for r in log] == [1, 2, 3]
    # LR counts optimizer steps, not micro-batches: warm-up over 1 step, then linear decay.
    assert [r["lr"] for r in log] == pytest.approx([0.0, 1e-3, 5e-4])
    assert [r["lambda_d"] for r in log] == pytest.approx([0.0, 1e-3 / 4, 1e-3])
    assert {"loss", "rank_loss", "reg_q", "reg_d", "nnz_q", "nnz_d", "grad_norm", "examples_per_s"} <= set(log[0])
    (checkpoint,) = (tmp_path / "run" / "checkpoints").iterdir()
    assert checkpoint.name == "step-00000003"
    trainer = torch.load(checkpoint / "trainer_state.pt", weights_only=True)
    assert trainer["scheduler"]["last_epoch"] == 3
    assert {int(s["step"]) for s in trainer["optimizer"]["state"].values()} == {3}
    assert json.loads((checkpoint / "state.json").read_text())["position"] == 12  # 3 steps × 4 examples
    assert {p.name for p in model_dir.iterdir()} >= {
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "splade_config.json",
        "training_config.json",
        "README.md",
    }
    assert json.loads((model_dir / "splade_config.json").read_text())[INFERENCE_FREE_KEY] is False
    training = json.loads((model_dir / "training_config.json").read_text())
    assert training["lambda_d"] == 1e-3 and training["steps"] == 3 and training["final_metrics"]["step"] == 3
    assert "λd = 0.001" in (model_dir / "README.md").read_text()
    reloaded = Splade.from_pretrained(model_dir)
    assert reloaded.doc_max_length == 24 and reloaded.query_max_length == 12
    start = _weights(setup["model"])
    assert not torch.equal(
        _weights(model_dir)["bert.embeddings.word_embeddings.weight"], start["bert.embeddings.word_embeddings.weight"]
    )
    # Finished: a second call trains nothing and keeps the model.
    seen.clear()
    assert train(config, on_step=seen.append) == model_dir and seen == []
    with pytest.raises(SpladeError, match="other settings.*lr"):
        train(config.replace(lr=5e-4))


KILLER = textwrap.dedent("""
    import json, os, signal, sys
    from splade_core.train import TrainConfig, train
    config = TrainConfig(**json.load(open(sys.argv[1])))
    step = int(sys.argv[2])
    real_rename = os.rename
    def rename(src, dst):  # SIGKILL once checkpoint `step` is written but not yet renamed
        if str(dst).endswith(f"step-{step:08d}"):
            os.kill(os.getpid(), signal.SIGKILL)
        return real_rename(src, dst)
    os.rename = rename
    train(config)
""")


def test_killed_run_resumes_to_bit_identical_weights(setup, tmp_path):
    config = _config(setup, tmp_path / "reference", steps=7, grad_accum=2, checkpoint_every=2, warmup_steps=2)
    reference = train(config)
    interrupted = config.replace(output=str(tmp_path / "interrupted"))
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(interrupted.to_dict()))
    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    done = subprocess.run([sys.executable, str(script), str(config_path), "6"], env=ENV, capture_output=True)
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()[-2000:]
    # Killed inside the step-6 checkpoint write, after logging step 6: only step 4 is complete.
    run = tmp_path / "interrupted"
    assert sorted(p.name for p in (run / "checkpoints").iterdir() if not p.name.startswith(".")) == ["step-00000004"]
    assert [r["step"] for r in _log(run)] == list(range(1, 7))
    assert not (run / "model").exists()
    train(interrupted)  # the restart (in this process; the killed run was a separate one)
    resumed, expected = _weights(run / "model"), _weights(reference)
    assert resumed.keys() == expected.keys()
    for name in expected:
        assert torch.equal(resumed[name], expected[name]), name
    assert [r["step"] for r in _log(run)] == list(range(1, 8))
    assert [r["loss"] for r in _log(run)] == [r["loss"] for r in _log(tmp_path / "reference")]
    assert not any(p.name.startswith(".tmp") for p in (run / "checkpoints").iterdir())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


DDP_SETTINGS = dict(steps=3, batch_size=4, n_negatives=2, lambda_q=1e-2, lambda_d=1e-2, lambda_warmup_steps=0)


def test_two_process_gloo_run_matches_one_process(setup, tmp_path, monkeypatch):
    """A launch by hand, as torchrun makes it: rank 1 runs as `python -m splade_core.train
    train`, rank 0 here, joined by the environment variables torchrun sets."""
    single = train(_config(setup, tmp_path / "single", model=setup["model_no_dropout"], **DDP_SETTINGS))
    config = _config(setup, tmp_path / "ddp", model=setup["model_no_dropout"], **DDP_SETTINGS)
    config_path = tmp_path / "ddp.json"
    config_path.write_text(json.dumps(config.to_dict()))
    env = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port()), "WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "2"}
    if Path("/sys/class/net/lo").exists():
        env["GLOO_SOCKET_IFNAME"] = "lo"
    command = [sys.executable, "-m", "splade_core.train", "train", "--config", str(config_path)]
    rank1 = subprocess.Popen(command, env={**ENV, **env, "RANK": "1", "LOCAL_RANK": "1"}, stderr=subprocess.PIPE)
    try:
        for key, value in {**env, "RANK": "0", "LOCAL_RANK": "0"}.items():
            monkeypatch.setenv(key, value)
        train(config)
    finally:
        _, stderr = rank1.communicate(timeout=120)
    assert rank1.returncode == 0, stderr.decode()[-2000:]
    _assert_same_training(single, tmp_path / "ddp" / "model", config)


def _splade_train(config: TrainConfig, tmp_path: Path, **env) -> subprocess.CompletedProcess:
    """`splade train --config <config>` in its own process, as the train_model rule runs it."""
    path = tmp_path / f"{Path(config.output).name}.json"
    path.write_text(json.dumps(config.to_dict()))
    command = [sys.executable, "-m", "splade_core", "train", "--config", str(path)]
    return subprocess.run(command, env={**ENV, **env}, capture_output=True, text=True, timeout=300)


def test_processes_2_starts_two_gloo_ranks_that_train_the_one_process_model(setup, tmp_path):
    """`--processes 2` (what the train_model rule passes on): `splade train` starts both ranks."""
    single = train(_config(setup, tmp_path / "single", model=setup["model_no_dropout"], **DDP_SETTINGS))
    config = _config(
        setup, tmp_path / "spawned", model=setup["model_no_dropout"], processes=2, threads=2, **DDP_SETTINGS
    )
    done = _splade_train(config, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == str(tmp_path / "spawned" / "model")
    _assert_same_training(single, tmp_path / "spawned" / "model", config)
    assert not list((tmp_path / "spawned").glob(".tmp-launch-*"))


def test_a_failing_rank_ends_the_run_with_its_one_line(setup, tmp_path):
    examples = tmp_path / "other.jsonl"
    examples.write_text(json.dumps({"qid": "no-such-query", "pos": ["d0_0"], "neg": ["d1_0"]}) + "\n")
    config = _config(setup, tmp_path / "failing", processes=2, train_examples=str(examples))
    done = _splade_train(config, tmp_path)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert lines[0].startswith("splade train: error: ") and "example queries are not in the collection" in lines[0]
    assert not (tmp_path / "failing" / "model").exists()


@pytest.mark.parametrize("variable", ["SLURM_STEP_NUM_TASKS", "OMPI_COMM_WORLD_SIZE"])
def test_tasks_started_without_a_process_group_are_refused(setup, tmp_path, variable):
    """`srun --ntasks=2 splade train …` would be two independent runs writing one folder."""
    config = _config(setup, tmp_path / "duplicated")
    done = _splade_train(config, tmp_path, **{variable: "2"})
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert f"one of 2 tasks ({variable}=2)" in lines[0] and "processes: 2" in lines[0]
    assert not (tmp_path / "duplicated").exists()


def test_a_second_run_on_an_output_in_use_is_refused(setup, tmp_path):
    from filelock import FileLock

    config = _config(setup, tmp_path / "busy")
    (tmp_path / "busy").mkdir()
    with FileLock(str(tmp_path / "busy" / ".lock")):
        with pytest.raises(SpladeError, match="another training run holds this output"):
            train(config)
    assert not (tmp_path / "busy" / "checkpoints").exists()
    with pytest.raises(SpladeError, match="needs its processes started"):
        train(config.replace(processes=2))  # a rank needs a launch


def _assert_same_training(single: Path, ddp: Path, config: TrainConfig) -> None:
    """A W-process run equals one process on the same global batch, up to float rounding."""
    one, two = _log(single.parent), _log(ddp.parent)
    assert [r["step"] for r in two] == [1, 2, 3]
    for a, b in zip(one, two):
        for key in ("loss", "rank_loss", "reg_q", "reg_d", "nnz_q", "nnz_d"):
            assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-6), (a["step"], key)
    assert json.loads((ddp / "training_config.json").read_text())["world_size"] == 2
    ddp_weights, single_weights = _weights(ddp), _weights(single)
    for name in single_weights:
        if name.endswith("attention.self.key.bias"):
            # Its gradient is 0 in exact arithmetic (softmax ignores a per-query shift), so it
            # holds only rounding noise, which Adam scales up to lr-sized steps either way.
            continue
        ddp_weight, one_process = ddp_weights[name], single_weights[name]
        close = torch.isclose(ddp_weight, one_process, rtol=1e-4, atol=1e-5)
        # A few entries get gradients of rounding size (e.g. vocabulary rows of the tied output
        # layer whose logits sit at the ReLU), which Adam's eps turns into steps of up to ~0.1 lr
        # that differ between the two summation orders. They stay rare and small.
        assert (~close).float().mean() < 1e-4, (name, int((~close).sum()))
        largest = (ddp_weight - one_process).abs().max().item()
        assert largest <= 0.1 * config.lr * config.steps, (name, largest)


@pytest.mark.parametrize(
    "changes",
    [
        {"loss": "margin_mse", "inference_free_query": True, "reg_d": "l1"},
        {"loss": "kl", "separate_query_encoder": True, "pooling": "sum", "precision": "bf16"},
    ],
    ids=["margin_mse-inference_free", "kl-separate-sum-bf16"],
)
def test_variants_train_and_save_what_encoding_needs(setup, tmp_path, changes):
    config = _config(setup, tmp_path / "run", steps=2, train_examples=setup["scored_examples"], **changes)
    model_dir = train(config)
    assert json.loads((model_dir / "training_config.json").read_text())["mining"]["teacher"] == "self"
    splade_config = json.loads((model_dir / "splade_config.json").read_text())
    assert splade_config[INFERENCE_FREE_KEY] is bool(changes.get("inference_free_query"))
    assert splade_config["separate_query_encoder"] is bool(changes.get("separate_query_encoder"))
    assert (model_dir / "query_encoder").is_dir() is bool(changes.get("separate_query_encoder"))
    log = _log(tmp_path / "run")
    assert all(r["loss"] == r["loss"] for r in log)  # finite
    if changes.get("inference_free_query"):
        assert all(r["reg_q"] == 0.0 and r["nnz_q"] < 12 for r in log)
    assert Splade.from_pretrained(model_dir).pooling == config.pooling


def test_inference_free_model_encodes_queries_exactly_as_training_did(setup, tmp_path):
    """The trained folder says its queries are inference-free, and every loader honours it:
    `splade encode --side query` gives the bag of tokens training scored, not a neural vector."""
    from splade_core.encode import encode_window
    from splade_core.train.loop import _tokenize
    from splade_core.train.model import TrainingModel

    config = _config(setup, tmp_path / "run", steps=1, inference_free_query=True, query_max_length=6)
    splade = Splade.from_pretrained(train(config))
    assert splade.inference_free_query and splade.config_dict()[INFERENCE_FREE_KEY] is True
    encoder, max_length = splade.encoder_for("query")
    queries = [f"{topic}, with more words than six tokens?" for topic in TOPICS]
    indptr, indices, data = encode_window(encoder, queries, max_length, batch_size=3)
    encoded = torch.zeros(len(queries), splade.vocab_size)
    for row in range(len(queries)):
        encoded[row, torch.as_tensor(indices[indptr[row] : indptr[row + 1]]).long()] = torch.as_tensor(
            data[indptr[row] : indptr[row + 1]]
        )

    from splade_core.data.training import TrainingItem

    items = [TrainingItem(query, "a document", ()) for query in queries]
    (query_inputs, doc_inputs) = _tokenize(splade, items, config, torch.device("cpu"))[:2]
    trained, _ = TrainingModel(splade, inference_free_query=True)(
        query_inputs["input_ids"], query_inputs["attention_mask"], doc_inputs["input_ids"], doc_inputs["attention_mask"]
    )
    assert torch.equal(encoded, trained)
    assert set(data.tolist()) == {1.0} and (indptr[1:] - indptr[:-1]).max() <= 4  # 6 tokens less [CLS], [SEP]
