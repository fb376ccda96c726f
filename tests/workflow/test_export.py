"""The `export` target plans an Anserini and a CIFF export of every model setting (dry runs of
the .test study), and any pruned variant is one file name away."""

import numpy as np
import scipy.sparse as sp

from .conftest import planned_jobs, snakemake, write_config


def export_commands(result) -> list[str]:
    """The `splade export` command of each planned job (a dry run with -p)."""
    return [line[line.index("splade export") :] for line in result.stdout.splitlines() if "splade export " in line]


def test_the_export_target_plans_every_setting_in_both_formats(tmp_path, test_config):
    result = snakemake(tmp_path, "export", "-n", "-p", "--configfile", str(write_config(tmp_path, test_config)))
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = planned_jobs(result)
    settings = 1 + len(test_config["lambdas"])  # pretrained and one per λ
    assert (jobs["export_corpus"], jobs["export_queries"]) == (2 * settings, settings)
    assert not {"build_index", "retrieve", "evaluate_run"} & set(jobs)  # vectors only
    commands = export_commands(result)
    ciff = [line for line in commands if "--format ciff" in line]
    assert len(ciff) == settings and all(
        line.split("--output ")[1].split()[0].endswith("/ciff/docs.ciff") for line in ciff
    )
    fine_tuned = [line for line in ciff if "lq=0.001_ld=0.001/" in line]
    assert fine_tuned and "--model results/train/splade-tiny/lq=0.001_ld=0.001/model" in fine_tuned[0]


def test_a_pruned_gzipped_export_is_asked_for_by_its_name(tmp_path, test_config):
    target = "results/export/tiny/splade-tiny/pretrained/document-16/ciff/docs.ciff.gz"
    result = snakemake(tmp_path, target, "-n", "-p", "--configfile", str(write_config(tmp_path, test_config)))
    assert result.returncode == 0, result.stderr[-3000:]
    assert planned_jobs(result)["prune_index"] == 1
    (command,) = export_commands(result)
    assert "prune/tiny/splade-tiny/pretrained/document-16/docs.npz --format ciff" in command
    assert f"--output {target}" in command


def test_pre_encoded_vectors_export_with_their_tokenizer_unless_they_name_none(tmp_path, test_config):
    """JSON-lines and CIFF imports name tokens, so their tokenizer is downloaded and they export;
    an .npz import downloads none and is left out of the target."""
    (tmp_path / "docs.jsonl").write_text('{"id": "d0", "vector": {"the": 3}}\n')
    (tmp_path / "docs.ciff").write_bytes(b"")  # planning reads names only
    (tmp_path / "queries.tsv").write_text("q0\tthe\n")
    matrix = sp.csr_array(np.ones((1, 30_522), dtype=np.float32))
    from splade_core.sparse import SparseVectors

    SparseVectors.from_csr(matrix, ["d0"]).save(tmp_path / "docs.npz")
    SparseVectors.from_csr(matrix, ["q0"]).save(tmp_path / "queries.npz")
    models = {
        name: {"path": "bundled/splade-tiny", "vectors": {"docs": {"tiny": docs}, "queries": {"tiny": queries}}}
        for name, docs, queries in (
            ("jsonl", str(tmp_path / "docs.jsonl"), str(tmp_path / "queries.tsv")),
            ("npz", str(tmp_path / "docs.npz"), str(tmp_path / "queries.npz")),
            ("ciff", str(tmp_path / "docs.ciff"), str(tmp_path / "queries.tsv")),
        )
    }
    config = {**test_config, "models": models, "lambdas": []}
    result = snakemake(tmp_path, "export", "-n", "-p", "--configfile", str(write_config(tmp_path, config)))
    assert result.returncode == 0, result.stderr[-3000:]
    commands = export_commands(result)
    assert len(commands) == 6 and not [line for line in commands if "/npz/" in line]
    assert all("--model resources/models/bundled/splade-tiny " in line for line in commands)
    imports = [line for line in result.stdout.splitlines() if "splade import " in line]
    assert any(
        f"splade import {tmp_path / 'docs.ciff'} --vocabulary resources/models/bundled/splade-tiny" in line
        for line in imports
    )
