"""Sparse vectors on disk (CSR + ids + metadata), quantization, static pruning and exports."""

from .export import write_anserini_docs, write_anserini_queries, write_ciff
from .prune import prune
from .quantize import quantize
from .vectors import SparseVectors, SparseVectorsWriter, VectorFile

__all__ = [
    "SparseVectors",
    "SparseVectorsWriter",
    "VectorFile",
    "prune",
    "quantize",
    "write_anserini_docs",
    "write_anserini_queries",
    "write_ciff",
]
