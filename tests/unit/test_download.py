"""The download stage: local copies that equal their source, safe under concurrency, kills and
corrupt caches, checked on reuse."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from splade_core.data import download, load_collection
from splade_core.errors import SpladeError
from splade_core.model.download import MODEL_FILES, download_model

from ..conftest import EMBEDDED_MODEL

REPO = Path(__file__).parents[2]


def _splade(*args: str, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "splade_core", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
    )


def _copy_of_tiny_beir(tiny_beir, tmp_path) -> Path:
    return Path(shutil.copytree(tiny_beir, tmp_path / "tiny-beir"))


def test_downloaded_collection_equals_its_source_and_seeks(tiny_beir, tmp_path):
    spec = f"{tiny_beir}:test"
    summary = download.download_collection(spec, tmp_path, progress=False)
    source, local = load_collection(spec), load_collection(summary["topics"]["path"])
    assert local.spec == spec
    assert list(local.docs()) == list(source.docs()) and local.doc_count() == 31
    assert local.queries() == source.queries() and local.qrels() == source.qrels()
    assert list(local.docs(7, 12)) == list(source.docs())[7:12]
    assert list(local.docs(30, 99)) == list(source.docs())[30:]
    manifest = json.loads((Path(summary["topics"]["path"]) / "manifest.json").read_text())
    assert (manifest["queries"], manifest["judgments"], manifest["corpus_docs"]) == (6, 7, 31)
    assert download.verify(summary["corpus"]["path"])["docs"] == 31


def test_scifact_splits_share_one_corpus_downloaded_once(tmp_path):
    test = download.download_collection("beir/scifact/test", tmp_path, progress=False)
    train = download.download_collection("beir/scifact/train", tmp_path, progress=False)
    assert test["corpus"]["path"] == train["corpus"]["path"] == str(tmp_path / "corpora" / "beir" / "scifact")
    assert (test["corpus"]["reused"], train["corpus"]["reused"]) == (False, True)
    assert (test["topics"]["queries"], train["topics"]["queries"]) == (300, 809)
    local, source = load_collection(test["topics"]["path"]), load_collection("beir/scifact/test")
    assert local.doc_count() == 5183 and next(local.docs()) == next(source.docs())
    assert local.qrels() == source.qrels()


def _concurrently(commands: list[list[str]], env: dict) -> list[subprocess.CompletedProcess]:
    procs = [
        subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
        )
        for command in commands
    ]
    return [subprocess.CompletedProcess(p.args, p.wait(timeout=300), *p.communicate()) for p in procs]


def test_three_concurrent_downloads_on_an_empty_ir_datasets_home_all_succeed(tmp_path):
    env = {"IR_DATASETS_HOME": str(tmp_path / "irds")}
    resources = str(tmp_path / "resources")
    specs = ["beir/scifact/test", "beir/scifact/train", "beir/scifact/test"]
    command = [sys.executable, "-m", "splade_core", "download", "collection"]
    done = _concurrently([[*command, spec, "--resources", resources, "--no-progress"] for spec in specs], env)
    assert [p.returncode for p in done] == [0, 0, 0], [p.stderr[-2000:] for p in done]
    assert load_collection(f"{resources}/collections/beir/scifact/train").doc_count() == 5183
    assert not list(Path(resources, "corpora", "beir").glob(".tmp-*"))


def test_three_concurrent_reads_through_ir_datasets_on_an_empty_home_all_succeed(tmp_path):
    env = {"IR_DATASETS_HOME": str(tmp_path / "irds")}
    count = "from splade_core.data import load_collection; print(sum(1 for _ in load_collection('{}').docs()))"
    specs = ["beir/scifact/test", "beir/scifact/train", "beir/scifact/test"]
    done = _concurrently([[sys.executable, "-c", count.format(spec)] for spec in specs], env)
    assert [p.returncode for p in done] == [0, 0, 0], [p.stderr[-2000:] for p in done]
    assert [p.stdout.split()[-1] for p in done] == ["5183"] * 3


def _zeroed(store_dir: Path) -> None:
    store = store_dir / "bin"
    store.write_bytes(b"\x00" * store.stat().st_size)


def _doubled(store_dir: Path) -> None:
    """Every document appended a second time: what two concurrent builds leave."""
    import ir_datasets

    store = ir_datasets.load("beir/scifact").docs_store()
    with store.lookup.transaction() as transaction:
        for doc in store.init_iter_fn():
            transaction.add(doc)
    assert store.count() == 2 * 5183


@pytest.mark.parametrize("damage", [_zeroed, _doubled], ids=["zeroed", "doubled"])
def test_a_corrupt_ir_datasets_docstore_is_rebuilt(tmp_path, monkeypatch, damage):
    monkeypatch.setenv("IR_DATASETS_HOME", str(tmp_path / "irds"))
    assert sum(1 for _ in load_collection("beir/scifact/test").docs()) == 5183  # builds the docstore
    damage(tmp_path / "irds" / "beir" / "scifact" / "docs.pklz4")
    summary = download.download_collection("beir/scifact/test", tmp_path / "resources", progress=False)
    local = load_collection(summary["topics"]["path"])
    assert local.doc_count() == 5183 and next(local.docs())[0] == "4983"


def test_a_download_killed_half_way_is_redone(tiny_beir, tmp_path):
    spec, resources = f"{tiny_beir}:test", tmp_path / "resources"
    killed = f"""
import os
from splade_core.data import collections, download
docs = collections.BeirFolder.docs
def dying(self):
    for number, doc in enumerate(docs(self)):
        if number == 10:
            os._exit(9)  # no clean-up runs: as a SIGKILL or a node failure
        yield doc
collections.BeirFolder.docs = dying
download.download_collection({spec!r}, {str(resources)!r}, progress=False)
"""
    assert subprocess.run([sys.executable, "-c", killed], timeout=120).returncode == 9
    corpus = download.corpus_dir(resources, spec)
    assert not corpus.exists() and list(corpus.parent.glob(f".tmp-{corpus.name}.*"))

    summary = download.download_collection(spec, resources, progress=False)
    assert summary["corpus"]["reused"] is False and load_collection(summary["topics"]["path"]).doc_count() == 31
    assert not list(corpus.parent.glob(".tmp-*"))


def test_a_changed_document_count_is_an_error_naming_the_collection(tiny_beir, tmp_path):
    source = _copy_of_tiny_beir(tiny_beir, tmp_path)
    download.download_collection(str(source), tmp_path / "resources", progress=False)
    with open(source / "corpus.jsonl", "a") as handle:
        handle.write(json.dumps({"_id": "new", "title": "", "text": "one more"}) + "\n")
    with pytest.raises(SpladeError, match=r"holds 31 documents, the source now has 32") as error:
        download.download_collection(str(source), tmp_path / "resources", progress=False)
    assert str(source) in str(error.value)


def test_a_damaged_download_is_named_when_opened_and_rewritten_when_downloaded(tiny_beir, tmp_path):
    spec = f"{tiny_beir}:test"
    summary = download.download_collection(spec, tmp_path, progress=False)
    corpus_file = Path(summary["corpus"]["path"]) / "corpus.jsonl"
    corpus_file.write_bytes(corpus_file.read_bytes()[:-100])
    with pytest.raises(SpladeError, match="corpus.jsonl: .* bytes, the manifest records .* download .* again"):
        load_collection(summary["topics"]["path"])
    assert download.download_collection(spec, tmp_path, progress=False)["corpus"]["reused"] is False
    assert load_collection(summary["topics"]["path"]).doc_count() == 31


@pytest.mark.parametrize(
    "doc_id,message",
    [("a b", r"document id 'a b' \(record 2\) contains whitespace"), ("d1", r"id 'd1' appears twice")],
)
def test_ids_that_would_break_run_files_are_rejected(tmp_path, doc_id, message):
    folder = tmp_path / "beir"
    folder.mkdir()
    docs = [{"_id": "d1", "text": "x"}, {"_id": doc_id, "text": "y"}]
    (folder / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (folder / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "x"}) + "\n")
    with pytest.raises(SpladeError, match=message):
        download.download_collection(str(folder), tmp_path / "resources", progress=False)
    assert not (download.corpus_dir(tmp_path / "resources", str(folder)) / "manifest.json").exists()


def test_bundled_model_downloads_to_a_folder_that_loads_offline(tmp_path):
    from splade_core.model import Splade

    summary = download_model("bundled/splade-tiny", tmp_path)
    folder = Path(summary["path"])
    assert folder == tmp_path / "models" / "bundled" / "splade-tiny" and summary["parameters"] == 4_416_698
    assert (folder / "model.safetensors").read_bytes() == (EMBEDDED_MODEL / "model.safetensors").read_bytes()
    assert Splade.from_pretrained(folder).vocab_size == 30522
    assert download_model("bundled/splade-tiny", tmp_path)["reused"] is True


def test_hub_model_goes_through_snapshot_download_into_the_resources_folder(tmp_path, monkeypatch):
    """The HF path, with the hub replaced by the embedded model's files (no network here)."""
    import huggingface_hub

    calls = []

    def fake_snapshot_download(repo_id, local_dir, allow_patterns):
        calls.append((repo_id, tuple(allow_patterns)))
        for path in EMBEDDED_MODEL.iterdir():
            shutil.copy(path, Path(local_dir) / path.name)
        Path(local_dir, ".cache").mkdir()
        return str(local_dir)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    summary = download_model("naver/splade-tiny-test", tmp_path)
    folder = tmp_path / "models" / "naver" / "splade-tiny-test"
    assert summary["path"] == str(folder) and calls == [("naver/splade-tiny-test", MODEL_FILES)]
    assert json.loads((folder / "manifest.json").read_text())["source"] == "naver/splade-tiny-test"
    assert not (folder / ".cache").exists() and (folder / "model.safetensors").is_file()


def test_unreachable_hub_model_is_one_line_naming_it(tmp_path):
    done = _splade(
        "download", "model", "no-org/no-such-model", "--resources", str(tmp_path), env={"HF_HUB_OFFLINE": "1"}
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("splade download: error: cannot download model 'no-org/no-such-model'")
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "models" / "no-org" / "no-such-model").exists()


def test_file_url_downloads_once_with_a_checksum(tmp_path):
    source = tmp_path / "triples.tsv"
    source.write_text("q1\td1\td2\n")
    url = source.as_uri()
    first = download.download_file(url, tmp_path / "resources", progress=False)
    assert Path(first["path"]).read_text() == "q1\td1\td2\n" and Path(first["path"]).name == "triples.tsv"
    assert download.verify(Path(first["path"]).parent)["source"] == url
    assert download.download_file(url, tmp_path / "resources", progress=False)["reused"] is True
    with pytest.raises(SpladeError, match="cannot download"):
        download.download_file((tmp_path / "absent.tsv").as_uri(), tmp_path / "resources", progress=False)


def test_cli_download_prints_where_each_part_went(tiny_beir, tmp_path):
    done = _splade("download", "collection", f"{tiny_beir}:test", "--resources", str(tmp_path), "--no-progress")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["corpus"]["docs"] == 31 and summary["topics"]["queries"] == 6
    unknown = _splade("download", "collection", "no-such/dataset", "--resources", str(tmp_path))
    assert unknown.returncode == 2 and unknown.stderr.strip().splitlines() == [
        "splade download: error: unknown dataset 'no-such/dataset': not an ir_datasets id, a BEIR folder, "
        "or one of ['bundled/cranfield', 'bundled/scifact']"
    ]


def test_offsets_are_int64_line_starts(tiny_beir, tmp_path):
    summary = download.download_collection(f"{tiny_beir}:test", tmp_path, progress=False)
    corpus = Path(summary["corpus"]["path"])
    offsets = np.load(corpus / "corpus.offsets.npy", allow_pickle=False)
    data = (corpus / "corpus.jsonl").read_bytes()
    assert offsets.dtype == np.int64 and offsets[0] == 0 and offsets[-1] == len(data)
    assert all(data[start - 1 : start] == b"\n" for start in offsets[1:])


def test_a_damaged_offsets_index_is_named(tiny_beir, tmp_path):
    summary = download.download_collection(f"{tiny_beir}:test", tmp_path, progress=False)
    offsets = Path(summary["corpus"]["path"]) / "corpus.offsets.npy"
    manifest = json.loads((offsets.parent / "manifest.json").read_text())
    offsets.write_bytes(b"\x93NUMPY garbage".ljust(manifest["files"]["corpus.offsets.npy"]["bytes"], b"\x00"))
    with pytest.raises(SpladeError, match="corpus.offsets.npy: does not match corpus.jsonl; download it again"):
        load_collection(summary["topics"]["path"])


def test_data_bytes_counts_a_manifest_as_the_files_it_lists(tiny_beir, tmp_path):
    """What the workflow's resource callables size a job by (a manifest is a few hundred bytes)."""
    spec = f"{tiny_beir}:test"
    download.download_collection(spec, tmp_path, progress=False)
    corpus = download.corpus_dir(tmp_path, spec)
    files = sum(path.stat().st_size for path in corpus.iterdir() if path.name != "manifest.json")
    assert download.data_bytes(corpus / "manifest.json") == files > (corpus / "manifest.json").stat().st_size
    assert download.data_bytes(corpus / "corpus.jsonl") == (corpus / "corpus.jsonl").stat().st_size
    assert download.data_bytes(tmp_path / "not-yet" / "manifest.json") == 0  # a plan before the download
    assert download.data_bytes(corpus) == files + (corpus / "manifest.json").stat().st_size  # a folder: its files
