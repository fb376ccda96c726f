"""Pre-encoded vectors from other tools → this project's sparse-vector files.

What `export` writes, and what is published for Anserini's SPLADE regressions, read back:

- ``jsonl``: Anserini JsonVectorCollection lines ``{"id": ..., "contents": ..., "vector":
  {token: weight}}`` (queries: ``{"id": ..., "vector": {...}}``), plain or ``.gz``, in one file
  or many (published corpora come as shards; they are read in the order given);
- ``tsv``: pretokenized queries ``query_id<TAB>token token ...``, a token's weight being how
  many times it appears (Anserini's TsvString topics);
- ``npz``: this project's own files, e.g. encoded elsewhere;
- ``ciff``: a CIFF index (``.ciff``, plain or ``.gz``; what `export` writes, what Anserini
  exports from Lucene): one row per DocRecord in docid order, its id the collection_docid, a
  term's weight its tf (`splade_core.formats.ciff.CiffReader` transposes the postings with
  bounded memory).

Tokens become term ids through a vocabulary (the tokenizer of the model that encoded the
vectors). A token the vocabulary lacks is an error naming the file and line, or, with
``unknown="drop"``, dropped and counted. Weights are divided by `scale` (published Anserini
vectors are impacts, weights ×100) and written as float32, so a study quantizes imported
vectors exactly as its own; a quantized ``.npz`` is divided by its own scale. Rows stream in
blocks: memory is one block plus the ids (CIFF: see `CiffReader`).

Every malformed input is an error naming the file and line (or record): JSON that does not
parse or nests too deeply, an id that is not a string, a weight that is not a finite
non-negative number or that float32 cannot hold once divided by `scale`; a bad or repeated id
names the line it came from too.
"""

from __future__ import annotations

import bisect
import gzip
import math
import os
import zlib
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np

from ..errors import SpladeError
from ..io import file_problem, parse_json
from ..registry import IMPORT_FORMATS as FORMATS
from ..registry import UNKNOWN_TOKENS
from ..sparse import SparseVectorsWriter, VectorFile
from .ciff import CiffReader
from .vocabulary import Vocabulary

_BLOCK_ROWS = 10_000  # rows parsed at once: a 10,000-row block of SPLADE JSON peaks near 600 MB


def detect_format(path: str | os.PathLike) -> str:
    """The format of a file from its name: .npz, .ciff[.gz], .tsv[.gz], else JSON lines (.jsonl,
    .json[.gz])."""
    name = Path(path).name.removesuffix(".gz")
    for suffix in ("npz", "ciff", "tsv"):
        if name.endswith(f".{suffix}"):
            return suffix
    return "jsonl"


def import_vectors(
    paths: Sequence[str | os.PathLike],
    output: str | os.PathLike,
    vocabulary: Vocabulary | None,
    *,
    format: str = "auto",
    scale: float = 1.0,
    unknown: str = "error",
    meta: Mapping | None = None,
) -> dict:
    """Read `paths` (in order) into one float sparse-vector file; returns what was read.

    `vocabulary` maps tokens for jsonl/tsv (an npz file carries term ids and needs none).
    """
    if not paths:
        raise SpladeError("import needs at least one input file")
    formats = {detect_format(path) if format == "auto" else format for path in paths}
    if len(formats) != 1 or not formats <= set(FORMATS):
        raise SpladeError(f"inputs must share one format of {FORMATS}, got {sorted(formats)}")
    (kind,) = formats
    if unknown not in UNKNOWN_TOKENS:
        raise SpladeError(f"unknown must be one of {UNKNOWN_TOKENS}, not {unknown!r}")
    if not np.isfinite(scale) or scale <= 0:
        raise SpladeError(f"scale must be a positive number, not {scale}")
    if kind == "npz":
        return _import_npz(paths, output, vocabulary, meta)
    if vocabulary is None:
        raise SpladeError(f"{kind} vectors name tokens: a vocabulary (the encoder's tokenizer) is needed")
    source = {"files": [str(p) for p in paths], "format": kind, "scale": scale, "unknown": unknown}
    record = {**(meta or {}), "imported": source}
    dropped = 0
    origins = _Origins()
    with SparseVectorsWriter(output, len(vocabulary), np.float32, record, row_origin=origins) as writer:
        for path in paths:
            if kind == "ciff":
                dropped += _append_ciff(writer, Path(path), vocabulary, scale, unknown, origins)
                continue
            for block in _blocks(Path(path), kind):
                rows, dropped_here = _to_rows(block, vocabulary, scale, unknown, Path(path))
                origins.add(writer.rows, Path(path), lines=np.array([number for number, _, _ in block], np.uint32))
                writer.append(*rows)
                dropped += dropped_here
        source["dropped_tokens"] = dropped
    return {"rows": writer.rows, "nnz": writer.nnz, "dropped_tokens": dropped, "format": kind}


class _Origins:
    """Where each row written so far came from, for the writer's messages: ``file:line`` of a
    text input, ``file (DocRecord n)`` of a CIFF one, ``file (row n)`` of a vector file."""

    def __init__(self):
        self._starts: list[int] = []
        self._blocks: list[tuple[Path, np.ndarray | None, str, int]] = []

    def add(self, first_row: int, path: Path, lines: np.ndarray | None = None, unit: str = "", first: int = 0):
        """Rows from `first_row` on come from `path`: its `lines`, else its `unit`s from `first`."""
        self._starts.append(first_row)
        self._blocks.append((path, lines, unit, first))

    def __call__(self, row: int) -> str:
        block = bisect.bisect_right(self._starts, row) - 1
        if block < 0:
            return f"row {row + 1}"
        path, lines, unit, first = self._blocks[block]
        offset = row - self._starts[block]
        if lines is not None and offset < len(lines):
            return f"{path}:{lines[offset]}"
        return f"{path} ({unit} {first + offset + 1})"


def _append_ciff(
    writer: SparseVectorsWriter, path: Path, vocabulary: Vocabulary, scale: float, unknown: str, origins: _Origins
) -> int:
    """Append a CIFF file's documents (docid order) to `writer`; returns the postings dropped."""
    if (problem := file_problem(path)) is not None:
        raise SpladeError(f"{path}: {problem}")
    reader = CiffReader(path)
    scan = reader.scan()
    terms = vocabulary.ids_of(scan.terms)
    missing = terms < 0
    if missing.any() and unknown == "error":
        first = int(np.argmax(missing))
        raise SpladeError(
            f"{path}: term {scan.terms[first]!r} (postings list {first + 1}) is not in the vocabulary of "
            f"{vocabulary.name} (unknown: drop skips such terms)"
        )
    known = terms[~missing]
    if len(np.unique(known)) != len(known):
        values, counts = np.unique(known, return_counts=True)
        raise SpladeError(f"{path}: term {vocabulary.tokens[values[np.argmax(counts > 1)]]!r} has two postings lists")
    first = writer.rows
    origins.add(first, path, unit="DocRecord")
    for indptr, indices, tfs, ids in reader.blocks(scan, terms, writer.path):
        with np.errstate(over="ignore"):  # found below
            weights = (tfs / scale).astype(np.float32)
        if not np.isfinite(weights).all():
            at = int(np.argmax(~np.isfinite(weights)))
            document = int(np.searchsorted(indptr, indptr[0] + at, side="right")) - 1 + writer.rows - first
            raise SpladeError(
                f"{path}: DocRecord {document + 1}: tf {tfs[at]} divided by scale {scale:g} is beyond float32's range"
            )
        writer.append(indptr, indices, weights, ids)
    return int(scan.lengths[missing].sum())


def _blocks(path: Path, kind: str) -> Iterator[list[tuple[int, str, dict]]]:
    """(line number, id, {token: weight}) of each record, a block at a time."""
    if (problem := file_problem(path)) is not None:
        raise SpladeError(f"{path}: {problem}")
    opener = gzip.open if path.name.endswith(".gz") else open
    block = []
    try:
        with opener(path, "rt", encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                block.append((number, *(_tsv_record if kind == "tsv" else _json_record)(line, path, number)))
                if len(block) == _BLOCK_ROWS:
                    yield block
                    block = []
    except (OSError, EOFError, UnicodeDecodeError, zlib.error) as exc:
        raise SpladeError(f"{path}: cannot read ({exc})") from None
    if block:
        yield block


def _json_record(line: str, path: Path, number: int) -> tuple[str, dict]:
    record = parse_json(line, f"{path}:{number}")  # invalid, too deeply nested, or no valid Unicode: one line
    if not isinstance(record, dict) or not isinstance(record.get("vector"), dict) or "id" not in record:
        raise SpladeError(f'{path}:{number}: a record needs an "id" and a "vector" object of token weights')
    record_id = record["id"]
    if isinstance(record_id, bool) or not isinstance(record_id, (str, int)):
        raise SpladeError(f'{path}:{number}: "id" must be a string (or an integer), not {type(record_id).__name__}')
    return str(record_id), record["vector"]


def _tsv_record(line: str, path: Path, number: int) -> tuple[str, dict]:
    query_id, tab, tokens = line.rstrip("\n").partition("\t")
    if not tab:
        raise SpladeError(f"{path}:{number}: expected query_id<TAB>tokens")
    return query_id, Counter(tokens.split())


def _to_rows(block, vocabulary: Vocabulary, scale: float, unknown: str, path: Path):
    """CSR arrays and ids of a block, each row's terms ascending; and the tokens dropped."""
    lengths = np.array([len(vector) for _, _, vector in block], dtype=np.int64)
    tokens = [token for _, _, vector in block for token in vector]
    values = [weight for _, _, vector in block for weight in vector.values()]
    weights = None
    if set(map(type, values)) <= {int, float}:  # no bool, no numeric string: numpy would take both
        try:
            weights = np.array(values, dtype=np.float64)
        except OverflowError:  # an integer beyond float64
            pass
    rows = np.repeat(np.arange(len(block)), lengths)
    if weights is None or not np.isfinite(weights).all() or (weights < 0).any():
        at = _first_row_where(block, lambda w: not _is_weight(w))
        raise SpladeError(f"{path}:{block[at][0]}: weights must be finite non-negative numbers")
    terms = vocabulary.ids_of(tokens)
    missing = terms < 0
    if missing.any():
        if unknown == "error":
            first = int(np.argmax(missing))
            raise SpladeError(
                f"{path}:{block[rows[first]][0]}: token {tokens[first]!r} is not in the vocabulary of "
                f"{vocabulary.name} (unknown: drop skips such tokens)"
            )
        rows, terms, weights = rows[~missing], terms[~missing], weights[~missing]
    with np.errstate(over="ignore"):  # found below
        scaled = (weights / scale).astype(np.float32)
    if not np.isfinite(scaled).all():  # finite in float64, too large for float32
        at = int(np.argmax(~np.isfinite(scaled)))
        raise SpladeError(
            f"{path}:{block[rows[at]][0]}: weight {weights[at]:g} divided by scale {scale:g} is beyond float32's range"
        )
    order = np.lexsort((terms, rows))
    rows, terms, weights = rows[order], terms[order].astype(np.int32), scaled[order]
    indptr = np.zeros(len(block) + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=len(block)), out=indptr[1:])
    ids = np.array([record_id for _, record_id, _ in block], dtype=str)
    return (indptr, terms, weights, ids), int(missing.sum())


def _first_row_where(block, bad) -> int:
    return next(row for row, (_, _, vector) in enumerate(block) if any(bad(w) for w in vector.values()))


def _is_weight(value) -> bool:
    """A finite non-negative JSON number (not a bool, not a string)."""
    if type(value) not in (int, float):
        return False
    try:
        return math.isfinite(float(value)) and value >= 0
    except OverflowError:
        return False


def _import_npz(paths, output, vocabulary: Vocabulary | None, meta: Mapping | None) -> dict:
    """This project's files, concatenated; quantized ones are divided by their scale."""
    with VectorFile(paths[0]) as first:
        vocab_size = first.vocab_size
    if vocabulary is not None:
        vocabulary.check_size(vocab_size, paths[0])
    record = {**(meta or {}), "imported": {"files": [str(p) for p in paths], "format": "npz"}}
    origins = _Origins()
    with SparseVectorsWriter(output, vocab_size, np.float32, record, row_origin=origins) as writer:
        for path in paths:
            with VectorFile(path) as part:
                if part.vocab_size != vocab_size:
                    raise SpladeError(f"{path}: {part.vocab_size} terms, {paths[0]} {vocab_size}")
                origins.add(writer.rows, Path(path), unit="row")
                # its metadata was checked when it was opened: a quantization record has a positive scale
                divisor = float(part.meta.get("quantization", {}).get("scale", 1.0)) if part.is_quantized else 1.0
                for chunk in part.chunks():
                    weights = (chunk.data / divisor).astype(np.float32) if part.is_quantized else chunk.data
                    writer.append(chunk.indptr, chunk.indices, weights, chunk.ids)
    return {"rows": writer.rows, "nnz": writer.nnz, "dropped_tokens": 0, "format": "npz"}
