"""splade-core's own InvertedIndex, in input order and reordered by graph bisection."""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp

from splade_core.index.presets import PRESETS

from .base import Engine


class Ours(Engine):
    name = "splade-core InvertedIndex"

    def __init__(self):
        from splade_core.index import InvertedIndex

        self.cls = InvertedIndex
        self.index = None
        self.calibration_s = 0.0

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
        return self.index.search(q, k=k, algorithm=variant, threads=threads)[0]

    def search(self, variant, q, k):
        return self._call(variant, q, k, 1)[0]

    def search_many(self, variant, qs, k, threads):
        return list(self._call(variant, sp.vstack(qs, format="csr"), k, threads))

    def describe(self, variant):
        if variant in self.index.algorithms:
            return ""
        options = dict(self.index.preset(variant).search_options)
        algorithm = options.pop("algorithm")
        return " ".join(
            [f"preset {variant}: {algorithm}", ", ".join(f"{key}={value}" for key, value in options.items())]
        ).strip()

    def tune(self, variant, qs, queries, exact, truth):
        """Calibrate the index's presets on the held-out queries (once, for both presets): what
        `splade index --calibration-queries` does at build time, timed."""
        if not self.calibration_s:
            started = time.perf_counter()
            self.index.calibrate_presets(sp.vstack(qs, format="csr"))
            self.calibration_s = time.perf_counter() - started
        return f"calibrated on {len(qs)} held-out queries in {self.calibration_s:.2f} s"

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
        self.variants = (*self.index.algorithms, *PRESETS)

    def describe(self, variant):
        text = super().describe(variant)
        return "; ".join(x for x in (f"BP reorder {self.reorder_s:.1f} s of the build (2 threads)", text) if x)
