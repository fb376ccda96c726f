"""Where `bmp` beats `exhaustive`: the measurements behind BMP_MAX_K and PRESET_MAX_K.

`search(algorithm="default")` runs bmp on an index ordered for locality, at k up to a bound
that grows with the collection (BMP_MAX_K: from BMP_MIN_DOCS documents on), and exhaustive
otherwise (splade_core/index/inverted_index.py). This builds a BP-ordered index of each synthetic
collection (benchmarks/synthetic.py) and times both exact algorithms, single-threaded, one query
per call (the lowest process-CPU p50 of five passes, the two taking turns), at each k;
a ratio bmp / exhaustive below 1 means bmp is faster. The approximate presets, calibrated at
build time on the 500 queries after the timed ones, are timed beside them (their bmp settings,
at every k): past PRESET_MAX_K a preset searches exactly, because there they were slower than
exact search.

    python benchmarks/default_algorithm.py --docs 25000,50000,100000,200000 --k 10,100,300

Writes benchmarks/results/default-algorithm.json and prints a table.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from dense_rows import cpu_p50s
from synthetic import SyntheticConfig, load_or_generate

from splade_core.index import InvertedIndex
from splade_core.index.inverted_index import BMP_MAX_K
from splade_core.io import write_json

RESULTS = Path(__file__).parent / "results"
ROUNDS = 5  # passes per algorithm, taking turns (see dense_rows.cpu_p50s)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", default="25000,50000,100000,200000", help="comma-separated collection sizes")
    parser.add_argument("--k", default="10,100,300", help="comma-separated cut-offs")
    parser.add_argument("--queries", type=int, default=1000, help="timed queries")
    parser.add_argument("--calibration-queries", type=int, default=500, help="the queries after the timed ones")
    args = parser.parse_args(argv)

    out = {"bmp_max_k": BMP_MAX_K, "queries": args.queries, "rows": []}
    print("| docs | k | exhaustive ms | bmp ms | bmp / exhaustive | approx-95 (bmp) ms | approx-99 (bmp) ms |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for n_docs in (int(n) for n in args.docs.split(",")):
        docs, queries = load_or_generate(SyntheticConfig(n_docs=n_docs))
        rows = queries.to_csr()
        timed = rows[: args.queries]
        started = time.perf_counter()
        index = InvertedIndex.build(
            (docs.indptr, docs.indices, docs.data),
            docs.ids,
            vocab_size=docs.vocab_size,
            threads=2,
            reorder="bp",
            calibration_queries=rows[args.queries : args.queries + args.calibration_queries],
        )
        build_s = round(time.perf_counter() - started, 1)
        # the presets' approximate bmp settings themselves, at every k (not what the preset name
        # runs past PRESET_MAX_K)
        settings = {name: preset.search_options for name, preset in index.presets.items()}
        for k in (int(k) for k in args.k.split(",")):
            row = {"docs": n_docs, "k": k, "bp_build_s": build_s}
            times = cpu_p50s(index, timed, {"exhaustive": {}, "bmp": {}, **settings}, k, rounds=ROUNDS)
            row |= {f"{name}_ms": ms for name, ms in times.items()}
            row["ratio"] = round(row["bmp_ms"] / row["exhaustive_ms"], 2)
            row["presets"] = settings
            out["rows"].append(row)
            cells = [row["exhaustive_ms"], row["bmp_ms"], row["ratio"]]
            cells += [f"{row[f'{name}_ms']} ({settings[name]['algorithm']})" for name in settings]
            print(f"| {n_docs} | {k} | " + " | ".join(map(str, cells)) + " |", flush=True)
    write_json(RESULTS / "default-algorithm.json", out)


if __name__ == "__main__":
    main()
