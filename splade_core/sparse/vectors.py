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
The checks are vectorized, a chunk of entries at a time.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..data.ids import check_ids, check_unique, compact_ids, id_hashes, id_text
from ..errors import SpladeError
from ..io import atomic_path, remove_stale_temps

FORMAT = "splade-core/sparse-vectors"
VERSION = 1
WEIGHT_DTYPES = (np.dtype(np.float32), np.dtype(np.uint8), np.dtype(np.uint16))
# Larger than any tokenizer's vocabulary (XLM-R: 250k); guards allocations sized by it.
MAX_VOCAB_SIZE = 1 << 24
_COPY_CHUNK = 1 << 24
_CHECK_CHUNK = 1 << 24  # entries checked at once
# Entries a streaming stage holds at once: ~32 MB of float postings, ~100 MB of working memory.
CHUNK_ENTRIES = 1 << 22


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
        check_csr(self.indptr, self.indices, self.data, self.vocab_size, len(self.ids))
        if check_id_values:
            check_ids(self.ids)
        quantization = self.meta.get("quantization", {})
        scale = quantization.get("scale", 1) if isinstance(quantization, dict) else None
        if (
            not isinstance(quantization, dict)
            or quantization.get("dtype", str(self.data.dtype)) != str(self.data.dtype)
            or isinstance(scale, bool)
            or not isinstance(scale, (int, float))
            or not scale > 0
        ):
            raise ValueError(f"meta 'quantization' must be a record with a positive scale and dtype {self.data.dtype}")

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
        """How many rows hold each term (int64, one entry per vocabulary term)."""
        return np.bincount(self.indices, minlength=self.vocab_size).astype(np.int64)

    @classmethod
    def load(cls, path: str | os.PathLike) -> SparseVectors:
        """The whole file in memory; `VectorFile` reads it a row chunk at a time instead."""
        with VectorFile(path) as vectors:
            return vectors.read_all()


class VectorFile:
    """A sparse-vector file opened for streaming.

    Its metadata, ids, `indptr` and term document frequencies are read (and checked) when it is
    opened, a few bytes per row; the postings (`indices`, `data`: nearly all of the file) are
    read a row chunk at a time by `chunks()`, each chunk checked as a `SparseVectors`, so a
    stage that streams holds one chunk, whatever the corpus size.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.is_file():
            raise SpladeError(f"{self.path}: no such file")
        try:
            loaded = np.load(self.path, allow_pickle=False)
            if not isinstance(loaded, np.lib.npyio.NpzFile):
                raise ValueError("a single .npy array, not an .npz archive")
            self._npz = loaded
            meta_array = loaded["meta"]
            meta = json.loads(str(meta_array[()])) if meta_array.shape == () else None
            ids = loaded["ids"]
            self.indptr = loaded["indptr"]
            self._stored_df = loaded["term_df"] if "term_df" in loaded.files else None
            shapes = {name: self._header(name) for name in ("indices", "data")}
        except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile, json.JSONDecodeError, MemoryError) as exc:
            self.close()
            raise SpladeError(f"{self.path}: not a sparse-vector file ({str(exc) or type(exc).__name__})") from None
        try:
            self.vocab_size, self.meta = _check_meta(meta, self.path)
            self.dtype = shapes["data"][1]
            self.nnz = _check_header(shapes, self.indptr, ids)
            if self._stored_df is not None:
                _check_df(self._stored_df, self.vocab_size, self.nnz)
            self._ids = compact_ids(ids)  # 1 byte a character when ASCII, as wide as the longest
            del ids
            check_ids(self._ids)
        except (ValueError, SpladeError) as exc:
            self.close()
            if isinstance(exc, SpladeError):
                raise
            raise SpladeError(f"{self.path}: corrupt sparse-vector file ({exc})") from None

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

    def chunks(self, max_entries: int = CHUNK_ENTRIES) -> Iterator[SparseVectors]:
        """The rows in order, as SparseVectors of at most `max_entries` entries each (a row
        longer than that is a chunk of its own); each chunk's indptr starts at 0."""
        with self._stream("indices") as indices, self._stream("data") as data:
            start = 0
            while start < self.n_rows:
                limit = self.indptr[start] + max(int(max_entries), 1)
                stop = min(max(int(np.searchsorted(self.indptr, limit, side="right")) - 1, start + 1), self.n_rows)
                begin, end = int(self.indptr[start]), int(self.indptr[stop])
                try:
                    yield SparseVectors._of_checked_ids(  # every id was checked when the file was opened
                        self.indptr[start : stop + 1] - begin,
                        indices.read(end - begin),
                        data.read(end - begin),
                        self._ids[start:stop].astype(str),
                        self.vocab_size,
                        self.meta,
                    )
                except ValueError as exc:
                    problem = f"rows from {start + 1}: {exc}"
                    raise SpladeError(f"{self.path}: corrupt sparse-vector file ({problem})") from None
                start = stop

    def read_all(self) -> SparseVectors:
        with self._stream("indices") as indices, self._stream("data") as data:
            arrays = {"indices": indices.read(self.nnz), "data": data.read(self.nnz)}
        try:
            return SparseVectors._of_checked_ids(
                self.indptr, arrays["indices"], arrays["data"], self.ids, self.vocab_size, self.meta
            )
        except ValueError as exc:
            raise SpladeError(f"{self.path}: corrupt sparse-vector file ({exc})") from None

    def term_df(self) -> np.ndarray:
        """How many rows hold each term: stored by the writer, or counted chunk by chunk."""
        if self._stored_df is not None:
            return self._stored_df.astype(np.int64)
        df = np.zeros(self.vocab_size, dtype=np.int64)
        for chunk in self.chunks():
            df += chunk.term_df()
        return df

    def _header(self, name: str) -> tuple[tuple, np.dtype]:
        with self._npz.zip.open(f"{name}.npy") as member:
            shape, fortran, dtype = _read_header(member)
        if fortran or len(shape) != 1 or dtype.hasobject:
            raise ValueError(f"{name} is not a 1-d array of numbers")
        return shape, dtype

    @contextlib.contextmanager
    def _stream(self, name: str) -> Iterator[_MemberReader]:
        with self._npz.zip.open(f"{name}.npy") as member:
            yield _MemberReader(member, _read_header(member)[2], self.path, name)

    def close(self) -> None:
        npz = getattr(self, "_npz", None)
        if npz is not None:
            npz.close()

    def __enter__(self) -> VectorFile:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class _MemberReader:
    """Reads consecutive runs of items from one array member of the archive."""

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
        except (OSError, EOFError, zipfile.BadZipFile) as exc:
            raise SpladeError(f"{self.path}: corrupt sparse-vector file ({self.name}: {exc})") from None
        if filled != len(view):
            raise SpladeError(f"{self.path}: truncated sparse-vector file ({self.name} ends early)")
        return out


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
    if meta.get("version") != VERSION:
        raise SpladeError(f"{path}: format version {meta.get('version')}, this release reads {VERSION}")
    vocab_size = meta.pop("vocab_size", None)
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or not 0 < vocab_size <= MAX_VOCAB_SIZE:
        raise SpladeError(f"{path}: corrupt sparse-vector file (vocab_size {vocab_size!r} is not in [1, 2^24])")
    for key in ("format", "version"):
        meta.pop(key)
    return vocab_size, meta


def _check_header(shapes: dict, indptr: np.ndarray, ids: np.ndarray) -> int:
    """The number of entries, once the arrays' shapes and types agree with each other."""
    if not isinstance(ids, np.ndarray) or ids.ndim != 1 or ids.dtype.kind != "U":
        raise ValueError("ids must be a 1-d array of strings")
    if indptr.ndim != 1 or indptr.dtype != np.int64 or len(indptr) != len(ids) + 1:
        raise ValueError(f"indptr must be a 1-d int64 array of {len(ids) + 1} entries, one more than the ids")
    (nnz,), index_dtype = shapes["indices"]
    ((data_nnz,), data_dtype) = shapes["data"]
    if index_dtype != np.int32 or data_dtype not in WEIGHT_DTYPES:
        raise ValueError("term ids must be int32 and weights float32, uint8 or uint16")
    if nnz != data_nnz or indptr[0] != 0 or indptr[-1] != nnz:
        raise ValueError(f"indptr must run from 0 to the {nnz} entries, and data hold as many as indices")
    if len(ids) and (np.diff(indptr) < 0).any():
        raise ValueError(f"indptr decreases at row {int(np.argmax(np.diff(indptr) < 0)) + 1}")
    return int(nnz)


def _check_df(df: np.ndarray, vocab_size: int, nnz: int) -> None:
    if df.ndim != 1 or df.dtype != np.int64 or len(df) != vocab_size or (df < 0).any() or int(df.sum()) != nnz:
        raise ValueError(f"term_df must hold {vocab_size} non-negative counts adding up to the {nnz} entries")


def check_csr(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, vocab_size: int, rows: int) -> None:
    """Raise ValueError unless the arrays are a canonical CSR matrix of `rows` × `vocab_size`."""
    for name, array, dtypes in (("indptr", indptr, ("int64",)), ("indices", indices, ("int32",))):
        if not isinstance(array, np.ndarray) or array.ndim != 1 or str(array.dtype) not in dtypes:
            raise ValueError(f"{name} must be a 1-d {dtypes[0]} array")
    if not isinstance(data, np.ndarray) or data.ndim != 1 or data.dtype not in WEIGHT_DTYPES:
        raise ValueError("weights must be a 1-d float32, uint8 or uint16 array")
    if not 0 < vocab_size <= MAX_VOCAB_SIZE:
        raise ValueError(f"vocab_size {vocab_size} is not in [1, 2^24]")
    if len(indptr) != rows + 1:
        raise ValueError(f"indptr has {len(indptr)} entries for {rows} rows")
    nnz = len(indices)
    if len(data) != nnz or indptr[0] != 0 or indptr[-1] != nnz:
        raise ValueError(f"indptr must run from 0 to the {nnz} entries, and data hold as many as indices")
    if rows and (np.diff(indptr) < 0).any():
        row = int(np.argmax(np.diff(indptr) < 0))
        raise ValueError(f"indptr decreases at row {row + 1}")
    for begin in range(0, nnz, _CHECK_CHUNK):
        end = min(nnz, begin + _CHECK_CHUNK)
        _check_entries(indptr, indices, data, vocab_size, begin, end)


def _check_entries(indptr, indices, data, vocab_size: int, begin: int, end: int) -> None:
    terms, weights = indices[begin:end], data[begin:end]
    if int(terms.min()) < 0 or int(terms.max()) >= vocab_size:
        raise ValueError(f"term ids must lie in [0, {vocab_size})")
    if weights.dtype == np.float32 and not (np.isfinite(weights).all() and (weights >= 0).all()):
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
    `.npz` and renames it into place, so memory stays bounded for any corpus size.
    """

    def __init__(self, path: str | os.PathLike, vocab_size: int, dtype, meta: dict[str, Any]):
        self.path = Path(path)
        self.vocab_size = int(vocab_size)
        self.dtype = np.dtype(dtype)
        if self.dtype not in WEIGHT_DTYPES:
            raise ValueError(f"weights must be float32, uint8 or uint16, not {self.dtype}")
        self.meta = {"format": FORMAT, "version": VERSION, "vocab_size": self.vocab_size, **meta}
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
        """Append rows given as a CSR block (indptr starting at 0 or not)."""
        indptr = np.asarray(indptr, dtype=np.int64)
        start, end = int(indptr[0]), int(indptr[-1])
        indices = np.ascontiguousarray(indices[start:end], dtype=np.int32)
        if len(indices) and (indices.min() < 0 or indices.max() >= self.vocab_size):
            raise ValueError(f"term ids must lie in [0, {self.vocab_size})")
        try:
            self._indices.write(indices.tobytes())
            self._data.write(np.ascontiguousarray(data[start:end], dtype=self.dtype).tobytes())
        except OSError as exc:  # a full disk: the caller's exit discards the temporary folder
            raise self._write_error(exc) from None
        ids = np.asarray(ids if isinstance(ids, np.ndarray) else list(ids), dtype=str).reshape(-1)
        if len(ids) != len(indptr) - 1:
            raise ValueError(f"{len(ids)} ids for {len(indptr) - 1} rows")
        try:
            self._hashes.append(id_hashes(ids, first_row=self._rows))
        except ValueError as exc:
            raise ValueError(f"{self.path}: {exc}") from None
        self._row_lengths.append(np.diff(indptr).astype(np.int32))
        self._ids.append(compact_ids(ids))
        self._rows += len(ids)
        self._nnz += end - start
        self._df += np.bincount(indices, minlength=self.vocab_size)

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
        try:
            hashes = np.concatenate(self._hashes) if self._hashes else np.zeros(0, np.uint64)
            self._hashes = []
            check_unique(hashes, self._id_at)  # what encoding met in the collection: refused before it is written
        except ValueError as exc:
            raise ValueError(f"{self.path}: {exc}") from None
        del hashes
        width = max((block.itemsize // (1 if block.dtype.kind == "S" else 4) for block in self._ids), default=1)
        id_dtype = np.dtype(f"<U{max(width, 1)}")
        with (
            atomic_path(self.path, clean=False) as tmp,
            zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as npz,
        ):
            _write_blocks(npz, "indptr", self._indptr_blocks(), np.dtype(np.int64), self._rows + 1)
            _write_blocks(npz, "ids", self._ids, id_dtype, self._rows)
            _write_npy(npz, "meta", np.asarray(json.dumps(self.meta)))
            _write_npy(npz, "term_df", self._df)
            _copy_npy(npz, "indices", self._workdir / "indices", np.dtype(np.int32), self._nnz)
            _copy_npy(npz, "data", self._workdir / "data", self.dtype, self._nnz)

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
