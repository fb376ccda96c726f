"""What the clustered sections of approximate search cost and give, per collection size.

Builds a BP-ordered index of a synthetic collection (benchmarks/synthetic.py), then its clustered
sections (`InvertedIndex.build_clusters`, default ClusterOptions, 2 threads), and reports their
build time, their size per section beside the quantized input, and, for each `query_cut` at
heap_factor 1, the recall@10 of `algorithm="clustered"` against exact search and its CPU p50 per
query (single-threaded, one query per call, the lowest of three passes; dense_rows.cpu_p50s).
The numbers behind CLUSTERS_PER_INPUT_MB (splade_core/study/resources.py).

    python benchmarks/cluster_sections.py --docs 1000000

Writes benchmarks/results/cluster-sections-<docs>.json and prints it.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from dense_rows import cpu_p50s
from synthetic import CACHE, SyntheticConfig, load_or_generate

from splade_core.index import InvertedIndex
from splade_core.index.clusters import CLUSTER_SECTIONS as SECTIONS
from splade_core.index.presets import recall_at_k
from splade_core.io import write_json

RESULTS = Path(__file__).parent / "results"
MIB = 2**20


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1_000_000, help="synthetic collection size")
    parser.add_argument("--queries", type=int, default=1000, help="timed queries")
    parser.add_argument("--query-cuts", default="4,6,8,10,12,15", help="comma-separated query_cut values")
    args = parser.parse_args(argv)

    config = SyntheticConfig(n_docs=args.docs, n_queries=max(2000, args.queries))
    docs, queries = load_or_generate(config)
    input_mib = (CACHE / f"{config.stem()}-docs.npz").stat().st_size / MIB
    index = InvertedIndex.from_vectors(docs, reorder="bp", threads=2)
    del docs
    began = time.perf_counter()
    index.build_clusters(threads=2)
    build_s = time.perf_counter() - began
    stats = index.stats()
    sections = {name: round(stats["bytes"][name] / MIB, 1) for name in SECTIONS}
    timed = queries.to_csr()[: args.queries]
    exact = index.search(timed, k=10, algorithm="exhaustive")
    settings = {
        f"query_cut={cut}": {"algorithm": "clustered", "query_cut": int(cut)} for cut in args.query_cuts.split(",")
    }
    ms = cpu_p50s(index, timed, settings, rounds=3)
    rows = []
    for name, options in settings.items():
        got = index.search(timed, k=10, **options)
        rows.append(
            {"setting": name, "recall@10": round(float(np.nanmean(recall_at_k(exact, got))), 4), "ms": ms[name]}
        )
    out = {
        "command": f"python benchmarks/cluster_sections.py --docs {args.docs}",
        "docs": args.docs,
        "postings": stats["postings"],
        "clusters": stats["clusters"],
        "options": index.meta["clusters"],
        "build_s": round(build_s, 1),
        "input_mib": round(input_mib, 1),
        "index_mib": round(sum(v for k, v in stats["bytes"].items() if k not in SECTIONS) / MIB, 1),
        "sections_mib": sections,
        "sections_per_input": round(sum(sections.values()) / input_mib, 2),
        "clustered": rows,
    }
    write_json(RESULTS / f"cluster-sections-{args.docs}.json", out)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
