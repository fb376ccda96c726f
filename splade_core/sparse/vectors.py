"""The self-describing sparse-vector file every stage reads and writes.

A `.npz` (no pickle) holding CSR arrays — `indptr` int64, `indices` int32 term ids, `data`
float32 weights or uint8/uint16 impacts — the external `ids` of the rows, and a JSON `meta`
record: format tag and version, vocabulary size, model, max length, pooling, and, once
quantized, the scale and rounding rule.
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

from ..errors import SpladeError
from ..io import atomic_path

FORMAT = "splade-core/sparse-vectors"
VERSION = 1
WEIGHT_DTYPES = (np.dtype(np.float32), np.dtype(np.uint8), np.dtype(np.uint16))
_COPY_CHUNK = 1 << 24


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
        if self.indptr.ndim != 1 or len(self.indptr) != len(self.ids) + 1:
            raise ValueError(f"indptr has {len(self.indptr)} entries for {len(self.ids)} rows")
        if self.indptr.dtype != np.int64 or self.indices.dtype != np.int32:
            raise ValueError("indptr must be int64 and indices int32")
        if self.data.dtype not in WEIGHT_DTYPES:
            raise ValueError(f"weights must be float32, uint8 or uint16, not {self.data.dtype}")
        if len(self.indices) != len(self.data) or self.indptr[-1] != len(self.data):
            raise ValueError("indices, data and indptr[-1] disagree on the number of entries")
        if len(self.indices) and not 0 <= int(self.indices.min()) <= int(self.indices.max()) < self.vocab_size:
            raise ValueError(f"term ids must lie in [0, {self.vocab_size})")

    @classmethod
    def from_csr(cls, matrix: sp.sparray | sp.spmatrix, ids, meta: dict[str, Any] | None = None) -> SparseVectors:
        csr = sp.csr_array(matrix)
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
            with np.load(path, allow_pickle=False) as npz:
                meta = json.loads(str(npz["meta"][()]))
                arrays = {name: npz[name] for name in ("indptr", "indices", "data", "ids")}
        except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
            raise SpladeError(f"{path}: not a sparse-vector file ({exc})") from None
        if meta.get("format") != FORMAT:
            raise SpladeError(f"{path}: not a sparse-vector file (format {meta.get('format')!r})")
        if meta.get("version") != VERSION:
            raise SpladeError(f"{path}: format version {meta.get('version')}, this release reads {VERSION}")
        vocab_size = int(meta.pop("vocab_size"))
        for key in ("format", "version"):
            meta.pop(key)
        try:
            return cls(vocab_size=vocab_size, meta=meta, **arrays)
        except ValueError as exc:
            raise SpladeError(f"{path}: corrupt sparse-vector file ({exc})") from None


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
        lengths = np.concatenate(self._row_lengths) if self._row_lengths else np.zeros(0, np.int64)
        indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        with atomic_path(self.path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as npz:
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
