"""The download stage: every external input of a study materialized once, as local files.

After it, no job needs the network, ir_datasets' cache or the Hugging Face cache: compute
jobs (on offline cluster nodes too) read only these folders. Layout under a resources folder
(shared by many studies; the key of each entry mirrors its source)::

    corpora/<docs key>/      corpus.jsonl ({"_id", "text"} per line), corpus.offsets.npy, manifest.json
    collections/<key>/       queries.jsonl, qrels.tsv (BEIR layout), manifest.json -> its corpus
    models/<key>/            an HF folder (config, tokenizer, safetensors weights), manifest.json
    files/<key>/             one downloaded file (training triples, teacher scores), manifest.json

Keys: an ir_datasets id as it is, its documents under the id of the dataset that owns them
(``beir/scifact/test`` -> ``beir/scifact``; every MS MARCO split shares ``msmarco-passage``);
an HF id as it is; ``bundled/<name>``; ``local/<folder name>-<hash of its path>`` for a local
folder; ``<host>/<path>`` for a URL.

Each entry is written into a temporary folder and renamed into place, under a file lock, with
its manifest (source, counts, sizes, SHA-256) written last: an interrupted download leaves no
entry, and the next run removes its leftovers and starts again. An entry already present is
verified and reused; one whose source now has another document count is an error naming it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import time
import urllib.parse
import urllib.request
from array import array
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..errors import SpladeError
from ..io import atomic_dir, parse_json, remove_stale_temps
from ..registry import local_path
from .collections import (
    BUNDLED,
    COLLECTION_FORMAT,
    CORPUS_FILE,
    CORPUS_FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    OFFSETS_FILE,
    QRELS_FILE,
    QUERIES_FILE,
    IrDataset,
    load_collection,
    local_folder,
    read_manifest,
    unknown_dataset,
)
from .ids import first_repeat, id_problem

MODEL_FORMAT = "splade-core/model"  # written by splade_core.model.download
FILE_FORMAT = "splade-core/file"
_CHUNK = 1 << 20


# --------------------------------------------------------------------------------------------
# Where each input goes


def collection_keys(spec: str) -> tuple[str | None, str]:
    """(docs key, collection key) of a collection spec; docs key None if it has no documents."""
    if spec in BUNDLED:
        return spec, f"{spec}/test"
    local = local_folder(spec)
    if local is not None:
        folder, split = local
        base = _local_key(folder)
        return base, f"{base}/{split}"
    import ir_datasets

    try:
        return ir_datasets.docs_parent_id(spec), spec
    except KeyError:
        raise unknown_dataset(spec) from None


def docs_source(spec: str) -> str:
    """The spec the documents of `spec` are read from: shared by every split of a collection."""
    if spec in BUNDLED:
        return spec
    local = local_folder(spec)
    if local is None:
        return collection_keys(spec)[0]  # the ir_datasets id that owns the documents
    return str(local[0].resolve())  # the BEIR folder, whatever the split


def corpus_dir(resources: str | Path, spec: str) -> Path:
    docs_key, _ = collection_keys(spec)
    if docs_key is None:
        raise SpladeError(f"dataset {spec!r} has no documents")
    return Path(resources) / "corpora" / docs_key


def collection_dir(resources: str | Path, spec: str) -> Path:
    return Path(resources) / "collections" / collection_keys(spec)[1]


def model_dir(resources: str | Path, spec: str) -> Path:
    if spec.startswith("bundled/"):  # registry.BUNDLED_MODELS
        key = spec
    elif (folder := local_path(spec)) is not None:
        key = _local_key(folder)
    else:
        key = spec  # an HF id, org/name
    return Path(resources) / "models" / key


def file_path(resources: str | Path, url: str) -> Path:
    """Where the download of `url` goes: files/<host>/<path>/<file name>."""
    parsed = urllib.parse.urlsplit(url)
    name = Path(parsed.path).name
    if parsed.scheme not in ("http", "https", "file") or not name:
        raise SpladeError(f"{url!r}: not an http(s) or file URL naming a file")
    if parsed.scheme == "file":
        key = _local_key(Path(urllib.request.url2pathname(parsed.path)))
    else:
        key = "/".join(_safe(part) for part in (parsed.netloc, *parsed.path.strip("/").split("/")))
    return Path(resources) / "files" / key / name


def data_bytes(path: str | Path) -> int:
    """Bytes of the data a workflow input stands for: a download's manifest counts as the files
    it lists, a folder (a fine-tuned model) as the files in it, any other file as its own size,
    a missing one (not made yet) as 0. Resource callables size jobs with it."""
    path = Path(path)
    if path.is_dir():
        return sum(item.stat().st_size for item in path.rglob("*") if item.is_file())
    if path.name != MANIFEST:
        return path.stat().st_size if path.is_file() else 0
    try:
        files = parse_json(path.read_bytes(), str(path)).get("files", {})
        return sum(int(entry["bytes"]) for entry in files.values())
    except (OSError, SpladeError, ValueError, TypeError, KeyError, AttributeError):
        return 0


def is_url(value: str) -> bool:
    return bool(re.match(r"^(https?|file)://", value))


def _local_key(folder: Path) -> str:
    resolved = str(Path(folder).resolve())
    return f"local/{_safe(Path(resolved).name)}-{hashlib.sha256(resolved.encode()).hexdigest()[:8]}"


def _safe(part: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", part) or "_"


# --------------------------------------------------------------------------------------------
# Collections


def download_collection(spec: str, resources: str | Path, part: str = "all", progress: bool = True) -> dict:
    """Materialize a collection's documents ('docs'), queries and qrels ('topics'), or both.

    Returns a summary: the folders written or reused and their counts.
    """
    if part not in ("all", "docs", "topics"):
        raise ValueError(f"part must be all, docs or topics, not {part!r}")
    summary: dict = {"collection": spec}
    docs_key, _ = collection_keys(spec)
    if part in ("all", "docs") and docs_key is not None:
        summary["corpus"] = _download_corpus(spec, corpus_dir(resources, spec), progress)
    if part in ("all", "topics"):
        summary["topics"] = _download_topics(spec, resources, collection_dir(resources, spec))
    return summary


def _download_corpus(spec: str, folder: Path, progress: bool) -> dict:
    spec = docs_source(spec)
    with entry_lock(folder):
        collection = load_collection(spec)
        source = collection._source
        expected = source.expected_doc_count()  # ir_datasets' metadata, or a count of the source's lines
        reused = reusable_entry(folder, CORPUS_FORMAT, spec)
        if reused is not None:
            if expected is not None and reused["docs"] != expected:
                raise SpladeError(
                    f"collection {spec!r}: {folder} holds {reused['docs']} documents, the source now has {expected}; "
                    f"remove {folder} to download it anew"
                )
            return {"path": str(folder), "docs": reused["docs"], "reused": True}
        remove_stale_temps(folder)
        began = time.perf_counter()
        for attempt in (1, 2):
            try:
                with atomic_dir(folder) as tmp:  # an exception inside discards the temporary folder
                    count = _write_corpus(collection, tmp, expected, progress)
                    if expected is not None and count != expected:
                        raise _CountMismatch(count)
                    write_manifest(tmp, {"format": CORPUS_FORMAT, "source": spec, "docs": count})
                break
            except _CountMismatch as mismatch:
                if attempt == 1 and isinstance(source, IrDataset) and source.clear_docstore():  # corrupt docstore
                    continue
                raise SpladeError(
                    f"collection {spec!r}: read {mismatch.count} documents, its metadata says {expected}"
                ) from None
        return {"path": str(folder), "docs": count, "reused": False, "seconds": round(time.perf_counter() - began, 2)}


class _CountMismatch(Exception):
    def __init__(self, count: int):
        super().__init__(count)
        self.count = count


def _write_corpus(collection, folder: Path, expected: int | None, progress: bool) -> int:
    """corpus.jsonl and the byte offset of every line (and of its end) in corpus.offsets.npy."""
    offsets, hashes = array("q", [0]), array("q")
    where = collection.spec
    with open(folder / CORPUS_FILE, "wb") as out:
        bar = tqdm(desc=f"download {where}", unit="doc", total=expected, disable=not progress, mininterval=2)
        with bar:
            for number, (doc_id, text) in enumerate(collection.docs()):
                _check_id(doc_id, "document", where, number)
                hashes.append(hash(doc_id))
                out.write(_json_line({"_id": doc_id, "text": text}, where, "document", number))
                offsets.append(out.tell())
                bar.update()
    offset_array = np.frombuffer(offsets, dtype=np.int64)
    np.save(folder / OFFSETS_FILE, offset_array, allow_pickle=False)
    _check_unique(np.frombuffer(hashes, dtype=np.int64), lambda row: _doc_id_at(folder, offset_array, row), where)
    return len(offsets) - 1


def _doc_id_at(folder: Path, offsets: np.ndarray, row: int) -> str:
    with open(folder / CORPUS_FILE, "rb") as handle:
        handle.seek(int(offsets[row]))
        return parse_json(handle.readline(), f"{folder / CORPUS_FILE}:{row + 1}")["_id"]


def _download_topics(spec: str, resources: str | Path, folder: Path) -> dict:
    with entry_lock(folder):
        docs_key, _ = collection_keys(spec)
        corpus = corpus_dir(resources, spec) if docs_key is not None else None
        corpus_docs = read_manifest(corpus, (CORPUS_FORMAT,))["docs"] if corpus is not None else None
        reused = reusable_entry(folder, COLLECTION_FORMAT, spec)
        if reused is not None and reused.get("corpus_docs") == corpus_docs:
            return {"path": str(folder), **{k: reused[k] for k in ("queries", "judged_queries", "judgments")}}
        remove_stale_temps(folder)
        collection = load_collection(spec)
        with atomic_dir(folder) as tmp:
            queries = collection.queries()
            with open(tmp / QUERIES_FILE, "wb") as out:
                for number, (query_id, text) in enumerate(queries):
                    _check_id(query_id, "query", spec, number)
                    out.write(_json_line({"_id": query_id, "text": text}, spec, "query", number))
            _check_unique(
                np.array([hash(query_id) for query_id, _ in queries], dtype=np.int64), lambda row: queries[row][0], spec
            )
            qrels = collection.qrels() if collection.has_qrels else {}
            if collection.has_qrels:
                with open(tmp / QRELS_FILE, "w", encoding="utf-8") as out:
                    out.write("query-id\tcorpus-id\tscore\n")
                    for query_id, judged in qrels.items():
                        for doc_id, relevance in judged.items():
                            _check_id(doc_id, "judged document", spec, None)
                            out.write(f"{query_id}\t{doc_id}\t{relevance}\n")
            counts = {
                "queries": len(queries),
                "judged_queries": len(qrels),
                "judgments": sum(map(len, qrels.values())),
            }
            relative = None if corpus is None else os.path.relpath(corpus.resolve(), folder.resolve())
            manifest = {"format": COLLECTION_FORMAT, "source": spec, "corpus": relative, "corpus_docs": corpus_docs}
            write_manifest(tmp, {**manifest, **counts})
        return {"path": str(folder), **counts}


def _json_line(record: dict, where: str, kind: str, number: int) -> bytes:
    """Record `number` of collection `where` as a line of UTF-8 JSON; text that is no valid
    Unicode (a lone surrogate, which ir_datasets may pass on) is a SpladeError naming it."""
    try:
        return json.dumps(record, ensure_ascii=False).encode() + b"\n"
    except UnicodeEncodeError:
        raise SpladeError(
            f"collection {where!r}: {kind} {record['_id']!r} (record {number + 1}) holds a lone surrogate, "
            "which is no valid Unicode"
        ) from None


def _check_id(value: str, kind: str, where: str, number: int | None) -> None:
    problem = id_problem(value)
    if problem is not None:
        at = "" if number is None else f" (record {number + 1})"
        raise SpladeError(f"collection {where!r}: {kind} id {value!r}{at} {problem}")


def _check_unique(hashes: np.ndarray, id_at, where: str) -> None:
    """Raise on the first repeated id; `hashes` are the ids' hashes, `id_at(row)` an id."""
    repeat = first_repeat(hashes, id_at)
    if repeat is not None:
        first, second = repeat
        raise SpladeError(
            f"collection {where!r}: id {id_at(second)!r} appears twice (records {first + 1} and {second + 1})"
        )


# --------------------------------------------------------------------------------------------
# Files (models: splade_core.model.download)


def download_file(url: str, resources: str | Path, progress: bool = True) -> dict:
    """A training-data file (triples, teacher scores) from an http(s) or file URL."""
    path = file_path(resources, url)
    folder = path.parent
    with entry_lock(folder):
        if reusable_entry(folder, FILE_FORMAT, url) is not None:
            return {"path": str(path), "reused": True}
        remove_stale_temps(folder)
        with atomic_dir(folder) as tmp:
            try:
                with urllib.request.urlopen(url, timeout=60) as response, open(tmp / path.name, "wb") as out:
                    total = response.headers.get("Content-Length")
                    bar = tqdm(total=int(total) if total else None, unit="B", unit_scale=True, disable=not progress)
                    with bar:
                        while chunk := response.read(_CHUNK):
                            out.write(chunk)
                            bar.update(len(chunk))
            except OSError as exc:  # URLError, HTTPError, timeouts
                raise SpladeError(f"cannot download {url}: {getattr(exc, 'reason', exc)}") from None
            write_manifest(tmp, {"format": FILE_FORMAT, "source": url})
        return {"path": str(path), "reused": False, "bytes": path.stat().st_size}


# --------------------------------------------------------------------------------------------
# Manifests, locks, verification


def write_manifest(folder: Path, record: dict) -> None:
    """The manifest, written last: sizes and SHA-256 of every file beside it."""
    files = {
        str(path.relative_to(folder)): {"bytes": path.stat().st_size, "sha256": _sha256(path)}
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != MANIFEST
    }
    manifest = {
        **record,
        "version": FORMAT_VERSION,
        "files": files,
        "downloaded": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "splade_core": metadata.version("splade-core"),
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")


def reusable_entry(folder: Path, expected_format: str, source: str) -> dict | None:
    """The manifest of a complete, intact entry of `source`; None if it must be (re)written."""
    if not (folder / MANIFEST).is_file():
        return None
    try:
        manifest = read_manifest(folder, (expected_format,))
    except SpladeError:
        return None
    if manifest.get("source") != source:
        return None
    for name, entry in manifest.get("files", {}).items():
        path = folder / name
        if not path.is_file() or path.stat().st_size != entry.get("bytes") or _sha256(path) != entry.get("sha256"):
            return None
    return manifest


def verify(folder: str | Path) -> dict:
    """Check every file of a downloaded entry against its manifest (sizes and SHA-256)."""
    folder = Path(folder)
    manifest = read_manifest(folder, (CORPUS_FORMAT, COLLECTION_FORMAT, MODEL_FORMAT, FILE_FORMAT))
    for name, entry in manifest.get("files", {}).items():
        path = folder / name
        if not path.is_file():
            raise SpladeError(f"{path}: missing")
        if path.stat().st_size != entry.get("bytes") or _sha256(path) != entry.get("sha256"):
            raise SpladeError(f"{path}: differs from its manifest (size or SHA-256); download it again")
    return manifest


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def entry_lock(folder: Path) -> Iterator[None]:
    """One writer per entry, across processes and studies sharing a resources folder."""
    from filelock import FileLock

    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder.parent / f".{folder.name}.lock")):
        yield
