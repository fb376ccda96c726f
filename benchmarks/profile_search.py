"""Repeated batch searches of one algorithm on a synthetic collection, to run under a profiler.

Builds the index (reordered by BP with --reorder bp), then searches the first --queries
queries --repeat times, single-threaded, and prints the CPU time per query. Under `perf`:

    perf record -o perf.data python benchmarks/profile_search.py --docs 1000000 --k 1000 \\
        --algorithm exhaustive --queries 50 --repeat 60
    perf report -i perf.data --no-children --sort dso,sym
"""

from __future__ import annotations

import argparse
import time

from synthetic import SyntheticConfig, load_or_generate

from splade_core.index import InvertedIndex


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--algorithm", default="exhaustive")
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--reorder", choices=("none", "bp"), default="none")
    parser.add_argument("--bound-share", type=float, default=1.0, help="bmp's approximate knob (1: exact)")
    args = parser.parse_args(argv)
    docs, queries = load_or_generate(SyntheticConfig(n_docs=args.docs))
    index = InvertedIndex.build(
        (docs.indptr, docs.indices, docs.data),
        docs.ids,
        vocab_size=docs.vocab_size,
        threads=2,
        reorder=None if args.reorder == "none" else args.reorder,
    )
    n = min(args.queries, queries.n_rows)
    batch = queries.to_csr()[:n]
    options = {"bound_share": args.bound_share} if args.bound_share != 1.0 else {}
    started = time.process_time()
    for _ in range(args.repeat):
        index.search(batch, k=args.k, algorithm=args.algorithm, threads=1, **options)
    per_query = (time.process_time() - started) / (n * args.repeat)
    print(f"{args.algorithm} k={args.k}: {per_query * 1e3:.3f} ms CPU per query ({n} queries x {args.repeat})")


if __name__ == "__main__":
    main()
