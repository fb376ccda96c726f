"""splade-index (numba), the fastest exact peer."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .base import Engine, term_major


class SpladeIndex(Engine):
    name = "splade-index (numba)"

    def __init__(self):
        from splade_index.numba.retrieve_utils import _retrieve_numba_functional

        self.retrieve = _retrieve_numba_functional

    def build(self, docs, workdir):
        self.use(term_major(docs))

    def use(self, csc: sp.csc_array) -> None:
        """Search these term-major arrays: what splade_index.SPLADE.index() builds from a
        SparseEncoder's output (float32 data, int32 indices and offsets)."""
        self.scores = {
            "data": csc.data.astype(np.float32, copy=False),
            "indices": csc.indices.astype(np.int32, copy=False),
            "indptr": csc.indptr.astype(np.int32, copy=False),
            "num_docs": csc.shape[0],
        }

    def nbytes(self):
        return sum(self.scores[key].nbytes for key in ("data", "indices", "indptr"))

    def prepare(self, queries):
        return [(q.terms.astype(np.int32), q.weights.astype(np.float32)) for q in queries]

    def search(self, variant, q, k):
        doc_idx, _ = self.retrieve([q[0]], [q[1]], self.scores, k=k, show_progress=False, n_threads=1)
        return doc_idx[0]

    def search_many(self, variant, qs, k, threads):
        doc_idx, _ = self.retrieve(
            [q[0] for q in qs], [q[1] for q in qs], self.scores, k=k, show_progress=False, n_threads=threads
        )
        return list(doc_idx)

    def describe(self, variant):
        return "TAAT over CSC + numba top-k (splade_index.numba), exact"
