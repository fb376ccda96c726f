"""Sparse-vector files and imports that are wrong in the ways an outside tester found: each ends
in exit 2 and one line `splade <verb>: error:` naming the file (never a traceback, a usage
block or a file the readers then refuse), and what is valid but unusual (0 rows, another byte
order, no stored term counts) works.

Every verb runs in one process (tests/fuzz/runner.py) from a module fixture, so the whole file
costs one interpreter start plus the few subprocesses that check the command line itself.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from splade_core.errors import SpladeError
from splade_core.sparse import SparseVectors, SparseVectorsWriter, VectorFile
from splade_core.sparse.quantize import quantize
from splade_core.sparse.vectors import MAX_ID_LENGTH, MAX_META_BYTES

from ..conftest import TINY_BEIR
from .test_bad_input import _splade

RUNNER = Path(__file__).parents[1] / "fuzz" / "runner.py"
MODEL = "bundled/splade-tiny"
VOCAB = 30522  # splade-tiny's, so that `export` names the terms
TOKENS = ("the", "cat", "sat", "on", "mat")  # in splade-tiny's vocabulary


def _one_error_line(code: int, stderr: str, verb: str) -> str:
    assert code == 2, stderr[-2000:]
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"splade {verb}: error: "), stderr[-2000:]
    return lines[0]


# --- files -----------------------------------------------------------------------------------


def _docs(ids=("d0", "d1", "d2", "d3", "d4", "d5")) -> SparseVectors:
    rng = np.random.default_rng(7)
    matrix = sp.random_array((len(ids), VOCAB), density=0.002, format="csr", dtype=np.float32, rng=rng)
    matrix.data = (matrix.data * 3 + 0.05).astype(np.float32)
    return SparseVectors.from_csr(matrix, list(ids), meta={"model": MODEL, "side": "doc"})


def _arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as npz:
        return {name: npz[name] for name in npz.files}


def _save(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)
    return path


def _with_meta(arrays: dict, **changes) -> dict:
    meta = json.loads(str(arrays["meta"][()]))
    for key, value in changes.items():
        if value is None:
            meta.pop(key, None)
        else:
            meta[key] = value
    return {**arrays, "meta": np.asarray(json.dumps(meta))}


def _set(array: np.ndarray, position: int, value) -> np.ndarray:
    copy = array.copy()
    copy[position] = value
    return copy


def _meta_bomb(path: Path, arrays: dict, characters: int) -> Path:
    """A file whose compressed meta member expands to `characters` spaces (4 bytes each)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            if name != "meta":
                buffer = io.BytesIO()
                np.lib.format.write_array(buffer, array)
                archive.writestr(f"{name}.npy", buffer.getvalue())
        with archive.open("meta.npy", "w", force_zip64=True) as member:
            header = {"descr": f"<U{characters}", "fortran_order": False, "shape": ()}
            np.lib.format.write_array_header_1_0(member, header)
            block = np.full(1 << 20, ord(" "), np.uint32).tobytes()
            for _ in range(characters >> 20):
                member.write(block)
    return path


class Cases:
    """argv of every case by name; `run()` runs them all in one process."""

    def __init__(self, root: Path):
        self.root = root
        self.argv: dict[str, list[str]] = {}
        self.results: dict[str, dict] = {}
        self.paths: dict[str, Path] = {}

    def add(self, name: str, *argv) -> None:
        assert name not in self.argv, name
        self.argv[name] = [str(a) for a in argv]

    def run(self) -> None:
        names = list(self.argv)
        listing = self.root / "cases.json"
        listing.write_text(json.dumps([self.argv[name] for name in names]))
        done = subprocess.run(
            [sys.executable, str(RUNNER), str(listing)], capture_output=True, text=True, timeout=900, check=False
        )
        results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith('{"case"')]
        if len(results) < len(names):
            pytest.fail(f"the runner died on {names[len(results)]}: {done.stderr[-3000:]}")
        self.results = dict(zip(names, results))

    def error(self, name: str, named: Path) -> str:
        """The one error line of a case, which names `named`."""
        result = self.results[name]
        line = _one_error_line(result["code"], result["stderr"], self.argv[name][0])
        assert str(named) in line, line
        return line

    def ok(self, name: str) -> None:
        result = self.results[name]
        assert result["code"] == 0, result["stderr"][-2000:]


META_PROBLEMS = {
    "quantization-string": ({"quantization": "x100"}, "meta 'quantization' must be a record"),
    "scale-string": ({"quantization": {"scale": "100", "dtype": "uint16"}}, "'scale' must be a finite positive"),
    "scale-zero": ({"quantization": {"scale": 0, "dtype": "uint16"}}, "'scale' must be a finite positive"),
    "scale-nan": ({"quantization": {"scale": float("nan")}}, "'scale' must be a finite positive"),
    "scale-infinite": ({"quantization": {"scale": float("inf")}}, "'scale' must be a finite"),
    "dtype-other": ({"quantization": {"scale": 100, "dtype": "uint8"}}, "'dtype' must be that of the impacts"),
    "model-number": ({"model": 5}, "meta 'model' must be a string"),
    "fingerprint-list": ({"model_fingerprint": ["sha256:0"]}, "meta 'model_fingerprint' must be a string"),
    "vocab-size-string": ({"vocab_size": "30522"}, "meta 'vocab_size' '30522' is not in"),
}
BAD_IDS = {
    "nul": ("d\x002", "contains a control character"),
    "control": ("d\x07", "contains a control character"),
    "surrogate": ("d\ud800", "contains a lone surrogate"),
    "empty": ("", "is empty"),
    "whitespace": ("d 2", "contains whitespace"),
    "repeated": ("d1", "appears twice"),
}
BYTE_ORDER_MEMBERS = ("ids", "indptr", "indices", "data", "term_df")
TERM_DF_VERBS = ("evaluate", "quantize", "export", "prune", "info", "merge")
ZERO_ROW_VERBS = ("info", "quantize", "prune", "merge", "index", "search-index", "search-docs", "export", "evaluate")
BAD_WEIGHTS = {
    "float32-overflow": ("1e300", "beyond float32's range"),
    "just-above-float32": ("3.5e38", "beyond float32's range"),
    "nan": ("NaN", "weights must be finite non-negative"),
    "infinity": ("Infinity", "weights must be finite non-negative"),
    "negative": ("-1", "weights must be finite non-negative"),
    "bool": ("true", "weights must be finite non-negative"),
    "string": ('"1.5"', "weights must be finite non-negative"),
    "huge-integer": ("1" + "0" * 400, "weights must be finite non-negative"),
}
UNREADABLE = ("directory", "fifo", "dangling-link")
MALFORMED = (
    "not-a-zip",
    "empty",
    "truncated",
    "single-npy",
    "no-indices",
    "no-meta",
    "indptr-int32",
    "indptr-decreasing",
    "indptr-short-of-nnz",
    "indptr-2d",
    "indices-out-of-range",
    "indices-unsorted",
    "indices-int64",
    "data-negative",
    "data-nan",
    "data-float64",
    "data-short",
    "ids-integers",
    "ids-short",
    "meta-not-json",
    "meta-a-list",
    "meta-bytes",
    "meta-no-format",
    "meta-version-2",
    "term-df-short",
    "term-df-float",
    "term-df-above-rows",
    "object-ids",
)
MALFORMED_VERBS = ("info", "quantize", "merge", "search-docs", "evaluate")
WEIGHTS_ONLY = ("data-negative", "data-nan")  # FLOPS reads the term ids, not the weights: evaluate takes them


@pytest.fixture(scope="module")
def cases(tmp_path_factory) -> Cases:
    root = tmp_path_factory.mktemp("bad-vectors")
    out = root / "out"
    cases = Cases(root)
    docs = _docs()
    float_docs, impacts = root / "docs.npz", root / "docs.q.npz"
    docs.save(float_docs)
    quantize(docs, dtype="uint16").save(impacts)  # 2-byte impacts: their byte order matters
    others = root / "others.q.npz"  # the same vectors under other ids, to merge with
    quantize(_docs(ids=[f"e{i}" for i in range(6)]), dtype="uint16").save(others)
    queries = root / "queries.q.npz"
    quantize(SparseVectors.from_csr(docs.to_csr()[:2], ["1", "3"], meta={"model": MODEL})).save(queries)
    index = root / "docs.index"
    run = root / "run.trec"
    run.write_text("1 Q0 d1 1 2.5 t\n3 Q0 d2 1 1.5 t\n")
    collection = f"{TINY_BEIR}:test"
    good, good_float = _arrays(impacts), _arrays(float_docs)

    def evaluate(name: str, docs_path: Path, output: Path | None = None) -> None:
        judged = ["--run", run, "--collection", collection, "--queries", queries]
        cases.add(name, "evaluate", *judged, "--docs", docs_path, *(["--output", output] if output else []))

    cases.add("build-index", "index", impacts, "--output", index)
    cases.add(
        "export-native", "export", impacts, "--format", "anserini", "--output", out / "native.jsonl", "--no-progress"
    )

    # 1. deeply nested JSON
    deep = "[" * 100_000 + "]" * 100_000
    _save(root / "deep-meta.npz", {**good, "meta": np.asarray('{"format": ' + deep + "}")})
    cases.add("deep-meta", "info", root / "deep-meta.npz")
    (root / "deep.jsonl").write_text('{"id": "a", "vector": {"the": 1}, "x": ' + deep + "}\n")
    cases.add("deep-import", "import", root / "deep.jsonl", "--vocabulary", MODEL, "--output", out / "deep.npz")

    # 2. metadata records
    for name, (changes, _) in META_PROBLEMS.items():
        path = _save(root / f"meta-{name}.npz", _with_meta(good, **changes))
        cases.add(
            f"meta-{name}-export", "export", path, "--format", "ciff", "--output", out / f"{name}.ciff", "--no-progress"
        )
        cases.add(f"meta-{name}-info", "info", path)
    _save(root / "meta-on-floats.npz", _with_meta(good_float, quantization={"scale": 100, "dtype": "uint8"}))
    cases.add("meta-on-floats", "quantize", root / "meta-on-floats.npz", "--output", out / "on-floats.npz")

    # 3. byte order and bad ids
    for member in BYTE_ORDER_MEMBERS:
        array = good[member]
        swapped = array.astype(array.dtype.newbyteorder(">")) if array.dtype.itemsize > 1 else array
        path = _save(root / f"big-endian-{member}.npz", {**good, member: swapped})
        cases.add(
            f"big-endian-{member}",
            "export",
            path,
            "--format",
            "anserini",
            "--output",
            out / f"{member}.jsonl",
            "--no-progress",
        )
    for name, (value, _) in BAD_IDS.items():
        path = _save(root / f"ids-{name}.npz", {**good, "ids": _set(good["ids"].astype("<U8"), 2, value)})
        cases.add(f"ids-{name}", "info", path)

    # 4. term counts that disagree with the postings
    permuted = _save(root / "term-df-permuted.npz", {**good, "term_df": np.roll(good["term_df"], 1)})
    for verb in TERM_DF_VERBS:
        name, target = f"term-df-{verb}", out / f"term-df-{verb}"
        if verb == "evaluate":
            evaluate(name, permuted)
        elif verb == "export":
            cases.add(name, "export", permuted, "--format", "ciff", "--output", f"{target}.ciff", "--no-progress")
        elif verb == "prune":
            cases.add(name, "prune", permuted, "--method", "term", "--value", "2", "--output", f"{target}.npz")
        elif verb == "merge":
            cases.add(name, "merge", others, permuted, "--output", f"{target}.npz")
        elif verb == "quantize":
            floats = {**good_float, "term_df": np.roll(good_float["term_df"], 1)}
            cases.add(
                name, "quantize", _save(root / "term-df-permuted-floats.npz", floats), "--output", f"{target}.npz"
            )
        else:
            cases.add(name, verb, permuted)
    without = _save(root / "no-term-df.npz", {k: v for k, v in good.items() if k != "term_df"})
    evaluate("flops-stored", impacts, out / "flops-stored.json")
    evaluate("flops-counted", without, out / "flops-counted.json")

    # 5. files of 0 rows
    empty_impacts = root / "empty.q.npz"
    with SparseVectorsWriter(empty_impacts, VOCAB, np.uint8, {"model": MODEL, "quantization": {"scale": 100.0}}):
        pass
    empty_floats = root / "empty.npz"
    with SparseVectorsWriter(empty_floats, VOCAB, np.float32, {"model": MODEL}):
        pass
    empty_index = out / "empty.index"
    for verb in ZERO_ROW_VERBS:
        name, target = f"zero-{verb}", out / f"zero-{verb}"
        if verb == "quantize":
            cases.add(name, "quantize", empty_floats, "--output", f"{target}.npz")
        elif verb == "prune":
            cases.add(name, "prune", empty_impacts, "--method", "term", "--value", "2", "--output", f"{target}.npz")
        elif verb == "merge":
            second = empty_impacts.with_name("empty-2.q.npz")
            SparseVectors.load(empty_impacts).save(second)
            cases.add(name, "merge", empty_impacts, second, "--output", f"{target}.npz")
        elif verb == "index":
            cases.add(name, "index", empty_impacts, "--output", empty_index)
        elif verb == "search-index":
            cases.add(name, "search", "--index", empty_index, "--queries", queries, "--output", f"{target}.trec")
        elif verb == "search-docs":
            cases.add(name, "search", "--docs", empty_impacts, "--queries", queries, "--output", f"{target}.trec")
        elif verb == "export":
            cases.add(name, "export", empty_impacts, "--format", "ciff", "--output", f"{target}.ciff", "--no-progress")
        elif verb == "evaluate":
            evaluate(name, empty_impacts, f"{target}.json")
        else:
            cases.add(name, verb, empty_impacts)
    (root / "empty.jsonl").write_text("")
    cases.add("zero-import", "import", root / "empty.jsonl", "--vocabulary", MODEL, "--output", out / "zero-import.npz")

    # 6. weights a float32 file cannot hold
    for name, (weight, _) in BAD_WEIGHTS.items():
        path = root / f"weight-{name}.jsonl"
        path.write_text('{"id": "a", "vector": {"the": 1}}\n\n' + '{"id": "b", "vector": {"cat": ' + weight + "}}\n")
        cases.add(f"weight-{name}", "import", path, "--vocabulary", MODEL, "--output", out / f"weight-{name}.npz")

    # 7. members larger than they may be
    _meta_bomb(root / "meta-bomb.npz", good, (MAX_META_BYTES >> 2) + (1 << 20))
    cases.add("meta-bomb", "info", root / "meta-bomb.npz")
    wide = good["ids"].astype(f"<U{MAX_ID_LENGTH + 1}")
    cases.add("ids-too-wide", "info", _save(root / "ids-too-wide.npz", {**good, "ids": wide}))

    # 8. paths that are no files
    (root / "directory.npz").mkdir()
    os.mkfifo(root / "fifo.npz")
    (root / "dangling-link.npz").symlink_to(root / "nowhere.npz")
    for kind in UNREADABLE:
        path = root / f"{kind}.npz"
        cases.add(f"{kind}-quantize", "quantize", path, "--output", out / f"{kind}.npz")
        cases.add(f"{kind}-merge", "merge", impacts, path, "--output", out / f"{kind}-merged.npz")
        cases.add(f"{kind}-search", "search", "--docs", impacts, "--queries", path, "--output", out / f"{kind}.trec")
        cases.add(
            f"{kind}-export", "export", path, "--format", "ciff", "--output", out / f"{kind}.ciff", "--no-progress"
        )
        evaluate(f"{kind}-evaluate", path)

    # 9. malformed files through every verb that reads one
    ids, indptr, indices, data = good["ids"], good["indptr"], good["indices"], good["data"]
    row = int(np.argmax(np.diff(indptr) >= 2))
    first = int(indptr[row])
    swapped = indices.copy()
    swapped[[first, first + 1]] = swapped[[first + 1, first]]
    raw = impacts.read_bytes()
    above_rows = _set(good["term_df"], int(np.flatnonzero(good["term_df"])[0]), 0)
    above_rows[np.flatnonzero(good["term_df"] == 0)[0]] = 7  # more rows than there are
    malformed = {
        "not-a-zip": b"query_id Q0 doc 1 2.0 tag\n",
        "empty": b"",
        "truncated": raw[: len(raw) // 2],
        "no-indices": {k: v for k, v in good.items() if k != "indices"},
        "no-meta": {k: v for k, v in good.items() if k != "meta"},
        "indptr-int32": {**good, "indptr": indptr.astype(np.int32)},
        "indptr-decreasing": {**good, "indptr": _set(indptr, 2, indptr[3] + 1)},
        "indptr-short-of-nnz": {**good, "indptr": _set(indptr, -1, indptr[-1] - 1)},
        "indptr-2d": {**good, "indptr": indptr.reshape(1, -1)},
        "indices-out-of-range": {**good, "indices": _set(indices, 0, VOCAB)},
        "indices-unsorted": {**good, "indices": swapped},
        "indices-int64": {**good, "indices": indices.astype(np.int64)},
        "data-negative": {**good_float, "data": _set(good_float["data"], 1, -0.5)},
        "data-nan": {**good_float, "data": _set(good_float["data"], 1, np.nan)},
        "data-float64": {**good, "data": data.astype(np.float64)},
        "data-short": {**good, "data": data[:-1]},
        "ids-integers": {**good, "ids": np.arange(len(ids))},
        "ids-short": {**good, "ids": ids[:-1]},
        "meta-not-json": {**good, "meta": np.asarray("{not json")},
        "meta-a-list": {**good, "meta": np.asarray("[]")},
        "meta-bytes": {**good, "meta": np.asarray(b"{}")},
        "meta-no-format": _with_meta(good, format=None),
        "meta-version-2": _with_meta(good, version=2),
        "term-df-short": {**good, "term_df": good["term_df"][:-1]},
        "term-df-float": {**good, "term_df": good["term_df"].astype(np.float64)},
        "term-df-above-rows": {**good, "term_df": above_rows},
    }
    for name in MALFORMED:
        path = root / f"malformed-{name}.npz"
        if name == "single-npy":
            np.save(open(path, "wb"), np.arange(5))
        elif name == "object-ids":
            with zipfile.ZipFile(path, "w") as archive:
                for member, array in good.items():
                    buffer = io.BytesIO()
                    value = array.astype(object) if member == "ids" else array
                    np.lib.format.write_array(buffer, value, allow_pickle=True)
                    archive.writestr(f"{member}.npy", buffer.getvalue())
        elif isinstance(malformed[name], bytes):
            path.write_bytes(malformed[name])
        else:
            _save(path, malformed[name])
        for verb in MALFORMED_VERBS:
            case, target = f"malformed-{name}-{verb}", out / f"malformed-{name}-{verb}"
            if verb == "quantize":
                cases.add(case, "prune", path, "--method", "document", "--value", "2", "--output", f"{target}.npz")
            elif verb == "merge":
                cases.add(case, "merge", others, path, "--output", f"{target}.npz")
            elif verb == "search-docs":
                cases.add(case, "search", "--docs", impacts, "--queries", path, "--output", f"{target}.trec")
            elif verb == "evaluate":
                evaluate(case, path)
            else:
                cases.add(case, verb, path)
    cases.run()
    cases.paths.update(root=root, out=out, empty_impacts=empty_impacts)
    return cases


@pytest.mark.parametrize("case", ["deep-meta", "deep-import"])
def test_deeply_nested_json_is_one_line_naming_the_file(cases, case):
    named = cases.paths["root"] / ("deep-meta.npz" if case == "deep-meta" else "deep.jsonl")
    line = cases.error(case, named)
    assert "nested too deeply" in line
    assert not (cases.paths["out"] / "deep.npz").exists()


@pytest.mark.parametrize("name", [*META_PROBLEMS, "on-floats"])
def test_metadata_records_the_code_reads_are_checked_when_a_file_is_opened(cases, name):
    if name == "on-floats":
        line = cases.error("meta-on-floats", cases.paths["root"] / "meta-on-floats.npz")
        assert "meta 'quantization' describes impacts, but the weights are float32" in line
        return
    path, problem = cases.paths["root"] / f"meta-{name}.npz", META_PROBLEMS[name][1]
    for verb in ("export", "info"):
        assert problem in cases.error(f"meta-{name}-{verb}", path)
    assert not (cases.paths["out"] / f"{name}.ciff").exists()


@pytest.mark.parametrize("member", BYTE_ORDER_MEMBERS)
def test_arrays_stored_big_endian_read_as_the_same_vectors(cases, member):
    cases.ok("export-native")
    cases.ok(f"big-endian-{member}")
    native = (cases.paths["out"] / "native.jsonl").read_text()
    assert (cases.paths["out"] / f"{member}.jsonl").read_text() == native
    assert '"id": "d0"' in native


@pytest.mark.parametrize("name", BAD_IDS)
def test_ids_that_cannot_be_ids_are_one_line_naming_the_file(cases, name):
    line = cases.error(f"ids-{name}", cases.paths["root"] / f"ids-{name}.npz")
    assert BAD_IDS[name][1] in line and "(row" in line


@pytest.mark.parametrize("verb", [*TERM_DF_VERBS, "flops"])
def test_term_counts_are_checked_against_the_postings(cases, verb):
    if verb == "flops":  # counted from the postings: the same FLOPS whether the file stores counts or not
        cases.ok("flops-stored")
        cases.ok("flops-counted")
        out = cases.paths["out"]
        stored, counted = (json.loads((out / f"flops-{kind}.json").read_text()) for kind in ("stored", "counted"))
        assert stored["sparsity"] == counted["sparsity"] and stored["sparsity"]["flops"] > 0
        expected = SparseVectors.load(cases.paths["root"] / "docs.q.npz").term_df()
        with VectorFile(cases.paths["root"] / "no-term-df.npz") as without:  # a few rows at a time
            np.testing.assert_array_equal(without.checked_term_df(max_entries=3), expected)
        return
    named = cases.paths["root"] / ("term-df-permuted-floats.npz" if verb == "quantize" else "term-df-permuted.npz")
    if verb == "info":  # reads the file whole
        assert "corrupt sparse-vector file (term_df says term" in cases.error("term-df-info", named)
        return
    assert "term_df says term" in cases.error(f"term-df-{verb}", named)
    assert not list(cases.paths["out"].glob(f"term-df-{verb}*"))


@pytest.mark.parametrize("verb", [*ZERO_ROW_VERBS, "import"])
def test_files_of_zero_rows_are_valid(cases, verb):
    cases.ok(f"zero-{verb}")
    out = cases.paths["out"]
    for written in out.glob(f"zero-{verb}.npz"):
        assert SparseVectors.load(written).n_rows == 0
    if verb in ("search-index", "search-docs"):
        assert (out / f"zero-{verb}.trec").read_text() == ""
    if verb == "evaluate":
        assert json.loads((out / "zero-evaluate.json").read_text())["sparsity"]["flops"] == 0
    with VectorFile(cases.paths["empty_impacts"]) as empty:
        assert empty.n_rows == 0 and list(empty.chunks()) == [] and not empty.checked_term_df().any()


@pytest.mark.parametrize("name", BAD_WEIGHTS)
def test_imported_weights_must_be_finite_float32_numbers(cases, name):
    line = cases.error(f"weight-{name}", cases.paths["root"] / f"weight-{name}.jsonl")
    assert f"weight-{name}.jsonl:3: " in line and BAD_WEIGHTS[name][1] in line
    assert not (cases.paths["out"] / f"weight-{name}.npz").exists()


@pytest.mark.parametrize(
    "change",
    [
        "float64-overflow",
        "nan",
        "negative",
        "unsorted-row",
        "uint8-overflow",
        "quantization-string",
        "lone-surrogate",
        "id-too-long",
    ],
)
def test_the_writer_refuses_what_the_readers_would_refuse(tmp_path, change):
    indptr, indices, data, dtype, meta = np.array([0, 2]), np.array([1, 3]), np.array([1.0, 2.0]), np.float32, {}
    if change == "float64-overflow":
        data = np.array([1.0, 1e300])
    elif change == "nan":
        data = np.array([1.0, np.nan])
    elif change == "negative":
        data = np.array([1.0, -2.0])
    elif change == "unsorted-row":
        indices = np.array([3, 1])
    elif change == "uint8-overflow":
        data, dtype = np.array([1, 300]), np.uint8
    elif change == "quantization-string":
        data, dtype, meta = np.array([1, 2], np.uint8), np.uint8, {"quantization": "x100"}
    elif change == "lone-surrogate":
        meta = {"model": "\ud800"}
    ids = ["a" * (MAX_ID_LENGTH + 1)] if change == "id-too-long" else ["a"]
    with pytest.raises((ValueError, SpladeError), match=r"out\.npz: "):
        with SparseVectorsWriter(tmp_path / "out.npz", 8, dtype, meta) as writer:
            writer.append(indptr, indices, data, ids)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("case", ["meta-bomb", "ids-too-wide"])
def test_members_larger_than_a_file_may_hold_are_refused_unread(cases, case):
    line = cases.error(case, cases.paths["root"] / f"{case}.npz")
    expected = "more than the 16 MB a meta record may hold" if case == "meta-bomb" else f"more than {MAX_ID_LENGTH}"
    assert expected in line


@pytest.mark.parametrize("kind", UNREADABLE)
def test_paths_that_are_no_files_are_one_line_without_a_usage_block(cases, kind):
    why = {"directory": "is a directory", "fifo": "not a regular file", "dangling-link": "no such file"}[kind]
    for verb in ("quantize", "merge", "search", "export", "evaluate"):
        line = cases.error(f"{kind}-{verb}", cases.paths["root"] / f"{kind}.npz")
        assert line.endswith(why) or why in line


def test_help_and_unknown_flags_still_print_usage(tmp_path):
    assert "usage: splade quantize" in _splade("quantize", "--help").stdout
    unknown = _splade("quantize", str(tmp_path), "--output", str(tmp_path / "o.npz"), "--bogus")
    assert unknown.returncode == 2 and "usage:" in unknown.stderr and "--bogus" in unknown.stderr
    missing = _splade("quantize", "--output", str(tmp_path / "o.npz"))
    assert missing.returncode == 2 and "the following arguments are required: input" in missing.stderr


@pytest.mark.parametrize("name", MALFORMED)
def test_malformed_vector_files_are_one_line_naming_the_file_in_every_verb(cases, name):
    path = cases.paths["root"] / f"malformed-{name}.npz"
    for verb in MALFORMED_VERBS:
        if verb == "evaluate" and name in WEIGHTS_ONLY:
            cases.ok(f"malformed-{name}-{verb}")
        else:
            cases.error(f"malformed-{name}-{verb}", path)
    assert not list(cases.paths["out"].glob(f"malformed-{name}-*"))
