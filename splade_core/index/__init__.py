"""Inverted index over quantized sparse vectors (C++ engine, see csrc/ and inverted_index.py)."""

from .inverted_index import (
    ALGORITHMS,
    DEFAULT_ALGORITHM,
    BPOptions,
    IndexFormatError,
    InvertedIndex,
    bp_order,
    bp_order_chunks,
)

__all__ = [
    "ALGORITHMS",
    "DEFAULT_ALGORITHM",
    "BPOptions",
    "IndexFormatError",
    "InvertedIndex",
    "bp_order",
    "bp_order_chunks",
]
