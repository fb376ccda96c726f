"""One view over every collection the project reads.

A collection spec is either
- an ir_datasets id (``beir/scifact/test``, ``msmarco-passage/dev/small``, ``beir/trec-covid``);
  the bundled SciFact is seeded into ir_datasets' cache, so ``beir/scifact/{train,test}`` work
  offline through the very code path that downloads MS MARCO or BEIR when a network exists;
- a local folder in BEIR layout (``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``),
  written ``PATH`` (split ``test``) or ``PATH:SPLIT``;
- ``bundled/<name>`` for a collection shipped in the package (``bundled/cranfield``);
- a folder written by the download stage (``splade download``, `splade_core.data.download`):
  what every workflow job after the download reads, with no network and no shared cache.

Documents are ``(doc_id, text)`` with text = title + " " + body, as BEIR and SPLADE use them.
Every ir_datasets access of this process and of concurrent ones goes through one file lock in
ir_datasets' home, so that two jobs never build its docstore at once.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import SpladeError
from ..io import atomic_path, json_lines

BUNDLED_ROOT = Path(str(resources.files("splade_core") / "resources" / "datasets"))
# ir_datasets ids served from a bundled BEIR folder: id prefix -> folder.
SEEDED_IR_DATASETS = {"beir/scifact": "scifact"}
BUNDLED = {"bundled/cranfield": "cranfield", "bundled/scifact": "scifact"}
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
# The download stage's folders: a corpus (documents), and a collection (queries and qrels of
# one split, pointing at its corpus). Each holds a manifest of what it contains.
MANIFEST = "manifest.json"
CORPUS_FORMAT = "splade-core/corpus"
COLLECTION_FORMAT = "splade-core/collection"
FORMAT_VERSION = 1
CORPUS_FILE, OFFSETS_FILE = "corpus.jsonl", "corpus.offsets.npy"
QUERIES_FILE, QRELS_FILE = "queries.jsonl", "qrels.tsv"


@dataclass(frozen=True)
class Collection:
    """Documents, queries and judgments of one collection split, read lazily."""

    spec: str
    _source: object

    def docs(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[str, str]]:
        """Documents [start, stop) in collection order; a downloaded corpus seeks to `start`."""
        if hasattr(self._source, "docs_range"):
            return self._source.docs_range(start, stop)
        return itertools.islice(self._source.docs(), start, stop)

    def doc_count(self) -> int:
        return self._source.doc_count()

    def queries(self) -> list[tuple[str, str]]:
        return list(self._source.queries())

    @property
    def seekable(self) -> bool:
        """Whether document i can be read alone (`doc_at`): a downloaded corpus."""
        return hasattr(self._source, "doc_at")

    def doc_at(self, row: int) -> tuple[str, str]:
        """(id, text) of document `row`, read by seeking (downloaded corpora only)."""
        return self._source.doc_at(row)

    def qrels(self) -> dict[str, dict[str, int]]:
        qrels: dict[str, dict[str, int]] = {}
        for query_id, doc_id, relevance in self._source.qrels():
            qrels.setdefault(query_id, {})[doc_id] = int(relevance)
        return qrels

    @property
    def has_qrels(self) -> bool:
        return self._source.has_qrels()


def load_collection(spec: str) -> Collection:
    """Resolve a collection spec (see module docstring); raises SpladeError if unknown."""
    local = local_folder(spec)
    if local is None:
        return Collection(spec, IrDataset(spec))
    folder, split = local
    if (folder / MANIFEST).is_file():
        downloaded = Downloaded(folder)
        return Collection(downloaded.source, downloaded)
    return Collection(spec, BeirFolder(folder, split))


def unknown_dataset(spec: str) -> SpladeError:
    return SpladeError(f"unknown dataset {spec!r}: not an ir_datasets id, a BEIR folder, or one of {sorted(BUNDLED)}")


def has_judgments(spec: str) -> bool:
    """Whether a collection spec has relevance judgments, known without reading or downloading
    it: a local folder's qrels for its split, a downloaded folder's manifest, an ir_datasets
    id's registry entry. Raises SpladeError for an unknown spec."""
    local = local_folder(spec)
    if local is None:
        import ir_datasets

        try:
            return ir_datasets.load(spec).has_qrels()
        except KeyError:
            raise unknown_dataset(spec) from None
    folder, split = local
    if (folder / MANIFEST).is_file():
        return Downloaded(folder).has_qrels()
    return BeirFolder(folder, split).has_qrels()


def local_folder(spec: str) -> tuple[Path, str] | None:
    """(folder, split) of a bundled or local-folder spec; None for an ir_datasets id."""
    if spec in BUNDLED:
        return BUNDLED_ROOT / BUNDLED[spec], "test"
    folder, _, split = spec.partition(":") if not Path(spec).exists() else (spec, "", "")
    if Path(folder).is_dir():
        return Path(folder), split or "test"
    return None


def read_manifest(folder: Path, expected: tuple[str, ...] = (CORPUS_FORMAT, COLLECTION_FORMAT)) -> dict:
    """The manifest of a downloaded folder; SpladeError naming it if absent or not one."""
    path = Path(folder) / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise SpladeError(f"{folder}: not downloaded (no {MANIFEST}); run `splade download` first") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SpladeError(f"{path}: not a valid manifest ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") not in expected:
        raise SpladeError(f"{path}: not a manifest of {' or '.join(expected)}")
    if manifest.get("version") != FORMAT_VERSION:
        raise SpladeError(
            f"{path}: format version {manifest.get('version')!r}, this splade-core reads {FORMAT_VERSION}"
        )
    return manifest


class Downloaded:
    """A folder of the download stage: a corpus, or a collection (queries, qrels) and its corpus.

    Opening it checks what is cheap to check against the manifest (file sizes, document
    counts); a corpus that changed since its collection was downloaded is an error naming both.
    """

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.manifest = read_manifest(self.folder)
        self.source = str(self.manifest.get("source", self.folder))
        if self.manifest["format"] == CORPUS_FORMAT:
            self.corpus = self.folder
            corpus = self.manifest
        else:
            _check_files(self.folder, self.manifest)
            relative = self.manifest.get("corpus")
            self.corpus = (self.folder / relative).resolve() if relative else None
            corpus = read_manifest(self.corpus, (CORPUS_FORMAT,)) if self.corpus else None
            if corpus is not None and corpus.get("docs") != self.manifest.get("corpus_docs"):
                raise SpladeError(
                    f"{self.corpus}: holds {corpus.get('docs')} documents, but {self.folder} was downloaded "
                    f"against {self.manifest.get('corpus_docs')}; download {self.source!r} again"
                )
        self._docs, self._handle = None, None
        if corpus is not None:
            _check_files(self.corpus, corpus)
            try:
                offsets = np.load(self.corpus / OFFSETS_FILE, mmap_mode="r", allow_pickle=False)
                docs = int(corpus["docs"])
                intact = offsets.shape == (docs + 1,) and offsets.dtype == np.int64
                intact = intact and int(offsets[-1]) == (self.corpus / CORPUS_FILE).stat().st_size
            except (OSError, ValueError, TypeError, KeyError):
                intact = False
            if not intact:
                raise SpladeError(f"{self.corpus}: {OFFSETS_FILE} does not match {CORPUS_FILE}; download it again")
            self._docs, self._offsets = docs, offsets

    def doc_count(self) -> int:
        self._require_docs()
        return self._docs

    expected_doc_count = doc_count

    def docs(self) -> Iterator[tuple[str, str]]:
        return self.docs_range(0, None)

    def docs_range(self, start: int, stop: int | None) -> Iterator[tuple[str, str]]:
        self._require_docs()
        stop = self._docs if stop is None else min(stop, self._docs)
        if start >= stop:
            return
        path = self.corpus / CORPUS_FILE
        with open(path, "rb") as handle:
            handle.seek(int(self._offsets[start]))
            for number in range(start, stop):
                record = _json_line(handle.readline(), path, number + 1)
                yield record["_id"], record["text"]

    def doc_at(self, row: int) -> tuple[str, str]:
        self._require_docs()
        if not 0 <= row < self._docs:
            raise IndexError(f"document {row} of {self._docs}")
        path = self.corpus / CORPUS_FILE
        if self._handle is None:
            self._handle = open(path, "rb")
        self._handle.seek(int(self._offsets[row]))
        record = _json_line(self._handle.readline(), path, row + 1)
        return record["_id"], record["text"]

    def queries(self) -> Iterator[tuple[str, str]]:
        self._require_topics()
        for record in _read_jsonl(self.folder / QUERIES_FILE):
            yield record["_id"], record["text"]

    def has_qrels(self) -> bool:
        return self.manifest["format"] == COLLECTION_FORMAT and (self.folder / QRELS_FILE).is_file()

    def qrels(self) -> Iterator[tuple[str, str, int]]:
        if not self.has_qrels():
            raise SpladeError(f"{self.folder}: {self.source!r} has no relevance judgments")
        yield from _read_qrels(self.folder / QRELS_FILE)

    def _require_docs(self) -> None:
        if self._docs is None:
            raise SpladeError(f"{self.folder}: {self.source!r} has no documents")

    def _require_topics(self) -> None:
        if self.manifest["format"] != COLLECTION_FORMAT:
            raise SpladeError(f"{self.folder}: a corpus (documents only), not a collection with queries")


def _check_files(folder: Path, manifest: dict) -> None:
    for name, entry in manifest.get("files", {}).items():
        path = folder / name
        if not path.is_file():
            raise SpladeError(f"{path}: missing; download {manifest.get('source')!r} again")
        if path.stat().st_size != entry.get("bytes"):
            raise SpladeError(
                f"{path}: {path.stat().st_size} bytes, the manifest records {entry.get('bytes')}; "
                f"download {manifest.get('source')!r} again"
            )


def _json_line(line: bytes, path: Path, number: int) -> dict:
    try:
        return json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SpladeError(f"{path}:{number}: invalid JSON ({exc})") from None


def _read_qrels(path: Path) -> Iterator[tuple[str, str, int]]:
    """BEIR qrels (query-id, corpus-id, score; tab-separated, a header line) or TREC qrels
    (query-id, iteration, doc-id, relevance; whitespace-separated)."""
    try:
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                row = line.split("\t") if "\t" in line else line.split()
                row = [field.strip() for field in row]
                if not any(row) or row[0] == "query-id":
                    continue
                if len(row) not in (3, 4):
                    raise SpladeError(
                        f"{path}:{number}: expected 3 columns (query-id, corpus-id, score) "
                        f"or 4 (TREC: query-id, iteration, doc-id, relevance), got {len(row)}"
                    )
                query_id, doc_id, relevance = (row[0], row[1], row[2]) if len(row) == 3 else (row[0], row[2], row[3])
                try:
                    yield query_id, doc_id, int(relevance)
                except ValueError:
                    raise SpladeError(f"{path}:{number}: relevance {relevance!r} is not an integer") from None
    except UnicodeDecodeError as exc:
        raise SpladeError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


class BeirFolder:
    """corpus.jsonl (_id, title, text), queries.jsonl (_id, text), qrels/<split>.tsv."""

    def __init__(self, root: Path, split: str):
        self.root = root
        self.split = split
        for name in ("corpus.jsonl", "queries.jsonl"):
            if not (root / name).is_file():
                raise SpladeError(f"{root}: not a BEIR folder (no {name})")

    @property
    def qrels_path(self) -> Path:
        return self.root / "qrels" / f"{self.split}.tsv"

    def docs(self) -> Iterator[tuple[str, str]]:
        for record in _read_jsonl(self.root / "corpus.jsonl", required=("_id", "text")):
            title = (record.get("title") or "").strip()
            text = record.get("text") or ""
            yield str(record["_id"]), f"{title} {text}" if title else text

    def doc_count(self) -> int:
        with open(self.root / "corpus.jsonl", "rb") as handle:
            return sum(1 for line in handle if line.strip())

    expected_doc_count = doc_count

    def queries(self) -> Iterator[tuple[str, str]]:
        wanted = {query_id for query_id, _, _ in self.qrels()} if self.has_qrels() else None
        for record in _read_jsonl(self.root / "queries.jsonl", required=("_id", "text")):
            if wanted is None or str(record["_id"]) in wanted:
                yield str(record["_id"]), record["text"]

    def has_qrels(self) -> bool:
        return self.qrels_path.is_file()

    def qrels(self) -> Iterator[tuple[str, str, int]]:
        if not self.has_qrels():
            splits = sorted(p.stem for p in (self.root / "qrels").glob("*.tsv"))
            raise SpladeError(f"{self.root}: no qrels for split {self.split!r} (splits: {', '.join(splits) or 'none'})")
        yield from _read_qrels(self.qrels_path)


class IrDataset:
    """An ir_datasets dataset; the bundled SciFact is seeded into its cache first.

    ir_datasets downloads its files and builds its docstore (for BEIR, ``docs.pklz4``) on first
    use, and two processes doing so at once corrupt the store for good. Every opening here holds
    `ir_datasets_lock` until the first record is read, by which time both are done; a docstore
    that fails to read, or holds another count than the dataset's metadata, is cleared and
    rebuilt once.
    """

    def __init__(self, dataset_id: str):
        import ir_datasets

        with ir_datasets_lock():
            seed_bundled_ir_datasets(dataset_id)
        try:
            self.dataset = ir_datasets.load(dataset_id)
        except KeyError:
            raise unknown_dataset(dataset_id) from None
        self.dataset_id = dataset_id

    def docs(self) -> Iterator[tuple[str, str]]:
        for doc in self._iter("docs"):
            yield doc.doc_id, _default_text(doc)

    def doc_count(self) -> int:
        count = self.expected_doc_count()  # no docstore build needed
        return count if count is not None else sum(1 for _ in self.docs())

    def expected_doc_count(self) -> int | None:
        """The document count ir_datasets' metadata records for the dataset, if it has one."""
        self._require("docs")
        count = self.dataset.docs_metadata().get("count")
        return int(count) if count is not None else None

    def queries(self) -> Iterator[tuple[str, str]]:
        for query in self._iter("queries"):
            yield query.query_id, _default_text(query)

    def has_qrels(self) -> bool:
        return self.dataset.has_qrels()

    def qrels(self) -> Iterator[tuple[str, str, int]]:
        for qrel in self._iter("qrels"):
            yield qrel.query_id, qrel.doc_id, qrel.relevance

    def clear_docstore(self) -> bool:
        """Remove the dataset's docstore from ir_datasets' cache (it is rebuilt on next use)."""
        try:
            store = self.dataset.docs_store()
        except (NotImplementedError, AttributeError):
            return False
        if not hasattr(store, "clear_cache"):
            return False
        with ir_datasets_lock():
            store.clear_cache()
        return True

    def _require(self, part: str) -> None:
        if not getattr(self.dataset, f"has_{part}")():
            raise SpladeError(f"dataset {self.dataset_id!r} has no {part}")

    def _iter(self, part: str):
        self._require(part)
        with ir_datasets_lock():
            records, first = self._open(part)
        if first is _END:
            return
        try:
            yield first
            yield from records
        except OSError as exc:
            raise SpladeError(f"dataset {self.dataset_id!r}: cannot read {part} ({exc})") from None

    def _open(self, part: str):
        """An iterator over `part` and its first record, read while the caller holds the lock."""
        for attempt in (1, 2):
            try:
                records = iter(getattr(self.dataset, f"{part}_iter")())
                first = next(records, _END)
                if part == "docs":
                    self._check_docstore()
                return records, first
            except OSError as exc:  # download failures surface as IOError subclasses
                raise SpladeError(f"dataset {self.dataset_id!r}: cannot read {part} ({exc})") from None
            except Exception as exc:  # a corrupt docstore: lz4, pickle, mmap or count errors
                if attempt == 2 or part != "docs" or not self.clear_docstore():
                    raise SpladeError(
                        f"dataset {self.dataset_id!r}: cannot read {part} from ir_datasets' cache ({exc})"
                    ) from None
        raise AssertionError("unreachable")

    def _check_docstore(self) -> None:
        expected, built = self.expected_doc_count(), self.dataset.docs_count()
        if expected is not None and built is not None and built != expected:
            raise CorruptDocstore(f"its docstore holds {built} documents, the dataset has {expected}")


class CorruptDocstore(Exception):
    """ir_datasets' docstore of a dataset does not hold what the dataset's metadata says."""


_END = object()


@contextlib.contextmanager
def ir_datasets_lock() -> Iterator[None]:
    """One process at a time in ir_datasets' home (downloads, docstore builds); reentrant."""
    import ir_datasets
    from filelock import FileLock

    path = str(Path(ir_datasets.util.home_path()) / ".splade-core.lock")
    if path not in _LOCKS:  # one lock object per file: a second one would wait on the first
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        _LOCKS[path] = FileLock(path)
    with _LOCKS[path]:
        yield


_LOCKS: dict = {}


def _default_text(record) -> str:
    if hasattr(record, "default_text"):
        return record.default_text()
    return record.text


def _read_jsonl(path: Path, required: tuple[str, ...] = ()) -> Iterator[dict]:
    """JSON objects, one a line; each must have the `required` keys (string or number values)."""
    try:
        with open(path, encoding="utf-8") as handle:
            for number, record in json_lines(path, handle):
                for key in required:
                    if isinstance(record.get(key), bool) or not isinstance(record.get(key), (str, int)):
                        raise SpladeError(f"{path}:{number}: no {key!r} (a string)")
                yield record
    except UnicodeDecodeError as exc:
        raise SpladeError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def seed_bundled_ir_datasets(dataset_id: str) -> Path | None:
    """Place the bundled archive where ir_datasets caches its download, if it is missing.

    ir_datasets reads ``<home>/beir/<name>/source.zip`` (``$IR_DATASETS_HOME``, default
    ``~/.ir_datasets``) and skips the download when it exists, so seeding makes the real id
    resolve offline. An archive already there is left untouched.
    """
    prefix = next((p for p in SEEDED_IR_DATASETS if dataset_id == p or dataset_id.startswith(p + "/")), None)
    if prefix is None:
        return None
    import ir_datasets

    folder = BUNDLED_ROOT / SEEDED_IR_DATASETS[prefix]
    archive = Path(ir_datasets.util.home_path()) / prefix / "source.zip"
    if archive.is_file():
        return archive
    name = folder.name
    members = ["corpus.jsonl", "queries.jsonl", *(f"qrels/{p.name}" for p in sorted((folder / "qrels").glob("*.tsv")))]
    with atomic_path(archive) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zipped:
        for member in members:
            info = zipfile.ZipInfo(f"{name}/{member}", date_time=_ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            zipped.writestr(info, (folder / member).read_bytes())
    return archive
