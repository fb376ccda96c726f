"""Inverted index over quantized sparse vectors (C++ engine, see csrc/ and inverted_index.py)."""

from .inverted_index import ALGORITHMS, DEFAULT_ALGORITHM, IndexFormatError, InvertedIndex

__all__ = ["ALGORITHMS", "DEFAULT_ALGORITHM", "IndexFormatError", "InvertedIndex"]
