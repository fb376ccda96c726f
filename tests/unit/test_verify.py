"""A summary checked against expected figures: every row found by its labels, every figure
within its tolerance, and a mismatch or a missing row named in one line."""

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from splade_core.errors import SpladeError
from splade_core.evaluate.verify import read_expected, verify_summary, write_expected

REPO = Path(__file__).parents[2]
ROWS = [
    {"dataset": "tiny", "model": "bm25", "setting": "-", "prune": "none", "nDCG@10": 0.758442, "MRR@10": 0.75},
    {
        "dataset": "tiny",
        "model": "splade-tiny",
        "setting": "pretrained",
        "prune": "none",
        "nDCG@10": 0.8859112,
        "MRR@10": 0.8541667,
        "flops": 6.365591,
        "postings": 6003.0,
        "latency_p50_ms": 0.05,
    },
]


@pytest.fixture
def summary(tmp_path) -> Path:
    path = tmp_path / "summary.csv"
    pd.DataFrame(ROWS).to_csv(path, index=False)
    return path


def _expected(tmp_path, **changes) -> Path:
    rows = [
        {"model": "bm25", "setting": "-", "prune": "none", "nDCG@10": 0.758442, "MRR@10": 0.75},
        {"model": "splade-tiny", "setting": "pretrained", "prune": "none", "nDCG@10": 0.885911, "postings": 6003},
    ]
    payload = {"tolerance": {"nDCG@10": 1e-4, "MRR@10": 1e-4, "postings": 0}, "datasets": {"tiny": rows}}
    for key, value in changes.items():
        if key == "rows":
            payload["datasets"]["tiny"] = value
        else:
            payload[key] = value
    path = tmp_path / "expected.yaml"
    path.write_text(yaml.safe_dump(payload, sort_keys=False))
    return path


def _splade(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "splade_core", *args], capture_output=True, text=True, timeout=120)


def test_a_summary_within_tolerance_passes_row_by_row(summary, tmp_path):
    verification = verify_summary(summary, _expected(tmp_path))
    assert verification.ok and verification.dataset == "tiny"
    assert [(check.row[0], check.figure) for check in verification.checks] == [
        ("bm25", "MRR@10"),
        ("bm25", "nDCG@10"),
        ("splade-tiny", "nDCG@10"),
        ("splade-tiny", "postings"),
    ]
    assert verification.table().rstrip().endswith("tiny: all 4 checks pass")


def test_a_value_outside_its_tolerance_names_the_row_the_metric_and_both_values(summary, tmp_path):
    rows = [{"model": "splade-tiny", "setting": "pretrained", "prune": "none", "nDCG@10": 0.8857, "postings": 6003}]
    verification = verify_summary(summary, _expected(tmp_path, rows=rows))
    assert not verification.ok and [check.figure for check in verification.failures] == ["nDCG@10"]
    assert verification.verdict() == (
        "tiny: 1 of 2 checks fail: model=splade-tiny, setting=pretrained, prune=none: "
        "nDCG@10 expected 0.8857 got 0.885911 (tolerance 0.0001)"
    )
    assert "| splade-tiny | pretrained | none | nDCG@10 | 0.8857 | 0.885911 | +0.000211 | 0.0001 | MISMATCH |" in (
        verification.table()
    )


def test_counts_are_exact_with_tolerance_zero(summary, tmp_path):
    rows = [{"model": "splade-tiny", "setting": "pretrained", "prune": "none", "postings": 6004}]
    verification = verify_summary(summary, _expected(tmp_path, rows=rows))
    assert [check.describe() for check in verification.failures] == [
        "model=splade-tiny, setting=pretrained, prune=none: postings expected 6004 got 6003 (tolerance 0)"
    ]


def test_an_expected_row_missing_from_the_summary_fails(summary, tmp_path):
    rows = [{"model": "splade-tiny", "setting": "lq=0.1_ld=0.1", "prune": "term-10", "nDCG@10": 0.9}]
    verification = verify_summary(summary, _expected(tmp_path, rows=rows))
    assert not verification.ok
    assert verification.failures[0].describe() == (
        "model=splade-tiny, setting=lq=0.1_ld=0.1, prune=term-10: expected row missing from the summary"
    )
    assert "missing row" in verification.table()


def test_an_expected_figure_the_summary_lacks_fails(summary, tmp_path):
    rows = [{"model": "bm25", "setting": "-", "prune": "none", "flops": 1.0}]
    verification = verify_summary(summary, _expected(tmp_path, rows=rows, tolerance={"flops": 0.1}))
    assert [check.figure for check in verification.failures] == ["flops"]
    assert "got nothing" in verification.verdict()


@pytest.mark.parametrize(
    "text,message",
    [
        ("tolerance: {nDCG@10: 0.1}\ndatasets: {tiny: [{model: bm25, setting: '-', prune: none", "not valid YAML"),
        ("tolerance: {}\ndatasets: {tiny: [{model: bm25, setting: '-', prune: none}]}\nextra: 1", "(top level)"),
        (
            "tolerance: {latency_p50_ms: 0.1}\ndatasets: {tiny: [{model: bm25, setting: '-', prune: none}]}",
            "tolerance: 'latency_p50_ms' is not one of",
        ),
        (
            "tolerance: {}\ndatasets: {tiny: [{model: bm25, setting: '-', prune: none, nDCG@10: 0.5}]}",
            "datasets.tiny.0: no tolerance for nDCG@10",
        ),
        (
            "tolerance: {nDCG@10: 0.1}\ndatasets: {tiny: [{model: bm25, setting: '-', prune: none, nDCG@10: x}]}",
            "datasets.tiny.0.nDCG@10: 'x' is not of type 'number'",
        ),
        (
            "tolerance: {}\ndatasets: {tiny: [{model: bm25, setting: '-', prune: none},"
            " {model: bm25, setting: '-', prune: none}]}",
            "model=bm25, setting=-, prune=none is listed twice",
        ),
    ],
    ids=["syntax", "unknown-key", "latency", "no-tolerance", "not-a-number", "twice"],
)
def test_a_bad_expected_file_is_one_line_naming_the_problem(tmp_path, text, message):
    path = tmp_path / "expected.yaml"
    path.write_text(text)
    with pytest.raises(SpladeError) as error:
        read_expected(path)
    assert str(error.value).startswith(f"{path}: ") and message in str(error.value)
    assert "\n" not in str(error.value)


def test_a_dataset_the_file_does_not_expect_is_an_error(summary, tmp_path):
    path = _expected(tmp_path)
    with pytest.raises(SpladeError, match="has no expected values for dataset 'scifact' \\(it has: tiny\\)"):
        verify_summary(summary, path, dataset="scifact")


def test_written_expected_values_verify_their_summary_and_keep_comments_and_tolerances(summary, tmp_path):
    path = tmp_path / "expected.yaml"
    write_expected(path, pd.read_csv(summary), "tiny", header="Figures of a test.")
    written = read_expected(path)
    assert path.read_text().startswith("# Figures of a test.\n")
    assert written["datasets"]["tiny"][1] == {
        "model": "splade-tiny",
        "setting": "pretrained",
        "prune": "none",
        "MRR@10": 0.854167,
        "nDCG@10": 0.885911,
        "flops": 6.365591,
        "postings": 6003,
    }  # no latency: not deterministic
    assert verify_summary(summary, path).ok
    text = path.read_text().replace("nDCG@10: 0.0001", "nDCG@10: 0.01")
    path.write_text(text)
    write_expected(path, pd.read_csv(summary), "tiny")
    assert read_expected(path)["tolerance"]["nDCG@10"] == 0.01 and path.read_text().startswith("# Figures")


def test_the_shipped_expected_files_are_valid_and_cover_the_shipped_summary():
    for config in ("config/config.yaml", ".test/config/config.yaml"):
        expected = yaml.safe_load((REPO / config).read_text())["report"]["expected"]
        assert read_expected(REPO / expected)
    verification = verify_summary(REPO / "docs" / "study" / "summary.csv", REPO / "config" / "expected" / "config.yaml")
    assert verification.ok and not verification.unexpected and len(verification.checks) > 200


def test_the_cli_prints_the_table_and_exits_2_with_one_line_on_a_mismatch(summary, tmp_path):
    passing = _splade("verify", "--summary", str(summary), "--expected", str(_expected(tmp_path)))
    assert passing.returncode == 0 and "tiny: all 4 checks pass" in passing.stdout, passing.stderr
    rows = [{"model": "bm25", "setting": "-", "prune": "none", "MRR@10": 0.7}]
    failing = _splade("verify", "--summary", str(summary), "--expected", str(_expected(tmp_path, rows=rows)))
    assert failing.returncode == 2 and "| bm25 | - | none | MRR@10 | 0.7 | 0.75 |" in failing.stdout
    assert failing.stderr.splitlines() == [
        "splade verify: error: tiny: 1 of 1 checks fail: model=bm25, setting=-, prune=none: "
        "MRR@10 expected 0.7 got 0.75 (tolerance 0.0001)"
    ]


def test_the_cli_writes_the_table_only_when_every_check_passes(summary, tmp_path):
    output = tmp_path / "verify.txt"
    args = ["verify", "--summary", str(summary), "--output", str(output), "--expected"]
    assert _splade(*args, str(_expected(tmp_path))).returncode == 0 and "all 4 checks pass" in output.read_text()
    output.unlink()
    rows = [{"model": "bm25", "setting": "-", "prune": "none", "MRR@10": 0.7}]
    assert _splade(*args, str(_expected(tmp_path, rows=rows))).returncode == 2 and not output.exists()
