"""splade-core: a reproduction pipeline for SPLADE learned sparse retrieval."""

__version__ = "0.1.0"
