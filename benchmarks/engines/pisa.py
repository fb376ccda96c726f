"""PISA through pyterrier-pisa: MaxScore and other dynamic pruning."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp

from splade_core.sparse import SparseVectors

from .base import Engine, term_name


class Pisa(Engine):
    name = "PISA (pyterrier-pisa)"
    variants = ("maxscore", "block_max_wand", "block_max_maxscore")
    ENCODING = "block_simdbp"
    BLOCK = 64

    def __init__(self):
        from pyterrier_pisa import _pisathon

        self.pisathon = _pisathon

    def build(self, docs, workdir):
        _pisathon = self.pisathon
        self.dir = workdir / "pisa"
        self.dir.mkdir()
        write_pisa_canonical(docs, self.dir)
        _pisathon.build_binlex(str(self.dir / "fwd.documents"), str(self.dir / "fwd.doclex"))
        _pisathon.build_binlex(str(self.dir / "fwd.terms"), str(self.dir / "fwd.termlex"))
        self.ctxt = _pisathon.RetrievalContext()
        _pisathon.prepare_index(
            self.ctxt, str(self.dir), self.ENCODING, "quantized", "", block_size=self.BLOCK, quantize=0, stop_fname=""
        )

    def nbytes(self):
        return sum(p.stat().st_size for p in self.dir.iterdir() if not p.name.startswith("inv"))

    def prepare(self, queries):
        return [{name: float(w) for name, w in zip(term_name(q.terms), q.weights)} for q in queries]

    def _run(self, variant, qs, k, threads):
        n = len(qs) * k
        qidx, docnos = np.empty(n, np.int32), np.empty(n, dtype=object)
        ranks, scores = np.empty(n, np.int32), np.empty(n, np.float32)
        size = self.pisathon.retrieve(
            self.ctxt,
            variant,
            list(enumerate(qs)),
            k=k,
            threads=threads,
            pretokenised=True,
            query_weighted=1,
            result_qidxs=qidx,
            result_docnos=docnos,
            result_ranks=ranks,
            result_scores=scores,
        )
        out = [[] for _ in qs]
        for i, d in zip(qidx[:size], docnos[:size]):
            out[i].append(int(d))
        return [np.array(o, dtype=np.int64) for o in out]

    def search(self, variant, q, k):
        return self._run(variant, [q], k, 1)[0]

    def search_many(self, variant, qs, k, threads):
        return self._run(variant, qs, k, threads)

    def describe(self, variant):
        return f"{variant}, {self.ENCODING}, fixed blocks of {self.BLOCK}; canonical collection written from the CSR"


def write_pisa_canonical(docs: SparseVectors, out: Path) -> None:
    """PISA's uncompressed collection (inv.docs/.freqs/.sizes, fwd.documents/.terms): impacts as freqs."""
    csc = sp.csr_array((docs.data, docs.indices, docs.indptr), shape=(docs.n_rows, docs.vocab_size)).tocsc()
    csc.sort_indices()
    df = np.diff(csc.indptr)
    used = np.flatnonzero(df > 0)
    lengths = df[used]
    headers = np.concatenate([[0], np.cumsum(lengths + 1)])[:-1]  # position of each list's length word
    body = np.ones(int(lengths.sum() + len(used)), dtype=bool)
    body[headers] = False
    for name, values, prefix in (("docs", csc.indices, [1, docs.n_rows]), ("freqs", csc.data, [])):
        seq = np.empty(len(body), dtype=np.uint32)
        seq[headers] = lengths
        seq[body] = values  # lists of used terms are contiguous in CSC order
        with open(out / f"inv.{name}", "wb") as handle:
            handle.write(np.asarray(prefix, dtype=np.uint32).tobytes())
            handle.write(seq.tobytes())
    sums = np.concatenate([[0], np.cumsum(docs.data, dtype=np.int64)])
    sizes = (sums[docs.indptr[1:]] - sums[docs.indptr[:-1]]).astype(np.uint32)
    (out / "inv.sizes").write_bytes(np.concatenate([[docs.n_rows], sizes]).astype(np.uint32).tobytes())
    (out / "fwd.documents").write_text("".join(f"{i}\n" for i in range(docs.n_rows)))
    (out / "fwd.terms").write_text("".join(f"{name}\n" for name in term_name(used)))
