"""How many terms should store a block-max row: bmp latency against the dense_min_df threshold.

bmp bounds each doc-range block from the block-max rows of the query's terms (a byte per block
to add) and, for a term without a row, from its decoded postings. A row costs index bytes; a
missing row costs decoding at every query. This builds one BP-ordered synthetic collection
(benchmarks/synthetic.py), reuses its doc order for an index per threshold (terms with at least
n_blocks / share postings get a row), calibrates each index's presets on held-out queries and
times, single-threaded, one query per call (`timed_calls`: the lowest process-CPU p50 of three
passes, the algorithms taking turns): exact `bmp` and the presets at k = 10 (ms), the presets'
recall@10 against exact search, and the index size.

    python benchmarks/dense_rows.py --docs 1000000 --shares 1,2,4,8,16

Writes benchmarks/results/dense-rows-<docs>.json and prints a table.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from synthetic import SyntheticConfig, load_or_generate

from splade_core.index import InvertedIndex
from splade_core.index.presets import recall_at_k
from splade_core.io import write_json
from splade_core.retrieve.search import timed_calls

RESULTS = Path(__file__).parent / "results"
ROUNDS = 3  # the lowest p50 of three passes over the queries: one pass varied by up to 30 % here


def cpu_p50s(index: InvertedIndex, queries, searches, k: int = 10, rounds: int = ROUNDS) -> dict[str, float]:
    """Per search, the lowest process-CPU p50 (ms) of `rounds` passes of single-query searches;
    the searches take turns within each round, so that a slow spell of the machine (its speed
    drifts by tens of percent over minutes here) weighs on all of them alike. `searches`: names
    of algorithms or presets, or a dict of name -> `search` options (an algorithm and its knobs)."""
    if not isinstance(searches, dict):
        searches = {name: {"algorithm": name} for name in searches}
    searches = {name: options or {"algorithm": name} for name, options in searches.items()}
    best = dict.fromkeys(searches, float("inf"))
    for _ in range(rounds):
        for name, options in searches.items():
            calls = [
                lambda row=queries[i : i + 1], options=options: index.search(row, k=k, **options)
                for i in range(queries.shape[0])
            ]
            best[name] = min(best[name], float(np.median(timed_calls(calls)[1])))
    return {name: round(ms, 3) for name, ms in best.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1_000_000)
    parser.add_argument("--shares", default="1,2,4,8,16", help="comma-separated: a row per this many doc blocks")
    parser.add_argument("--queries", type=int, default=1000, help="timed queries")
    parser.add_argument("--calibration-queries", type=int, default=500, help="the queries after the timed ones")
    args = parser.parse_args(argv)

    docs, queries = load_or_generate(SyntheticConfig(n_docs=args.docs))
    rows = queries.to_csr()
    timed = rows[: args.queries]
    calibration = rows[args.queries : args.queries + args.calibration_queries]
    arrays = (docs.indptr, docs.indices, docs.data)
    started = time.perf_counter()
    order = InvertedIndex.build(arrays, docs.ids, vocab_size=docs.vocab_size, threads=2, reorder="bp").doc_order
    out = {"docs": args.docs, "bp_s": round(time.perf_counter() - started, 1), "queries": timed.shape[0], "rows": []}
    n_blocks = (args.docs + 63) // 64
    for share in (int(s) for s in args.shares.split(",")):
        index = InvertedIndex.build(
            arrays,
            docs.ids,
            vocab_size=docs.vocab_size,
            threads=2,
            doc_order=np.array(order),
            order_kind="bp",
            dense_min_df=max(1, -(-n_blocks // share)),
            calibration_queries=calibration,
        )
        stats = index.stats()
        exact = index.search(timed, k=10, algorithm="exhaustive")
        row = {
            "share": share,
            "dense_rows": stats["dense_block_max_rows"],
            "index_mib": round(stats["total_bytes"] / 2**20, 1),
        }
        times = cpu_p50s(index, timed, ["bmp", *index.presets])
        row["bmp_ms"] = times["bmp"]
        for name, preset in index.presets.items():
            got = index.search(timed, k=10, algorithm=name)
            row[f"{name}_ms"] = times[name]
            row[f"{name}_recall@10"] = round(float(np.nanmean(recall_at_k(exact, got))), 4)
            row[f"{name}_setting"] = {"bound_share": preset.bound_share, "alpha": preset.alpha}
        out["rows"].append(row)
        print(
            f"1 row per {share} blocks: {row['dense_rows']} rows, {row['index_mib']} MiB; bmp {row['bmp_ms']} ms; "
            + "; ".join(f"{n} {row[f'{n}_ms']} ms @ {row[f'{n}_recall@10']}" for n in index.presets),
            flush=True,
        )
    write_json(RESULTS / f"dense-rows-{args.docs}.json", out)


if __name__ == "__main__":
    main()
