"""Render benchmarks/results/*.json (from bench_index.py) as the markdown tables of RESULTS.md.

python benchmarks/report.py results/synthetic-100000.json results/scifact-splade-tiny.json
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

HERE = Path(__file__).resolve().parent
OURS = "splade-core InvertedIndex"


def fmt(value: float, digits: int) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def table(run: dict) -> str:
    rows = run["rows"]
    ours = [r for r in rows if r["engine"] == OURS and not r["error"]]
    ref = min(ours, key=lambda r: r["k10_p50_ms"]) if ours else None
    out = [
        f"### {run['name']}: {run['docs']:,} documents, {run['postings']:,} postings",
        "",
        f"`{run['command']}`: {run['queries']} queries at k=10, {run['queries_k1000']} at k=1000; "
        f"load average (1/5/15 min) at start {'/'.join(f'{x:.1f}' for x in run.get('load_average_at_start', []))}, "
        f"at end {'/'.join(f'{x:.1f}' for x in run.get('load_average_at_end', []))}.",
        "",
    ]
    if ref:
        out += [
            f"Ratios are engine ÷ ours ({ref['variant']}, our fastest at k=10): a latency ratio above 1× means "
            "ours is faster, a QPS ratio above 1× means the other is faster.",
            "",
        ]
    out += [
        "| engine | algorithm | exact | build s | MiB | k=10 mean / p50 / p99 ms | k=10 CPU p50 ms "
        "| k=1000 mean / p50 / p99 ms | QPS (2 thr) | R@10 | R@1000 | p50 k=10 ÷ ours | CPU p50 ÷ ours | QPS ÷ ours |",
        "|---|---|---|---:|---:|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        if r["error"] and math.isnan(r["k10_mean_ms"]):
            out.append(f"| {r['engine']} | {r['variant']} | | | | failed, see below | | | | | | | | |")
            continue
        ratio = fmt(r["k10_p50_ms"] / ref["k10_p50_ms"], 2) + "×" if ref else "n/a"
        cpu = fmt(r["k10_cpu_p50_ms"] / ref["k10_cpu_p50_ms"], 2) + "×" if ref else "n/a"
        qps = fmt(r["qps_2t"] / ref["qps_2t"], 2) + "×" if ref else "n/a"
        out.append(
            f"| {r['engine']} | {r['variant']} | {'yes' if r['exact'] else 'no'} | {fmt(r['build_s'], 1)} "
            f"| {fmt(r['index_bytes'] / 2**20, 1)} "
            f"| {fmt(r['k10_mean_ms'], 3)} / {fmt(r['k10_p50_ms'], 3)} / {fmt(r['k10_p99_ms'], 3)} "
            f"| {fmt(r['k10_cpu_p50_ms'], 3)} "
            f"| {fmt(r['k1000_mean_ms'], 2)} / {fmt(r['k1000_p50_ms'], 2)} / {fmt(r['k1000_p99_ms'], 2)} "
            f"| {fmt(r['qps_2t'], 0)} | {fmt(r['recall10'], 3)} | {fmt(r['recall1000'], 3)} | {ratio} | {cpu} | {qps} |"
        )
    notes = [f"- {r['engine']} / {r['variant']}: {r['error'] or r['notes']}" for r in rows if r["error"] or r["notes"]]
    return "\n".join(out + [""] + notes + [""])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    args = parser.parse_args(argv)
    for path in args.runs:
        path = path if path.is_file() else HERE / path
        print(table(json.loads(path.read_text())))


if __name__ == "__main__":
    main()
