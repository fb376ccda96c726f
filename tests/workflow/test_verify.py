"""`snakemake verify`: the finished .test study matches the figures it ships, and an expected
value it no longer meets stops the target with the row and metric named."""

import re

import yaml

from splade_core.evaluate.verify import read_expected

from .conftest import REPO, copy_study, planned_jobs, snakemake, write_config

EXPECTED = REPO / ".test" / "config" / "expected.yaml"


def test_the_test_study_verifies_against_its_shipped_figures(finished_study):
    report = (finished_study / "results" / "verify" / "tiny.txt").read_text()
    rows = read_expected(EXPECTED)["datasets"]["tiny"]
    checks = sum(len(row) - 3 for row in rows)  # every figure of every row, labels aside
    assert report.rstrip().endswith(f"tiny: all {checks} checks pass"), report[-2000:]
    assert "MISMATCH" not in report and "missing row" not in report


def test_an_edited_expected_value_fails_verify_naming_the_row_and_metric(finished_study, test_config, tmp_path):
    workdir = copy_study(finished_study, tmp_path / "study")
    expected = read_expected(EXPECTED)
    row = next(r for r in expected["datasets"]["tiny"] if (r["setting"], r["prune"]) == ("pretrained", "none"))
    got = row["nDCG@10"]
    row["nDCG@10"] = round(got - 0.05, 6)
    edited = tmp_path / "expected.yaml"
    edited.write_text(yaml.safe_dump(expected, sort_keys=False))
    config = {**test_config, "report": {**test_config.get("report", {}), "expected": str(edited)}}
    configfile = str(write_config(workdir, config))
    assert planned_jobs(snakemake(workdir, "verify", "-n", "--configfile", configfile)) == {
        "verify_results": 1,
        "verify": 1,
    }  # a new expected file reruns only the check
    result = snakemake(workdir, "verify", "--cores", "1", "--configfile", configfile, timeout=300)
    assert result.returncode != 0
    log = (workdir / "results" / "logs" / "verify_results" / "tiny.log").read_text()
    errors = [line for line in log.splitlines() if line.startswith("splade verify: error:")]
    assert len(errors) == 1 and re.search(
        rf"1 of \d+ checks fail: model=splade-tiny, setting=pretrained, prune=none: "
        rf"nDCG@10 expected {row['nDCG@10']} got {got} \(tolerance 0.0001\)$",
        errors[0],
    ), log[-2000:]
    assert "| splade-tiny | pretrained | none | nDCG@10 |" in log and "MISMATCH" in log
    assert not (workdir / "results" / "verify" / "tiny.txt").exists()


def test_a_broken_expected_file_stops_the_plan_with_one_line(tmp_path, test_config):
    broken = tmp_path / "expected.yaml"
    broken.write_text("tolerance: {nDCG@10: 0.1}\ndatasets: {tiny: [{model: bm25, setting: '-', prune: none, x: 1}]}\n")
    config = {**test_config, "report": {"expected": str(broken)}}
    result = snakemake(tmp_path, "-n", "--configfile", str(write_config(tmp_path, config)), timeout=120)
    lines = [line for line in result.stderr.splitlines() if line.startswith("invalid config")]
    assert result.returncode != 0 and lines == [
        f"invalid config: report.expected: {broken}: datasets.tiny.0: "
        "Additional properties are not allowed ('x' was unexpected)"
    ]


def test_verify_without_expected_figures_fails_at_plan_time(tmp_path, test_config):
    config = write_config(tmp_path, {**test_config, "report": {"expected": None}})
    result = snakemake(tmp_path, "verify", "-n", "--configfile", str(config), timeout=120)
    lines = [line for line in result.stderr.splitlines() if line.startswith("invalid config")]
    assert result.returncode != 0 and lines == [
        "invalid config: report.expected: names no file of expected figures, so `snakemake verify` would check nothing"
    ]
    assert snakemake(tmp_path, "all", "-n", "--configfile", str(config), timeout=120).returncode == 0
