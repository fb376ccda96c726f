"""The study planner of the workflow: typed tables of a config, the results layout, and the
resources each job asks for."""

from .plan import BM25, EXACT, LAYOUT, NO_PRUNING, PRETRAINED, ConfigError, Pruning, Row, Setting, Study

__all__ = ["BM25", "EXACT", "LAYOUT", "NO_PRUNING", "PRETRAINED", "ConfigError", "Pruning", "Row", "Setting", "Study"]
