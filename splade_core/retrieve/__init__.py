"""Retrieval: exact brute force (the oracle), BM25 baseline, TREC run files."""

from .brute_force import brute_force_search, topk_rows
from .runs import Run, read_trec_run, write_trec_run

__all__ = ["Run", "brute_force_search", "read_trec_run", "topk_rows", "write_trec_run"]
