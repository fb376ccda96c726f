"""Sparse vectors on disk (CSR + ids + metadata), quantization and static pruning."""

from .vectors import SparseVectors, SparseVectorsWriter

__all__ = ["SparseVectors", "SparseVectorsWriter"]
