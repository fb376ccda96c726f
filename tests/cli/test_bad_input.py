"""Bad input named in one line (exit 2) by the verbs, for the cases the fuzz suite does not
draw at random: devices, model settings, thresholds, run ids, leftovers of killed writers."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp

from splade_core.retrieve import write_trec_run
from splade_core.sparse import SparseVectors
from splade_core.sparse.quantize import quantize

from ..conftest import EMBEDDED_MODEL


def _splade(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "splade_core", *args],
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )


def _one_error_line(done: subprocess.CompletedProcess, verb: str) -> str:
    assert done.returncode == 2, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if line.startswith(f"splade {verb}: error: ")]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    return lines[0]


@pytest.fixture(scope="module")
def impacts(tmp_path_factory):
    path = tmp_path_factory.mktemp("impacts") / "docs.q.npz"
    matrix = sp.csr_array(np.array([[0.5, 0, 2.0], [0, 1.0, 0]], dtype=np.float32))
    quantize(SparseVectors.from_csr(matrix, ["a", "b"])).save(path)
    return path


def test_unknown_device_is_one_line(tiny_beir, tmp_path):
    done = _splade(
        "encode",
        "--collection",
        str(tiny_beir),
        "--side",
        "query",
        "--device",
        "banana",
        "--output",
        str(tmp_path / "q.npz"),
    )
    assert "unknown torch device 'banana'" in _one_error_line(done, "encode")


def test_model_settings_file_that_is_not_an_object_is_named(tmp_path):
    model = shutil.copytree(EMBEDDED_MODEL, tmp_path / "model")
    (model / "splade_config.json").write_text("[1, 2]")
    line = _one_error_line(_splade("info", str(model)), "info")
    assert "splade_config.json: must be a JSON object" in line


def test_agnostic_threshold_above_the_impact_range_is_refused(impacts, tmp_path):
    done = _splade("prune", str(impacts), "--method", "agnostic", "--value", "300", "--output", str(tmp_path / "p.npz"))
    assert "above the largest uint8 impact (255)" in _one_error_line(done, "prune")
    assert not (tmp_path / "p.npz").exists()


@pytest.mark.parametrize("query_id,doc_id", [("q 1", "d1"), ("q1", "d\t1"), ("", "d1")])
def test_run_files_never_hold_ids_that_break_their_columns(tmp_path, query_id, doc_id):
    with pytest.raises(ValueError, match="a TREC run cannot hold it"):
        write_trec_run(tmp_path / "run.trec", {query_id: [(doc_id, 1.0)]})
    assert not list(tmp_path.iterdir())


def test_a_killed_writers_leftovers_go_with_the_next_write(impacts, tmp_path):
    output = tmp_path / "docs.p.npz"
    stale_file, stale_dir = tmp_path / ".tmp-docs.p.npz.abc123", tmp_path / ".tmp-docs.p.npz.def456"
    stale_file.write_bytes(b"x" * 1000)
    stale_dir.mkdir()
    (stale_dir / "indices").write_bytes(b"y" * 1000)
    done = _splade("prune", str(impacts), "--method", "document", "--value", "1", "--output", str(output))
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["docs.p.npz"]
    assert json.loads(done.stdout.splitlines()[-1])["postings_after"] == 2


def test_internal_errors_are_one_line_too(monkeypatch, capsys):
    from splade_core import cli

    def broken(args):
        raise KeyError("a bug")

    monkeypatch.setattr(cli, "_run_info", broken)
    monkeypatch.setattr(cli, "build_parser", _parser_with(cli, broken))
    assert cli.main(["info", "x"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("splade info: internal error: KeyError")


def _parser_with(cli, func):
    build = cli.build_parser

    def parser():
        built = build()
        built._subparsers._group_actions[0].choices["info"].set_defaults(func=func)
        return built

    return parser


def test_teacher_whose_weights_cannot_be_loaded_is_one_line(tiny_beir, tmp_path):
    teacher = shutil.copytree(EMBEDDED_MODEL, tmp_path / "teacher")
    config = json.loads((teacher / "config.json").read_text())
    (teacher / "config.json").write_text(json.dumps({**config, "architectures": ["BertForSequenceClassification"]}))
    (teacher / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not safetensors")
    done = _splade(
        "mine", "--train-data", f"{tiny_beir}:test", "--teacher", str(teacher), "--depth", "2",
        "--output", str(tmp_path / "examples.jsonl"),
    )  # fmt: skip
    assert "cannot load teacher cross-encoder" in _one_error_line(done, "mine")
    assert not (tmp_path / "examples.jsonl").exists()


def test_an_index_build_removes_what_a_killed_build_left(impacts, tmp_path):
    stale = tmp_path / ".tmp-index.bin.Ab12Cd"
    stale.write_bytes(b"x" * 1000)
    done = _splade("index", str(impacts), "--output", str(tmp_path / "index.bin"))
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index.bin"]


@pytest.mark.parametrize("verb", ["prune", "quantize"])
def test_a_full_disk_names_the_output_and_leaves_nothing(impacts, tmp_path, monkeypatch, capsys, verb):
    import errno

    from splade_core import cli
    from splade_core.sparse import vectors

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    output = tmp_path / "out" / "docs.npz"
    source = impacts
    if verb == "quantize":
        source = tmp_path / "float.npz"
        SparseVectors.from_csr(sp.csr_array(np.array([[0.5, 0, 2.0]], dtype=np.float32)), ["a"]).save(source)
    monkeypatch.setattr(vectors, "_copy_npy", full)
    args = ["--method", "document", "--value", "1"] if verb == "prune" else []
    assert cli.main([verb, str(source), *args, "--output", str(output)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"splade {verb}: error: {output}: cannot write (No space left on device); nothing was written"]
    assert not list(output.parent.iterdir())
