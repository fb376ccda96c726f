import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).parents[2]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def snakemake_command(workdir: Path, *args: str) -> list[str]:
    """The project's workflow run in `workdir` (its own .snakemake folder and results); launch it
    from the repository root (cwd=REPO), as users do, so that profiles/default applies."""
    return [*SNAKEMAKE, "--snakefile", str(REPO / "workflow" / "Snakefile"), "--directory", str(workdir), *args]


def snakemake(workdir: Path, *args: str, timeout: int = 2400, env: dict | None = None) -> subprocess.CompletedProcess:
    command = snakemake_command(workdir, *args)
    return subprocess.run(
        command,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )


def offline_caches(root: Path) -> dict[str, str]:
    """Environment of a job that must not touch the network or a shared cache: ir_datasets'
    and the HF caches in empty read-only folders (still empty afterwards: see `untouched`),
    and the hub switched off."""
    env = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    for variable in ("IR_DATASETS_HOME", "HF_HOME"):
        folder = root / variable.lower()
        folder.mkdir(parents=True)
        folder.chmod(0o555)  # root ignores it: emptiness afterwards is the proof
        env[variable] = str(folder)
    return env


def untouched(env: dict[str, str]) -> bool:
    return all(not any(Path(env[variable]).iterdir()) for variable in ("IR_DATASETS_HOME", "HF_HOME"))


def planned_jobs(result: subprocess.CompletedProcess) -> dict[str, int]:
    """Rule -> job count of a dry run's job table."""
    counts, in_table = {}, False
    for line in result.stdout.splitlines():
        fields = line.split()
        if fields[:2] == ["job", "count"]:
            in_table = True
        elif in_table and len(fields) == 2 and fields[1].isdigit():
            if fields[0] == "total":
                break
            counts[fields[0]] = int(fields[1])
    return counts


def write_config(workdir: Path, config: dict) -> Path:
    path = workdir / "config" / "config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.fixture(scope="session")
def test_config() -> dict:
    config = yaml.safe_load((REPO / ".test" / "config" / "config.yaml").read_text())
    config["datasets"]["tiny"]["collection"] = str(REPO / "tests" / "data" / "tiny-beir") + ":test"
    config["training"]["train_data"] = config["datasets"]["tiny"]["collection"]
    config["results"], config["resources"] = "results", "resources"
    return config


@pytest.fixture(scope="session")
def finished_study(tmp_path_factory, test_config) -> Path:
    """The .test study run to completion once, in its own folder: the download stage first, then
    everything else with the caches empty and the hub off (compute jobs are offline), verified
    against .test/config/expected.yaml (`snakemake verify`)."""
    workdir = tmp_path_factory.mktemp("study")
    configfile = str(write_config(workdir, test_config))
    downloaded = snakemake(workdir, "download", "--cores", "2", "--configfile", configfile)
    assert downloaded.returncode == 0, downloaded.stderr[-4000:]
    offline = offline_caches(tmp_path_factory.mktemp("caches"))
    result = snakemake(workdir, "all", "verify", "--cores", "2", "--configfile", configfile, env=offline)
    assert result.returncode == 0, result.stderr[-4000:]  # verify: the figures of .test/config/expected.yaml
    assert untouched(offline), "a compute job wrote into the ir_datasets or HF cache"
    (workdir / "offline.json").write_text(json.dumps({"downloaded": downloaded.stderr, "study": result.stderr}))
    return workdir


def copy_study(source: Path, target: Path) -> Path:
    """A copy of a finished study (outputs, Snakemake's metadata), to change safely."""
    shutil.copytree(source, target, symlinks=True)
    return target
