"""CIFF, the Common Index File Format: quantized vectors → a CIFF index, and a CIFF index → rows.

CIFF (Lin et al., "Supporting Interoperability Between Open-Source Search Engines with the
Common Index File Format", SIGIR 2020; github.com/osirrc/ciff, CommonIndexFileFormat.proto) is
one file of length-delimited protobuf messages: a Header (version, num_postings_lists,
num_doc_records, total_postings_lists, total_docs, total_terms_in_collection,
average_doclength, description), one PostingsList per term (term, df, cf, postings as
docid gaps with a tf each), then one DocRecord per document (docid, collection_docid,
doclength). PISA (ciff2pisa) and BMP (ciff2bmp) read it, Anserini writes it from Lucene. The
protobuf wire format is read and written here directly (varints, no protobuf dependency).

CIFF is term-major and this project's files are row-major, so both directions transpose
through temporary files beside the output, a block of `_BLOCK_POSTINGS` postings at a time:
memory stays bounded whatever the collection size (see `write_ciff` and `CiffReader`).
Varints are encoded and decoded with numpy, a window of postings at a time.
"""

from __future__ import annotations

import gzip
import os
import shutil
import struct
import tempfile
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from ..errors import SpladeError
from ..io import atomic_path
from ..sparse import SparseVectors, VectorFile
from .streams import chunks_of, maybe_gzip, progress_bar, require_impacts
from .vocabulary import check_vocabulary

CIFF_VERSION = 1
# Postings transposed at once (a term group when writing, a document range when reading):
# about 100 bytes a posting while encoding, 30 while decoding.
_BLOCK_POSTINGS = 1 << 21
_WINDOW_BYTES = 1 << 20  # bytes of postings decoded at once
_RECORD_BYTES = 1 << 22  # bytes of DocRecords decoded at once
_INT32_LIMIT = 1 << 31
_POSTING_TAG, _DOC_TAG, _TF_TAG = 0x22, 0x08, 0x10  # PostingsList field 4; Posting fields 1 and 2
_MAX_DEFLATE_RATIO = 1032  # no gzip member expands more than this
_RADIX_LIMIT = 1 << 16


class CiffError(ValueError):
    """A CIFF file that breaks the format (the reader adds the file and where)."""


# --- writing ---------------------------------------------------------------------------------


def write_ciff(
    vectors: SparseVectors | VectorFile,
    path: str | os.PathLike,
    vocab: Sequence[str] | None = None,
    description: str = "",
    *,
    compress: bool | None = None,
    progress: bool = False,
) -> dict:
    """Write quantized vectors as a CIFF index (tf = impact, doc length = sum of impacts).

    Documents are numbered by row (docid i = row i, collection_docid = ids[i]); terms are
    written in lexicographic order of their strings (as Lucene exports them), only those
    with at least one posting; `vocab=None` names term i by its decimal id. A `VectorFile` is
    streamed: one pass sorts its postings into term groups of about `_BLOCK_POSTINGS` postings
    (temporary files beside `path`, 9–10 bytes a posting) and writes the DocRecords aside, a
    second encodes group after group; memory is one chunk or one group. The output is plain
    unless `compress` is true or, by default, `path` ends in ``.gz``.
    """
    require_impacts(vectors)
    df = vectors.term_df()
    used = np.flatnonzero(df)
    tokens = check_vocabulary(used, vocab)
    names = [tokens[t] if tokens is not None else str(t) for t in used]
    order = sorted(range(len(used)), key=names.__getitem__)
    if any(names[a] == names[b] for a, b in zip(order, order[1:])):
        raise ValueError("two terms in use share a token string")
    terms = used[order]  # term ids in the order they are written
    names = [names[i] for i in order]
    position = np.full(vectors.vocab_size, -1, dtype=np.int32)
    position[terms] = np.arange(len(terms), dtype=np.int32)
    group_starts = _group_starts(df[terms])  # first position of each term group
    group_of = np.repeat(np.arange(len(group_starts) - 1, dtype=np.int32), np.diff(group_starts))
    records = np.dtype([("doc", "<i4"), ("position", "<i4"), ("tf", "<u2")])  # impacts are uint8 or uint16
    path = Path(path)
    with atomic_path(path) as tmp, _workdir(path) as work:
        groups = _Blocks(work, "group", records)
        total_terms = 0
        with (
            open(work / "docs", "wb") as doc_records,
            progress_bar(progress, vectors.n_rows, "ciff: sort", "doc") as bar,
        ):
            row = 0
            for chunk in chunks_of(vectors):
                docs = np.repeat(np.arange(row, row + chunk.n_rows, dtype=np.int32), chunk.row_nnz())
                positions = position[chunk.indices]
                groups.append(group_of[positions], docs, positions, chunk.data)
                sums = np.zeros(chunk.nnz + 1, dtype=np.int64)
                np.cumsum(chunk.data, dtype=np.int64, out=sums[1:])
                lengths = sums[chunk.indptr[1:]] - sums[chunk.indptr[:-1]]
                total_terms += int(lengths.sum())
                doc_records.write(_doc_records(row, chunk.ids, lengths))
                row += chunk.n_rows
                bar.update(chunk.n_rows)
        header = b"".join(
            [
                _field_varint(1, CIFF_VERSION),
                _field_varint(2, len(terms)),
                _field_varint(3, vectors.n_rows),
                _field_varint(4, len(terms)),
                _field_varint(5, vectors.n_rows),
                _field_varint(6, total_terms),
                _field_double(7, total_terms / vectors.n_rows if vectors.n_rows else 0.0),
                _field_bytes(8, description.encode()),
            ]
        )
        with open(tmp, "wb") as raw, maybe_gzip(raw, path, compress) as out:
            out.write(_varint(len(header)) + header)
            with progress_bar(progress, vectors.nnz, "ciff: write", "posting") as bar:
                for group in range(len(group_starts) - 1):
                    block = groups.read(group)
                    first, last = int(group_starts[group]), int(group_starts[group + 1])
                    block = block[_stable_order(block["position"] - first, last - first)]  # docs stay ascending
                    lengths = np.bincount(block["position"] - first, minlength=last - first)
                    _write_postings_lists(out, names[first:last], lengths, block["doc"], block["tf"])
                    bar.update(len(block))
            with open(work / "docs", "rb") as doc_records:
                shutil.copyfileobj(doc_records, out, 1 << 20)
    return {"rows": vectors.n_rows, "nnz": vectors.nnz, "terms": len(terms)}


def _group_starts(df: np.ndarray) -> np.ndarray:
    """Boundaries of consecutive groups of terms of at most `_BLOCK_POSTINGS` postings each (a
    term longer than that alone), as positions: [0, ..., len(df)]."""
    ends = np.cumsum(df, dtype=np.int64)
    cuts = np.searchsorted(ends, np.arange(1, _blocks_for(int(ends[-1]) if len(ends) else 0)) * _BLOCK_POSTINGS)
    return np.unique(np.concatenate([[0], cuts, [len(df)]])).astype(np.int64)


def _blocks_for(postings: int) -> int:
    return max(1, -(-postings // _BLOCK_POSTINGS))


def _stable_order(keys: np.ndarray, bound: int) -> np.ndarray:
    """The stable argsort of non-negative integer keys below `bound`: a radix sort (numpy's for
    16-bit keys, 10x its int32 merge sort) when they fit in 16 bits."""
    return np.argsort(keys.astype(np.uint16) if bound <= _RADIX_LIMIT else keys, kind="stable")


def _doc_records(first_row: int, ids: np.ndarray, lengths: np.ndarray) -> bytes:
    """The DocRecord messages of consecutive rows (docid, collection_docid, doclength)."""
    out = bytearray()
    for offset, (doc_id, length) in enumerate(zip(ids.tolist(), lengths.tolist())):
        record = _field_varint(1, first_row + offset) + _field_bytes(2, doc_id.encode()) + _field_varint(3, length)
        out += _varint(len(record)) + record
    return bytes(out)


def _write_postings_lists(out: IO[bytes], names: list[str], lengths: np.ndarray, docs, tfs) -> None:
    """Encode the PostingsList messages of consecutive terms, whose postings (document indices
    ascending within each term) are concatenated in `docs` and `tfs`."""
    docs, tfs = docs.astype(np.int64), tfs.astype(np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    gaps = docs.copy()
    gaps[1:] -= docs[:-1]
    heads = starts[:-1][lengths > 0]
    gaps[heads] = docs[heads]
    # One Posting message: [0x08 varint(gap)] if gap, [0x10 varint(tf)] if tf; framed as
    # field 4 of PostingsList: 0x22, length (< 128 bytes always), message.
    has_gap, has_tf = gaps > 0, tfs > 0
    gap_sizes, tf_sizes = _varint_sizes(gaps[has_gap]), _varint_sizes(tfs[has_tf])
    gap_bytes = np.zeros(len(gaps), dtype=np.int64)
    gap_bytes[has_gap] = 1 + gap_sizes
    tf_bytes = np.zeros(len(tfs), dtype=np.int64)
    tf_bytes[has_tf] = 1 + tf_sizes
    message = gap_bytes + tf_bytes
    offsets = np.zeros(len(message) + 1, dtype=np.int64)
    np.cumsum(2 + message, out=offsets[1:])
    encoded = np.empty(int(offsets[-1]), dtype=np.uint8)
    at = offsets[:-1]
    encoded[at] = _POSTING_TAG
    encoded[at + 1] = message
    gap_at = at[has_gap] + 2
    encoded[gap_at] = _DOC_TAG
    _put_varints(encoded, gap_at + 1, gaps[has_gap], gap_sizes)
    tf_at = (at + 2 + gap_bytes)[has_tf]
    encoded[tf_at] = _TF_TAG
    _put_varints(encoded, tf_at + 1, tfs[has_tf], tf_sizes)
    cfs = np.add.reduceat(tfs, starts[:-1]) if len(tfs) else np.zeros(len(names), np.int64)
    for j, name in enumerate(names):
        body_start, body_end = offsets[starts[j]], offsets[starts[j + 1]]
        head = _field_bytes(1, name.encode()) + _field_varint(2, int(lengths[j])) + _field_varint(3, int(cfs[j]))
        out.write(_varint(len(head) + int(body_end - body_start)) + head)
        out.write(encoded[body_start:body_end].tobytes())


def _varint_sizes(values: np.ndarray) -> np.ndarray:
    """Bytes in the base-128 varint of each (non-negative int64) value."""
    sizes = np.ones(len(values), dtype=np.int64)
    top, shift = (int(values.max()) if len(values) else 0), 7
    while top >> shift:
        sizes += values >= (1 << shift)
        shift += 7
    return sizes


def _put_varints(out: np.ndarray, at: np.ndarray, values: np.ndarray, sizes: np.ndarray) -> None:
    """Write the varint of each value at out[at[i]:at[i] + sizes[i]] (low 7-bit groups first)."""
    for byte in range(int(sizes.max()) if len(sizes) else 0):
        if byte:
            live = sizes > byte
            at, values, sizes = at[live], values[live], sizes[live]
        group = (values >> (7 * byte)) & 0x7F
        out[at + byte] = group | ((sizes > byte + 1) << 7)


def _varint(value: int) -> bytes:
    if value < 0:
        raise ValueError(f"cannot encode a negative varint ({value})")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field_varint(field: int, value: int) -> bytes:
    """A varint field (wire type 0); proto3 leaves a zero value out."""
    return _varint(field << 3) + _varint(value) if value else b""


def _field_bytes(field: int, value: bytes) -> bytes:
    """A length-delimited field (wire type 2); proto3 leaves an empty value out."""
    return _varint(field << 3 | 2) + _varint(len(value)) + value if value else b""


def _field_double(field: int, value: float) -> bytes:
    """A double field (wire type 1, 8 bytes little-endian)."""
    return _varint(field << 3 | 1) + struct.pack("<d", value) if value else b""


@contextmanager
def _workdir(output: Path) -> Iterator[Path]:
    """A temporary folder beside `output`, named so that the next writer of `output` removes
    it if this process is killed (`remove_stale_temps`)."""
    output.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".tmp-{output.name}.ciff-", dir=output.parent))
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


class _Blocks:
    """Records sorted into numbered files by block (term group or document range): appended
    chunk after chunk, each block read back whole, in the order appended."""

    def __init__(self, folder: Path, name: str, dtype: np.dtype):
        self.folder, self.name, self.dtype = folder, name, dtype

    def append(self, block_of: np.ndarray, *columns: np.ndarray) -> None:
        if not len(block_of):
            return
        order = _stable_order(block_of, int(block_of.max()) + 1)
        records = np.empty(len(order), dtype=self.dtype)
        for field, column in zip(self.dtype.names, columns):
            records[field] = column[order]
        ordered = block_of[order]
        starts = np.concatenate([[0], np.flatnonzero(ordered[1:] != ordered[:-1]) + 1])
        ends = np.append(starts[1:], len(order))
        for block, start, end in zip(ordered[starts].tolist(), starts.tolist(), ends.tolist()):
            with open(self.folder / f"{self.name}{block}", "ab") as handle:
                handle.write(records[start:end].tobytes())

    def read(self, block: int) -> np.ndarray:
        path = self.folder / f"{self.name}{block}"
        records = np.fromfile(path, dtype=self.dtype) if path.exists() else np.zeros(0, self.dtype)
        path.unlink(missing_ok=True)
        return records


# --- reading ---------------------------------------------------------------------------------


@dataclass
class CiffScan:
    """What a first pass over a CIFF file found: each postings list's term and length, the
    postings of each document, and the collection_docids in docid order (UTF-8 bytes)."""

    terms: list[str]
    lengths: np.ndarray  # postings of each list, in file order
    doc_postings: np.ndarray  # int32, postings of each document (docid)
    ids: np.ndarray  # 'S' array, by docid
    max_tf: int
    header: dict[int, object]


class CiffReader:
    """A CIFF file read as this project's rows (one per DocRecord, in docid order).

    `scan()` reads the file once: the header, every postings list (its term string; its
    postings only counted per document) and the DocRecords. `blocks()` reads the postings again
    and sorts them into document ranges of about `_BLOCK_POSTINGS` postings (temporary files,
    12 bytes a posting, beside the output), then yields the ranges as CSR blocks, term ids
    ascending in each row.

    Memory: 4 bytes a document (its postings count) plus its collection_docid; the longest
    postings list decoded (16 bytes a posting: docids and tfs); ~30 bytes a posting of one
    document range. Nothing is held per posting as a Python object: varints are decoded with
    numpy a window of postings at a time, in the regular shape every writer produces
    (tag, length, docid-gap field, tf field); any other valid encoding is parsed field by field.
    Plain and gzip-compressed (``.gz``) files are read as streams; every read is bounded by the
    header's counts and the bytes the file can hold, so a corrupt or truncated file ends in a
    `SpladeError` naming the file and the message.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.is_file():
            raise SpladeError(f"{self.path}: no such file")
        self.gzipped = self.path.name.endswith(".gz")
        size = self.path.stat().st_size
        self.max_bytes = size * _MAX_DEFLATE_RATIO if self.gzipped else size

    def scan(self) -> CiffScan:
        with self._stream() as stream:
            header = self._header(stream)
            n_lists, n_docs = header[2], header[3]
            counts = np.zeros(n_docs, dtype=np.int32)
            terms, lengths, max_tf = [], np.zeros(n_lists, dtype=np.int64), 0
            for index in range(n_lists):
                term, docs, tfs = self._postings_list(stream, index, n_lists, n_docs)
                terms.append(term)
                lengths[index] = len(docs)
                counts[docs] += 1  # a list's docids are unique
                max_tf = max(max_tf, int(tfs.max()) if len(tfs) else 0)
            ids = self._doc_records(stream, n_docs)
            if not stream.at_end():
                raise self._corrupt(f"bytes follow the last of the {n_docs} DocRecords")
        return CiffScan(terms, lengths, counts, ids, max_tf, header)

    def blocks(
        self, scan: CiffScan, term_ids: np.ndarray, output: Path
    ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
        """(indptr, term ids, tfs, ids) of consecutive document ranges, postings of the lists
        whose `term_ids` entry is negative left out; the temporary files go beside `output`."""
        with _workdir(output) as work:
            yield from self._blocks(scan, term_ids, work)

    def _blocks(self, scan: CiffScan, term_ids: np.ndarray, workdir: Path):
        n_docs = len(scan.doc_postings)
        ends = np.cumsum(scan.doc_postings, dtype=np.int64)
        total = int(ends[-1]) if n_docs else 0
        cuts = np.searchsorted(ends, np.arange(1, _blocks_for(total)) * _BLOCK_POSTINGS, side="right")
        every = np.arange(0, n_docs, _RADIX_LIMIT)  # at most 2^16 rows a block: rows sort as uint16
        first_rows = np.unique(np.concatenate([every, cuts, [0, n_docs]])).astype(np.int64)
        vocab_bound = int(term_ids.max()) + 1 if len(term_ids) else 1
        tf_type = "<u2" if scan.max_tf < 1 << 16 else "<u4"
        blocks = _Blocks(workdir, "docs", np.dtype([("doc", "<i4"), ("term", "<i4"), ("tf", tf_type)]))
        pending: list[tuple[np.ndarray, np.ndarray, int]] = []
        held = 0
        with self._stream() as stream:
            header = self._header(stream)
            for index in range(header[2]):
                _, docs, tfs = self._postings_list(stream, index, header[2], n_docs)
                if term_ids[index] >= 0 and len(docs):
                    pending.append((docs, tfs, int(term_ids[index])))
                    held += len(docs)
                if held >= _BLOCK_POSTINGS or (index == header[2] - 1 and pending):
                    docs = np.concatenate([d for d, _, _ in pending])
                    terms = np.repeat([t for _, _, t in pending], [len(d) for d, _, _ in pending])
                    tfs = np.concatenate([f for _, f, _ in pending])
                    blocks.append(np.searchsorted(first_rows, docs, side="right") - 1, docs, terms, tfs)
                    pending, held = [], 0
        for block in range(len(first_rows) - 1):
            first, last = int(first_rows[block]), int(first_rows[block + 1])
            records = blocks.read(block)
            order = _stable_order(records["term"], vocab_bound)
            records = records[order[_stable_order(records["doc"][order] - first, last - first)]]
            indptr = np.zeros(last - first + 1, dtype=np.int64)
            np.cumsum(np.bincount(records["doc"] - first, minlength=last - first), out=indptr[1:])
            yield indptr, records["term"].astype(np.int32), records["tf"], np.char.decode(scan.ids[first:last], "utf-8")

    # --- the messages ---

    @contextmanager
    def _stream(self) -> Iterator[_Stream]:
        try:
            with open(self.path, "rb") as raw:
                source = gzip.GzipFile(fileobj=raw, mode="rb") if self.gzipped else raw
                yield _Stream(source, self)
        except (OSError, EOFError, zlib.error) as exc:
            raise SpladeError(f"{self.path}: cannot read ({exc})") from None

    def _corrupt(self, problem: str) -> SpladeError:
        return SpladeError(f"{self.path}: not a valid CIFF file ({problem})")

    def _header(self, stream: _Stream) -> dict[int, object]:
        message = stream.message("the Header")
        try:
            fields = {number: values[-1] for number, values in _fields(message, 0, len(message)).items()}
        except CiffError as exc:
            raise self._corrupt(f"Header: {exc}") from None
        for number, name in ((2, "num_postings_lists"), (3, "num_doc_records")):
            value = fields.setdefault(number, 0)
            if not isinstance(value, int) or value >= _INT32_LIMIT or value > self.max_bytes:
                raise self._corrupt(f"Header: {name} {value!r} is not a count this file can hold")
        return fields

    def _postings_list(self, stream: _Stream, index: int, n_lists: int, n_docs: int):
        """(term, docids int64, tfs int64) of the next PostingsList."""
        where = f"PostingsList {index + 1} of {n_lists}"
        message = stream.message(where)
        try:
            term, df, gaps, tfs = _postings_list(message)
        except CiffError as exc:
            raise self._corrupt(f"{where}: {exc}") from None
        where = f"{where} ({term!r})"
        if df != len(gaps):
            raise self._corrupt(f"{where}: df {df} but {len(gaps)} postings")
        if len(gaps) and (int(gaps.max()) >= _INT32_LIMIT or int(tfs.max()) >= _INT32_LIMIT):
            raise self._corrupt(f"{where}: a docid gap or tf is not a non-negative 32-bit integer")
        docs = np.cumsum(gaps.astype(np.int64))
        if len(gaps) > 1 and not (gaps[1:] > 0).all():
            raise self._corrupt(f"{where}: docids do not increase")
        if len(docs) and docs[-1] >= n_docs:
            raise self._corrupt(f"{where}: docid {int(docs[-1])} is beyond the {n_docs} DocRecords")
        return term, docs, tfs.astype(np.int64)

    def _doc_records(self, stream: _Stream, n_docs: int) -> np.ndarray:
        """The collection_docids by docid, once the DocRecords number the documents 0..n-1."""
        docids, ids, read = [], [], 0
        while read < n_docs:
            data, starts, ends = stream.messages(n_docs - read, _RECORD_BYTES, f"DocRecord {read + 1} of {n_docs}")
            try:
                docid, id_at, id_length = _doc_record_fields(data, starts, ends)
                block_ids = _gather(data, id_at, id_length)
            except CiffError as exc:
                raise self._corrupt(f"DocRecords {read + 1}-{read + len(starts)}: {exc}") from None
            empty = np.flatnonzero(id_length == 0)
            if len(empty):
                raise self._corrupt(f"DocRecord {read + int(empty[0]) + 1} has no collection_docid")
            try:
                np.char.decode(block_ids, "utf-8")
            except UnicodeDecodeError:
                raise self._corrupt(
                    f"DocRecords {read + 1}-{read + len(starts)}: a collection_docid is not UTF-8"
                ) from None
            docids.append(docid)
            ids.append(block_ids)
            read += len(starts)
        docid = np.concatenate(docids) if docids else np.zeros(0, np.int64)
        if len(docid) and (int(docid.max()) >= n_docs or (np.bincount(docid, minlength=n_docs) != 1).any()):
            raise self._corrupt(f"the DocRecords' docids are not 0..{n_docs - 1}, each once")
        by_docid = np.empty(n_docs, dtype=max((block.dtype for block in ids), default=np.dtype("S1")))
        by_docid[docid] = np.concatenate(ids) if ids else by_docid
        return by_docid


class _Stream:
    """Length-delimited messages read from a binary file (plain or gzip) through a buffer."""

    def __init__(self, source: IO[bytes], reader: CiffReader):
        self.source, self.reader = source, reader
        self.buffer, self.pos = b"", 0

    def _fill(self, need: int) -> bool:
        """At least `need` bytes buffered past pos; False if the file ends before."""
        have = len(self.buffer) - self.pos
        if have >= need:
            return True
        parts = [self.buffer[self.pos :]]
        while have < need:
            chunk = self.source.read(max(need - have, 1 << 20))
            if not chunk:
                break
            parts.append(chunk)
            have += len(chunk)
        self.buffer, self.pos = b"".join(parts), 0
        return have >= need

    def at_end(self) -> bool:
        return not self._fill(1)

    def _length(self, where: str) -> int:
        self._fill(10)
        try:
            length, self.pos = _read_varint(self.buffer, self.pos, len(self.buffer))
        except CiffError:
            raise self._truncated(where) from None
        if length > self.reader.max_bytes:
            raise self.reader._corrupt(f"{where}: a message of {length} bytes cannot be in this file")
        return length

    def _truncated(self, where: str) -> SpladeError:
        return SpladeError(f"{self.reader.path}: truncated CIFF file (it ends inside {where})")

    def message(self, where: str) -> bytes:
        if self.at_end():
            raise self._truncated(where)
        length = self._length(where)
        if not self._fill(length):
            raise self._truncated(where)
        start, self.pos = self.pos, self.pos + length
        return self.buffer[start : self.pos]

    def messages(self, most: int, budget: int, where: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Up to `most` consecutive messages (at least one) of about `budget` bytes in all: the
        buffered bytes and where each message starts and ends in them."""
        if self.at_end():
            raise self._truncated(where)
        self._fill(budget)
        buffer, pos, end = self.buffer, self.pos, len(self.buffer)
        starts, ends = [], []
        while len(starts) < most and pos < end:
            try:
                length, body = _read_varint(buffer, pos, end)
            except CiffError:
                break
            if body + length > end:
                break
            starts.append(body)
            ends.append(body + length)
            pos = body + length
        if not starts:  # one message larger than the budget
            message = self.message(where)
            return np.frombuffer(message, np.uint8), np.array([0]), np.array([len(message)])
        self.pos = pos
        return np.frombuffer(buffer, np.uint8), np.array(starts, np.int64), np.array(ends, np.int64)


def _read_varint(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """(value, position after it) of the varint at data[pos] (Python ints: one at a time)."""
    value = shift = 0
    while pos < end and shift < 70:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
    raise CiffError("a varint runs past the end of its message" if pos >= end else "a varint is longer than 10 bytes")


def _skip(data: bytes, wire: int, pos: int, end: int) -> tuple[object, int]:
    """(value, position after it) of a field of wire type `wire` whose value starts at pos."""
    if wire == 0:
        return _read_varint(data, pos, end)
    if wire == 2:
        length, pos = _read_varint(data, pos, end)
        if pos + length > end:
            raise CiffError("a field runs past the end of its message")
        return data[pos : pos + length], pos + length
    size = {1: 8, 5: 4}.get(wire)
    if size is None or pos + size > end:
        raise CiffError(f"wire type {wire} is not one CIFF uses" if size is None else "a field runs past its message")
    return data[pos : pos + size], pos + size


def _fields(data: bytes, pos: int, end: int) -> dict[int, list]:
    """Every field of a message as {number: [values]} (varints as ints, others as bytes; a
    wire-type-1 field of the Header is its double)."""
    fields: dict[int, list] = {}
    while pos < end:
        key, pos = _read_varint(data, pos, end)
        value, pos = _skip(data, key & 7, pos, end)
        if key & 7 == 1:
            value = struct.unpack("<d", value)[0]
        fields.setdefault(key >> 3, []).append(value)
    return fields


def _postings_list(message: bytes) -> tuple[str, int, np.ndarray, np.ndarray]:
    """(term, df, docid gaps, tfs) of a PostingsList message. Runs of regular postings are
    decoded with numpy (`_regular_postings`); anything else field by field, in any order."""
    data = np.frombuffer(message, np.uint8)
    term, df, gaps, tfs = b"", 0, [], []
    pos, end, window = 0, len(message), _WINDOW_BYTES
    while pos < end:
        if message[pos] == _POSTING_TAG:
            run_gaps, run_tfs, pos = _regular_postings(data, pos, window)
            gaps.append(run_gaps)
            tfs.append(run_tfs)
            if pos == end:
                break
            window = 64  # an irregular posting follows: parse it alone, then try small windows again
        key, pos = _read_varint(message, pos, end)
        value, pos = _skip(message, key & 7, pos, end)
        if key == _POSTING_TAG:
            posting = _fields(value, 0, len(value))
            gaps.append(np.array(posting.get(1, [0])[-1:], dtype=np.uint64))
            tfs.append(np.array(posting.get(2, [0])[-1:], dtype=np.uint64))
        elif key == 0x0A:
            term = value
        elif key == 0x10:
            df = value
    try:
        text = term.decode()
    except UnicodeDecodeError:
        raise CiffError(f"term {term!r} is not UTF-8") from None
    empty = np.zeros(0, np.uint64)
    return text, df, np.concatenate(gaps) if gaps else empty, np.concatenate(tfs) if tfs else empty


def _regular_postings(data: np.ndarray, pos: int, window: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Gaps, tfs and the end of the run of regular postings from `pos` on, decoded `window`
    bytes at a time (growing): each posting [0x22, length, 0x08, gap, 0x10, tf] is six varints
    (tags and lengths are varints too), so the byte of each that is below 0x80 ends it. A run
    is kept as far as every posting has this shape, its tags and length one byte each and the
    length counting exactly its four varints: then it is what a field-by-field parse reads."""
    gaps, tfs, end = [], [], len(data)
    while pos < end:
        chunk = data[pos : pos + window]
        last = np.flatnonzero(chunk < 0x80)
        last = last[: len(last) // 6 * 6]
        if not len(last):
            break
        first = np.empty(len(last), dtype=np.int64)
        first[0] = 0
        first[1:] = last[:-1] + 1
        sizes = last - first + 1
        lead = chunk[first]
        gap_size, tf_size = sizes[3::6], sizes[5::6]
        regular = (
            (lead[0::6] == _POSTING_TAG)
            & (lead[2::6] == _DOC_TAG)
            & (lead[4::6] == _TF_TAG)
            & (lead[1::6] == 2 + gap_size + tf_size)
            & ((sizes[0::6] | sizes[1::6] | sizes[2::6] | sizes[4::6]) == 1)
            & (np.maximum(gap_size, tf_size) <= 10)
        )
        count = len(regular) if regular.all() else int(np.argmin(regular))
        if count:
            gaps.append(_varint_values(chunk, first[3::6][:count], gap_size[:count]))
            tfs.append(_varint_values(chunk, first[5::6][:count], tf_size[:count]))
            pos += int(last[6 * count - 1]) + 1
        if count < len(regular):
            break
        window = min(window * 4, _WINDOW_BYTES)
    empty = np.zeros(0, np.uint64)
    return (np.concatenate(gaps) if gaps else empty), (np.concatenate(tfs) if tfs else empty), pos


def _varint_values(data: np.ndarray, first: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """The values of varints of known starts and sizes (uint64; a 10th byte's high bits drop)."""
    values = (data[first] & 0x7F).astype(np.uint64)
    for k in range(1, int(sizes.max()) if len(sizes) else 0):
        longer = np.flatnonzero(sizes > k)
        values[longer] |= (data[first[longer] + k] & 0x7F).astype(np.uint64) << np.uint64(7 * k)
    return values


def _varints_at(data: np.ndarray, at: np.ndarray, limit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(values, sizes) of the varints that start at positions `at`, each ending before `limit`."""
    values = np.zeros(len(at), dtype=np.uint64)
    sizes = np.zeros(len(at), dtype=np.int64)
    live = np.arange(len(at))
    for k in range(10):
        where = at[live] + k
        if (where >= limit[live]).any():
            raise CiffError("a varint runs past the end of its message")
        byte = data[where]
        values[live] |= (byte & 0x7F).astype(np.uint64) << np.uint64(7 * k)
        ended = byte < 0x80
        sizes[live[ended]] = k + 1
        live = live[~ended]
        if not len(live):
            return values, sizes
    raise CiffError("a varint is longer than 10 bytes")


def _doc_record_fields(data: np.ndarray, starts: np.ndarray, ends: np.ndarray):
    """(docid, collection_docid start, its length) of each DocRecord message, decoded field
    round by field round over all of them at once (unknown fields skipped)."""
    docid = np.zeros(len(starts), dtype=np.int64)
    id_at = np.zeros(len(starts), dtype=np.int64)
    id_length = np.zeros(len(starts), dtype=np.int64)
    cursor = starts.copy()
    live = np.flatnonzero(cursor < ends)
    while len(live):
        limit = ends[live]
        key, size = _varints_at(data, cursor[live], limit)
        at = cursor[live] + size
        wire, field = key & np.uint64(7), key >> np.uint64(3)
        after = np.full(len(live), -1, dtype=np.int64)
        varint, delimited = wire == 0, wire == 2
        if varint.any():
            value, value_size = _varints_at(data, at[varint], limit[varint])
            after[varint] = at[varint] + value_size
            is_docid = field[varint] == 1
            if (value[is_docid] >= _INT32_LIMIT).any():
                raise CiffError("a docid is not a non-negative 32-bit integer")
            docid[live[varint][is_docid]] = value[is_docid].astype(np.int64)
        if delimited.any():
            length, length_size = _varints_at(data, at[delimited], limit[delimited])
            if (length > np.uint64(_INT32_LIMIT)).any():
                raise CiffError("a field runs past the end of its message")
            body = at[delimited] + length_size
            after[delimited] = body + length.astype(np.int64)
            is_id = field[delimited] == 2
            id_at[live[delimited][is_id]] = body[is_id]
            id_length[live[delimited][is_id]] = length[is_id].astype(np.int64)
        for fixed, width in ((1, 8), (5, 4)):
            sized = wire == fixed
            after[sized] = at[sized] + width
        if (after < 0).any():
            raise CiffError(f"wire type {int(wire[after < 0][0])} is not one CIFF uses")
        if (after > limit).any():
            raise CiffError("a field runs past the end of its message")
        cursor[live] = after
        live = live[after < limit]
    return docid, id_at, id_length


def _gather(data: np.ndarray, at: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The byte strings data[at[i]:at[i] + lengths[i]] as one 'S' array."""
    width = max(int(lengths.max()) if len(lengths) else 1, 1)
    rows = np.repeat(np.arange(len(at)), lengths)
    columns = np.arange(len(rows)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    picked = data[np.repeat(at, lengths) + columns]
    if (picked == 0).any():
        raise CiffError("a collection_docid holds a NUL byte")
    out = np.zeros((len(at), width), dtype=np.uint8)
    out[rows, columns] = picked
    return out.view(f"S{width}").reshape(-1)
