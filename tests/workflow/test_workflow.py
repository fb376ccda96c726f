"""The workflow's contract: it plans offline, validates its config, and reruns only what a
change invalidates (on the tiny .test study)."""

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

from .conftest import (
    REPO,
    copy_study,
    offline_caches,
    planned_jobs,
    snakemake,
    snakemake_command,
    untouched,
    write_config,
)

STUDY_CHAIN = {"train_model", "encode_corpus", "merge_corpus", "quantize_corpus", "encode_queries", "quantize_queries"}


@pytest.mark.parametrize("configfile", ["config/config.yaml", "config/msmarco.yaml", "config/beir.yaml"])
def test_every_shipped_config_plans_offline(tmp_path, configfile):
    result = snakemake(tmp_path, "-n", "--configfile", str(REPO / configfile), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = planned_jobs(result)
    assert jobs["aggregate_results"] >= 1 and jobs["evaluate_run"] >= 1


def test_invalid_config_stops_with_one_line_naming_the_key(tmp_path, test_config):
    broken = {**test_config, "training": {**test_config["training"], "stepz": 3}}
    result = snakemake(tmp_path, "-n", "--configfile", str(write_config(tmp_path, broken)), timeout=120)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.startswith("invalid config")]
    assert lines == ["invalid config: training: Additional properties are not allowed ('stepz' was unexpected)"]


def _with(config: dict, section: str, **changes) -> dict:
    value = {**config.get(section, {}), **changes} if isinstance(config.get(section, {}), dict) else changes
    return {**config, section: value}


TINY_BEIR = REPO / "tests" / "data" / "tiny-beir"
BROKEN_CONFIGS = {  # id: (section, changes, start of the one line)
    "empty-results": ("results", "", "invalid config: results: '' should be non-empty"),
    "results-root": ("results", "/", "invalid config: results: '/' is the file-system root"),
    "results-in-resources": ("results", "resources/out", "invalid config: results: 'resources/out' and resources"),
    "empty-collection": ("datasets", {"tiny": {"collection": ""}}, "invalid config: datasets.tiny.collection: ''"),
    "k-bound": ("retrieval", {"k": 3_000_000_000}, "invalid config: retrieval.k: 3000000000 is greater than"),
    "shards-bound": ("encoding", {"shards": 100_000}, "invalid config: encoding.shards: 100000 is greater than"),
    "scale-nan": ("quantization", {"scale": float("nan")}, "invalid config: quantization.scale: nan must be a number"),
    "scale-tiny": ("quantization", {"scale": 1e-300}, "invalid config: quantization.scale: 1e-300 must be a number"),
    "no-train-data": ("training", {"train_data": None}, "invalid config: training.train_data: models with train: true"),
    "unjudged-train-data": (
        "training",
        {"train_data": f"{TINY_BEIR}:train"},
        f"invalid config: training.train_data: '{TINY_BEIR}:train' has no relevance judgments",
    ),
    "eval-overlap": (
        "training",
        {"allow_eval_overlap": False},
        f"invalid config: training.train_data: '{TINY_BEIR}:test' is the collection of dataset 'tiny'",
    ),
    "unknown-dataset": (
        "datasets",
        {"tiny": {"collection": "no-such/dataset"}},
        "invalid config: datasets.tiny.collection: unknown dataset 'no-such/dataset'",
    ),
    "missing-model": (
        "models",
        {"splade-tiny": {"path": "./no/such/model", "train": True}},
        "invalid config: models.splade-tiny.path: './no/such/model' is no directory",
    ),
    "warmup": ("training", {"warmup_steps": 10, "steps": 3}, "invalid config: training: warmup_steps must not exceed"),
    "kl-no-negatives": ("training", {"loss": "kl", "n_negatives": 0}, "invalid config: training: loss 'kl' needs"),
    "inference-free-separate": (
        "training",
        {"inference_free_query": True, "separate_query_encoder": True},
        "invalid config: training: inference_free_query has no query encoder",
    ),
    "training-device": ("training", {"device": "banana"}, "invalid config: training.device: 'banana' does not match"),
    "training-device-auto": ("training", {"device": "auto"}, "invalid config: training.device: 'auto' does not match"),
    "processes-batch": (
        "training",
        {"processes": 3},
        "invalid config: training: batch_size (4) must be a multiple of processes × grad_accum (3 × 1)",
    ),
    "processes-one-gpu": (
        "training",
        {"processes": 2, "device": "cuda:1"},
        "invalid config: training: device 'cuda:1' would put all 2 processes on one GPU",
    ),
    "mining-device": ("mining", {"device": "gpu"}, "invalid config: mining.device: 'gpu' does not match"),
    "encoding-tf32-cpu": (
        "encoding",
        {"tf32": True},
        "invalid config: encoding.tf32: applies to precision fp32 on a cuda",
    ),
    "encoding-device": ("encoding", {"device": "gpu0"}, "invalid config: encoding.device: 'gpu0' does not match"),
    "agnostic-range": (
        "pruning",
        {"agnostic": [300]},
        "invalid config: pruning.agnostic: 300 is above the largest uint8 impact (255)",
    ),
}


@pytest.mark.parametrize("section,changes,message", BROKEN_CONFIGS.values(), ids=BROKEN_CONFIGS)
def test_configs_that_would_fail_later_stop_the_plan_with_one_line(tmp_path, test_config, section, changes, message):
    if section in ("datasets", "models", "results"):
        config = {**test_config, section: changes}
    else:
        config = _with(test_config, section, **changes)
    result = snakemake(tmp_path, "-n", "--configfile", str(write_config(tmp_path, config)), timeout=120)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.startswith("invalid config")]
    assert len(lines) == 1 and lines[0].startswith(message), result.stderr[-2000:]


def test_distillation_without_a_teacher_mines_with_the_trainers_default(tmp_path, test_config):
    config = _with(_with(test_config, "training", loss="margin_mse"), "mining", teacher=None)
    result = snakemake(tmp_path, "-n", "-p", "--configfile", str(write_config(tmp_path, config)), timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "--teacher self" in next(line for line in result.stdout.splitlines() if "splade mine" in line)


def _job_blocks(result, rule: str) -> list[str]:
    """The dry run's printed jobs of `rule` (its block, with resources and shell command)."""
    return [block.split("\n\n")[0] for block in result.stdout.split(f"rule {rule}:")[1:]]


def test_gpu_settings_reach_the_jobs_requests_and_commands(tmp_path, test_config):
    """training.processes on CUDA asks for that many GPUs on one node and passes --processes to
    `splade train` (which starts them); mining asks for a GPU only when it runs a model there;
    encoding passes its precision."""
    config = _with(test_config, "training", processes=2, device="cuda")
    config = _with(config, "mining", device="cuda", teacher="self", precision="bf16")
    config = _with(config, "encoding", device="cuda", precision="bf16")
    result = snakemake(tmp_path, "-n", "-p", "--configfile", str(write_config(tmp_path, config)), timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    train = _job_blocks(result, "train_model")
    assert len(train) == 2 and all(re.search(r"\bgpu=2\b", b) and re.search(r"\bnodes=1\b", b) for b in train)
    assert all("--processes 2" in b and "--device cuda" in b for b in train)
    (mine,) = _job_blocks(result, "mine_negatives")
    assert re.search(r"\bgpu=1\b", mine) and "--device cuda --precision bf16" in mine and "--teacher self" in mine
    encode = _job_blocks(result, "encode_corpus") + _job_blocks(result, "encode_queries")
    assert encode and all("--precision bf16" in b and re.search(r"\bgpu=1\b", b) for b in encode)

    cpu = _with(_with(test_config, "training", processes=2), "mining", device="cuda")  # bm25, no teacher
    result = snakemake(tmp_path, "-n", "-p", "--configfile", str(write_config(tmp_path, cpu)), timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert all("gpu=0" in b and "--processes 2" in b for b in _job_blocks(result, "train_model"))
    assert all("gpu=0" in b for b in _job_blocks(result, "mine_negatives"))


def _no_dropout_model(folder: Path) -> str:
    """The bundled splade-tiny without dropout: one process and two then see the same network."""
    import shutil

    shutil.copytree(REPO / "splade_core" / "resources" / "models" / "splade-tiny", folder)
    config = json.loads((folder / "config.json").read_text())
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (folder / "config.json").write_text(json.dumps(config))
    return str(folder)


def test_two_gloo_processes_through_the_train_model_rule_train_the_one_process_model(tmp_path, test_config):
    """training.processes: 2 reruns only train_model, whose `splade train --processes 2` starts
    two gloo processes; they train the model one process trains, up to float rounding."""
    import numpy as np
    from safetensors.numpy import load_file

    model = _no_dropout_model(tmp_path / "splade-tiny-no-dropout")
    models = {"tiny-nd": {"path": model, "pretrained": False, "train": True}}
    base = {**test_config, "models": models, "lambdas": [{"lq": 0.001, "ld": 0.001}], "report": {}}
    target = tmp_path / "results/train/tiny-nd/lq=0.001_ld=0.001/model"
    trained = {}
    for processes in (1, 2):
        config = write_config(tmp_path, _with(base, "training", processes=processes, n_negatives=2))
        result = snakemake(tmp_path, "--cores", "2", str(target.relative_to(tmp_path)), "--configfile", str(config))
        assert result.returncode == 0, result.stderr[-3000:]
        trained[processes] = target.rename(tmp_path / f"model-{processes}")
        ran = set(re.findall(r"^(?:local)?rule (\w+):$", result.stderr, re.M))
        jobs = {rule for rule in ran if not rule.startswith("download")}
        assert jobs == ({"train_model"} if processes == 2 else {"mine_negatives", "train_model"}), jobs
    record = json.loads((trained[2] / "training_config.json").read_text())
    assert record["world_size"] == 2 and record["processes"] == 2
    one, two = load_file(trained[1] / "model.safetensors"), load_file(trained[2] / "model.safetensors")
    for name in one:
        if name.endswith("attention.self.key.bias"):
            continue  # its gradient is 0 in exact arithmetic: rounding noise that Adam scales up
        close = np.isclose(two[name], one[name], rtol=1e-4, atol=1e-5)
        assert (~close).mean() < 1e-3, (name, int((~close).sum()))
        assert np.abs(two[name] - one[name]).max() <= 0.1 * 5e-5 * 3, name  # 0.1 lr x steps


def test_examples_given_as_a_url_are_downloaded_and_trained_on(tmp_path, test_config):
    triples = tmp_path / "triples.tsv"
    triples.write_text("q1\td1\td2\n")
    config = _with(test_config, "training", train_examples=triples.as_uri())
    result = snakemake(tmp_path, "-n", "-p", "--configfile", str(write_config(tmp_path, config)), timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    jobs = planned_jobs(result)
    assert jobs["download_file"] == 1 and "mine_negatives" not in jobs
    train = [line for line in result.stdout.splitlines() if "splade train" in line]
    assert train and all("--train-examples resources/files/local/triples.tsv-" in line for line in train)


def test_training_max_lengths_in_the_config_reach_the_trainer(tmp_path, test_config):
    config = _with(test_config, "training", doc_max_length=128, query_max_length=24)
    result = snakemake(tmp_path, "-n", "-p", "--configfile", str(write_config(tmp_path, config)), timeout=120)
    train = [line for line in result.stdout.splitlines() if "splade train" in line]
    assert train and all("--doc-max-length 128" in line and "--query-max-length 24" in line for line in train)


def test_every_row_writes_per_query_values_that_the_summary_tests_against_the_baseline(tmp_path, test_config):
    result = snakemake(tmp_path, "-n", "-p", "--configfile", str(write_config(tmp_path, test_config)), timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    evaluations = [line for line in lines if "splade evaluate" in line]
    written = [
        re.search(r"--output (\S+)/metrics\.json --per-query (\S+)/perquery\.tsv ", line) for line in evaluations
    ]
    assert len(evaluations) == 13 and all(match and match[1] == match[2] for match in written)
    # the aggregation's inputs: every row's metrics file, then its per-query files in the same order
    aggregate = re.search(r"rule aggregate_results:\n\s+input: (.*)\n", result.stdout)[1]
    metrics, per_query = re.findall(r"(\S+)/metrics\.json", aggregate), re.findall(r"(\S+)/perquery\.tsv", aggregate)
    assert per_query == metrics and sorted(metrics) == sorted(match[1] for match in written)


def test_a_baseline_the_study_does_not_evaluate_stops_the_plan(tmp_path, test_config):
    config = {**test_config, "report": {"baseline": {"model": "splade-tiny", "prune": "term-99"}}}
    result = snakemake(tmp_path, "-n", "--configfile", str(write_config(tmp_path, config)), timeout=120)
    lines = [line for line in result.stderr.splitlines() if line.startswith("invalid config")]
    assert result.returncode != 0 and lines == [
        "invalid config: report.baseline.prune: 'term-99' is not one of "
        "['none', 'document-16', 'term-10', 'agnostic-60']"
    ]


def test_download_stage_runs_alone_and_before_every_compute_job(finished_study):
    logs = json.loads((finished_study / "offline.json").read_text())
    rules = lambda log: set(re.findall(r"^(?:local)?rule (\w+):$", log, re.M))  # noqa: E731
    assert rules(logs["downloaded"]) == {"download_corpus", "download_collection", "download_model", "download"}
    assert not {rule for rule in rules(logs["study"]) if rule.startswith("download")}
    resources = finished_study / "resources"
    assert sorted(p.parent.relative_to(resources).parts[0] for p in resources.rglob("manifest.json")) == [
        "collections",
        "corpora",
        "models",
    ]


def test_study_results_have_one_row_per_setting_and_pruning(finished_study):
    summary = pd.read_csv(finished_study / "results" / "summary" / "tiny" / "summary.csv")
    splade = summary[summary["model"] == "splade-tiny"]
    assert sorted(splade["setting"].unique()) == ["lq=0.001_ld=0.001", "lq=0.1_ld=0.1", "pretrained"]
    assert sorted(splade["prune"].unique()) == ["agnostic-60", "document-16", "none", "term-10"]
    assert len(splade) == 12 and (summary["model"] == "bm25").sum() == 1
    assert splade[["nDCG@10", "flops", "postings", "latency_p50_ms"]].notna().all().all()
    baseline = summary[summary["baseline"]]  # the default: the pretrained model, unpruned
    assert baseline[["model", "setting", "prune"]].values.tolist() == [["splade-tiny", "pretrained", "none"]]
    tested = summary[~summary["baseline"]]
    assert len(tested) == 12 and (tested["paired_queries"] == 6).all()
    assert tested[["p_MRR@10", "p_nDCG@10", "p_R@100", "p_R@1000"]].notna().all().all()
    for plot in ("effectiveness_vs_flops", "effectiveness_vs_latency", "pruning"):
        assert (finished_study / "results" / "summary" / "tiny" / "plots" / f"{plot}.png").stat().st_size > 1000


def test_nothing_to_do_after_a_complete_run(finished_study):
    result = snakemake(finished_study, "-n", "--configfile", str(finished_study / "config" / "config.yaml"))
    assert result.returncode == 0 and planned_jobs(result) == {}
    assert "Nothing to be done" in result.stdout + result.stderr


def test_adding_a_lambda_schedules_only_its_chain_and_aggregation(finished_study, test_config, tmp_path):
    workdir = copy_study(finished_study, tmp_path / "study")
    config = {**test_config, "lambdas": [*test_config["lambdas"], {"lq": 0.01, "ld": 0.02}]}
    result = snakemake(workdir, "-n", "--configfile", str(write_config(workdir, config)), timeout=120)
    jobs = planned_jobs(result)
    assert jobs["train_model"] == 1 and jobs["encode_corpus"] == 2 and jobs["aggregate_results"] == 1
    per_pruning = {"build_index", "retrieve", "evaluate_run"}
    assert all(jobs[rule] == 4 for rule in per_pruning) and jobs["prune_index"] == 3
    assert set(jobs) == STUDY_CHAIN | per_pruning | {"prune_index", "aggregate_results", "tabulate_benchmarks", "all"}
    assert "lq=0.01_ld=0.02" in result.stdout


def test_changing_a_pruning_value_reruns_only_pruning_retrieval_and_evaluation(finished_study, test_config, tmp_path):
    workdir = copy_study(finished_study, tmp_path / "study")
    config = {**test_config, "pruning": {**test_config["pruning"], "document": [12]}}
    jobs = planned_jobs(snakemake(workdir, "-n", "--configfile", str(write_config(workdir, config)), timeout=120))
    assert jobs == {
        "prune_index": 3,
        "build_index": 3,
        "retrieve": 3,
        "evaluate_run": 3,
        "aggregate_results": 1,
        "tabulate_benchmarks": 1,
        "all": 1,
    }


def test_approximate_presets_are_rows_with_their_recall_against_the_exact_run(finished_study, test_config, tmp_path):
    """`retrieval.approximate` adds a row per index and preset: the index is rebuilt with its
    presets calibrated on the dataset's queries, the preset's run is evaluated beside the exact
    one and reports its recall against it (here 1: below BMP_MIN_DOCS the presets are exact)."""
    workdir = copy_study(finished_study, tmp_path / "study")
    config = {
        **_with(test_config, "retrieval", approximate=["approx-95"]),
        "pruning": {**test_config["pruning"], "term": [], "agnostic": []},
    }
    configfile = str(write_config(workdir, config))
    jobs = planned_jobs(snakemake(workdir, "-n", "--configfile", configfile, timeout=120))
    assert {rule: jobs.get(rule) for rule in ("build_index", "retrieve", "evaluate_run", "train_model")} == {
        "build_index": 6,
        "retrieve": 12,
        "evaluate_run": 12,
        "train_model": None,
    }
    result = snakemake(workdir, "--cores", "2", "--configfile", configfile)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = pd.read_csv(workdir / "results" / "summary" / "tiny" / "summary.csv")
    splade = summary[summary["model"] == "splade-tiny"].set_index(["setting", "prune", "search"]).sort_index()
    assert len(splade) == 12 and sorted(splade.index.get_level_values("search").unique()) == ["approx-95", "exact"]
    approximate = splade.xs("approx-95", level="search")
    assert (approximate[["R@10 vs exact", "R@20 vs exact"]] == 1.0).all().all()
    exact = splade.xs("exact", level="search")
    pd.testing.assert_frame_equal(approximate[["nDCG@10", "R@100"]], exact[["nDCG@10", "R@100"]])
    index_stats = json.loads((workdir / "results/index/tiny/splade-tiny/pretrained/none/index.json").read_text())
    assert index_stats["presets"]["approx-95"]["algorithm"] == "exhaustive"
    assert (workdir / "results/summary/tiny/plots/effectiveness_vs_latency.png").stat().st_size > 1000


def _wait_until(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return condition()


def test_output_of_an_interrupted_job_is_not_trusted(finished_study, tmp_path):
    """Snakemake dies mid-job (node failure, OOM kill) while the job itself runs on and writes a
    complete-looking output: the next run must redo that job and everything after it."""
    workdir = copy_study(finished_study, tmp_path / "study")
    configfile = str(workdir / "config" / "config.yaml")
    model = "results/train/splade-tiny/lq=0.001_ld=0.001/model"
    process = subprocess.Popen(
        snakemake_command(workdir, "--cores", "1", "--configfile", configfile, "--forcerun", "train_model", model),
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    markers = workdir / ".snakemake" / "incomplete"
    log = workdir / "results" / "logs" / "train_model" / "splade-tiny" / "lq=0.001_ld=0.001.log"
    log.unlink()  # the job's shell creates it anew: then the job runs, not only its marker exists

    def job_started() -> bool:
        return markers.is_dir() and any(markers.iterdir()) and log.is_file()

    assert _wait_until(job_started, timeout=180), "the job never started"
    os.kill(process.pid, signal.SIGKILL)  # only Snakemake: the training job runs on, orphaned
    process.wait()

    def job_finished() -> bool:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return True
        return False

    assert _wait_until(job_finished, timeout=300)
    assert (workdir / model).is_dir() and any(markers.iterdir())

    jobs = planned_jobs(snakemake(workdir, "-n", "--configfile", configfile))
    assert jobs.get("train_model") == 1 and jobs.get("aggregate_results") == 1


def _leaves(value, path=()):
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _leaves(child, (*path, key))
    else:
        yield path


def _set(config: dict, path: tuple, value) -> dict:
    if len(path) == 1:
        return {**config, path[0]: value}
    return {**config, path[0]: _set(config[path[0]], path[1:], value)}


@pytest.mark.parametrize("seed", range(12))
def test_seeded_config_mutations_plan_or_stop_with_one_line(tmp_path, test_config, seed):
    """A random leaf of the .test config set to a random wrong value: the dry run plans, or it
    stops with one `invalid config` line; never a traceback."""
    import random

    rng = random.Random(seed)
    path = rng.choice(sorted(_leaves(test_config)))
    value = rng.choice(["x", -1, None, [], {"a": 1}, 10**12, True, 0.5, ""])
    config = _set(test_config, path, value)
    result = snakemake(tmp_path, "-n", "--configfile", str(write_config(tmp_path, config)), timeout=120)
    assert "Traceback" not in result.stderr, (path, value, result.stderr[-3000:])
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.startswith("invalid config")]
        assert len(lines) == 1, (path, value, result.stderr[-3000:])


def test_pre_encoded_vectors_run_through_the_study_stages(finished_study, test_config, tmp_path):
    """The study's own vectors, exported as Anserini files (documents in two shards, one gzipped;
    TSV queries), are a pre-encoded model: imported, quantized, pruned, indexed, retrieved and
    evaluated offline, with the metrics of the model that encoded them."""
    from splade_core.formats import Vocabulary, write_anserini_docs, write_anserini_queries
    from splade_core.sparse import SparseVectors

    encoded = finished_study / "results"
    docs = SparseVectors.load(encoded / "quantize" / "tiny" / "splade-tiny" / "pretrained" / "docs.npz")
    queries = SparseVectors.load(encoded / "quantize" / "tiny" / "splade-tiny" / "pretrained" / "queries.npz")
    tokens = list(Vocabulary.of_model("bundled/splade-tiny").tokens)
    half = docs.n_rows // 2
    for name, rows in (("part-0.jsonl.gz", slice(0, half)), ("part-1.jsonl", slice(half, None))):
        shard = SparseVectors.from_csr(docs.to_csr()[rows], docs.ids[rows], docs.meta)
        write_anserini_docs(shard, tokens, tmp_path / "vectors" / name)
    write_anserini_queries(queries, tokens, tmp_path / "vectors" / "queries.tsv")
    vectors = {
        "docs": {"tiny": str(tmp_path / "vectors" / "part-*")},
        "queries": {"tiny": str(tmp_path / "vectors" / "queries.tsv")},
    }
    config = {
        **test_config,
        "datasets": {"tiny": {**test_config["datasets"]["tiny"], "bm25": False}},
        "models": {"anserini": {"path": "bundled/splade-tiny", "vectors": {**vectors, "scale": 100}}},
        "lambdas": [],
    }
    configfile = str(write_config(tmp_path, config))
    downloaded = snakemake(tmp_path, "download", "--cores", "2", "--configfile", configfile)
    assert downloaded.returncode == 0, downloaded.stderr[-3000:]
    offline = offline_caches(tmp_path / "caches")
    result = snakemake(tmp_path, "--cores", "2", "--configfile", configfile, env=offline)
    assert result.returncode == 0, result.stderr[-3000:]
    assert untouched(offline)
    assert "encode_corpus" not in result.stderr and "import_corpus" in result.stderr
    ours = pd.read_csv(encoded / "summary" / "tiny" / "summary.csv")
    ours = ours[(ours["model"] == "splade-tiny") & (ours["setting"] == "pretrained")].set_index("prune")
    imported = pd.read_csv(tmp_path / "results" / "summary" / "tiny" / "summary.csv").set_index("prune")
    assert sorted(imported.index) == sorted(ours.index)
    for column in ("nDCG@10", "MRR@10", "R@100", "flops", "postings"):
        assert imported[column].sort_index().tolist() == ours[column].sort_index().tolist(), column


def test_job_memory_and_runtime_grow_with_the_input(tmp_path, test_config):
    """Resources are functions of the input size: quantizing a 400x larger vector file asks for
    more memory and time (two pre-encoded models in one plan)."""
    import numpy as np
    import scipy.sparse as sp

    from splade_core.sparse import SparseVectors

    models = {}
    for rows in (50, 20_000):
        matrix = sp.random(rows, 30_522, density=0.01, random_state=rows, format="csr", dtype=np.float32)
        SparseVectors.from_csr(matrix, [f"d{i}" for i in range(rows)]).save(tmp_path / f"docs{rows}.npz")
        SparseVectors.from_csr(matrix[:5], [f"q{i}" for i in range(5)]).save(tmp_path / f"queries{rows}.npz")
        vectors = {"docs": {"tiny": str(tmp_path / f"docs{rows}.npz")}}
        vectors["queries"] = {"tiny": str(tmp_path / f"queries{rows}.npz")}
        models[f"pre{rows}"] = {"path": "bundled/splade-tiny", "vectors": vectors}
    config = {**test_config, "models": models, "lambdas": []}
    result = snakemake(tmp_path, "-n", "--configfile", str(write_config(tmp_path, config)), timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    declared = {}
    for block in result.stdout.split("rule quantize_corpus:")[1:]:
        rows = int(re.search(r"docs([0-9]+)\.npz", block).group(1))
        resources = re.findall(r"(mem_mb|runtime)=([0-9]+)", block.split("\n\n")[0])
        declared[rows] = {key: int(value) for key, value in resources}
    assert declared[20_000]["mem_mb"] > declared[50]["mem_mb"] > 0
    assert declared[20_000]["runtime"] >= declared[50]["runtime"] > 0


def test_bm25_and_encoding_follow_the_downloaded_corpus(tmp_path, test_config):
    """A rule that reads a corpus through its download's manifest is sized by the corpus's files:
    BM25 over a much larger corpus asks for more memory and time, encoding it for more time and
    the same memory (the model and a batch, streamed), once the model's weights are counted."""
    import shutil

    tiny = REPO / "tests" / "data" / "tiny-beir"
    big = tmp_path / "big-beir"
    shutil.copytree(tiny, big)
    with open(big / "corpus.jsonl", "a") as out:
        for i in range(10_000):  # 11 MB: minutes more of encoding for splade-tiny
            out.write(json.dumps({"_id": f"extra{i}", "text": f"filler passage number {i} " * 40}) + "\n")
    datasets = {
        "tiny": {"collection": f"{tiny}:test", "bm25": True},
        "big": {"collection": f"{big}:test", "bm25": True},
    }
    models = {"splade-tiny": {"path": "bundled/splade-tiny", "pretrained": True, "train": False}}
    config = {**test_config, "datasets": datasets, "models": models, "lambdas": []}
    configfile = str(write_config(tmp_path, config))
    downloaded = snakemake(tmp_path, "download", "--cores", "1", "--configfile", configfile)
    assert downloaded.returncode == 0, downloaded.stderr[-3000:]
    result = snakemake(tmp_path, "-n", "--configfile", configfile, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]

    def declared(rule, output):
        out = {}
        for block in result.stdout.split(f"rule {rule}:")[1:]:
            job = block.split("\n\n")[0]
            if found := re.search(rf"output: {output}", job):  # one shard per corpus
                out[found.group(1)] = {key: int(value) for key, value in re.findall(r"(mem_mb|runtime)=([0-9]+)", job)}
        return out

    bm25 = declared("retrieve_bm25", r"results/retrieve/(\w+)/bm25/run\.trec")
    assert bm25["big"]["mem_mb"] > bm25["tiny"]["mem_mb"] > 0
    assert bm25["big"]["runtime"] >= bm25["tiny"]["runtime"] > 0
    encode = declared("encode_corpus", r"results/encode/(\w+)/splade-tiny/pretrained/docs\.shard0\.npz")
    assert encode["big"]["runtime"] > encode["tiny"]["runtime"] > 0
    weights_mb = (REPO / "splade_core/resources/models/splade-tiny/model.safetensors").stat().st_size / 2**20
    assert encode["big"]["mem_mb"] == encode["tiny"]["mem_mb"] > 500 + 2 * weights_mb


def test_a_dataset_named_models_and_a_model_named_index_plan_and_run(tmp_path, test_config):
    """Results are stage first (results/{stage}/...), so dataset and model names that are also
    stage names (models, index) stay inside their stages: the study plans and runs."""
    datasets = {"models": test_config["datasets"]["tiny"]}
    models = {"index": {"path": "bundled/splade-tiny", "pretrained": True, "train": False}}
    config = {
        **test_config,
        "datasets": datasets,
        "models": models,
        "lambdas": [],
        "pruning": {"document": [16]},
        "report": {},
    }
    configfile = str(write_config(tmp_path, config))
    result = snakemake(tmp_path, "--cores", "2", "--configfile", configfile)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = pd.read_csv(tmp_path / "results" / "summary" / "models" / "summary.csv")
    assert sorted(zip(summary["model"], summary["prune"])) == [
        ("bm25", "none"),
        ("index", "document-16"),
        ("index", "none"),
    ]
    assert (tmp_path / "results" / "index" / "models" / "index" / "pretrained" / "none" / "index.bin").is_file()
    assert sorted(path.name for path in (tmp_path / "results").iterdir()) == [
        "benchmarks", "encode", "evaluate", "index", "logs", "prune", "quantize", "report", "retrieve", "summary",
    ]  # fmt: skip


def test_a_config_file_giving_a_key_twice_stops_the_plan(tmp_path, test_config):
    """YAML loaders let the last of two equal keys win silently; the plan refuses the file."""
    configfile = write_config(tmp_path, test_config)
    text = configfile.read_text().replace("models:\n", "models:\n  splade-tiny: {path: bundled/splade-tiny}\n", 1)
    configfile.write_text(text)
    result = snakemake(tmp_path, "-n", "--configfile", str(configfile), timeout=120)
    lines = [line for line in result.stderr.splitlines() if line.startswith("invalid config")]
    assert result.returncode != 0 and len(lines) == 1, result.stderr[-2000:]
    assert re.fullmatch(
        rf"invalid config: {re.escape(str(configfile))}: line \d+: key 'splade-tiny' is given twice", lines[0]
    )
