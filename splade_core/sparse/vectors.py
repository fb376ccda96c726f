"""The self-describing sparse-vector file every stage reads and writes.

A `.npz` (no pickle) holding CSR arrays — `indptr` int64, `indices` int32 term ids, `data`
float32 weights or uint8/uint16 impacts — the external `ids` of the rows, and a JSON `meta`
record: format tag and version, vocabulary size, model, max length, pooling, and, once
quantized, the scale and rounding rule.

Every SparseVectors is validated when it is made (`check_csr`, `check_ids`), so a file that
loads holds exactly what the kernels assume (they skip bounds checks): `indptr` runs from 0
to nnz without decreasing, each row's term ids are unique, ascending and below the vocabulary
size, weights are finite and non-negative, ids are non-empty, without whitespace and unique.
The checks are vectorized, a chunk of entries at a time.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..data.ids import check_ids
from ..errors import SpladeError
from ..io import atomic_path, remove_stale_temps

FORMAT = "splade-core/sparse-vectors"
VERSION = 1
WEIGHT_DTYPES = (np.dtype(np.float32), np.dtype(np.uint8), np.dtype(np.uint16))
# Larger than any tokenizer's vocabulary (XLM-R: 250k); guards allocations sized by it.
MAX_VOCAB_SIZE = 1 << 24
_COPY_CHUNK = 1 << 24
_CHECK_CHUNK = 1 << 24  # entries checked at once


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
        if not isinstance(self.ids, np.ndarray) or self.ids.ndim != 1 or self.ids.dtype.kind != "U":
            raise ValueError("ids must be a 1-d array of strings")
        check_csr(self.indptr, self.indices, self.data, self.vocab_size, len(self.ids))
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

    @classmethod
    def load(cls, path: str | os.PathLike) -> SparseVectors:
        path = Path(path)
        if not path.is_file():
            raise SpladeError(f"{path}: no such file")
        try:
            loaded = np.load(path, allow_pickle=False)
            if not isinstance(loaded, np.lib.npyio.NpzFile):
                raise ValueError("a single .npy array, not an .npz archive")
            with loaded as npz:
                meta_array = npz["meta"]
                meta = json.loads(str(meta_array[()])) if meta_array.shape == () else None
                arrays = {name: npz[name] for name in ("indptr", "indices", "data", "ids")}
        except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile, json.JSONDecodeError, MemoryError) as exc:
            raise SpladeError(f"{path}: not a sparse-vector file ({str(exc) or type(exc).__name__})") from None
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
        try:
            return cls(vocab_size=vocab_size, meta=meta, **arrays)
        except ValueError as exc:
            raise SpladeError(f"{path}: corrupt sparse-vector file ({exc})") from None


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
    """Writes a sparse-vector file row block by row block, holding only the ids in memory.

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
        self._ids: list[str] = []
        self._nnz = 0

    def append(self, indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, ids) -> None:
        """Append rows given as a CSR block (indptr starting at 0 or not)."""
        indptr = np.asarray(indptr, dtype=np.int64)
        start, end = int(indptr[0]), int(indptr[-1])
        indices = np.ascontiguousarray(indices[start:end], dtype=np.int32)
        if len(indices) and (indices.min() < 0 or indices.max() >= self.vocab_size):
            raise ValueError(f"term ids must lie in [0, {self.vocab_size})")
        self._indices.write(indices.tobytes())
        self._data.write(np.ascontiguousarray(data[start:end], dtype=self.dtype).tobytes())
        self._row_lengths.append(np.diff(indptr))
        self._ids.extend(str(i) for i in ids)
        self._nnz += end - start
        if len(self._ids) != sum(len(lengths) for lengths in self._row_lengths):
            raise ValueError("number of ids differs from the number of rows")

    def close(self) -> None:
        self._indices.close()
        self._data.close()
        try:
            check_ids(self._ids)  # what encoding met in the collection: refused before it is written
        except ValueError as exc:
            self.discard()
            raise ValueError(f"{self.path}: {exc}") from None
        lengths = np.concatenate(self._row_lengths) if self._row_lengths else np.zeros(0, np.int64)
        indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        with (
            atomic_path(self.path, clean=False) as tmp,
            zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as npz,
        ):
            _write_npy(npz, "indptr", indptr)
            _write_npy(npz, "ids", np.asarray(self._ids, dtype=str))
            _write_npy(npz, "meta", np.asarray(json.dumps(self.meta)))
            _copy_npy(npz, "indices", self._workdir / "indices", np.dtype(np.int32), self._nnz)
            _copy_npy(npz, "data", self._workdir / "data", self.dtype, self._nnz)
        self.discard()

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


def _copy_npy(npz: zipfile.ZipFile, name: str, raw: Path, dtype: np.dtype, length: int) -> None:
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": (length,)}
    with npz.open(f"{name}.npy", "w", force_zip64=True) as member, open(raw, "rb") as source:
        np.lib.format.write_array_header_2_0(member, header)
        shutil.copyfileobj(source, member, _COPY_CHUNK)
