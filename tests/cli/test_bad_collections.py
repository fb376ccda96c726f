"""Malformed collections end in one line naming the file, and its line where there is one (exit
2): BEIR folders and the download stage's folders, for each kind of fault an outside tester
found (text fields of the wrong type, JSON nested too deeply, lone surrogates, relevance grades
outside int32, manifests of the wrong shape, messages that named no file)."""

import hashlib
import json
import re
import shutil

import numpy as np
import pytest

from splade_core.data import download

from .test_bad_input import _one_error_line, _splade

DELETE = object()  # a key an edit removes
DEEP = "[" * 100_000 + "]" * 100_000


@pytest.fixture
def beir(tiny_beir, tmp_path):
    return shutil.copytree(tiny_beir, tmp_path / "beir")


@pytest.fixture(scope="module")
def downloads(tiny_beir, tmp_path_factory):
    resources = tmp_path_factory.mktemp("resources")
    download.download_collection(f"{tiny_beir}:test", resources, progress=False)
    return resources


@pytest.fixture
def downloaded(downloads, tmp_path):
    """(collection folder, corpus folder) of a fresh copy of a downloaded tiny-beir."""
    resources = shutil.copytree(downloads, tmp_path / "resources")
    folder = next((resources / "collections").rglob("manifest.json")).parent
    corpus = next((resources / "corpora").rglob("manifest.json")).parent
    return folder, corpus


def _bm25(collection, tmp_path):
    return _splade("bm25", "--collection", str(collection), "--k", "5", "--output", str(tmp_path / "run.trec"))


def _evaluate(collection, tmp_path):
    run = tmp_path / "judged.trec"
    run.write_text("1 Q0 31715818 1 2.0 t\n3 Q0 14717500 1 1.0 t\n")
    return _splade("evaluate", "--run", str(run), "--collection", str(collection))


def _edit_line(path, number, text):
    lines = path.read_text().splitlines()
    lines[number - 1] = text
    path.write_text("\n".join(lines) + "\n")


def _edit_record(path, number, change):
    record = json.loads(path.read_text().splitlines()[number - 1])
    for key, value in change.items():
        if value is DELETE:
            record.pop(key, None)
        else:
            record[key] = value
    _edit_line(path, number, json.dumps(record))


def _edit_manifest(folder, change):
    manifest = json.loads((folder / "manifest.json").read_text())
    change(manifest)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder / "manifest.json"


def _recorded(folder, name):
    """Record a hand-edited file of a download in its manifest (size, SHA-256), as if the
    download had written it: only the reader's checks of each record can then find the fault."""
    path = folder / name
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    _edit_manifest(folder, lambda m: m["files"].update({name: {"bytes": path.stat().st_size, "sha256": digest}}))


def _rewrite_corpus(folder, corpus, number, text):
    """Line `number` of a downloaded corpus replaced, with its offsets and both manifests agreeing."""
    _edit_line(corpus / "corpus.jsonl", number, text)
    lines = (corpus / "corpus.jsonl").read_bytes().splitlines(keepends=True)
    np.save(corpus / "corpus.offsets.npy", np.cumsum([0, *map(len, lines)], dtype=np.int64))
    for name in ("corpus.jsonl", "corpus.offsets.npy"):
        _recorded(corpus, name)
    _edit_manifest(corpus, lambda m: m.update(docs=len(lines)))
    _edit_manifest(folder, lambda m: m.update(corpus_docs=len(lines)))
    return corpus / "corpus.jsonl"


# --- 1. text fields that are not strings --------------------------------------------------------


@pytest.mark.parametrize(
    "change,message",
    [
        ({"title": 7}, "'title' is a number (7), not a string"),
        ({"title": ["a"]}, "'title' is an array, not a string"),
        ({"text": 42}, "'text' is a number (42), not a string"),
        ({"text": None}, "'text' is null, not a string"),
        ({"text": DELETE}, "no 'text' (a string)"),
        ({"_id": 1.5}, "'_id' is a number (1.5), not a string"),
    ],
)
def test_corpus_fields_of_the_wrong_type_are_named_with_file_and_line(beir, tmp_path, change, message):
    _edit_record(beir / "corpus.jsonl", 2, change)
    assert f"{beir / 'corpus.jsonl'}:2: {message}" in _one_error_line(_bm25(beir, tmp_path), "bm25")


@pytest.mark.parametrize("change", [{"title": None}, {"title": DELETE}, {"_id": 7}])
def test_a_missing_or_null_title_and_a_numeric_id_are_accepted(beir, tmp_path, change):
    _edit_record(beir / "corpus.jsonl", 2, change)
    done = _bm25(beir, tmp_path)
    assert done.returncode == 0, done.stderr


def test_a_query_text_that_is_a_number_is_named(beir, tmp_path):
    _edit_record(beir / "queries.jsonl", 3, {"text": 42})
    line = _one_error_line(_bm25(beir, tmp_path), "bm25")
    assert f"{beir / 'queries.jsonl'}:3: 'text' is a number (42), not a string" in line


def test_a_downloaded_corpus_edited_by_hand_is_checked_as_it_is_read(downloaded, tmp_path):
    folder, corpus = downloaded
    path = _rewrite_corpus(folder, corpus, 4, json.dumps({"_id": "x", "text": ["not", "text"]}))
    line = _one_error_line(_bm25(folder, tmp_path), "bm25")
    assert f"{path}:4: 'text' is an array, not a string" in line


# --- 2. JSON nested too deeply ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["corpus.jsonl", "queries.jsonl"])
def test_deeply_nested_json_in_a_beir_file_is_named(beir, tmp_path, name):
    _edit_line(beir / name, 2, '{"_id": "deep", "text": ' + DEEP + "}")
    assert f"{beir / name}:2: JSON nested too deeply" in _one_error_line(_bm25(beir, tmp_path), "bm25")


@pytest.mark.parametrize("which", ["collection", "corpus"])
def test_deeply_nested_json_in_a_manifest_is_named(downloaded, tmp_path, which):
    folder = downloaded[0] if which == "collection" else downloaded[1]
    (folder / "manifest.json").write_text(DEEP)
    line = _one_error_line(_evaluate(downloaded[0], tmp_path), "evaluate")
    assert f"{folder / 'manifest.json'}: JSON nested too deeply" in line


def test_deeply_nested_json_in_a_downloaded_corpus_is_named(downloaded, tmp_path):
    path = _rewrite_corpus(*downloaded, 2, '{"_id": "deep", "text": ' + DEEP + "}")
    assert f"{path}:2: JSON nested too deeply" in _one_error_line(_bm25(downloaded[0], tmp_path), "bm25")


# --- 3. lone surrogates -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,line",
    [
        ("corpus.jsonl", '{"_id": "s1", "title": "t", "text": "bad \\ud800 text"}'),
        ("corpus.jsonl", '{"_id": "s1", "title": "\\udfff", "text": "x"}'),
        ("corpus.jsonl", '{"_id": "s\\ud800", "text": "x"}'),
        ("queries.jsonl", '{"_id": "3", "text": "\\udc00"}'),
    ],
)
def test_a_lone_surrogate_is_refused_where_it_is_read(beir, tmp_path, name, line):
    _edit_line(beir / name, 2, line)
    assert f"{beir / name}:2: text " in (error := _one_error_line(_bm25(beir, tmp_path), "bm25"))
    assert "lone surrogate" in error


def test_a_surrogate_pair_is_text_and_accepted(beir, tmp_path):
    _edit_line(beir / "corpus.jsonl", 2, '{"_id": "s1", "text": "smile \\ud83d\\ude00"}')
    done = _bm25(beir, tmp_path)
    assert done.returncode == 0, done.stderr


def test_a_lone_surrogate_in_a_downloaded_corpus_is_refused(downloaded, tmp_path):
    path = _rewrite_corpus(*downloaded, 3, '{"_id": "s1", "text": "\\ud800"}')
    assert f"{path}:3: text " in _one_error_line(_bm25(downloaded[0], tmp_path), "bm25")


# --- 4. relevance grades ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "grade,message",
    [
        ("1e30", "relevance '1e30' is not an integer"),
        ("99999999999999999999", "relevance 99999999999999999999 is outside the 32-bit integer range"),
        ("2147483648", "relevance 2147483648 is outside the 32-bit integer range"),
        ("1.5", "relevance '1.5' is not an integer"),
        ("\u0661", "relevance '\u0661' is not an integer"),
        ("", "relevance '' is not an integer"),
    ],
)
def test_grades_must_be_int32_integers(beir, tmp_path, grade, message):
    _edit_line(beir / "qrels" / "test.tsv", 2, f"1\t31715818\t{grade}")
    line = _one_error_line(_evaluate(beir, tmp_path), "evaluate")
    assert f"{beir / 'qrels' / 'test.tsv'}:2: {message}" in line


def test_a_downloaded_qrels_grade_out_of_range_is_named(downloaded, tmp_path):
    folder = downloaded[0]
    _edit_line(folder / "qrels.tsv", 3, "3\t14717500\t1e30")
    _recorded(folder, "qrels.tsv")
    line = _one_error_line(_evaluate(folder, tmp_path), "evaluate")
    assert f"{folder / 'qrels.tsv'}:3: relevance '1e30' is not an integer" in line


def test_int32_grades_and_trec_qrels_are_read(beir, tmp_path):
    qrels = beir / "qrels" / "test.tsv"
    rows = [line.split("\t") for line in qrels.read_text().splitlines()[1:]]
    qrels.write_text("".join(f"{q} 0 {d} {g}\n" for q, d, g in rows[1:]) + f"{rows[0][0]} 0 {rows[0][1]} 2147483647\n")
    done = _bm25(beir, tmp_path)
    assert done.returncode == 0, done.stderr


# --- 5. manifests of the wrong shape ------------------------------------------------------------


@pytest.mark.parametrize(
    "which,change,message",
    [
        ("collection", lambda m: m.pop("corpus"), "(top level): 'corpus' is a required property"),
        ("collection", lambda m: m.update(corpora=m.pop("corpus")), "'corpus' is a required property"),
        ("collection", lambda m: m.update(corpus=5), "corpus: 5 is not of type 'string', 'null'"),
        ("collection", lambda m: m.update(corpus_docs="31"), "corpus_docs: '31' is not of type 'integer', 'null'"),
        ("collection", lambda m: m.pop("files"), "'files' is a required property"),
        ("collection", lambda m: m["files"]["qrels.tsv"].update(bytes="118"), "files.qrels.tsv.bytes: '118'"),
        ("collection", lambda m: m["files"].update({"../../x": {"bytes": 1, "sha256": "0" * 64}}), "files: '../../x'"),
        ("corpus", lambda m: m.pop("docs"), "'docs' is a required property"),
        ("corpus", lambda m: m.update(docs=-1), "docs: -1 is less than the minimum of 0"),
        ("corpus", lambda m: m["files"].pop("corpus.jsonl"), "files: 'corpus.jsonl' is a required property"),
        ("corpus", lambda m: m.update(version=True), "format version True"),
    ],
)
def test_a_manifest_of_the_wrong_shape_is_named_with_its_key(downloaded, tmp_path, which, change, message):
    folder = downloaded[0] if which == "collection" else downloaded[1]
    manifest = _edit_manifest(folder, change)
    assert f"{manifest}: " in (line := _one_error_line(_bm25(downloaded[0], tmp_path), "bm25"))
    assert message in line


@pytest.mark.parametrize("payload", ["[1, 2]", "null", "{"])
def test_a_manifest_that_is_no_object_is_named(downloaded, tmp_path, payload):
    (downloaded[0] / "manifest.json").write_text(payload)
    assert f"{downloaded[0] / 'manifest.json'}: " in _one_error_line(_evaluate(downloaded[0], tmp_path), "evaluate")


def test_a_corpus_that_is_gone_is_named_by_the_collection_manifest(downloaded, tmp_path):
    folder, corpus = downloaded
    shutil.rmtree(corpus)
    line = _one_error_line(_evaluate(folder, tmp_path), "evaluate")
    assert f"{folder / 'manifest.json'}: its corpus {corpus} is not downloaded" in line


# --- 6. every message names the file (and line) -------------------------------------------------


def _duplicate_first_id(path, number):
    first = json.loads(path.read_text().splitlines()[0])["_id"]
    _edit_record(path, number, {"_id": first})


@pytest.mark.parametrize(
    "edit,name,message",
    [
        (lambda b: (b / "corpus.jsonl").unlink(), "corpus.jsonl", " is missing"),
        (lambda b: ((b / "corpus.jsonl").unlink(), (b / "corpus.jsonl").mkdir()), "corpus.jsonl", " is not a file"),
        (lambda b: (b / "corpus.jsonl").write_text(""), "corpus.jsonl", ": no documents"),
        (lambda b: (b / "queries.jsonl").write_text("\n"), "queries.jsonl", ": no queries"),
        (lambda b: _duplicate_first_id(b / "corpus.jsonl", 3), "corpus.jsonl", ":3: document id"),
        (lambda b: _duplicate_first_id(b / "queries.jsonl", 3), "queries.jsonl", ":3: query id '1' appears twice"),
        (lambda b: _edit_record(b / "corpus.jsonl", 2, {"_id": "a b"}), "corpus.jsonl", ":2: document id 'a b'"),
        (lambda b: _edit_record(b / "corpus.jsonl", 2, {"_id": DELETE}), "corpus.jsonl", ":2: no '_id'"),
        (lambda b: _edit_line(b / "corpus.jsonl", 2, "[1, 2]"), "corpus.jsonl", ":2: expected a JSON object"),
        (lambda b: _edit_line(b / "qrels" / "test.tsv", 2, "1\t31715818"), "qrels/test.tsv", ":2: expected 3"),
        (lambda b: _edit_line(b / "qrels" / "test.tsv", 2, "1\t0\td\t1\tx"), "qrels/test.tsv", ":2: expected 3"),
        (lambda b: _edit_line(b / "qrels" / "test.tsv", 2, "1 x\td\t1"), "qrels/test.tsv", ":2: query id '1 x'"),
        (lambda b: _edit_line(b / "qrels" / "test.tsv", 2, "nosuch\td\t1"), "qrels/test.tsv", ":2: query 'nosuch'"),
        (
            lambda b: (b / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n"),
            "qrels/test.tsv",
            ": no judg",
        ),
    ],
)
def test_faults_of_a_beir_folder_name_the_file(beir, tmp_path, edit, name, message):
    edit(beir)
    assert f"{beir / name}{message}" in _one_error_line(_bm25(beir, tmp_path), "bm25")


def test_a_pair_judged_twice_with_two_grades_is_named(beir, tmp_path):
    qrels = beir / "qrels" / "test.tsv"
    qrels.write_text(qrels.read_text() + "1\t31715818\t0\n")
    line = _one_error_line(_evaluate(beir, tmp_path), "evaluate")
    assert f"{qrels}:9: document '31715818' is judged 0 for query '1', and 1 on an earlier line" in line


def test_a_split_without_qrels_names_the_missing_file(beir, tmp_path):
    line = _one_error_line(_evaluate(f"{beir}:dev", tmp_path), "evaluate")
    assert f"{beir / 'qrels' / 'dev.tsv'}: missing" in line and "splits: test" in line


@pytest.mark.parametrize(
    "edit,name,message",
    [
        (lambda f, c: (f / "queries.jsonl").unlink(), "queries.jsonl", ": missing"),
        (lambda f, c: ((f / "qrels.tsv").unlink(), (f / "qrels.tsv").mkdir()), "qrels.tsv", ": not a file"),
        (lambda f, c: (c / "corpus.jsonl").write_bytes(b"{}\n"), "corpus.jsonl", ": 3 bytes, the manifest records"),
        (lambda f, c: _rewrite_corpus(f, c, 3, '{"_id": "1606628", "text": "x"}'), "corpus.jsonl", ":3: document id"),
        (lambda f, c: _rewrite_corpus(f, c, 2, '{"_iX": "1", "text": "x"}'), "corpus.jsonl", ":2: no '_id'"),
    ],
)
def test_faults_of_a_downloaded_collection_name_the_file(downloaded, tmp_path, edit, name, message):
    folder, corpus = downloaded
    edit(folder, corpus)
    path = (folder if name in ("queries.jsonl", "qrels.tsv") else corpus) / name
    assert f"{path}{message}" in _one_error_line(_bm25(folder, tmp_path), "bm25")


def test_encoding_queries_with_a_repeated_id_names_the_file_and_both_lines(beir, tmp_path):
    _duplicate_first_id(beir / "queries.jsonl", 5)
    output = tmp_path / "q.npz"
    done = _splade("encode", "--collection", str(beir), "--side", "query", "--output", str(output), "--no-progress")
    line = _one_error_line(done, "encode")
    assert f"{beir / 'queries.jsonl'}:5: query id '1' appears twice (lines 1 and 5)" in line
    assert not output.exists()


@pytest.mark.parametrize("downloaded_folder", [False, True])
def test_encoding_documents_with_a_repeated_id_in_one_window_names_the_corpus_file(
    beir, downloaded, tmp_path, downloaded_folder
):
    """A repeat inside one window of rows is met before the reader's own end-of-pass check."""
    if downloaded_folder:
        folder, corpus = downloaded
        first = json.loads(_line(corpus / "corpus.jsonl", 1))["_id"]
        _rewrite_corpus(folder, corpus, 3, json.dumps({"_id": first, "text": "a repeat"}))
    else:
        folder = corpus = beir
        _duplicate_first_id(beir / "corpus.jsonl", 3)
    output = tmp_path / "d.npz"
    done = _splade("encode", "--collection", str(folder), "--side", "doc", "--output", str(output), "--no-progress")
    line = _one_error_line(done, "encode")
    # the window's check (rows) or, where the reader ran ahead of the encoder, the reader's (lines)
    assert re.search(
        rf"{re.escape(str(corpus / 'corpus.jsonl'))}(:3)?: document id .* twice \((rows|lines) 1 and 3\)", line
    )
    assert not output.exists()


def _line(path, number):
    return path.read_text().splitlines()[number - 1]


def test_offsets_that_do_not_index_the_lines_are_named(downloaded, tmp_path):
    folder, corpus = downloaded
    offsets = np.load(corpus / "corpus.offsets.npy")
    np.save(corpus / "corpus.offsets.npy", offsets[[0, 2, 1, *range(3, len(offsets))]])  # same size, out of order
    line = _one_error_line(_bm25(folder, tmp_path), "bm25")
    assert f"{corpus}/corpus.offsets.npy: does not match corpus.jsonl" in line


def test_a_document_read_alone_checks_that_its_offsets_frame_one_line(downloaded):
    from splade_core.data import load_collection
    from splade_core.errors import SpladeError

    folder, corpus = downloaded
    offsets = np.load(corpus / "corpus.offsets.npy")
    assert (
        load_collection(str(folder)).doc_at(3)[0]
        == json.loads((corpus / "corpus.jsonl").read_text().split("\n")[3])["_id"]
    )
    offsets[1:-1] += 1  # each start one byte late: sizes and order still agree
    np.save(corpus / "corpus.offsets.npy", offsets)
    with pytest.raises(SpladeError, match="corpus.offsets.npy: does not match corpus.jsonl"):
        load_collection(str(folder)).doc_at(3)
