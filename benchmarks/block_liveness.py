"""How many doc-range blocks, and groups of blocks ("superblocks"), can hold a top-k document.

For each query of a synthetic collection reordered by BP, the fraction of blocks (and of
groups of 2, 4, 8, 16 and 64 blocks) whose upper bound (sum over query terms of weight x the
term's largest impact in the range) reaches the exact k-th score. This is what a block-max
algorithm must score at best, and what superblock pruning could skip.

The last two columns are what MaxScore could skip with the exact k-th score known in advance:
the share of the query's postings in its non-essential terms (the lightest terms, by weight x
max impact, whose bounds sum below the k-th score), and the share of documents that remain
candidates (matched by an essential term, with a partial score plus the non-essential bound
reaching the k-th score), whose non-essential postings must still be found and added.

    python benchmarks/block_liveness.py --docs 1000000 --queries 12
"""

from __future__ import annotations

import argparse

import numpy as np
import scipy.sparse as sp
from synthetic import SyntheticConfig, load_or_generate

from splade_core.index import bp_order

GROUPS = (1, 2, 4, 8, 16, 64)  # blocks per range


def range_bounds(docs: sp.csc_array, terms: np.ndarray, weights: np.ndarray, shift: int) -> np.ndarray:
    """Upper bound of every range of 2**shift documents."""
    bounds = np.zeros((docs.shape[0] >> shift) + 1, np.int64)
    for term, weight in zip(terms, weights):
        rows = docs.indices[docs.indptr[term] : docs.indptr[term + 1]]
        impacts = docs.data[docs.indptr[term] : docs.indptr[term + 1]].astype(np.int64)
        best = np.zeros_like(bounds)
        np.maximum.at(best, rows >> shift, impacts)
        bounds += weight * best
    return bounds


def maxscore_work(docs: sp.csc_array, terms: np.ndarray, weights: np.ndarray, kth: int) -> tuple[float, float]:
    """(share of postings in non-essential terms, share of documents left as candidates)."""
    lengths = np.diff(docs.indptr)[terms]
    reach = np.array([weights[i] * docs.data[docs.indptr[t] : docs.indptr[t + 1]].max() for i, t in enumerate(terms)])
    lightest = np.argsort(reach, kind="stable")
    non_essential = lightest[np.cumsum(reach[lightest]) < kth]
    essential = np.setdiff1d(np.arange(len(terms)), non_essential)
    partial = docs[:, terms[essential]] @ weights[essential]
    candidates = (partial > 0) & (partial + reach[non_essential].sum() >= kth)
    return lengths[non_essential].sum() / lengths.sum(), candidates.mean()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=12)
    parser.add_argument("--block-size", type=int, default=64)
    parser.add_argument("--k", type=int, nargs="+", default=[10, 1000])
    args = parser.parse_args(argv)
    docs, queries = load_or_generate(SyntheticConfig(n_docs=args.docs))
    arrays = (docs.indptr, docs.indices, docs.data)
    order = bp_order(arrays, vocab_size=docs.vocab_size, block_size=args.block_size, threads=2)
    matrix = sp.csr_array((docs.data, docs.indices, docs.indptr), shape=(len(docs.indptr) - 1, docs.vocab_size))
    reordered = matrix[order].tocsc()
    block_shift = args.block_size.bit_length() - 1
    ranges = " | ".join(f"live ranges of {g * args.block_size} docs" for g in GROUPS)
    print(f"query | k | {ranges} | MaxScore: non-essential postings | candidate docs")
    for q in range(args.queries):
        span = slice(queries.indptr[q], queries.indptr[q + 1])
        terms, weights = queries.indices[span], queries.data[span].astype(np.int64)
        scores = reordered[:, terms] @ weights
        bounds = {g: range_bounds(reordered, terms, weights, block_shift + g.bit_length() - 1) for g in GROUPS}
        for k in args.k:
            kth = np.partition(scores, -k)[-k]
            live = " | ".join(f"{np.mean(bounds[g] >= kth):.3f}" for g in GROUPS)
            skippable, candidates = maxscore_work(reordered, terms, weights, kth)
            print(f"{q} | {k} | {live} | {skippable:.2f} | {candidates:.3f}", flush=True)


if __name__ == "__main__":
    main()
