"""SciPy's sparse column gather: the exact brute force."""

from __future__ import annotations

from .base import Engine, Exact


class ScipyBruteForce(Engine):
    name = "scipy sparse (brute force)"
    native_threads = False

    def build(self, docs, workdir):
        self.exact_ = Exact(docs)

    def nbytes(self):
        c = self.exact_.csc
        return c.data.nbytes + c.indices.nbytes + c.indptr.nbytes

    def search(self, variant, q, k):
        return self.exact_.topk(q, k)

    def describe(self, variant):
        return "CSC column gather + SpMV + argpartition; exact, ties by doc index"
