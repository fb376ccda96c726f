"""The self-describing sparse-vector file every stage reads and writes.

A `.npz` (no pickle) holding CSR arrays — `indptr` int64, `indices` int32 term ids, `data`
float32 weights or uint8/uint16 impacts — the external `ids` of the rows, a JSON `meta`
record (format tag and version, vocabulary size, model, max length, pooling, and, once
quantized, the scale and rounding rule) and `term_df`, the number of rows holding each term
(what document-side FLOPS needs, so evaluation never reads the postings; files written before
it existed have it counted when asked for). Members are stored uncompressed, so `VectorFile`
streams the postings a row chunk at a time.

Every SparseVectors is validated when it is made (`check_csr`, `check_ids`), so a file that
loads holds exactly what the kernels assume (they skip bounds checks): `indptr` runs from 0
to nnz without decreasing, each row's term ids are unique, ascending and below the vocabulary
size, weights are finite and non-negative, ids are non-empty, without whitespace and unique.
The checks are vectorized, a chunk of entries at a time. A file is checked before it is
trusted: its members' declared sizes before they are read (a small compressed file cannot
expand into gigabytes of metadata), the records of its metadata that the code reads, its
arrays' byte order (read as native), and `term_df` against the postings whenever they are
streamed whole. A writer refuses what a reader would refuse, so it never writes such a file.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..data.ids import check_ids, compact_ids, first_repeat, id_hashes, id_problem, id_text
from ..errors import SpladeError
from ..io import atomic_path, file_problem, parse_json, remove_stale_temps, text_problem
from ..registry import FINGERPRINT_KEY

FORMAT = "splade-core/sparse-vectors"
VERSION = 1
WEIGHT_DTYPES = (np.dtype(np.float32), np.dtype(np.uint8), np.dtype(np.uint16))
IMPACT_DTYPES = ("uint8", "uint16")
# Larger than any tokenizer's vocabulary (XLM-R: 250k); guards allocations sized by it.
MAX_VOCAB_SIZE = 1 << 24
_COPY_CHUNK = 1 << 24
_CHECK_CHUNK = 1 << 24  # entries checked at once
# Entries a streaming stage holds at once: ~32 MB of float postings, ~100 MB of working memory.
CHUNK_ENTRIES = 1 << 22
# A meta record is a few kB: a larger one is refused from the archive's directory, unread.
MAX_META_BYTES = 16 << 20
# Characters of the longest row id a file may hold (the ids are read whole when it is opened).
MAX_ID_LENGTH = 4096
_ARRAYS = ("indptr", "indices", "data", "ids")
# A compressed member that expands more than this (and to more than this size) is refused unread.
_BOMB_RATIO, _BOMB_BYTES = 200, 64 << 20
# What reading a damaged or foreign archive raises (RuntimeError: an encrypted member).
_READ_ERRORS = (
    OSError,
    EOFError,
    ValueError,
    KeyError,
    zipfile.BadZipFile,
    zlib.error,
    NotImplementedError,
    RuntimeError,
    MemoryError,
)


@dataclass(frozen=True)
class SparseVectors:
    """Rows of sparse vectors over a vocabulary, with the external id of each row."""

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    ids: np.ndarray
    vocab_size: int
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._validate(check_id_values=True)

    @classmethod
    def _of_checked_ids(cls, indptr, indices, data, ids, vocab_size: int, meta: dict[str, Any]) -> SparseVectors:
        """Rows whose ids were already checked (by the VectorFile they come from): the arrays
        and meta are validated, the ids are not hashed again."""
        vectors = object.__new__(cls)
        for name, value in zip(
            ("indptr", "indices", "data", "ids", "vocab_size", "meta"), (indptr, indices, data, ids, vocab_size, meta)
        ):
            object.__setattr__(vectors, name, value)
        vectors._validate(check_id_values=False)
        return vectors

    def _validate(self, check_id_values: bool) -> None:
        if not isinstance(self.ids, np.ndarray) or self.ids.ndim != 1 or self.ids.dtype.kind != "U":
            raise ValueError("ids must be a 1-d array of strings")
        if not self.ids.dtype.isnative:  # big-endian code points, read as native ones, would be garbage
            object.__setattr__(self, "ids", _native(self.ids))
        check_csr(self.indptr, self.indices, self.data, self.vocab_size, len(self.ids))
        if check_id_values:
            _check_row_ids(self.ids)
        if not isinstance(self.meta, dict):
            raise ValueError(f"meta must be a dict, not {type(self.meta).__name__}")
        check_records(self.meta, self.data.dtype)

    @classmethod
    def from_csr(cls, matrix: sp.sparray | sp.spmatrix, ids, meta: dict[str, Any] | None = None) -> SparseVectors:
        csr = sp.csr_array(matrix, copy=True)
        csr.sum_duplicates()  # canonical: each row's term ids unique and ascending
        return cls(
            indptr=csr.indptr.astype(np.int64),
            indices=csr.indices.astype(np.int32),
            data=csr.data,
            ids=np.asarray(ids, dtype=str),
            vocab_size=csr.shape[1],
            meta=dict(meta or {}),
        )

    @property
    def n_rows(self) -> int:
        return len(self.ids)

    @property
    def nnz(self) -> int:
        return len(self.data)

    @property
    def is_quantized(self) -> bool:
        return self.data.dtype != np.float32

    def to_csr(self) -> sp.csr_array:
        """A scipy CSR view of the same arrays (no copy)."""
        return sp.csr_array((self.data, self.indices, self.indptr), shape=(self.n_rows, self.vocab_size))

    def row_nnz(self) -> np.ndarray:
        return np.diff(self.indptr)

    def save(self, path: str | os.PathLike) -> None:
        with SparseVectorsWriter(path, self.vocab_size, self.data.dtype, self.meta) as writer:
            writer.append(self.indptr, self.indices, self.data, self.ids)

    def term_df(self) -> np.ndarray:
        """How many rows hold each term (int64, one entry per vocabulary term), counted a chunk
        of postings at a time: np.bincount widens its input to int64, a copy of 8.8 GB for the
        1.09 B term ids of an MS MARCO corpus."""
        counted = np.zeros(self.vocab_size, dtype=np.int64)
        for start in range(0, len(self.indices), CHUNK_ENTRIES):
            _count_terms(counted, self.indices[start : start + CHUNK_ENTRIES])
        return counted

    @classmethod
    def load(cls, path: str | os.PathLike) -> SparseVectors:
        """The whole file in memory; `VectorFile` reads it a row chunk at a time instead."""
        with VectorFile(path) as vectors:
            return vectors.read_all()


class VectorFile:
    """A sparse-vector file opened for streaming.

    Its metadata, ids, `indptr` and term document frequencies are read (and checked) when it is
    opened, a few bytes per row, after the archive's directory and every array's header (their
    declared sizes, shapes and types); the postings (`indices`, `data`: nearly all of the file)
    are read a row chunk at a time by `chunks()`, each chunk checked as a `SparseVectors`, so a
    stage that streams holds one chunk, whatever the corpus size. Streamed whole, the postings'
    term counts are checked against the stored `term_df` (`checked_term_df` streams the term ids
    alone for that).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._npz = None
        self._counted_df: np.ndarray | None = None  # term_df counted from the postings, once streamed
        if (problem := file_problem(self.path)) is not None:
            raise SpladeError(f"{self.path}: {problem}")
        if self.path.stat().st_size == 0:
            raise SpladeError(f"{self.path}: not a sparse-vector file (it is empty)")
        try:
            loaded = np.load(self.path, mmap_mode="r", allow_pickle=False)  # a lone .npy is mapped, not read
            if not isinstance(loaded, np.lib.npyio.NpzFile):
                raise ValueError("a single .npy array, not an .npz archive")
            self._npz = loaded
            missing = [name for name in (*_ARRAYS, "meta") if name not in loaded.files]
            if missing:
                raise ValueError(f"it has no {missing[0]!r} array")
            meta = self._read_meta()
        except SpladeError:
            self.close()
            raise
        except _READ_ERRORS as exc:
            self.close()
            raise SpladeError(f"{self.path}: not a sparse-vector file ({_reason(exc)})") from None
        try:
            self.vocab_size, self.meta = _check_meta(meta, self.path)
            names = (*_ARRAYS, "term_df") if "term_df" in loaded.files else _ARRAYS
            headers = {name: self._header(name) for name in names}
            self.dtype = _native_dtype(headers["data"][1])
            check_records(self.meta, self.dtype)
            rows, self.nnz = _check_headers(headers, self.vocab_size)
            self.indptr = _native(loaded["indptr"])
            _check_indptr(self.indptr, self.nnz)
            self._stored_df = _native(loaded["term_df"]) if "term_df" in headers else None
            if self._stored_df is not None:
                _check_df(self._stored_df, self.vocab_size, self.nnz, rows)
            ids = _native(loaded["ids"])
            _check_row_ids(ids)  # before compacting, which assumes ids hold no NUL
            self._ids = compact_ids(ids)  # 1 byte a character when ASCII, as wide as the longest
            del ids
        except SpladeError:
            self.close()
            raise
        except _READ_ERRORS as exc:
            self.close()
            raise SpladeError(f"{self.path}: corrupt sparse-vector file ({_reason(exc)})") from None

    def _read_meta(self) -> Any:
        """The parsed JSON of the `meta` member, once its declared size is known to be small."""
        size = self._npz.zip.getinfo("meta.npy").file_size
        if size > MAX_META_BYTES:
            raise SpladeError(
                f"{self.path}: not a sparse-vector file (its meta record declares {size} bytes, "
                f"more than the {MAX_META_BYTES >> 20} MB a meta record may hold)"
            )
        shape, dtype = self._header("meta")
        if shape != () or dtype.kind != "U":
            raise SpladeError(f"{self.path}: not a sparse-vector file (its meta is not a JSON string)")
        return parse_json(str(self._npz["meta"][()]), f"{self.path}: meta")

    @property
    def n_rows(self) -> int:
        return len(self._ids)

    @property
    def ids(self) -> np.ndarray:
        """The row ids as a numpy 'U' array."""
        return self._ids.astype(str) if self._ids.dtype.kind == "S" else self._ids

    @property
    def is_quantized(self) -> bool:
        return self.dtype != np.float32

    def _row_ranges(self, max_entries: int) -> Iterator[tuple[int, int, int, int]]:
        """(first row, row after the last, first entry, entry after the last) of each chunk of
        rows holding at most `max_entries` entries (a longer row is a chunk of its own)."""
        start = 0
        while start < self.n_rows:
            limit = self.indptr[start] + max(int(max_entries), 1)
            stop = min(max(int(np.searchsorted(self.indptr, limit, side="right")) - 1, start + 1), self.n_rows)
            yield start, stop, int(self.indptr[start]), int(self.indptr[stop])
            start = stop

    def chunks(self, max_entries: int = CHUNK_ENTRIES) -> Iterator[SparseVectors]:
        """The rows in order, as SparseVectors of at most `max_entries` entries each (a row
        longer than that is a chunk of its own); each chunk's indptr starts at 0. Once the last
        chunk is taken, the term counts of all of them are checked against the stored ones."""
        counted = np.zeros(self.vocab_size, dtype=np.int64)
        with self._stream("indices") as indices, self._stream("data") as data:
            for start, stop, begin, end in self._row_ranges(max_entries):
                try:
                    chunk = SparseVectors._of_checked_ids(  # every id was checked when the file was opened
                        self.indptr[start : stop + 1] - begin,
                        indices.read(end - begin),
                        data.read(end - begin),
                        self._ids[start:stop].astype(str),
                        self.vocab_size,
                        self.meta,
                    )
                except ValueError as exc:
                    raise self._corrupt(f"rows from {start + 1}: {exc}") from None
                _count_terms(counted, chunk.indices)
                yield chunk
        self._check_counted(counted)

    def read_all(self) -> SparseVectors:
        with self._stream("indices") as indices, self._stream("data") as data:
            arrays = {"indices": indices.read(self.nnz), "data": data.read(self.nnz)}
        try:
            vectors = SparseVectors._of_checked_ids(
                self.indptr, arrays["indices"], arrays["data"], self.ids, self.vocab_size, self.meta
            )
        except ValueError as exc:
            raise self._corrupt(str(exc)) from None
        self._check_counted(vectors.term_df())
        return vectors

    def term_df(self) -> np.ndarray:
        """How many rows hold each term: stored by the writer (its length and total checked when
        the file was opened; each count when the postings are streamed whole), or counted."""
        if self._stored_df is not None:
            return self._stored_df.astype(np.int64)
        return self.checked_term_df()

    def checked_term_df(self, max_entries: int = CHUNK_ENTRIES) -> np.ndarray:
        """How many rows hold each term, counted from the postings' term ids, which are streamed
        a row chunk at a time (the weights are not read) and checked as `chunks()` checks them;
        a stored `term_df` that differs is a corrupt file. What a statistic is computed from."""
        if self._counted_df is None:
            counted = np.zeros(self.vocab_size, dtype=np.int64)
            with self._stream("indices") as indices:
                for start, stop, begin, end in self._row_ranges(max_entries):
                    terms = indices.read(end - begin)
                    try:
                        check_terms(self.indptr[start : stop + 1] - begin, terms, self.vocab_size)
                    except ValueError as exc:
                        raise self._corrupt(f"rows from {start + 1}: {exc}") from None
                    _count_terms(counted, terms)
            self._check_counted(counted)
        return self._counted_df.copy()

    def _check_counted(self, counted: np.ndarray) -> None:
        """Compare the term counts of the whole postings with the stored ones (and keep them)."""
        stored = self._stored_df
        if stored is not None and not np.array_equal(counted, stored):
            term = int(np.argmax(counted != stored))
            raise self._corrupt(
                f"term_df says term {term} is in {int(stored[term])} rows, its postings are in {int(counted[term])}"
            )
        self._counted_df = counted

    def _corrupt(self, problem: str) -> SpladeError:
        return SpladeError(f"{self.path}: corrupt sparse-vector file ({problem})")

    def _header(self, name: str) -> tuple[tuple, np.dtype]:
        """Shape and type of a member from its .npy header, once the size the archive declares
        for it is exactly the header's plus the data's (nothing missing, nothing appended)."""
        info = self._npz.zip.getinfo(f"{name}.npy")
        with self._npz.zip.open(info) as member:
            shape, fortran, dtype = _read_header(member)
            offset = member.tell()
        if dtype.hasobject:
            raise ValueError(f"{name} holds Python objects")
        if fortran and len(shape) > 1:
            raise ValueError(f"{name} is stored in Fortran order")
        expected = offset + math.prod(shape) * dtype.itemsize
        if info.file_size != expected:
            raise ValueError(
                f"{name} is {info.file_size} bytes where its header declares {expected} (cut short or padded)"
            )
        if info.file_size > _BOMB_BYTES and info.file_size > _BOMB_RATIO * max(info.compress_size, 1):
            raise ValueError(
                f"{name} expands from {info.compress_size} compressed bytes to {info.file_size}, "
                f"more than {_BOMB_RATIO}-fold (write the file uncompressed)"
            )
        return shape, dtype

    @contextlib.contextmanager
    def _stream(self, name: str) -> Iterator[_MemberReader]:
        member = None
        try:
            member = self._npz.zip.open(f"{name}.npy")
            dtype = _read_header(member)[2]
        except _READ_ERRORS as exc:
            if member is not None:
                member.close()
            raise self._corrupt(f"{name}: {_reason(exc)}") from None
        with member:
            yield _MemberReader(member, dtype, self.path, name)

    def close(self) -> None:
        npz = getattr(self, "_npz", None)
        if npz is not None:
            npz.close()

    def __enter__(self) -> VectorFile:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class _MemberReader:
    """Reads consecutive runs of items from one array member of the archive, as native-order
    numbers."""

    def __init__(self, member, dtype: np.dtype, path: Path, name: str):
        self.member, self.dtype, self.path, self.name = member, dtype, path, name

    def read(self, count: int) -> np.ndarray:
        out = np.empty(count, dtype=self.dtype)
        view = memoryview(out).cast("B")
        try:
            filled = 0
            while filled < len(view):
                got = self.member.readinto(view[filled:])
                if not got:
                    break
                filled += got
        except _READ_ERRORS as exc:
            raise SpladeError(f"{self.path}: corrupt sparse-vector file ({self.name}: {_reason(exc)})") from None
        if filled != len(view):
            raise SpladeError(f"{self.path}: truncated sparse-vector file ({self.name} ends early)")
        return _native(out)


def _count_terms(counted: np.ndarray, terms: np.ndarray) -> None:
    """Add each term id's occurrences to `counted` (a few entries against a large vocabulary
    without a vocabulary-sized temporary)."""
    if 16 * len(terms) < len(counted):
        np.add.at(counted, terms, 1)
    else:
        counted += np.bincount(terms, minlength=len(counted))


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _native(array: np.ndarray) -> np.ndarray:
    """`array` in the machine's byte order (a copy only when it was not)."""
    return array if array.dtype.isnative else array.astype(_native_dtype(array.dtype))


def _native_dtype(dtype: np.dtype) -> np.dtype:
    return dtype if dtype.isnative else dtype.newbyteorder("=")


def weight_dtype(path: str | os.PathLike) -> np.dtype | None:
    """The weight type of a sparse-vector file from its header alone (None if not one)."""
    try:
        with zipfile.ZipFile(path) as archive, archive.open("data.npy") as member:
            return _read_header(member)[2]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None


def _read_header(member) -> tuple[tuple, bool, np.dtype]:
    version = np.lib.format.read_magic(member)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(member)
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(member)
    raise ValueError(f"unsupported .npy version {version}")


def _check_meta(meta, path: Path) -> tuple[int, dict[str, Any]]:
    if not isinstance(meta, dict):
        raise SpladeError(f"{path}: not a sparse-vector file (its meta is not a JSON object)")
    if meta.get("format") != FORMAT:
        raise SpladeError(f"{path}: not a sparse-vector file (format {meta.get('format')!r})")
    if meta.get("version") != VERSION or isinstance(meta.get("version"), bool):
        raise SpladeError(f"{path}: format version {meta.get('version')!r}, this release reads {VERSION}")
    vocab_size = meta.pop("vocab_size", None)
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or not 0 < vocab_size <= MAX_VOCAB_SIZE:
        raise SpladeError(f"{path}: corrupt sparse-vector file (meta 'vocab_size' {vocab_size!r} is not in [1, 2^24])")
    for key in ("format", "version"):
        meta.pop(key)
    return vocab_size, meta


def check_records(meta: dict[str, Any], dtype: np.dtype) -> None:
    """Raise ValueError naming the key unless the metadata records the code reads have the shape
    it assumes: `quantization` (only on integer impacts) a record with a finite positive `scale`
    and, if given, the `dtype` of the impacts; `model` and `model_fingerprint` strings."""
    if "quantization" in meta:
        quantization = meta["quantization"]
        if not isinstance(quantization, dict):
            raise ValueError(f"meta 'quantization' must be a record (a JSON object), not {quantization!r:.60}")
        if str(dtype) not in IMPACT_DTYPES:
            raise ValueError(f"meta 'quantization' describes impacts, but the weights are {dtype}")
        scale = quantization.get("scale")
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not (math.isfinite(scale) and scale > 0):
            raise ValueError(f"meta 'quantization' 'scale' must be a finite positive number, not {scale!r:.60}")
        if quantization.get("dtype", str(dtype)) != str(dtype):
            stated = quantization["dtype"]
            raise ValueError(f"meta 'quantization' 'dtype' must be that of the impacts ({dtype}), not {stated!r:.60}")
    for key in ("model", FINGERPRINT_KEY):
        value = meta.get(key)
        if value is not None and not isinstance(value, str):
            raise ValueError(f"meta {key!r} must be a string (a model's name or fingerprint), not {value!r:.60}")


def check_pairing(
    queries, docs, queries_path, docs_path, allow_model_mismatch: bool = False, override: str = "--allow-model-mismatch"
) -> None:
    """Raise SpladeError naming `queries_path` unless query vectors fit the documents (vectors,
    a vector file or an index: anything with `vocab_size` and `meta`): the same vocabulary and,
    unless `allow_model_mismatch`, the same model. Models compare by fingerprint where both
    files record one (any path a model was loaded from), else by the name they were encoded or
    imported with; a file that records neither is not compared. `override` names the way
    around it in the message."""
    if queries.vocab_size != docs.vocab_size:
        raise SpladeError(
            f"{queries_path}: vocabulary of {queries.vocab_size} terms, but {docs_path} has {docs.vocab_size}"
        )
    if allow_model_mismatch:
        return
    for key in (FINGERPRINT_KEY, "model"):
        ours, theirs = queries.meta.get(key), docs.meta.get(key)
        if ours is not None and theirs is not None:
            if ours != theirs:
                raise SpladeError(
                    f"{queries_path}: encoded by model {_model_name(queries.meta)}, but {docs_path} by "
                    f"{_model_name(docs.meta)} (pass {override} if that is meant)"
                )
            return


def _model_name(meta: dict[str, Any]) -> str:
    name = repr(meta.get("model", "?"))
    fingerprint = meta.get(FINGERPRINT_KEY)
    return f"{name} ({fingerprint[:19]}…)" if isinstance(fingerprint, str) else name


def _check_headers(headers: dict[str, tuple[tuple, np.dtype]], vocab_size: int) -> tuple[int, int]:
    """(rows, entries), once the arrays' declared shapes and types agree with each other."""
    for name, (shape, _) in headers.items():
        if len(shape) != 1:
            raise ValueError(f"{name} must be a 1-d array, not one of shape {shape}")
    lengths = {name: shape[0] for name, (shape, _) in headers.items()}
    types = {name: _native_dtype(dtype) for name, (_, dtype) in headers.items()}
    if types["indptr"] != np.int64:
        raise ValueError(f"indptr must be int64, not {types['indptr']}")
    if types["indices"] != np.int32:
        raise ValueError(f"term ids (indices) must be int32, not {types['indices']}")
    if types["data"] not in WEIGHT_DTYPES:
        raise ValueError(f"weights (data) must be float32, uint8 or uint16, not {types['data']}")
    if types["ids"].kind != "U":
        raise ValueError(f"ids must be strings, not {types['ids']}")
    if types["ids"].itemsize // 4 > MAX_ID_LENGTH:
        raise ValueError(f"ids are up to {types['ids'].itemsize // 4} characters long, more than {MAX_ID_LENGTH}")
    rows, nnz = lengths["ids"], lengths["indices"]
    if lengths["indptr"] != rows + 1:
        raise ValueError(f"indptr has {lengths['indptr']} entries for {rows} ids (one more than the rows)")
    if lengths["data"] != nnz:
        raise ValueError(f"data holds {lengths['data']} weights for {nnz} term ids")
    if "term_df" in headers and (types["term_df"] != np.int64 or lengths["term_df"] != vocab_size):
        raise ValueError(f"term_df must hold {vocab_size} int64 counts, one per term")
    return rows, nnz


def _check_indptr(indptr: np.ndarray, nnz: int) -> None:
    if indptr[0] != 0 or indptr[-1] != nnz:
        raise ValueError(f"indptr must run from 0 to the {nnz} entries, not from {indptr[0]} to {indptr[-1]}")
    if len(indptr) > 1 and (np.diff(indptr) < 0).any():
        raise ValueError(f"indptr decreases at row {int(np.argmax(np.diff(indptr) < 0)) + 1}")


def _check_df(df: np.ndarray, vocab_size: int, nnz: int, rows: int) -> None:
    if len(df) != vocab_size or (df < 0).any() or (df > rows).any() or int(df.sum()) != nnz:
        raise ValueError(
            f"term_df must hold {vocab_size} counts from 0 to the {rows} rows, adding up to the {nnz} entries"
        )


def _check_row_ids(ids: np.ndarray) -> None:
    """Raise ValueError naming the first row id that is not one (see `check_ids`)."""
    if not len(ids):
        return
    if ids.dtype.itemsize == 0:  # numpy's 0-wide strings: every id is empty
        raise ValueError("row id '' (row 1) is empty")
    check_ids(ids)


def check_csr(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, vocab_size: int, rows: int) -> None:
    """Raise ValueError unless the arrays are a canonical CSR matrix of `rows` × `vocab_size`."""
    _check_csr_arrays(indptr, indices, vocab_size, rows)
    if not isinstance(data, np.ndarray) or data.ndim != 1 or data.dtype not in WEIGHT_DTYPES:
        raise ValueError("weights must be a 1-d float32, uint8 or uint16 array")
    if len(data) != len(indices):
        raise ValueError(f"indptr must run from 0 to the {len(indices)} entries, and data hold as many as indices")
    for begin in range(0, len(indices), _CHECK_CHUNK):
        end = min(len(indices), begin + _CHECK_CHUNK)
        _check_entries(indptr, indices, data, vocab_size, begin, end)


def check_terms(indptr: np.ndarray, indices: np.ndarray, vocab_size: int) -> None:
    """`check_csr` without the weights: each row's term ids unique, ascending and in range."""
    _check_csr_arrays(indptr, indices, vocab_size, len(indptr) - 1)
    for begin in range(0, len(indices), _CHECK_CHUNK):
        _check_entries(indptr, indices, None, vocab_size, begin, min(len(indices), begin + _CHECK_CHUNK))


def _check_csr_arrays(indptr: np.ndarray, indices: np.ndarray, vocab_size: int, rows: int) -> None:
    for name, array, dtypes in (("indptr", indptr, ("int64",)), ("indices", indices, ("int32",))):
        if not isinstance(array, np.ndarray) or array.ndim != 1 or str(array.dtype) not in dtypes:
            raise ValueError(f"{name} must be a 1-d {dtypes[0]} array")
    if not 0 < vocab_size <= MAX_VOCAB_SIZE:
        raise ValueError(f"vocab_size {vocab_size} is not in [1, 2^24]")
    if len(indptr) != rows + 1:
        raise ValueError(f"indptr has {len(indptr)} entries for {rows} rows")
    nnz = len(indices)
    if indptr[0] != 0 or indptr[-1] != nnz:
        raise ValueError(f"indptr must run from 0 to the {nnz} entries, and data hold as many as indices")
    if rows and (np.diff(indptr) < 0).any():
        row = int(np.argmax(np.diff(indptr) < 0))
        raise ValueError(f"indptr decreases at row {row + 1}")


def _check_entries(indptr, indices, data, vocab_size: int, begin: int, end: int) -> None:
    terms = indices[begin:end]
    if int(terms.min()) < 0 or int(terms.max()) >= vocab_size:
        raise ValueError(f"term ids must lie in [0, {vocab_size})")
    if data is not None and data.dtype == np.float32:
        weights = data[begin:end]
        if not (np.isfinite(weights).all() and (weights >= 0).all()):
            raise ValueError("weights must be finite and non-negative (found NaN, infinity or a negative weight)")
    following = indices[begin + 1 : end + 1] if end < len(indices) else indices[begin + 1 : end]
    not_ascending = following <= terms[: len(following)]  # entry p vs p + 1
    if not_ascending.any():
        lo, hi = np.searchsorted(indptr, [begin + 1, begin + 1 + len(following)])
        not_ascending[indptr[lo:hi] - begin - 1] = False  # p + 1 starts a row
        if not_ascending.any():
            row = int(np.searchsorted(indptr, begin + int(np.argmax(not_ascending)), side="right")) - 1
            raise ValueError(f"row {row + 1} has term ids out of order or repeated")


class SparseVectorsWriter:
    """Writes a sparse-vector file row block by row block, holding only ids and row lengths.

    Blocks go to raw temporary files beside the output; `close()` streams them into the
    `.npz` and renames it into place, so memory stays bounded for any corpus size. What a
    reader would refuse is refused here, naming the output (and, given `row_origin`, which
    maps a row number to where it came from, e.g. ``docs.jsonl:17``, the input too): rows
    are checked as `check_csr` checks them, ids as `check_ids`, the metadata as a reader
    parses and checks it.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        vocab_size: int,
        dtype,
        meta: dict[str, Any],
        row_origin: Callable[[int], str] | None = None,
    ):
        self.path = Path(path)
        self.vocab_size = int(vocab_size)
        self.dtype = np.dtype(dtype)
        if self.dtype not in WEIGHT_DTYPES:
            raise ValueError(f"weights must be float32, uint8 or uint16, not {self.dtype}")
        if not 0 < self.vocab_size <= MAX_VOCAB_SIZE:
            raise ValueError(f"{self.path}: vocab_size {vocab_size} is not in [1, 2^24]")
        reserved = sorted({"format", "version", "vocab_size"} & set(meta))
        if reserved:
            raise ValueError(f"{self.path}: meta key {reserved[0]!r} is the writer's own")
        self.meta = {"format": FORMAT, "version": VERSION, "vocab_size": self.vocab_size, **meta}
        self._row_origin = row_origin
        self.path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(self.path)  # what a killed writer of this file left behind
        self._workdir = Path(tempfile.mkdtemp(prefix=f".tmp-{self.path.name}.", dir=self.path.parent))
        self._indices = open(self._workdir / "indices", "wb")
        self._data = open(self._workdir / "data", "wb")
        self._row_lengths: list[np.ndarray] = []
        self._ids: list[np.ndarray] = []  # blocks as given: views of the reader's ids when streaming
        self._hashes: list[np.ndarray] = []
        self._rows = 0
        self._nnz = 0
        self._df = np.zeros(self.vocab_size, dtype=np.int64)

    def append(self, indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, ids) -> None:
        """Append rows given as a CSR block (indptr starting at 0 or not). Each row's term ids
        must be unique, ascending and below the vocabulary size; float weights finite (a value
        beyond float32's range included) and non-negative; weights of another type must convert
        to the file's unchanged; ids as `check_ids` wants them. Nothing is written otherwise."""
        indptr = np.asarray(indptr, dtype=np.int64)
        if indptr.ndim != 1 or not len(indptr):
            raise ValueError(f"{self.path}: indptr must be a 1-d array of one entry more than the rows")
        start, end = int(indptr[0]), int(indptr[-1])
        ids = np.asarray(ids if isinstance(ids, np.ndarray) else list(ids), dtype=str).reshape(-1)
        if len(ids) != len(indptr) - 1:
            raise ValueError(f"{len(ids)} ids for {len(indptr) - 1} rows")
        ids = _native(ids)
        try:
            indices = _converted(np.asarray(indices)[start:end], np.dtype(np.int32), "term ids")
            weights = _converted(np.asarray(data)[start:end], self.dtype, "weights")
            check_csr(indptr - start, indices, weights, self.vocab_size, len(ids))
        except ValueError as exc:
            raise ValueError(f"{self.path}: rows from {self._rows + 1}: {exc}") from None
        hashes = None
        if len(ids):
            try:
                hashes = id_hashes(ids, first_row=self._rows)
            except ValueError as exc:
                raise ValueError(f"{self.path}: {exc}{self._origin_of_bad_id(ids)}") from None
        compact = compact_ids(ids)
        width = compact.itemsize // (1 if compact.dtype.kind == "S" else 4)
        if width > MAX_ID_LENGTH:
            row = int(np.argmax(np.char.str_len(ids) > MAX_ID_LENGTH))
            where = f"row {self._rows + row + 1}"
            raise ValueError(f"{self.path}: row id of {where} is longer than {MAX_ID_LENGTH} characters")
        try:
            self._indices.write(indices.tobytes())
            self._data.write(weights.tobytes())
        except OSError as exc:  # a full disk: the caller's exit discards the temporary folder
            raise self._write_error(exc) from None
        if hashes is not None:
            self._hashes.append(hashes)
        self._row_lengths.append(np.diff(indptr).astype(np.int32))
        self._ids.append(compact)
        self._rows += len(ids)
        self._nnz += end - start
        self._df += np.bincount(indices, minlength=self.vocab_size)

    def _origin_of_bad_id(self, ids: np.ndarray) -> str:
        """ ", at <origin>" of the first row of a block whose id is not one, given `row_origin`."""
        if self._row_origin is None:
            return ""
        row = next((row for row, value in enumerate(ids.tolist()) if id_problem(value) is not None), 0)
        return f", at {self._row_origin(self._rows + row)}"

    @property
    def nnz(self) -> int:
        """Entries appended so far."""
        return self._nnz

    @property
    def rows(self) -> int:
        """Rows appended so far."""
        return self._rows

    def _write_error(self, exc: OSError) -> SpladeError:
        return SpladeError(f"{self.path}: cannot write ({exc.strerror or exc}); nothing was written")

    def close(self) -> None:
        """Write the file; whatever happens, the temporary folder is gone afterwards."""
        try:
            self._close()
        except OSError as exc:
            raise self._write_error(exc) from None
        finally:
            self.discard()

    def _close(self) -> None:
        self._indices.close()
        self._data.close()
        meta_text = self._meta_text()
        hashes = np.concatenate(self._hashes) if self._hashes else np.zeros(0, np.uint64)
        self._hashes = []
        repeat = first_repeat(hashes, self._id_at)  # what encoding met in the collection: refused before it is written
        del hashes
        if repeat is not None:
            first, second = repeat
            where = "" if self._row_origin is None else f", at {self._row_origin(first)} and {self._row_origin(second)}"
            rows = f"rows {first + 1} and {second + 1}"
            raise ValueError(f"{self.path}: row id {self._id_at(second)!r} appears twice ({rows}){where}")
        width = max((block.itemsize // (1 if block.dtype.kind == "S" else 4) for block in self._ids), default=1)
        id_dtype = np.dtype(f"<U{max(width, 1)}")
        with (
            atomic_path(self.path, clean=False) as tmp,
            zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as npz,
        ):
            _write_blocks(npz, "indptr", self._indptr_blocks(), np.dtype(np.int64), self._rows + 1)
            _write_blocks(npz, "ids", self._ids, id_dtype, self._rows)
            _write_npy(npz, "meta", np.asarray(meta_text))
            _write_npy(npz, "term_df", self._df)
            _copy_npy(npz, "indices", self._workdir / "indices", np.dtype(np.int32), self._nnz)
            _copy_npy(npz, "data", self._workdir / "data", self.dtype, self._nnz)

    def _meta_text(self) -> str:
        """The metadata as JSON, once a reader would take it: small, valid Unicode, its records
        as `check_records` wants them."""
        try:
            text = json.dumps(self.meta)
        except (TypeError, ValueError, RecursionError) as exc:
            raise ValueError(f"{self.path}: meta cannot be written as JSON ({exc})") from None
        if 4 * len(text) + 4096 > MAX_META_BYTES:  # stored as UTF-32
            raise ValueError(f"{self.path}: meta of {len(text)} characters is larger than a reader takes")
        if (problem := text_problem(self.meta)) is not None:
            raise ValueError(f"{self.path}: meta {problem}")
        try:
            check_records(self.meta, self.dtype)
        except ValueError as exc:
            raise ValueError(f"{self.path}: {exc}") from None
        return text

    def _indptr_blocks(self) -> Iterator[np.ndarray]:
        """indptr, a block of rows at a time, from the row lengths."""
        yield np.zeros(1, dtype=np.int64)
        offset = 0
        for lengths in self._row_lengths:
            ends = np.cumsum(lengths, dtype=np.int64) + offset
            offset = int(ends[-1]) if len(ends) else offset
            yield ends

    def _id_at(self, row: int) -> str:
        ends = np.cumsum([len(block) for block in self._ids])
        block = int(np.searchsorted(ends, row, side="right"))
        return id_text(self._ids[block][row - (ends[block] - len(self._ids[block]))])

    def discard(self) -> None:
        for handle in (self._indices, self._data):
            handle.close()
        shutil.rmtree(self._workdir, ignore_errors=True)

    def __enter__(self) -> SparseVectorsWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.discard()


def _converted(array: np.ndarray, dtype: np.dtype, what: str) -> np.ndarray:
    """`array` as a contiguous array of `dtype`; integers must convert unchanged (no wrapping,
    no fraction dropped), floats are checked for range afterwards (`check_csr`)."""
    with np.errstate(over="ignore", invalid="ignore"):  # what overflows is found below
        converted = np.ascontiguousarray(array, dtype=dtype)
    if array.dtype != dtype and dtype.kind in "iu" and not np.array_equal(converted, array):
        raise ValueError(f"{what} of type {array.dtype} do not fit {dtype} (out of range, fractional or NaN)")
    return converted


def _write_npy(npz: zipfile.ZipFile, name: str, array: np.ndarray) -> None:
    with npz.open(f"{name}.npy", "w", force_zip64=True) as member:
        np.lib.format.write_array(member, array, allow_pickle=False)


def _write_blocks(npz: zipfile.ZipFile, name: str, blocks: Iterable[np.ndarray], dtype: np.dtype, length: int) -> None:
    """One .npy member of `length` items from 1-d blocks, each cast to `dtype` on its own (no
    concatenated copy)."""
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": (length,)}
    with npz.open(f"{name}.npy", "w", force_zip64=True) as member:
        np.lib.format.write_array_header_2_0(member, header)
        for block in blocks:
            member.write(np.ascontiguousarray(block, dtype=dtype).tobytes())


def _copy_npy(npz: zipfile.ZipFile, name: str, raw: Path, dtype: np.dtype, length: int) -> None:
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": (length,)}
    with npz.open(f"{name}.npy", "w", force_zip64=True) as member, open(raw, "rb") as source:
        np.lib.format.write_array_header_2_0(member, header)
        shutil.copyfileobj(source, member, _COPY_CHUNK)
