"""Effectiveness (pytrec_eval) and efficiency proxies (FLOPS, non-zeros) of a run."""

from .metrics import DEFAULT_METRICS, evaluate_run, format_table, sparsity_stats

__all__ = ["DEFAULT_METRICS", "evaluate_run", "format_table", "sparsity_stats"]
