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
import re
import zipfile
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import SpladeError
from ..io import atomic_path, json_lines, parse_json
from .ids import first_repeat, id_problem

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
_COUNT = {"type": "integer", "minimum": 0}
# A file a manifest lists: a path inside its folder (no "..", not absolute, no NUL).
_FILE_NAME = {"pattern": "^(?!/)(?!(.*/)?[.][.](/|$))[^\\x00]+$"}
MANIFEST_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "manifest of a download (written by splade_core.data.download.write_manifest)",
    "type": "object",
    "required": ["format", "version", "source", "files"],
    "properties": {
        "format": {"type": "string"},
        "version": {"type": "integer"},
        "source": {"type": "string"},
        "files": {
            "type": "object",
            "propertyNames": _FILE_NAME,
            "additionalProperties": {
                "type": "object",
                "required": ["bytes", "sha256"],
                "properties": {"bytes": _COUNT, "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"}},
            },
        },
    },
    "allOf": [
        {
            "if": {"properties": {"format": {"const": CORPUS_FORMAT}}},
            "then": {
                "required": ["docs"],
                "properties": {"docs": _COUNT, "files": {"required": [CORPUS_FILE, OFFSETS_FILE]}},
            },
        },
        {
            "if": {"properties": {"format": {"const": COLLECTION_FORMAT}}},
            "then": {
                "required": ["corpus", "corpus_docs", "queries", "judged_queries", "judgments"],
                "properties": {
                    "corpus": {"type": ["string", "null"], "pattern": "^[^\\x00]+$"},
                    "corpus_docs": {**_COUNT, "type": ["integer", "null"]},
                    "queries": _COUNT,
                    "judged_queries": _COUNT,
                    "judgments": _COUNT,
                    "files": {"required": [QUERIES_FILE]},
                },
            },
        },
    ],
}
# A relevance grade: ASCII digits (int() alone takes "1_0" and other scripts' digits), within
# the 32-bit range of trec_eval's grades.
_GRADE = re.compile(r"[+-]?[0-9]+")
_GRADE_RANGE = (-(2**31), 2**31 - 1)


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

    @property
    def docs_file(self) -> str:
        """The file the documents are read from, for messages (the collection id where no one
        file holds them: ir_datasets)."""
        return str(getattr(self._source, "docs_file", None) or self.spec)

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
    if (folder / MANIFEST).exists():
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
    if (folder / MANIFEST).exists():
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
    """The manifest of a downloaded folder, checked against MANIFEST_SCHEMA; SpladeError naming
    it (and the first wrong key) if absent or not one."""
    path = Path(folder) / MANIFEST
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        raise SpladeError(f"{folder}: not downloaded (no {MANIFEST}); run `splade download` first") from None
    except OSError as exc:
        raise SpladeError(f"{path}: cannot read ({exc.strerror})") from None
    manifest = parse_json(text, str(path))
    if not isinstance(manifest, dict) or manifest.get("format") not in expected:
        raise SpladeError(f"{path}: not a manifest of {' or '.join(expected)}")
    version = manifest.get("version")
    if type(version) is not int or version != FORMAT_VERSION:
        raise SpladeError(f"{path}: format version {version!r}, this splade-core reads {FORMAT_VERSION}")
    import jsonschema

    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(MANIFEST_SCHEMA).iter_errors(manifest))
    if error is not None:
        key = ".".join(str(part) for part in error.absolute_path) or "(top level)"
        raise SpladeError(f"{path}: {key}: {error.message}")
    return manifest


class Downloaded:
    """A folder of the download stage: a corpus, or a collection (queries, qrels) and its corpus.

    Opening it checks what is cheap to check against the manifest (file sizes, document
    counts); a corpus that changed since its collection was downloaded is an error naming both.
    Reading it checks each record as a BEIR folder's are, so a hand-edited file is named too.
    """

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.manifest = read_manifest(self.folder)
        self.source = self.manifest["source"]
        if self.manifest["format"] == CORPUS_FORMAT:
            self.corpus = self.folder
            corpus = self.manifest
        else:
            _check_files(self.folder, self.manifest)
            relative = self.manifest["corpus"]
            self.corpus = (self.folder / relative).resolve() if relative else None
            if self.corpus is not None and not (self.corpus / MANIFEST).exists():
                raise SpladeError(
                    f"{self.folder / MANIFEST}: its corpus {self.corpus} is not downloaded (no {MANIFEST}); "
                    f"download {self.source!r} again"
                )
            corpus = read_manifest(self.corpus, (CORPUS_FORMAT,)) if self.corpus else None
            if corpus is not None and corpus["docs"] != self.manifest["corpus_docs"]:
                raise SpladeError(
                    f"{self.folder / MANIFEST}: downloaded against {self.manifest['corpus_docs']} documents, but "
                    f"{self.corpus / MANIFEST} records {corpus['docs']}; download {self.source!r} again"
                )
        self._docs, self._handle = None, None
        if corpus is not None:
            _check_files(self.corpus, corpus)
            docs = int(corpus["docs"])
            try:
                offsets = np.load(self.corpus / OFFSETS_FILE, mmap_mode="r", allow_pickle=False)
                intact = offsets.shape == (docs + 1,) and offsets.dtype == np.int64 and int(offsets[0]) == 0
                intact = intact and int(offsets[-1]) == (self.corpus / CORPUS_FILE).stat().st_size
                intact = intact and bool((np.diff(offsets) > 0).all())  # each line holds at least "{}\n"
            except (OSError, ValueError, TypeError):
                intact = False
            if not intact:
                raise SpladeError(f"{self.corpus / OFFSETS_FILE}: does not match {CORPUS_FILE}; download it again")
            self._docs, self._offsets = docs, offsets

    def doc_count(self) -> int:
        self._require_docs()
        return self._docs

    @property
    def docs_file(self) -> Path | None:
        return self.corpus / CORPUS_FILE if self.corpus else None

    expected_doc_count = doc_count

    def docs(self) -> Iterator[tuple[str, str]]:
        return self.docs_range(0, None)

    def docs_range(self, start: int, stop: int | None) -> Iterator[tuple[str, str]]:
        """Documents [start, stop), read from their first line on; a whole pass also checks
        that no id repeats."""
        self._require_docs()
        stop = self._docs if stop is None else min(stop, self._docs)
        if start >= stop:
            return
        path = str(self.corpus / CORPUS_FILE)  # formatted into each line's place: a str is cheaper
        seen = _SeenIds(path, "document") if start == 0 and stop == self._docs else None
        with open(path, "rb") as handle:
            handle.seek(int(self._offsets[start]))
            for row in range(start, stop):
                record = _json_object(handle.readline(), path, row + 1)
                doc_id, text = _id_and_text(record, path, row + 1, row, "document")
                if seen is not None:
                    seen.add(doc_id)
                yield doc_id, text
            if handle.tell() != int(self._offsets[stop]):
                raise SpladeError(f"{self.corpus / OFFSETS_FILE}: does not match {CORPUS_FILE}; download it again")
        if seen is not None:
            seen.check()

    def doc_at(self, row: int) -> tuple[str, str]:
        self._require_docs()
        if not 0 <= row < self._docs:
            raise IndexError(f"document {row} of {self._docs}")
        path = self.corpus / CORPUS_FILE
        if self._handle is None:
            self._handle = open(path, "rb")
        begin, end = int(self._offsets[row]), int(self._offsets[row + 1])
        self._handle.seek(begin - 1 if begin else 0)
        line = self._handle.read(end - begin + (1 if begin else 0))
        if not line.endswith(b"\n") or line.count(b"\n") != (2 if begin else 1):  # one whole line
            raise SpladeError(f"{self.corpus / OFFSETS_FILE}: does not match {CORPUS_FILE}; download it again")
        return _id_and_text(_json_object(line[1:] if begin else line, path, row + 1), path, row + 1, row, "document")

    def queries(self) -> Iterator[tuple[str, str]]:
        self._require_topics()
        yield from _read_queries(self.folder / QUERIES_FILE)

    def has_qrels(self) -> bool:
        return self.manifest["format"] == COLLECTION_FORMAT and (self.folder / QRELS_FILE).exists()

    def qrels(self) -> Iterator[tuple[str, str, int]]:
        if not self.has_qrels():
            raise SpladeError(f"{self.folder}: {self.source!r} has no relevance judgments")
        for query_id, doc_id, relevance, _ in _read_qrels(self.folder / QRELS_FILE):
            yield query_id, doc_id, relevance

    def _require_docs(self) -> None:
        if self._docs is None:
            raise SpladeError(f"{self.folder}: {self.source!r} has no documents")
        if self._docs == 0:
            raise SpladeError(f"{self.corpus / CORPUS_FILE}: no documents")

    def _require_topics(self) -> None:
        if self.manifest["format"] != COLLECTION_FORMAT:
            raise SpladeError(f"{self.folder}: a corpus (documents only), not a collection with queries")


def _check_files(folder: Path, manifest: dict) -> None:
    for name, entry in manifest["files"].items():
        path = folder / name
        if not path.is_file():
            problem = "not a file" if path.exists() else "missing"
            raise SpladeError(f"{path}: {problem}; download {manifest['source']!r} again")
        if path.stat().st_size != entry["bytes"]:
            raise SpladeError(
                f"{path}: {path.stat().st_size} bytes, the manifest records {entry['bytes']}; "
                f"download {manifest['source']!r} again"
            )


# --------------------------------------------------------------------------------------------
# Records of JSON-lines and qrels files, checked as they are read


def _json_object(line: bytes, path: str | Path, number: int) -> dict:
    record = parse_json(line, f"{path}:{number}")
    if not isinstance(record, dict):
        raise SpladeError(f"{path}:{number}: expected a JSON object, got {_json_type(record)}")
    return record


def _records(path: str | Path) -> Iterator[tuple[int, dict]]:
    """(line number, object) of each non-blank line of a JSON-lines file (read as bytes, so that
    a line that is not UTF-8 is named by its number)."""
    with open(path, "rb") as handle:
        yield from json_lines(str(path), handle)  # formatted into each line's place: a str is cheaper


def _id_and_text(record: dict, path: str | Path, number: int, row: int, kind: str) -> tuple[str, str]:
    """`_id` and `text` of record `row` (line `number`), checked by `_record_id` and
    `_record_text`; the common case (two strings, a printable id without spaces) in one test."""
    value, text = record.get("_id"), record.get("text")
    if type(value) is str and type(text) is str and value and value.isprintable() and " " not in value:
        return value, text
    return _record_id(record, path, number, row, kind), _record_text(record, "text", path, number)


def _record_id(record: dict, path: str | Path, number: int, row: int, kind: str) -> str:
    """The `_id` of record `row` (line `number`): a string, or an integer as some BEIR files
    write them, that can be an id (`ids.id_problem`)."""
    value = record.get("_id")
    if type(value) is not str:
        if type(value) is not int:
            raise SpladeError(f"{path}:{number}: {_field_problem(record, '_id')}")
        value = str(value)
    # printable with no space: no whitespace, control character or surrogate (id_problem's
    # rules, at a tenth of its cost); anything else goes to id_problem
    if not (value and value.isprintable() and " " not in value) and (problem := id_problem(value)) is not None:
        raise SpladeError(f"{path}:{number}: {kind} id {value!r} (record {row + 1}) {problem}")
    return value


def _record_text(record: dict, key: str, path: str | Path, number: int, optional: bool = False) -> str:
    """The text field `key` of a record: a string; missing or null is "" if `optional`."""
    value = record.get(key)
    if type(value) is str:
        return value
    if value is None and optional:
        return ""
    raise SpladeError(f"{path}:{number}: {_field_problem(record, key)}")


def _field_problem(record: dict, key: str) -> str:
    if key not in record:
        return f"no {key!r} (a string)"
    return f"{key!r} is {_json_type(record[key])}, not a string"


def _json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"a number ({value!r:.40})"
    return {dict: "an object", list: "an array", str: "a string"}.get(type(value), type(value).__name__)


class _SeenIds:
    """The ids of one file's records, kept as 64-bit hashes (8 bytes an id, not a set of
    strings): `check` names the first id that repeats and the lines of both, reading the file
    again for the few rows whose hashes are equal."""

    def __init__(self, path: str | Path, kind: str):
        self.path, self.kind, self.hashes = path, kind, array("q")

    def add(self, value: str) -> None:
        self.hashes.append(hash(value))

    def check(self) -> None:
        hashes = np.frombuffer(self.hashes, dtype=np.int64)
        order = np.argsort(hashes, kind="stable")
        equal_next = hashes[order][1:] == hashes[order][:-1]
        if not equal_next.any():
            return
        shared = np.zeros(len(hashes), dtype=bool)
        shared[1:] |= equal_next
        shared[:-1] |= equal_next
        rows = set(order[shared].tolist())
        found = {}  # row -> (id, line)
        for row, (number, record) in enumerate(_records(self.path)):
            if row in rows:
                found[row] = (_record_id(record, self.path, number, row, self.kind), number)
        repeat = first_repeat(hashes, lambda row: found[row][0])
        if repeat is not None:
            (value, first), (_, second) = found[repeat[0]], found[repeat[1]]
            raise SpladeError(
                f"{self.path}:{second}: {self.kind} id {value!r} appears twice (lines {first} and {second})"
            )


def _read_queries(
    path: Path, wanted: dict[str, int] | None = None, judged_in: Path | None = None
) -> Iterator[tuple[str, str]]:
    """(id, text) of each query of a JSON-lines file ({"_id", "text"} a line), each id once.
    `wanted` (query id -> line of `judged_in`, BEIR's qrels): only those, each of which must be
    in the file; a judged query without a text would count as a miss in every evaluation."""
    seen: dict[str, int] = {}
    for row, (number, record) in enumerate(_records(path)):
        query_id, text = _id_and_text(record, path, number, row, "query")
        if seen.setdefault(query_id, number) != number:
            raise SpladeError(
                f"{path}:{number}: query id {query_id!r} appears twice (lines {seen[query_id]} and {number})"
            )
        if wanted is None or query_id in wanted:
            yield query_id, text
    if not seen:
        raise SpladeError(f"{path}: no queries")
    if wanted is not None:
        missing = next((query_id for query_id in wanted if query_id not in seen), None)
        if missing is not None:
            raise SpladeError(f"{judged_in}:{wanted[missing]}: query {missing!r} is judged, but not in {path}")


def _read_qrels(path: Path) -> Iterator[tuple[str, str, int, int]]:
    """(query id, doc id, grade, line number) of each judgment of BEIR qrels (query-id,
    corpus-id, score; tab-separated, a header line) or TREC qrels (query-id, iteration, doc-id,
    relevance; whitespace-separated). Grades are 32-bit integers; a pair judged twice must have
    one grade."""
    grades: dict[str, dict[str, int]] = {}
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
                for kind, value in (("query", query_id), ("document", doc_id)):
                    if not (value and value.isprintable() and " " not in value) and (problem := id_problem(value)):
                        raise SpladeError(f"{path}:{number}: {kind} id {value!r} {problem}")
                if not _GRADE.fullmatch(relevance):
                    raise SpladeError(f"{path}:{number}: relevance {relevance!r} is not an integer")
                grade = int(relevance)
                if not _GRADE_RANGE[0] <= grade <= _GRADE_RANGE[1]:
                    raise SpladeError(f"{path}:{number}: relevance {grade} is outside the 32-bit integer range")
                if grades.setdefault(query_id, {}).setdefault(doc_id, grade) != grade:
                    raise SpladeError(
                        f"{path}:{number}: document {doc_id!r} is judged {grade} for query {query_id!r}, "
                        f"and {grades[query_id][doc_id]} on an earlier line"
                    )
                yield query_id, doc_id, grade, number
    except UnicodeDecodeError as exc:
        raise SpladeError(f"{path}: not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise SpladeError(f"{path}: cannot read ({exc.strerror})") from None
    if not grades:
        raise SpladeError(f"{path}: no judgments")


class BeirFolder:
    """corpus.jsonl (_id, title, text), queries.jsonl (_id, text), qrels/<split>.tsv.

    Records are checked as they are read: ids that can be ids and appear once, text fields that
    are strings (a title may be missing or null), every judged query in queries.jsonl.
    """

    def __init__(self, root: Path, split: str):
        self.root = root
        self.split = split
        for name in ("corpus.jsonl", "queries.jsonl"):
            if not (root / name).is_file():
                problem = "is not a file" if (root / name).exists() else "is missing"
                raise SpladeError(f"{root}: not a BEIR folder ({root / name} {problem})")

    @property
    def qrels_path(self) -> Path:
        return self.root / "qrels" / f"{self.split}.tsv"

    @property
    def docs_file(self) -> Path:
        return self.root / "corpus.jsonl"

    def docs(self) -> Iterator[tuple[str, str]]:
        path = self.docs_file
        seen = _SeenIds(path, "document")
        for row, (number, record) in enumerate(_records(path)):
            doc_id, text = _id_and_text(record, path, number, row, "document")
            title = record.get("title")
            title = (title if type(title) is str else _record_text(record, "title", path, number, True)).strip()
            seen.add(doc_id)
            yield doc_id, f"{title} {text}" if title else text
        if not seen.hashes:
            raise SpladeError(f"{path}: no documents")
        seen.check()

    def doc_count(self) -> int:
        path = self.root / "corpus.jsonl"
        with open(path, "rb") as handle:
            count = sum(1 for line in handle if line.strip())
        if not count:
            raise SpladeError(f"{path}: no documents")
        return count

    expected_doc_count = doc_count

    def queries(self) -> Iterator[tuple[str, str]]:
        """The queries, only the judged ones if the split has qrels."""
        wanted = self._judged_queries() if self.has_qrels() else None
        yield from _read_queries(self.root / "queries.jsonl", wanted, self.qrels_path)

    def has_qrels(self) -> bool:
        return self.qrels_path.exists()

    def qrels(self) -> Iterator[tuple[str, str, int]]:
        if not self.has_qrels():
            splits = sorted(p.stem for p in (self.root / "qrels").glob("*.tsv"))
            raise SpladeError(
                f"{self.qrels_path}: missing: {self.root} has no qrels for split {self.split!r} "
                f"(splits: {', '.join(splits) or 'none'})"
            )
        judgments = list(_read_qrels(self.qrels_path))
        wanted = {query_id: number for query_id, _, _, number in reversed(judgments)}  # first lines
        for _ in _read_queries(self.root / "queries.jsonl", wanted, self.qrels_path):
            pass
        for query_id, doc_id, relevance, _ in judgments:
            yield query_id, doc_id, relevance

    def _judged_queries(self) -> dict[str, int]:
        """Each judged query id and the first qrels line that judges it."""
        judged: dict[str, int] = {}
        for query_id, _, _, number in _read_qrels(self.qrels_path):
            judged.setdefault(query_id, number)
        return judged


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
