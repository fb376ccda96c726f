"""`snakemake --report` of the finished .test study: the summary as a table, the plots, the
time per rule and the config, and captions whose metric names are not e-mail links."""

import base64
import importlib.util
import json
import re
import shutil

import pytest

from .conftest import REPO, snakemake


@pytest.fixture(scope="module")
def report(finished_study, tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "report.html"
    configfile = str(finished_study / "config" / "config.yaml")
    result = snakemake(finished_study, "--report", str(path), "--configfile", configfile, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return path


def _results(html: str) -> dict:
    """The report's result entries (path -> name, caption, data URI, ...)."""
    match = re.search(r"^\s*var results = (\{.*\});?\s*$", html, re.M)
    return json.loads(match[1])


def _content(entry: dict) -> str:
    return base64.b64decode(entry["data_uri"].split("base64,", 1)[1]).decode()


def test_the_report_holds_the_summary_table_plots_times_and_config(report):
    results = _results(report.read_text())
    names = sorted(entry["name"] for entry in results.values())
    assert names == [
        "benchmarks.html",
        "config.html",
        "effectiveness_vs_flops.png",
        "effectiveness_vs_latency.png",
        "pruning.png",
        "summary.csv",
        "summary.html",
    ]
    by_name = {entry["name"]: entry for entry in results.values()}
    assert by_name["summary.html"]["mime_type"] == "text/html"  # shown in the page, not downloaded
    table = _content(by_name["summary.html"])
    assert table.count("<tr") == 1 + 13 and "<th>nDCG@10</th>" in table and "<td>baseline</td>" in table
    times = _content(by_name["benchmarks.html"])
    assert "<td>train_model</td>" in times and "<td>encode_corpus</td>" in times
    config = _content(by_name["config.html"])
    assert "steps: 3" in config and "expected: .test/config/expected.yaml" in config


def test_no_caption_turns_a_metric_name_into_a_mailto_link(report):
    html = report.read_text()
    captions = [entry["caption"] for entry in _results(html).values()]
    assert all(captions) and any("MRR&#64;10" in caption for caption in captions)
    assert not [caption for caption in captions if "mailto:" in caption]
    assert 'href=\\"mailto:' not in html


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs chromium (apt-get install chromium)")
def test_a_browser_shows_the_summary_table_in_the_report(report, tmp_path):
    spec = importlib.util.spec_from_file_location("report_screenshots", REPO / "benchmarks" / "report_screenshots.py")
    shots = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(shots)
    dom = shots.rendered_dom(report, "summary.html")
    frame = re.search(r'<iframe src="data:text/html;[^"]*base64,([^"]+)"', dom)
    assert frame and "<th>nDCG@10</th>" in base64.b64decode(frame[1]).decode()
    picture = shots.screenshot(report, "summary.html", "content", tmp_path / "summary.png")
    assert picture.stat().st_size > 20_000
