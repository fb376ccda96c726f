"""One view over every collection the project reads.

A collection spec is either
- an ir_datasets id (``beir/scifact/test``, ``msmarco-passage/dev/small``, ``beir/trec-covid``);
  the bundled SciFact is seeded into ir_datasets' cache, so ``beir/scifact/{train,test}`` work
  offline through the very code path that downloads MS MARCO or BEIR when a network exists;
- a local folder in BEIR layout (``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``),
  written ``PATH`` (split ``test``) or ``PATH:SPLIT``;
- ``bundled/<name>`` for a collection shipped in the package (``bundled/cranfield``).

Documents are ``(doc_id, text)`` with text = title + " " + body, as BEIR and SPLADE use them.
"""

from __future__ import annotations

import csv
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..errors import SpladeError
from ..io import atomic_path

BUNDLED_ROOT = Path(str(resources.files("splade_core") / "resources" / "datasets"))
# ir_datasets ids served from a bundled BEIR folder: id prefix -> folder.
SEEDED_IR_DATASETS = {"beir/scifact": "scifact"}
BUNDLED = {"bundled/cranfield": "cranfield", "bundled/scifact": "scifact"}
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Collection:
    """Documents, queries and judgments of one collection split, read lazily."""

    spec: str
    _source: object

    def docs(self) -> Iterator[tuple[str, str]]:
        return self._source.docs()

    def doc_count(self) -> int:
        return self._source.doc_count()

    def queries(self) -> list[tuple[str, str]]:
        return list(self._source.queries())

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
    if spec in BUNDLED:
        return Collection(spec, BeirFolder(BUNDLED_ROOT / BUNDLED[spec], "test"))
    folder, _, split = spec.partition(":") if not Path(spec).exists() else (spec, "", "")
    if Path(folder).is_dir():
        return Collection(spec, BeirFolder(Path(folder), split or "test"))
    return Collection(spec, IrDataset(spec))


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
        for record in _read_jsonl(self.root / "corpus.jsonl"):
            title = (record.get("title") or "").strip()
            text = record.get("text") or ""
            yield str(record["_id"]), f"{title} {text}" if title else text

    def doc_count(self) -> int:
        with open(self.root / "corpus.jsonl", "rb") as handle:
            return sum(1 for line in handle if line.strip())

    def queries(self) -> Iterator[tuple[str, str]]:
        wanted = {query_id for query_id, _, _ in self.qrels()} if self.has_qrels() else None
        for record in _read_jsonl(self.root / "queries.jsonl"):
            if wanted is None or str(record["_id"]) in wanted:
                yield str(record["_id"]), record["text"]

    def has_qrels(self) -> bool:
        return self.qrels_path.is_file()

    def qrels(self) -> Iterator[tuple[str, str, int]]:
        if not self.has_qrels():
            splits = sorted(p.stem for p in (self.root / "qrels").glob("*.tsv"))
            raise SpladeError(f"{self.root}: no qrels for split {self.split!r} (splits: {', '.join(splits) or 'none'})")
        with open(self.qrels_path, newline="") as handle:
            rows = csv.reader(handle, delimiter="\t")
            for row in rows:
                if not row or row[0] == "query-id":
                    continue
                yield row[0], row[1], int(row[2])


class IrDataset:
    """An ir_datasets dataset; the bundled SciFact is seeded into its cache first."""

    def __init__(self, dataset_id: str):
        import ir_datasets

        seed_bundled_ir_datasets(dataset_id)
        try:
            self.dataset = ir_datasets.load(dataset_id)
        except KeyError:
            raise SpladeError(
                f"unknown dataset {dataset_id!r}: not an ir_datasets id, a BEIR folder, or one of {sorted(BUNDLED)}"
            ) from None
        self.dataset_id = dataset_id

    def docs(self) -> Iterator[tuple[str, str]]:
        for doc in self._iter("docs"):
            yield doc.doc_id, _default_text(doc)

    def doc_count(self) -> int:
        self._require("docs")
        count = self.dataset.docs_metadata().get("count")  # no docstore build needed
        return int(count) if count is not None else sum(1 for _ in self.docs())

    def queries(self) -> Iterator[tuple[str, str]]:
        for query in self._iter("queries"):
            yield query.query_id, _default_text(query)

    def has_qrels(self) -> bool:
        return self.dataset.has_qrels()

    def qrels(self) -> Iterator[tuple[str, str, int]]:
        for qrel in self._iter("qrels"):
            yield qrel.query_id, qrel.doc_id, qrel.relevance

    def _require(self, part: str) -> None:
        if not getattr(self.dataset, f"has_{part}")():
            raise SpladeError(f"dataset {self.dataset_id!r} has no {part}")

    def _iter(self, part: str):
        self._require(part)
        try:
            yield from getattr(self.dataset, f"{part}_iter")()
        except OSError as exc:  # download failures surface as IOError subclasses
            raise SpladeError(f"dataset {self.dataset_id!r}: cannot read {part} ({exc})") from None


def _default_text(record) -> str:
    if hasattr(record, "default_text"):
        return record.default_text()
    return record.text


def _read_jsonl(path: Path) -> Iterator[dict]:
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise SpladeError(f"{path}:{number}: invalid JSON ({exc.msg})") from None


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
