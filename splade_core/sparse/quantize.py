"""Float SPLADE weights → integer impacts, as Anserini and PISA index them.

Rule (stored in the output's metadata): ``q = clip(rint(w * scale), 0, max)`` with ties
rounded to even; entries that become 0 are dropped. The default scale ×100 is naver/splade's
Anserini export.
"""

from __future__ import annotations

import os

import numpy as np

from . import _quantize
from .vectors import CHUNK_ENTRIES, SparseVectors, SparseVectorsWriter, VectorFile

DEFAULT_SCALE = 100.0
ROUNDING_RULE = "q = clip(rint(w * scale), 0, dtype max), ties to even; zeros dropped"
IMPACT_DTYPES = {"uint8": np.uint8, "uint16": np.uint16}
_SLICE = 1 << 20


def scale_problem(scale: float, dtype: str) -> str | None:
    """Why `scale` cannot quantize weights to `dtype` impacts, or None: it must be finite, and a
    weight of 1 must become an impact from 1 to the type's largest (a smaller scale drops most
    weights, a larger one clips them). The one check `splade quantize` and the study's plan make."""
    largest = np.iinfo(IMPACT_DTYPES[dtype]).max
    if not (np.isfinite(scale) and 1 <= scale <= largest):
        return f"{scale!r} must be a number from 1 to {largest}: a weight of 1 becomes impact rint(scale) ({dtype})"
    return None


def quantize_csr(indptr, indices, data, scale: float = DEFAULT_SCALE, dtype: str = "uint8"):
    """Quantize CSR arrays; returns new (indptr int64, indices int32, data uint8/uint16)."""
    if dtype not in IMPACT_DTYPES:
        raise ValueError(f"dtype must be one of {sorted(IMPACT_DTYPES)}, not {dtype!r}")
    if (problem := scale_problem(scale, dtype)) is not None:
        raise ValueError(f"scale {problem}")
    indptr = np.ascontiguousarray(indptr, dtype=np.int64)
    indices = np.ascontiguousarray(indices, dtype=np.int32)
    data = np.ascontiguousarray(data, dtype=np.float32)
    if len(data) and not np.isfinite(data).all():
        raise ValueError("weights contain NaN or infinity")
    if len(data) and data.min() < 0:
        raise ValueError(f"weights must be non-negative (found {data.min():g})")
    out_dtype = IMPACT_DTYPES[dtype]
    max_value = float(np.iinfo(out_dtype).max)
    counts = _quantize.count_kept(indptr, data, scale, max_value)
    out_indptr = np.zeros(len(indptr), dtype=np.int64)
    np.cumsum(counts, out=out_indptr[1:])
    out_indices = np.empty(out_indptr[-1], dtype=np.int32)
    out_data = np.empty(out_indptr[-1], dtype=out_dtype)
    _quantize.fill_quantized(indptr, indices, data, scale, max_value, out_indptr, out_indices, out_data)
    return out_indptr, out_indices, out_data


def quantize(vectors: SparseVectors, scale: float = DEFAULT_SCALE, dtype: str = "uint8") -> SparseVectors:
    """Quantize float vectors; the scale, dtype and rule go into the metadata."""
    if vectors.is_quantized:
        raise ValueError("vectors are already quantized")
    *arrays, clipped = _quantize_chunk(vectors, scale, dtype)
    meta = _quantized_meta(vectors.meta, scale, dtype, clipped)
    return SparseVectors(*arrays, vectors.ids, vectors.vocab_size, meta)


def quantize_file(
    source: str | os.PathLike,
    output: str | os.PathLike,
    scale: float = DEFAULT_SCALE,
    dtype: str = "uint8",
    chunk_entries: int = CHUNK_ENTRIES,
) -> dict:
    """`quantize` from file to file, a row chunk at a time (the same bytes as `quantize`)."""
    with VectorFile(source) as vectors:
        if vectors.is_quantized:
            raise ValueError(f"{source}: vectors are already quantized")
        meta = _quantized_meta(vectors.meta, scale, dtype, 0)
        with SparseVectorsWriter(output, vectors.vocab_size, IMPACT_DTYPES[dtype], meta) as writer:
            for chunk in vectors.chunks(chunk_entries):
                *arrays, clipped = _quantize_chunk(chunk, scale, dtype)
                writer.append(*arrays, chunk.ids)
                meta["quantization"]["clipped"] += clipped
        return {"rows": vectors.n_rows, "nnz_before": vectors.nnz, "nnz_after": writer.nnz, **meta["quantization"]}


def _quantize_chunk(vectors: SparseVectors, scale: float, dtype: str):
    """(indptr, indices, impacts, how many weights were clipped at the largest impact)."""
    arrays = quantize_csr(vectors.indptr, vectors.indices, vectors.data, scale, dtype)
    largest = np.iinfo(IMPACT_DTYPES[dtype]).max + 0.5
    clipped = sum(  # in slices: the float64 products of a whole chunk would double its memory
        int(np.count_nonzero(vectors.data[at : at + _SLICE].astype(np.float64) * scale > largest))
        for at in range(0, vectors.nnz, _SLICE)
    )
    return (*arrays, clipped)


def _quantized_meta(meta: dict, scale: float, dtype: str, clipped: int) -> dict:
    return {**meta, "quantization": {"scale": scale, "dtype": dtype, "rule": ROUNDING_RULE, "clipped": clipped}}
