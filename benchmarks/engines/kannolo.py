"""kANNolo's HNSW over sparse vectors: approximate, tuned to a recall target."""

from __future__ import annotations

import numpy as np

from .base import RECALL_TARGET, Engine, recall


class Kannolo(Engine):
    name = "kANNolo (sparse HNSW)"
    exact = False
    variants = ("hnsw",)
    M, EF_CONSTRUCTION = 32, 200

    def __init__(self):
        import kannolo

        self.kannolo = kannolo

    def build(self, docs, workdir):
        self.index = self.kannolo.SparsePlainHNSW.build_from_arrays(
            docs.indices.astype(np.int32),
            docs.data.astype(np.float32),
            docs.indptr.astype(np.int64),
            self.M,
            self.EF_CONSTRUCTION,
        )
        self.ef = 100

    def nbytes(self):
        return int(self.index.space_usage_bytes())

    def prepare(self, queries):
        return [(q.terms.astype(np.int32), q.weights.astype(np.float32)) for q in queries]

    def search(self, variant, q, k):
        _, ids = self.index.search(q[0], q[1], k, max(self.ef, k))
        return np.asarray(ids, dtype=np.int64)

    def search_many(self, variant, qs, k, threads):
        comps = np.concatenate([q[0] for q in qs])
        vals = np.concatenate([q[1] for q in qs])
        offsets = np.concatenate([[0], np.cumsum([len(q[0]) for q in qs])]).astype(np.int64)
        _, ids = self.index.batch_search(comps, vals, offsets, k, max(self.ef, k), num_threads=threads)
        return list(np.asarray(ids, dtype=np.int64).reshape(len(qs), k))

    def tune(self, variant, qs, queries, exact, truth):
        for ef in (10, 20, 40, 80, 160, 320, 640, 1280):
            self.ef = ef
            r = recall(exact, queries, [self.search(variant, q, 10) for q in qs], truth, 10)
            if r >= RECALL_TARGET:
                return f"tuned on {len(qs)} held-out queries: recall@10 {r:.3f}"
        return f"did not reach recall@10 {RECALL_TARGET} with ef_search <= 1280 ({r:.3f})"

    def describe(self, variant):
        return f"m={self.M}, ef_construction={self.EF_CONSTRUCTION}, ef_search=max({self.ef}, k)"
