"""Sparse vectors on disk (CSR + ids + metadata) and the pure transforms on them: quantization
and static pruning (interchange formats: `splade_core.formats`)."""

from .prune import prune
from .quantize import quantize
from .vectors import SparseVectors, SparseVectorsWriter, VectorFile

__all__ = ["SparseVectors", "SparseVectorsWriter", "VectorFile", "prune", "quantize"]
