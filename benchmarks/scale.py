"""The study's post-encoding stages at MS MARCO size, through the real rules.

    python benchmarks/scale.py                        # 8,841,823 passages, 6,980 queries
    python benchmarks/scale.py --docs 1000000         # a rehearsal
    python benchmarks/scale.py --only latency         # keep the study, redo the BP build and latencies

1. Input (cached under benchmarks/.cache/scale-<docs>/input): pre-encoded float vectors —
   benchmarks/synthetic.py's documents (~120 non-zeros each, so ~1.05 B postings at 8.8 M),
   impacts ÷ 100 as a SPLADE encoder's weights — its queries, built around 6,980 anchor
   documents, and a BEIR folder whose qrels judge each query's anchor relevant.
2. A study config that imports them (`models.synthetic.vectors`), run by `snakemake --cores N`
   with the local executor: download (the collection), import, quantize, prune, index,
   retrieve, evaluate, aggregate.
3. Per job: wall time and peak RSS (`max_rss`) from its `benchmark:` file beside the `mem_mb`
   it declared (from Snakemake's log), input and output sizes; and the time to plan
   config/msmarco.yaml (`snakemake -n`). Written to benchmarks/results/scale-<docs>.json and
   printed as a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic import BLOCK_DOCS, SyntheticConfig, _World  # noqa: E402

from splade_core.data.download import data_bytes  # noqa: E402
from splade_core.sparse import SparseVectors, SparseVectorsWriter  # noqa: E402
from splade_core.sparse.vectors import VectorFile  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MSMARCO_DOCS = 8_841_823
MSMARCO_DEV_QUERIES = 6_980
INPUT_VERSION = 2  # 2: texts for BM25
WEIGHT_SCALE = 100.0  # synthetic impacts are weights x 100, as quantization makes them


def input_folder(work: Path) -> tuple[Path, Path | None]:
    """work/input, and its done.json to write once it is complete, or None if an earlier run
    completed it; an incomplete folder is emptied and given collection/qrels/."""
    folder = work / "input"
    done = folder / "done.json"
    if done.is_file() and json.loads(done.read_text()).get("version") == INPUT_VERSION:
        return folder, None
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "collection" / "qrels").mkdir(parents=True)
    return folder, done


def generate(work: Path, n_docs: int, n_queries: int, seed: int = 0) -> Path:
    """Write the pre-encoded input under work/input (once); returns that folder."""
    folder, done = input_folder(work)
    if done is None:
        return folder
    started = time.perf_counter()
    config = SyntheticConfig(n_docs=n_docs, n_queries=n_queries, seed=seed)
    world = _World(config)
    anchors = np.sort(np.random.default_rng([seed, 7]).choice(n_docs, n_queries, replace=False))
    anchor_rows, anchor_topics = [], []
    meta = {"model": "synthetic", "generator": "benchmarks/scale.py"}
    with (
        SparseVectorsWriter(folder / "docs.npz", config.vocab_size, np.float32, meta) as writer,
    ):
        for start in range(0, n_docs, BLOCK_DOCS):
            stop = min(start + BLOCK_DOCS, n_docs)
            indptr, terms, impacts, topics = world.documents(start, stop)
            ids = np.array([str(i) for i in range(start, stop)])  # as wide as the longest id
            writer.append(indptr, terms, (impacts / WEIGHT_SCALE).astype(np.float32), ids)
            for anchor in anchors[(anchors >= start) & (anchors < stop)] - start:
                row = slice(indptr[anchor], indptr[anchor + 1])
                anchor_rows.append((terms[row], impacts[row]))
                anchor_topics.append(topics[anchor])
            if start // BLOCK_DOCS % 50 == 0:
                print(f"generated {stop:,} of {n_docs:,} documents", file=sys.stderr)
    lengths = [len(terms) for terms, _ in anchor_rows]
    anchor_docs = SparseVectors(
        np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        np.concatenate([terms for terms, _ in anchor_rows]),
        np.concatenate([impacts for _, impacts in anchor_rows]),
        anchors.astype(str),
        config.vocab_size,
        {"quantization": {"scale": WEIGHT_SCALE, "dtype": "uint8"}},
    )
    indptr, terms, impacts, query_ids = world.queries(anchor_docs, np.array(anchor_topics), np.arange(n_queries))
    queries = SparseVectors(indptr, terms, (impacts / WEIGHT_SCALE).astype(np.float32), query_ids, config.vocab_size)
    SparseVectors(queries.indptr, queries.indices, queries.data, queries.ids, queries.vocab_size, meta).save(
        folder / "queries.npz"
    )
    qrels = pd.DataFrame({"query-id": query_ids, "corpus-id": anchors.astype(str), "score": 1})
    qrels.to_csv(folder / "collection" / "qrels" / "test.tsv", sep="\t", index=False)
    write_texts(folder)
    seconds = time.perf_counter() - started
    record = {"docs": n_docs, "queries": n_queries, "seconds": round(seconds, 1), "version": INPUT_VERSION}
    done.write_text(json.dumps(record))
    print(f"generated the input in {seconds:.0f} s -> {folder}", file=sys.stderr)
    return folder


TEXT_TERMS = 32  # words of a synthetic passage: its heaviest terms; the 4 heaviest twice (~36 tokens)


def write_texts(folder: Path) -> None:
    """The collection's corpus.jsonl and queries.jsonl, for BM25: each row's TEXT_TERMS heaviest
    terms as words ("t<id>"), the four heaviest twice, so a passage has ~36 tokens and ~32
    distinct ones, as MS MARCO's have after stop words (~280 M document-term pairs at 8.8 M)."""
    for vectors, name in (("docs.npz", "corpus.jsonl"), ("queries.npz", "queries.jsonl")):
        with VectorFile(folder / vectors) as file, open(folder / "collection" / name, "w") as out:
            for chunk in file.chunks():
                for row, row_id in enumerate(chunk.ids):
                    span = slice(chunk.indptr[row], chunk.indptr[row + 1])
                    terms = chunk.indices[span][np.argsort(-chunk.data[span], kind="stable")][:TEXT_TERMS]
                    words = [f"t{t}" for t in terms.tolist()]
                    out.write(json.dumps({"_id": str(row_id), "text": " ".join(words + words[:4])}) + "\n")


def study_config(work: Path, inputs: Path, threads: int) -> Path:
    config = {
        "results": str(work / "results"),
        "resources": str(work / "resources"),
        "datasets": {"synthetic": {"collection": f"{inputs / 'collection'}:test", "bm25": True}},
        "models": {
            "synthetic": {
                "path": "bundled/splade-tiny",  # the vocabulary (30,522 BERT tokens); npz needs none
                "vectors": {
                    "docs": {"synthetic": [str(inputs / "docs.npz")]},
                    "queries": {"synthetic": str(inputs / "queries.npz")},
                },
            }
        },
        "lambdas": [],
        "pruning": {"document": [64], "term": [100_000], "agnostic": [40], "settings": "pretrained"},
        "index": {"reorder": "none"},
        "retrieval": {"k": 1000, "threads": 1},
        "threads": {"index": threads, "encode": threads, "train": threads},
    }
    path = work / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def run_study(config: Path, cores: int, log: Path, *targets: str) -> float:
    started = time.perf_counter()
    command = [sys.executable, "-m", "snakemake", *targets, "--cores", str(cores), "--configfile", str(config)]
    with open(log, "w") as out:
        subprocess.run(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, check=True)
    return time.perf_counter() - started


def declared_resources(log: Path) -> dict[str, dict[str, float]]:
    """Benchmark file -> resources of its job, from the job blocks of Snakemake's log."""
    jobs, benchmark, inputs = {}, None, []
    for line in log.read_text().splitlines():
        line = line.strip()
        if line.startswith(("rule ", "localrule ")):
            benchmark, inputs = None, []
        elif line.startswith("input:"):
            inputs = [Path(path.strip()) for path in line.removeprefix("input:").split(",")]
        elif line.startswith("benchmark:"):
            benchmark = str(Path(line.removeprefix("benchmark:").strip()).resolve())
        elif line.startswith("resources:") and benchmark:
            jobs[benchmark] = {key: float(value) for key, value in re.findall(r"(\w+)=([0-9.]+)", line)}
            jobs[benchmark]["input_mb"] = sum(map(data_bytes, inputs)) / 2**20  # a manifest: its files
            benchmark = None
    return jobs


def job_table(work: Path, log: Path) -> list[dict]:
    """One row per job with a benchmark file: seconds, max_rss, declared mem_mb and runtime."""
    declared = declared_resources(log)
    rows = []
    root = work / "results" / "benchmarks"
    for tsv in sorted(root.rglob("*.tsv")):
        measured = pd.read_csv(tsv, sep="\t").iloc[-1]
        job = declared.get(str(tsv.resolve()), {})
        rows.append(
            {
                "job": str(tsv.relative_to(root).with_suffix("")),
                "seconds": float(measured["s"]),
                "max_rss_mb": float(measured["max_rss"]),
                "mem_mb": job.get("mem_mb"),
                "runtime_min": job.get("runtime"),
                "input_mb": job.get("input_mb"),
            }
        )
    return rows


def file_sizes(work: Path) -> dict[str, float]:
    sizes = {}
    for path in sorted((work / "results").rglob("*")):
        if path.is_file() and path.suffix in (".npz", ".bin", ".trec") and path.stat().st_size > 1 << 20:
            sizes[str(path.relative_to(work / "results"))] = round(path.stat().st_size / 2**20, 1)
    return sizes


def plan_seconds(config: str, repeats: int = 3) -> float:
    """Best of `repeats` dry runs of a config from an empty results folder."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "snakemake", "-n", "--quiet", "--configfile", config],
            cwd=ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        best = min(best, time.perf_counter() - started)
    return best


def measured(command: list[str]) -> tuple[float, float]:
    """(seconds, peak RSS MB) of a command, from GNU time."""
    result = subprocess.run(["/usr/bin/time", "-f", "%e %M", *command], cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-2000:])
    seconds, kilobytes = result.stderr.strip().splitlines()[-1].split()
    return float(seconds), int(kilobytes) / 1024


def merge(work: Path) -> dict:
    """`splade merge` (the merge_corpus rule's command) of the whole float input as one shard:
    the streamed concatenation at full size (the number of shards does not change what it
    holds). Time, peak RSS, and a check that the rows came through unchanged."""
    source = work / "input" / "docs.npz"
    output = work / "merged.npz"
    seconds, rss = measured([sys.executable, "-m", "splade_core", "merge", str(source), "--output", str(output)])
    try:
        with VectorFile(source) as before, VectorFile(output) as after:
            if before.n_rows != after.n_rows or not np.array_equal(before.indptr, after.indptr):
                raise AssertionError(f"{output}: rows differ from {source}")
            for a, b in zip(before.chunks(), after.chunks(), strict=True):
                same = np.array_equal(a.indices, b.indices) and np.array_equal(a.data, b.data)
                if not (same and np.array_equal(a.ids, b.ids)):
                    raise AssertionError(f"{output}: postings differ from {source}")
    finally:
        output.unlink(missing_ok=True)
    return {"s": round(seconds, 1), "max_rss_mb": round(rss), "input_mb": round(source.stat().st_size / 2**20)}


def stacked(found: list) -> tuple[np.ndarray, np.ndarray]:
    """(doc_idx, scores) of single-query searches, stacked."""
    return np.concatenate([f[0] for f in found]), np.concatenate([f[1] for f in found])


CALIBRATION_QUERIES = 500  # the queries after the timed ones calibrate the BP index's presets


def latencies(work: Path, n_queries: int, threads: int, scipy_queries: int) -> dict:
    """Single-thread search latency (p50 ms, CPU) at this size: k = 10 and 1,000, exact, on the
    input-order index and on a BP-reordered one (built here, timed, its approximate presets
    calibrated on the CALIBRATION_QUERIES queries after the timed ones), and the presets on the
    BP index with their recall against its exact search; SciPy brute force on a subset of the
    same queries and splade-index on all, their top-k scores equal to ours."""
    from splade_core.index import InvertedIndex
    from splade_core.index.presets import PRESETS, recall_at_k
    from splade_core.retrieve.search import timed_calls
    from splade_core.sparse import SparseVectors

    results = work / "results"
    docs_path = results / "quantize" / "synthetic" / "synthetic" / "pretrained" / "docs.npz"
    queries = SparseVectors.load(results / "quantize" / "synthetic" / "synthetic" / "pretrained" / "queries.npz")
    all_rows = queries.to_csr()
    csr = all_rows[:n_queries]
    bp_path = work / "bp" / "index.bin"
    bp_path.parent.mkdir(exist_ok=True)
    calibration = slice(n_queries, n_queries + CALIBRATION_QUERIES)
    calibration_path = work / "bp" / "calibration-queries.npz"
    SparseVectors.from_csr(all_rows[calibration], queries.ids[calibration], meta=queries.meta).save(calibration_path)
    bp_s, bp_rss = measured(
        [
            sys.executable,
            "-m",
            "splade_core",
            "index",
            str(docs_path),
            "--reorder",
            "bp",
            "--threads",
            str(threads),
            "--calibration-queries",
            str(calibration_path),
            "--output",
            str(bp_path),
        ]
    )
    out = {"queries": n_queries, "bp_build_s": round(bp_s, 1), "bp_build_max_rss_mb": round(bp_rss), "rows": []}
    indexes = {"input order": results / "index" / "synthetic" / "synthetic" / "pretrained" / "none" / "index.bin"}
    indexes["bp"] = bp_path
    ours = {}
    for name, path in indexes.items():
        index = InvertedIndex.load(path)
        if name == "bp":
            out["presets"] = {preset: value.to_json() for preset, value in index.presets.items()}
        for k in (10, 1000):
            searches = ["exhaustive", "bmp", *(index.presets if name == "bp" else ())]
            for algorithm in searches:
                label = "exact" if algorithm == "exhaustive" else "exact bmp" if algorithm == "bmp" else algorithm
                options = {"algorithm": algorithm}
                calls = [
                    lambda row=row, index=index, k=k, options=options: index.search(
                        csr[row : row + 1], k=k, threads=1, **options
                    )
                    for row in range(n_queries)
                ]
                _, cpu, found = timed_calls(calls)
                row = {"index": name, "k": k, "search": label, **options}
                row["cpu_p50_ms"] = round(float(np.median(cpu)), 3)
                if label == "exact":
                    exact = found
                    if name == "input order":  # the peers' scores are checked against these
                        ours[k] = found
                elif algorithm in PRESETS:  # tie-aware share of the exact top-k, over the timed queries
                    recall = recall_at_k(stacked(exact), stacked(found))
                    row[f"recall@{k}"] = round(float(np.nanmean(recall)), 4)
                out["rows"].append(row)
    out["peers"] = peer_latencies(docs_path, queries, ours, n_queries, scipy_queries)
    return out


def peer_latencies(docs_path: Path, queries: SparseVectors, ours: dict, n_queries: int, scipy_queries: int) -> list:
    """The same single-thread timing for the exact peers of benchmarks/bench_index.py, on one
    term-major copy of the documents that both search: SciPy's column gather on the first
    scipy_queries queries, splade-index on all n_queries, at k = 10 and 1,000. Every query's
    top-k scores must equal ours (ties may order documents differently)."""
    import engines

    from splade_core.retrieve.search import timed_calls

    started = time.perf_counter()
    exact = engines.Exact(csc=engines.term_major(SparseVectors.load(docs_path)))
    transpose_s = time.perf_counter() - started
    split = engines.split_queries(queries)[:n_queries]
    splade_index = engines.SpladeIndex()
    splade_index.use(exact.csc)
    peers = [
        ("scipy sparse (column gather)", split[:scipy_queries], lambda q, k: exact.topk(q, k)),
        (engines.SpladeIndex.name, splade_index.prepare(split), lambda q, k: splade_index.search(None, q, k)),
    ]
    rows, found = [], {}
    for name, qs, search in peers:
        for k in (10, 1000):
            _, cpu, found[name, k] = timed_calls([lambda q=q, k=k, search=search: search(q, k) for q in qs])
            rows.append({"engine": name, "k": k, "queries": len(qs), "cpu_p50_ms": round(float(np.median(cpu)), 3)})
            print(rows[-1], file=sys.stderr, flush=True)
    for row, query in enumerate(split):  # each query scored once, for every peer and k
        scores = exact.scores(query)
        for (name, k), results in found.items():
            if row < len(results):
                got = np.sort(scores[np.asarray(results[row])])[::-1].astype(np.int64)
                want = ours[k][row][1][0]
                if not np.array_equal(got[got > 0], want[want > 0]):
                    raise AssertionError(f"{name}, query {row}: top-{k} scores differ from ours")
    rows[0]["term_major_copy_s"] = round(transpose_s, 1)
    return rows


def markdown(rows: list[dict]) -> str:
    lines = ["| job | s | max RSS MB | mem_mb declared | input MB |", "|---|---:|---:|---:|---:|"]
    for row in rows:
        declared = "" if row["mem_mb"] is None else f"{row['mem_mb']:.0f}"
        size = "" if row["input_mb"] is None else f"{row['input_mb']:.0f}"
        lines.append(f"| {row['job']} | {row['seconds']:.1f} | {row['max_rss_mb']:.0f} | {declared} | {size} |")
    return "\n".join(lines)


def print_latency(latency: dict) -> None:
    for row in latency["rows"] + latency["peers"]:
        print(row)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=MSMARCO_DOCS)
    parser.add_argument("--queries", type=int, default=MSMARCO_DEV_QUERIES)
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--work", type=Path, help="default: benchmarks/.cache/scale-<docs>")
    parser.add_argument(
        "--keep", action="store_true", help="keep the previous run's results (rerun only what is missing)"
    )
    parser.add_argument("--latency-queries", type=int, default=1000, help="queries timed one at a time per setting")
    parser.add_argument("--scipy-queries", type=int, default=200, help="of those, timed with SciPy too")
    parser.add_argument("--no-latency", action="store_true", help="skip the BP build and the latency table")
    parser.add_argument(
        "--only",
        choices=("latency", "merge"),
        help="keep the previous run's study and its figures; redo only the BP build and the latency table,"
        " or the merge",
    )
    args = parser.parse_args()
    work = args.work or ROOT / "benchmarks" / ".cache" / f"scale-{args.docs}"
    out = ROOT / "benchmarks" / "results" / f"scale-{args.docs}.json"
    if args.only:
        result = json.loads(out.read_text())
        if args.only == "latency":
            result["latency"] = latencies(work, args.latency_queries, args.cores, args.scipy_queries)
            print_latency(result["latency"])
        else:
            result["merge"] = merge(work)
            print(result["merge"])
        out.write_text(json.dumps(result, indent=2) + "\n")
        return
    inputs = generate(work, args.docs, args.queries)
    if not args.keep:
        shutil.rmtree(work / "results", ignore_errors=True)
        shutil.rmtree(work / "resources", ignore_errors=True)
    config = study_config(work, inputs, args.cores)
    log = work / "snakemake.log"
    wall = run_study(config, args.cores, log)
    rows = job_table(work, log)
    result = {
        "docs": args.docs,
        "queries": args.queries,
        "cores": args.cores,
        "input": json.loads((inputs / "done.json").read_text()),
        "study_s": round(wall, 1),
        "jobs": rows,
        "files_mb": file_sizes(work),
        "plan_msmarco_s": round(plan_seconds("config/msmarco.yaml"), 2),
        "within_declared_memory": all(r["mem_mb"] is None or r["max_rss_mb"] <= r["mem_mb"] for r in rows),
    }
    result["merge"] = merge(work)
    if not args.no_latency:
        result["latency"] = latencies(work, args.latency_queries, args.cores, args.scipy_queries)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(markdown(rows))
    if "latency" in result:
        print_latency(result["latency"])
    print(f"\nstudy {wall:.0f} s; snakemake -n config/msmarco.yaml {result['plan_msmarco_s']} s; -> {out}")


if __name__ == "__main__":
    main()
