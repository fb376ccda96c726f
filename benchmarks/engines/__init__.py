"""The engines of benchmarks/bench_index.py, one file each, by the name `--engines` takes, and
the PyPI package each peer comes from (benchmarks/requirements.txt)."""

from .base import (
    RECALL_TARGET,
    RECALL_TARGETS,
    Engine,
    Exact,
    Query,
    Truth,
    ground_truth,
    recall,
    split_queries,
    term_major,
    topk_desc,
)
from .bmp import Bmp
from .kannolo import Kannolo
from .ours import Ours, OursBP
from .pisa import Pisa
from .scipy_sparse import ScipyBruteForce
from .seismic import Seismic
from .splade_index import SpladeIndex

ENGINES = {
    "ours": Ours,
    "ours-bp": OursBP,
    "scipy": ScipyBruteForce,
    "splade-index": SpladeIndex,
    "pisa": Pisa,
    "bmp": Bmp,
    "seismic": Seismic,
    "kannolo": Kannolo,
}
PACKAGES = {
    "splade-index": "splade-index",
    "pisa": "pyterrier-pisa",
    "bmp": "bmp",
    "seismic": "pyseismic-lsr",
    "kannolo": "kannolo",
    "scipy": "scipy",
}

__all__ = [
    "ENGINES",
    "PACKAGES",
    "RECALL_TARGET",
    "RECALL_TARGETS",
    "Engine",
    "Exact",
    "Ours",
    "Query",
    "Truth",
    "ground_truth",
    "recall",
    "split_queries",
    "term_major",
    "topk_desc",
]
