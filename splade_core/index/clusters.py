"""Settings of the clustered sections behind approximate `clustered` search.

Seismic's design (Bruch, Nardini, Rulli, Venturini, "Efficient inverted indexes for
approximate retrieval over learned sparse representations", SIGIR 2024): each term keeps its
heaviest postings, chosen across the whole collection (the vocab_size x n_postings heaviest
postings, at most max_share x n_postings a term), clustered by similarity (random centroids,
each document joining the centroid whose whole vector best matches its doc_cut heaviest terms,
clusters below min_cluster documents dissolved); each cluster gets a summary (per term, the
largest impact of its documents, its heaviest terms kept up to summary_energy of their sum). A
search cuts the query to its query_cut heaviest terms, estimates their clusters from the
summaries and scores the documents of the most promising clusters exactly from a forward index.
The engine (csrc/src/clusters.cpp, csrc/include/splade/query/clustered.hpp) stores the summaries
transposed, so that a query reads only the summary entries of its own terms, and of those only
its 2 x query_cut heaviest terms' (estimate_factor).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

CLUSTERS_KEY = "clusters"  # where an index's metadata records the settings of its clusters
# The index's clustered sections, as InvertedIndex.stats()["bytes"] names them.
CLUSTER_SECTIONS = (
    "forward_offsets",
    "forward",
    "term_clusters",
    "cluster_offsets",
    "cluster_docs",
    "summary_offsets",
    "summary_entries",
    "summary_samples",
)


@dataclass(frozen=True)
class ClusterOptions:
    """`postings_share`: the share of the collection's postings kept in the clustered lists,
    as a mean per term of the vocabulary (Seismic's n_postings = share x postings / vocab_size;
    Seismic's MS MARCO setting, n_postings 4,000-6,000, keeps about 0.15 of them)."""

    postings_share: float = 0.2
    max_share: float = 1.5
    centroid_fraction: float = 0.1
    doc_cut: int = 15
    summary_energy: float = 0.4
    min_cluster: int = 3
    seed: int = 42

    def __post_init__(self):
        for name in ("postings_share", "centroid_fraction", "summary_energy"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < value <= 1.0:
                raise ValueError(f"{name} must be a number in (0, 1], not {value!r}")
        share = self.max_share
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 1.0 <= share < math.inf:
            raise ValueError(f"max_share must be a finite number >= 1, not {share!r}")
        for name, top in (("doc_cut", 1024), ("min_cluster", 2**32 - 1), ("seed", 2**64 - 1)):
            value = getattr(self, name)
            low = 0 if name == "seed" else 1
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= top:
                raise ValueError(f"{name} must be an integer in [{low}, {top}], not {value!r}")

    def n_postings(self, postings: int, vocab_size: int) -> int:
        """Seismic's n_postings for a collection of `postings` over `vocab_size` terms."""
        return max(1, math.ceil(self.postings_share * postings / max(1, vocab_size)))

    def to_json(self) -> dict:
        return asdict(self)
