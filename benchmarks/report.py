"""Render benchmarks/results/*.json (from bench_index.py) as the markdown tables of RESULTS.md.

python benchmarks/report.py results/synthetic-100000.json results/scifact-splade-tiny.json
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from engines.base import RECALL_TARGETS

HERE = Path(__file__).resolve().parent
OURS = "splade-core InvertedIndex"


def fmt(value: float, digits: int) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def times(ratio: float) -> str:
    text = fmt(ratio, 2)
    return text + "×" if text else ""


def is_ours(row: dict) -> bool:
    return row["engine"].startswith(OURS)


def value(row: dict, key: str) -> float:
    v = row.get(key)
    return float("nan") if v is None else v


def fastest(rows: list[dict], key: str) -> dict | None:
    rows = [r for r in rows if not r["error"] and not math.isnan(value(r, key))]
    return min(rows, key=lambda r: value(r, key)) if rows else None


def summary(run: dict) -> list[str]:
    """Our fastest exact row against the fastest exact peer (k=10 and k=1000 CPU p50), and each
    approximate preset against Seismic tuned to the same recall@10 target."""
    rows = [r for r in run["rows"] if not r["error"]]
    out = []
    for k, key in ((10, "k10_cpu_p50_ms"), (1000, "k1000_cpu_p50_ms")):
        ours = fastest([r for r in rows if is_ours(r) and r["exact"]], key)
        peer = fastest([r for r in rows if not is_ours(r) and r["exact"]], key)
        if ours and peer:
            order = "reordered by BP" if "BP" in ours["engine"] else "input order"
            out.append(
                f"- k={k}, exact, CPU p50: ours {ours['variant']} ({order}) {value(ours, key):.3f} ms "
                f"vs {peer['engine']} {peer['variant']} {value(peer, key):.3f} ms: "
                f"{value(peer, key) / value(ours, key):.2f}× faster"
            )
    ours = fastest([r for r in rows if is_ours(r) and r["exact"]], "k10_cpu_p50_ms")
    if ours and not math.isnan(value(ours, "qps_1t")):
        out.append(
            f"- batch search at k=10, 2 threads vs 1: ours {ours['variant']} {value(ours, 'qps_1t'):.0f} → "
            f"{ours['qps_2t']:.0f} QPS ({times(ours['qps_2t'] / value(ours, 'qps_1t'))})"
        )
    for percent in RECALL_TARGETS:
        ours = fastest([r for r in rows if is_ours(r) and r["variant"] == f"approx-{percent}"], "k10_cpu_p50_ms")
        seismic = fastest([r for r in rows if r["variant"] == f"seismic-{percent}"], "k10_cpu_p50_ms")
        if ours and seismic:
            ms, peer_ms = ours["k10_cpu_p50_ms"], seismic["k10_cpu_p50_ms"]
            out.append(
                f"- k=10, recall@10 target 0.{percent}, CPU p50: ours {ours['variant']} {ms:.3f} ms at recall@10 "
                f"{ours['recall10']:.3f} vs Seismic {peer_ms:.3f} ms at {seismic['recall10']:.3f}: "
                f"{peer_ms / ms:.2f}× faster"
            )
    return out + [""] if out else []


def table(run: dict) -> str:
    rows = run["rows"]
    ours = [r for r in rows if is_ours(r) and r["exact"] and not r["error"]]
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
            f"Ratios are engine ÷ ours ({ref['engine']}, {ref['variant']}: our fastest exact at k=10): "
            "a latency ratio above 1× means "
            "ours is faster, a QPS ratio above 1× means the other is faster.",
            "",
        ]
    out += [
        "| engine | algorithm | exact | build s | MiB | k=10 mean / p50 / p99 ms | k=10 CPU p50 ms "
        "| k=1000 mean / p50 / p99 ms | k=1000 CPU p50 ms | QPS 1 / 2 thr | 2 ÷ 1 thr | R@10 | R@1000 "
        "| p50 k=10 ÷ ours | CPU p50 ÷ ours | QPS ÷ ours |",
        "|---|---|---|---:|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        if r["error"] and math.isnan(r["k10_mean_ms"]):
            out.append(f"| {r['engine']} | {r['variant']} | | | | failed, see below | | | | | | | | | | |")
            continue
        ratio = times(r["k10_p50_ms"] / ref["k10_p50_ms"]) if ref else "n/a"
        cpu = times(r["k10_cpu_p50_ms"] / ref["k10_cpu_p50_ms"]) if ref else "n/a"
        qps = times(r["qps_2t"] / ref["qps_2t"]) if ref else "n/a"
        build = fmt(r["build_s"], 1)
        if not math.isnan(value(r, "reorder_s")):
            build += f" (BP {fmt(r['reorder_s'], 1)})"
        out.append(
            f"| {r['engine']} | {r['variant']} | {'yes' if r['exact'] else 'no'} | {build} "
            f"| {fmt(r['index_bytes'] / 2**20, 1)} "
            f"| {fmt(r['k10_mean_ms'], 3)} / {fmt(r['k10_p50_ms'], 3)} / {fmt(r['k10_p99_ms'], 3)} "
            f"| {fmt(r['k10_cpu_p50_ms'], 3)} "
            f"| {fmt(r['k1000_mean_ms'], 2)} / {fmt(r['k1000_p50_ms'], 2)} / {fmt(r['k1000_p99_ms'], 2)} "
            f"| {fmt(value(r, 'k1000_cpu_p50_ms'), 2)} | {fmt(value(r, 'qps_1t'), 0)} / {fmt(r['qps_2t'], 0)} "
            f"| {times(value(r, 'qps_2t') / value(r, 'qps_1t'))} | {fmt(r['recall10'], 3)} "
            f"| {fmt(r['recall1000'], 3)} | {ratio} | {cpu} | {qps} |"
        )
    notes = [f"- {r['engine']} / {r['variant']}: {r['error'] or r['notes']}" for r in rows if r["error"] or r["notes"]]
    return "\n".join(out + [""] + summary(run) + notes + [""])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    args = parser.parse_args(argv)
    for path in args.runs:
        path = path if path.is_file() else HERE / path
        print(table(json.loads(path.read_text())))


if __name__ == "__main__":
    main()
