"""splade-core's own InvertedIndex, in input order and reordered by graph bisection."""

from __future__ import annotations

import itertools
import time

import numpy as np
import scipy.sparse as sp

from .base import RECALL_TARGET, Engine, recall


class Ours(Engine):
    name = "splade-core InvertedIndex"

    def __init__(self):
        from splade_core.index import InvertedIndex

        self.cls = InvertedIndex
        self.index = None
        self.options = {}  # approximate variant -> search options, once tuned

    def build(self, docs, workdir):
        arrays = (docs.indptr, docs.indices, docs.data)
        try:  # build with 2 threads where the engine offers it, like the peers that build in parallel
            self.index = self.cls.build(arrays, docs.ids, vocab_size=docs.vocab_size, threads=2)
        except TypeError:
            self.index = self.cls.build(arrays, docs.ids, vocab_size=docs.vocab_size)
        self.variants = tuple(self.index.algorithms)

    def nbytes(self):
        stats = self.index.stats()
        for key in ("total_bytes", "bytes", "size_bytes", "index_bytes"):
            if key in stats:
                return int(stats[key])
        candidates = [v for key, v in stats.items() if "byte" in key and "total" in key]
        return int(candidates[0]) if candidates else -1

    def prepare(self, queries):
        return [
            sp.csr_array((q.weights, q.terms, np.array([0, len(q.terms)])), shape=(1, self.index_vocab()))
            for q in queries
        ]

    def index_vocab(self):
        return getattr(self.index, "vocab_size", 30522)

    def variant_exact(self, variant):
        return variant in self.index.exact_algorithms

    def _call(self, variant, q, k, threads):
        if variant in self.index.algorithms:
            return self.index.search(q, k=k, algorithm=variant, threads=threads)[0]
        algorithm, options = self.options[variant]
        return self.index.search(q, k=k, algorithm=algorithm, threads=threads, **options)[0]

    def search(self, variant, q, k):
        return self._call(variant, q, k, 1)[0]

    def search_many(self, variant, qs, k, threads):
        return list(self._call(variant, sp.vstack(qs, format="csr"), k, threads))

    def describe(self, variant):
        if variant in self.index.algorithms:
            return ""
        algorithm, options = self.options[variant]
        return f"approximate {algorithm}: " + ", ".join(f"{key}={value}" for key, value in options.items())

    def tune(self, variant, qs, queries, exact, truth):
        """Fastest (alpha, term_ratio, bound_share) of bmp reaching RECALL_TARGET on held-out queries."""
        best, tried = None, 0
        grid = itertools.product(
            (1.0, 0.9, 0.8),  # term_ratio
            (1.0, 0.9, 0.8, 0.7, 0.6),  # alpha
            (1.0, 0.8, 0.6, 0.5, 0.45, 0.4, 0.35, 0.3, 0.25),  # bound_share
        )
        for term_ratio, alpha, bound_share in grid:
            options = {"alpha": alpha, "term_ratio": term_ratio, "bound_share": bound_share}
            if set(options.values()) == {1.0}:
                continue
            self.options[variant] = ("bmp", options)
            started = time.process_time()
            got = [self.search(variant, q, 10) for q in qs]
            seconds = time.process_time() - started
            tried += 1
            r = recall(exact, queries, got, truth, 10)
            if r >= RECALL_TARGET and (best is None or seconds < best[1]):
                best = (options, seconds, r)
        if best is None:
            self.options[variant] = ("bmp", {"alpha": 1.0, "term_ratio": 1.0, "bound_share": 1.0})
            return f"no setting reached recall@10 {RECALL_TARGET} on held-out queries ({tried} tried)"
        self.options[variant] = ("bmp", best[0])
        return f"tuned on {len(qs)} held-out queries: recall@10 {best[2]:.3f} ({tried} settings tried)"

    def close(self):
        self.index = None


class OursBP(Ours):
    """Our engine with its documents reordered by recursive graph bisection (default options)."""

    name = "splade-core InvertedIndex + BP"

    def build(self, docs, workdir):
        from splade_core.index import bp_order

        arrays = (docs.indptr, docs.indices, docs.data)
        started = time.perf_counter()
        order = bp_order(arrays, vocab_size=docs.vocab_size, block_size=64, threads=2)
        self.reorder_s = time.perf_counter() - started
        self.index = self.cls.build(arrays, docs.ids, vocab_size=docs.vocab_size, threads=2, doc_order=order)
        self.variants = (*self.index.algorithms, "bmp-approx")

    def describe(self, variant):
        text = super().describe(variant)
        return "; ".join(x for x in (f"BP reorder {self.reorder_s:.1f} s of the build (2 threads)", text) if x)
