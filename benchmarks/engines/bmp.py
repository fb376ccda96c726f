"""BMP (block-max pruning, Mallia et al., SIGIR 2024), from CIFF."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from splade_core.formats import write_ciff
from splade_core.sparse import SparseVectors

from .base import Engine, term_name


class Bmp(Engine):
    name = "BMP"
    exact = False  # safe pruning (alpha = beta = 1), but query weights are re-quantized to 1-32
    variants = ("bmp",)
    BSIZE = 32
    native_threads = False

    def __init__(self):
        import bmp

        self.bmp = bmp

    def build(self, docs, workdir):
        self.path = workdir / "index.bmp"
        ciff = workdir / "collection.ciff"
        numbered = SparseVectors(
            docs.indptr, docs.indices, docs.data, np.arange(docs.n_rows).astype(str), docs.vocab_size
        )
        write_ciff(numbered, ciff, term_name(range(docs.vocab_size)), description="benchmarks/bench_index.py")
        self.from_ciff(ciff, self.path)
        ciff.unlink()

    def from_ciff(self, ciff, path):
        """Builds the BMP index `path` from a CIFF file whose terms are named by `term_name` and
        whose documents by their row, and opens it."""
        self.path = path
        # ciff2bmp exits the process on a bad input: run it in a child.
        code = (
            f"import bmp; bmp.ciff2bmp(ciff_file={str(ciff)!r}, output={str(path)!r}, "
            f"bsize={self.BSIZE}, compress_range=False)"
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if done.returncode != 0 or not path.is_file():
            raise RuntimeError(f"ciff2bmp failed ({done.returncode}): {done.stderr.strip()[-300:]}")
        self.searcher = self.bmp.Searcher(str(path))

    def nbytes(self):
        return self.path.stat().st_size

    def prepare(self, queries):
        return [{name: float(w) for name, w in zip(term_name(q.terms), q.weights)} for q in queries]

    def search(self, variant, q, k):
        docnos, _ = self.searcher.search(q, k=k, alpha=1.0, beta=1.0)
        return np.array([int(d) for d in docnos], dtype=np.int64)

    def describe(self, variant):
        return f"block size {self.BSIZE}, alpha=beta=1 (safe), fed via CIFF; rescales query weights to 1-32 (ceil)"
