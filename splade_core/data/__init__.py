"""Collections (documents, queries, relevance judgments) by ir_datasets id or BEIR folder."""

from .collections import BUNDLED, Collection, load_collection, seed_bundled_ir_datasets

__all__ = ["BUNDLED", "Collection", "load_collection", "seed_bundled_ir_datasets"]
