"""The embedded model on the full SciFact test split reproduces the reference figures
(nDCG@10 0.6436, R@100 0.8930: max pooling, title + " " + text, 256/64 tokens, exact float
scoring). About 5 minutes on 2 idle cores: `python -m pytest -m slow`."""

import json

import pytest

from splade_core.cli import main


@pytest.mark.slow
def test_full_scifact_test_split_matches_the_reference(tmp_path, capsys):
    collection = "beir/scifact/test"
    for side in ("doc", "query"):
        argv = [
            "encode",
            "--collection",
            collection,
            "--side",
            side,
            "--output",
            f"{tmp_path}/{side}.npz",
            "--no-progress",
        ]
        assert main(argv) == 0
    for kind in ("float", "quantized"):
        docs, queries = f"{tmp_path}/doc.npz", f"{tmp_path}/query.npz"
        if kind == "quantized":
            assert main(["quantize", docs, "--output", f"{tmp_path}/doc.q.npz"]) == 0
            assert main(["quantize", queries, "--output", f"{tmp_path}/query.q.npz"]) == 0
            docs, queries = f"{tmp_path}/doc.q.npz", f"{tmp_path}/query.q.npz"
        assert main(["search", "--queries", queries, "--docs", docs, "--output", f"{tmp_path}/{kind}.trec"]) == 0
        argv = [
            "evaluate",
            "--run",
            f"{tmp_path}/{kind}.trec",
            "--collection",
            collection,
            "--output",
            f"{tmp_path}/{kind}.json",
        ]
        assert main(argv) == 0
    capsys.readouterr()
    exact = json.loads((tmp_path / "float.json").read_text())["metrics"]
    quantized = json.loads((tmp_path / "quantized.json").read_text())["metrics"]
    assert exact["nDCG@10"] == pytest.approx(0.6436, abs=1e-3)
    assert exact["R@100"] == pytest.approx(0.8930, abs=1e-3)
    assert quantized["nDCG@10"] == pytest.approx(exact["nDCG@10"], abs=5e-3)
