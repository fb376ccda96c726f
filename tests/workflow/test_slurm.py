"""The .test study through profiles/slurm on a real local SLURM cluster (tests/slurm/cluster.sh).

Every job Snakemake sends to SLURM must end COMPLETED in `sacct`, and the results must equal a
run of the same study with the local executor: metrics and sparsity in summary.csv exactly,
every run.trec byte for byte.

The study is .test/config/config.yaml narrowed by SMALLER to 27 jobs that still run every rule:
each job pays ~6 s of Snakemake start-up twice inside SLURM plus ~6 s of imports, so the full
72-job study, run twice on a 2-core CI machine, would take well over 10 minutes.

Root only (the cluster installs packages and starts daemons). Always on in CI; elsewhere
opt-in: SPLADE_TEST_SLURM=1 python -m pytest tests/workflow/test_slurm.py
"""

from __future__ import annotations

import csv
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from .conftest import offline_caches, untouched

pytestmark = [
    pytest.mark.slurm,
    pytest.mark.skipif(
        os.environ.get("CI") != "true" and os.environ.get("SPLADE_TEST_SLURM") != "1",
        reason="starts a local SLURM cluster: set SPLADE_TEST_SLURM=1 (always on in CI)",
    ),
]

REPO = Path(__file__).parents[2]
CLUSTER = REPO / "tests" / "slurm" / "cluster.sh"
CONFIG = ".test/config/config.yaml"
# Merged over CONFIG (dicts key by key, lists replaced): one λ setting, one shard, one pruning
# method on the pretrained setting. Still trains (with two gloo processes that `splade train`
# starts inside the one SLURM task of its job), prunes, and evaluates BM25.
SMALLER_CONFIG = ".test/config/smaller.yaml"
SMALLER = """\
lambdas: [{lq: 0.1, ld: 0.1}]
training: {processes: 2}
encoding: {shards: 1}
pruning: {term: [], agnostic: [], settings: pretrained}
"""
# What a run of the .test study reads, relative to the repository root (splade_core is installed).
WORKFLOW_FILES = ["workflow", "config", "profiles", ".test/config", "tests/data"]
# Effectiveness and sparsity; the timing columns (latency, training_s, ...) differ between runs.
COMPARED = ["MRR@10", "nDCG@10", "R@100", "R@1000", "flops", "avg_query_nnz", "avg_doc_nnz", "postings"]
ROW_KEY = ["dataset", "model", "setting", "prune"]
# Per Snakemake run: snakemake never exits if SLURM status queries keep failing.
TIMEOUT_S = int(os.environ.get("SPLADE_TEST_SLURM_TIMEOUT", "480"))


@pytest.fixture(scope="module")
def slurm_cluster():
    """The local cluster, up for this module; stopped after it unless it was already up."""
    was_up = _cluster("status", check=False).returncode == 0
    try:
        _cluster("up", check=True)
        yield
    finally:
        if not was_up:
            _cluster("down", check=False)


def _cluster(verb: str, check: bool) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        ["bash", str(CLUSTER), verb], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600
    )
    if check and proc.returncode != 0:
        pytest.fail(f"tests/slurm/cluster.sh {verb} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def _workdir(root: Path) -> Path:
    """A copy of what the workflow reads, so each run has its own .snakemake/ and results."""
    for name in WORKFLOW_FILES:
        shutil.copytree(REPO / name, root / name)
    (root / SMALLER_CONFIG).write_text(SMALLER)
    return root


def _rule_names() -> list[str]:
    rules = sorted(REPO.glob("workflow/rules/*.smk")) + [REPO / "workflow" / "Snakefile"]
    return sorted({m for path in rules for m in re.findall(r"^rule (\w+):", path.read_text(), re.M)})


def _start_snakemake(workdir: Path, *args: str, env: dict[str, str]) -> tuple[subprocess.Popen, Path]:
    log = workdir / "snakemake.log"
    env = {**os.environ, **env}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    command = ["timeout", "-k", "10", str(TIMEOUT_S), sys.executable, "-m", "snakemake", *args]
    command += ["--configfile", CONFIG, SMALLER_CONFIG]
    with log.open("w") as out:
        proc = subprocess.Popen(
            command,
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return proc, log


def _finish(proc: subprocess.Popen, log: Path, what: str) -> str:
    returncode = proc.returncode
    text = log.read_text()
    if returncode != 0:
        timed_out = " (timed out)" if returncode in (124, 137) else ""
        pytest.fail(
            f"{what} exited {returncode}{timed_out}; last lines of {log}:\n" + "\n".join(text.splitlines()[-60:])
        )
    return text


def _results(workdir: Path) -> Path:
    return workdir / ".test" / "results"


def _summary_rows(path: Path) -> dict[tuple, dict]:
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [col for col in ROW_KEY + COMPARED if col not in (reader.fieldnames or [])]
        assert not missing, f"{path}: no column {missing}"
        rows = list(reader)
    assert rows, f"{path} has no rows"
    return {tuple(row.get(key, "") for key in ROW_KEY): {col: row.get(col) for col in COMPARED} for row in rows}


def _sacct(job_ids: list[str]) -> dict[str, tuple[str, str]]:
    out = subprocess.run(
        ["sacct", "-X", "-n", "-P", "-j", ",".join(job_ids), "-o", "JobIDRaw,JobName%64,State"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return {jid: (name, state) for jid, name, state in (line.split("|") for line in out.splitlines() if line)}


@pytest.fixture(scope="module")
def runs(slurm_cluster, tmp_path_factory):
    """The .test study run twice: through profiles/slurm, and with the local executor.

    Each first runs its download stage (`snakemake download`, local), then the rest with the
    ir_datasets and HF caches empty and the hub off, inside the SLURM jobs too. The two run at
    the same time: the SLURM run mostly waits on polls and job start-up.
    """
    slurm_dir = _workdir(tmp_path_factory.mktemp("slurm-run"))
    local_dir = _workdir(tmp_path_factory.mktemp("local-run"))
    for workdir in (slurm_dir, local_dir):
        download = _start_snakemake(
            workdir, "download", "--cores", "1", env={"IR_DATASETS_HOME": str(workdir / "ir_datasets")}
        )
        download[0].wait()
        _finish(*download, "snakemake download")
    offline = offline_caches(tmp_path_factory.mktemp("caches"))
    # The profile's per-rule requests are site values (training: 32 GB) that a 2-core CI
    # node cannot grant, so every rule asks for 1 GB here (a CLI --set-resources replaces the
    # profile's whole mapping); CPUs then follow each job's threads. The profile's set-threads
    # is replaced likewise (with a no-op for the local rule `all`), so threads come from the
    # config, as in the local run: equal threads are what byte-identical results need.
    small = [f"{rule}:mem_mb=1000" for rule in _rule_names()]
    slurm = _start_snakemake(
        slurm_dir,
        "--workflow-profile",
        "profiles/slurm",
        "--set-resources",
        *small,
        "--set-threads",
        "all=1",
        env=offline,
    )
    local = _start_snakemake(local_dir, "--workflow-profile", "profiles/default", "--cores", "2", env=offline)
    try:
        for proc, _ in (slurm, local):
            proc.wait()  # both bounded by `timeout`
    finally:  # interrupted: leave no snakemake behind (`down` cancels the SLURM jobs)
        for proc, _ in (slurm, local):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)  # `timeout` leads the process group
                proc.wait()
    slurm_log = _finish(*slurm, "snakemake --workflow-profile profiles/slurm")
    local_log = _finish(*local, "snakemake --cores 2 (local)")
    return {"slurm": (slurm_dir, slurm_log), "local": (local_dir, local_log), "offline": offline}


def test_compute_jobs_never_touch_the_caches(runs):
    assert untouched(runs["offline"]), "a job wrote into the ir_datasets or HF cache"
    remote = set(re.findall(r"^rule (\w+):$", runs["slurm"][1], re.M))
    assert remote and not {rule for rule in remote if rule.startswith("download")}


def test_every_job_ran_as_a_completed_slurm_job(runs):
    workdir, log = runs["slurm"]
    run_id = re.search(r"SLURM run ID: (\S+)", log)
    assert run_id, "no 'SLURM run ID' in the log: did the slurm executor run?"
    # "Job 12 has been submitted with SLURM jobid 345 (log: .../slurm_logs/rule_<rule>/...)."
    submitted = re.findall(r"Job \d+ has been submitted with SLURM jobid (\d+) \(log: .*?/rule_(\w+)/", log)
    remote = Counter(re.findall(r"^rule (\w+):$", log, re.M))  # local rules print as "localrule"
    assert remote, "Snakemake ran no remote job"
    assert Counter(rule for _, rule in submitted) == remote, "each remote job must be one sbatch submission"

    accounted = _sacct([jid for jid, _ in submitted])
    assert sorted(accounted) == sorted(jid for jid, _ in submitted), "sacct must list every submitted job"
    not_done = {jid: state for jid, (_, state) in accounted.items() if state != "COMPLETED"}
    assert not not_done, f"SLURM jobs not COMPLETED: {not_done}"
    assert {name for name, _ in accounted.values()} == {run_id.group(1)}, "job names must be the run ID"
    for jid, rule in submitted:
        assert list((workdir / ".snakemake" / "slurm_logs" / f"rule_{rule}").rglob(f"{jid}.log")), jid


def test_slurm_results_equal_local_results(runs):
    slurm, local = _results(runs["slurm"][0]), _results(runs["local"][0])
    summaries = sorted(p.relative_to(local) for p in local.glob("summary/*/summary.csv"))
    assert summaries, "the local run wrote no summary.csv"
    for rel in summaries:
        expected = _summary_rows(local / rel)
        assert _summary_rows(slurm / rel) == expected, f"{rel}: metrics differ between SLURM and local runs"

    runs_local = sorted(p.relative_to(local) for p in local.rglob("run.trec"))
    assert runs_local, "the local run wrote no run.trec"
    assert sorted(p.relative_to(slurm) for p in slurm.rglob("run.trec")) == runs_local
    differ = [str(rel) for rel in runs_local if (slurm / rel).read_bytes() != (local / rel).read_bytes()]
    assert not differ, f"run files differ between SLURM and local runs: {differ}"


def test_training_ran_two_processes_inside_its_slurm_job(runs):
    workdir, _ = runs["slurm"]
    (record,) = (_results(workdir) / "train").rglob("model/training_config.json")
    assert json.loads(record.read_text())["world_size"] == 2


def test_srun_of_several_tasks_is_refused_in_one_line_each(slurm_cluster, tmp_path):
    """`srun --ntasks=2 splade train …` would start two independent runs writing one folder."""
    output = tmp_path / "run"
    train = (
        f"{shlex.quote(sys.executable)} -m splade_core train --train-data {REPO}/tests/data/tiny-beir:test"
        f" --train-examples {tmp_path}/examples.jsonl --output {output}"
    )
    log = tmp_path / "job.log"
    subprocess.run(
        ["sbatch", "--wait", "--ntasks=2", "-o", str(log), "--wrap", f"srun --ntasks=2 {train}"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    lines = [line for line in log.read_text().splitlines() if line.startswith("splade train")]
    assert len(lines) == 2, log.read_text()
    assert all("one of 2 tasks (SLURM_STEP_NUM_TASKS=2) without a process group" in line for line in lines)
    assert not output.exists()
