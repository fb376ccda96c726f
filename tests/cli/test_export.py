"""`splade export`: Anserini and CIFF files of quantized vectors, read back by `splade import`
and by an independent protobuf reader; bad input is one line and leaves nothing behind."""

import gzip
import json
import re

import numpy as np
import pytest

from splade_core.cli import main
from splade_core.sparse import SparseVectors, quantize

from ..unit.test_export import read_ciff

MODEL = "bundled/splade-tiny"
VOCAB_SIZE = 30_522


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # what argparse refuses
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(capsys, *argv: str) -> str:
    code, _, err = run(capsys, *argv)
    lines = [line for line in err.splitlines() if line.startswith(f"splade {argv[0]}: error: ")]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def vectors(rows: int, seed: int, prefix: str) -> SparseVectors:
    """Float vectors over the model's vocabulary, on word-piece ids 1000-3000."""
    rng = np.random.default_rng(seed)
    dense = np.zeros((rows, VOCAB_SIZE), dtype=np.float32)
    for row in range(rows):
        dense[row, rng.choice(np.arange(1000, 3000), 12, replace=False)] = rng.integers(1, 300, 12) / 100
    return SparseVectors.from_csr(dense, [f"{prefix}{i}" for i in range(rows)], {"model": MODEL})


def model_tokens() -> list[str]:
    from splade_core.formats import Vocabulary

    return list(Vocabulary.of_model(MODEL).tokens)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("vectors")
    paths = {"floats": folder / "docs.npz", "docs": folder / "docs.q.npz", "queries": folder / "queries.q.npz"}
    vectors(20, 0, "d").save(paths["floats"])
    quantize(vectors(20, 0, "d")).save(paths["docs"])
    quantize(vectors(5, 1, "q")).save(paths["queries"])
    return paths


def test_ciff_holds_the_postings_of_the_vectors_and_is_plain_by_default(files, tmp_path, capsys):
    code, out, _ = run(
        capsys, "export", str(files["docs"]), "--format", "ciff", "--output", str(tmp_path / "docs.ciff")
    )
    assert code == 0 and json.loads(out)["rows"] == 20
    header, lists, docs = read_ciff(tmp_path / "docs.ciff")  # not gzip: the protobuf parses as it is
    original = SparseVectors.load(files["docs"])
    tokens = model_tokens()
    dense = original.to_csr().toarray()
    assert [term for term, *_ in lists] == sorted(tokens[t] for t in np.flatnonzero(dense.any(axis=0)))
    for term, df, cf, postings in lists:
        column = dense[:, tokens.index(term)]
        assert postings == [(int(d), int(column[d])) for d in np.flatnonzero(column)]
        assert (df, cf) == (len(postings), int(column.sum()))
    assert docs == [(row, f"d{row}", int(dense[row].sum())) for row in range(20)]
    assert header[8].decode() == f"splade-core: {MODEL}, impacts = weights x 100.0"


@pytest.mark.parametrize(("name", "flag"), [("docs.ciff.gz", []), ("docs.ciff", ["--gzip"])])
def test_ciff_is_gzip_when_its_name_or_a_flag_asks(files, tmp_path, capsys, name, flag):
    code, *_ = run(capsys, "export", str(files["docs"]), "--format", "ciff", *flag, "--output", str(tmp_path / name))
    assert code == 0
    (tmp_path / "plain").write_bytes(gzip.decompress((tmp_path / name).read_bytes()))
    assert len(read_ciff(tmp_path / "plain")[2]) == 20


@pytest.mark.parametrize(
    ("kind", "name", "extra"),
    [
        ("docs", "docs.jsonl", []),
        ("docs", "docs.jsonl.gz", []),
        ("docs", "docs.ciff", ["--format", "ciff"]),
        ("queries", "queries.tsv", ["--queries"]),
        ("queries", "queries.jsonl", ["--queries", "--query-format", "jsonl"]),
    ],
)
def test_an_export_imports_back_to_the_same_vectors(files, tmp_path, capsys, kind, name, extra):
    fmt = [] if "--format" in extra else ["--format", "anserini"]
    code, *_ = run(capsys, "export", str(files[kind]), *fmt, *extra, "--model", MODEL, "--output", str(tmp_path / name))
    assert code == 0
    code, out, _ = run(
        capsys, "import", str(tmp_path / name), "--vocabulary", MODEL, "--output", str(tmp_path / "b.npz")
    )
    assert code == 0 and json.loads(out)["rows"] == SparseVectors.load(files[kind]).n_rows
    original, imported = SparseVectors.load(files[kind]), SparseVectors.load(tmp_path / "b.npz")
    np.testing.assert_array_equal(imported.indptr, original.indptr)
    np.testing.assert_array_equal(imported.indices, original.indices)
    np.testing.assert_array_equal(imported.data, original.data.astype(np.float32))  # --scale 1: the impacts
    np.testing.assert_array_equal(imported.ids, original.ids)


@pytest.mark.parametrize(
    ("source", "extra", "message"),
    [
        ("missing", [], "no such file"),
        ("floats", [], r"float weights; ciff takes integer impacts \(run `splade quantize` first\)"),
        ("small-vocab", [], "3000 terms, the vocabulary of bundled/splade-tiny 30522"),
        ("queries", ["--queries"], "CIFF is an index of documents"),
        ("not-vectors", [], "not a sparse-vector file"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(files, tmp_path, capsys, source, extra, message):
    paths = {**files, "missing": tmp_path / "missing.npz", "not-vectors": tmp_path / "x.npz"}
    (tmp_path / "x.npz").write_text("not an archive")
    paths["small-vocab"] = tmp_path / "small.npz"
    small = SparseVectors.load(files["docs"])
    SparseVectors(small.indptr, small.indices, small.data, small.ids, 3000, small.meta).save(paths["small-vocab"])
    out = tmp_path / "out" / "docs.ciff"
    line = one_error_line(capsys, "export", str(paths[source]), "--format", "ciff", *extra, "--output", str(out))
    assert re.search(message, line), line
    assert not out.parent.exists() or not list(out.parent.iterdir())


def test_a_truncated_ciff_import_is_one_line_and_writes_nothing(files, tmp_path, capsys):
    assert run(capsys, "export", str(files["docs"]), "--format", "ciff", "--output", str(tmp_path / "d.ciff"))[0] == 0
    data = (tmp_path / "d.ciff").read_bytes()
    (tmp_path / "cut.ciff").write_bytes(data[: len(data) * 2 // 3])
    out = tmp_path / "out" / "docs.npz"
    line = one_error_line(capsys, "import", str(tmp_path / "cut.ciff"), "--vocabulary", MODEL, "--output", str(out))
    assert f"{tmp_path / 'cut.ciff'}: truncated CIFF file (it ends inside" in line
    assert not out.parent.exists() or not list(out.parent.iterdir())
