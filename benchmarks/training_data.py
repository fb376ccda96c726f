"""Training data at MS MARCO size, through the real `train_model` rule.

    python benchmarks/training_data.py                    # 8,841,823 passages, 40 M teacher lines
    python benchmarks/training_data.py --docs 1000000 --lines 4000000   # a rehearsal

1. Input (cached under benchmarks/.cache/training-<docs>-<lines>/input): a BEIR folder of
   short synthetic passages, 400,000 judged training queries (one positive each), and a
   teacher-margin file in the layout of Hofstätter et al.'s published ensemble scores
   (``score+ score- qid pid+ pid-``), `--lines` lines spread evenly over the queries.
2. A study config that trains splade-tiny on them for a few steps (margin-MSE), run by
   `snakemake --cores N` up to the trained model: the download stage copies the corpus, then
   `train_model` reads the teacher file (`splade_core.data.examples`, as arrays), finds the
   documents it names in the 8.8 M-passage corpus and draws batches from disk.
3. Per job: wall time and peak RSS from its `benchmark:` file against the `mem_mb` it
   declared; and, in a process of its own, the time and peak RSS of reading the file alone.
   Written to benchmarks/results/training-<docs>-<lines>.json and printed as a table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import MSMARCO_DOCS, ROOT, input_folder, job_table, markdown, measured  # noqa: E402

TRAIN_QUERIES = 400_000
TEACHER_LINES = 40_000_000
_WRITE_LINES = 1_000_000


def generate(work: Path, n_docs: int, n_queries: int, n_lines: int, seed: int = 0) -> Path:
    folder, done = input_folder(work)
    if done is None:
        return folder
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    with open(folder / "collection" / "corpus.jsonl", "w") as corpus:
        for begin in range(0, n_docs, _WRITE_LINES):
            corpus.writelines(
                f'{{"_id": "{i}", "title": "", "text": "passage {i} about topic {i % 997}"}}\n'
                for i in range(begin, min(begin + _WRITE_LINES, n_docs))
            )
    query_ids = np.sort(rng.choice(1_200_000, n_queries, replace=False))  # MS MARCO-like sparse qids
    positives = rng.choice(n_docs, n_queries, replace=False)
    with open(folder / "collection" / "queries.jsonl", "w") as out:
        out.writelines(json.dumps({"_id": str(q), "text": f"what is topic {q % 997}"}) + "\n" for q in query_ids)
    with open(folder / "collection" / "qrels" / "train.tsv", "w") as out:
        out.write("query-id\tcorpus-id\tscore\n")
        out.writelines(f"{q}\t{p}\t1\n" for q, p in zip(query_ids.tolist(), positives.tolist(), strict=True))
    with open(folder / "teacher.tsv", "w") as out:
        for begin in range(0, n_lines, _WRITE_LINES):
            rows = np.arange(begin, min(begin + _WRITE_LINES, n_lines)) % n_queries
            negatives = rng.integers(0, n_docs, len(rows))
            plus, minus = rng.normal(8.0, 2.0, len(rows)), rng.normal(0.0, 3.0, len(rows))
            out.writelines(
                f"{a:.4f}\t{b:.4f}\t{q}\t{p}\t{n}\n"
                for a, b, q, p, n in zip(
                    plus.tolist(), minus.tolist(), query_ids[rows].tolist(), positives[rows].tolist(),
                    negatives.tolist(), strict=True,
                )
            )  # fmt: skip
    seconds = time.perf_counter() - started
    done.write_text(json.dumps({"docs": n_docs, "queries": n_queries, "lines": n_lines, "seconds": round(seconds, 1)}))
    print(f"generated the input in {seconds:.0f} s -> {folder}", file=sys.stderr)
    return folder


def study_config(work: Path, inputs: Path, threads: int, steps: int) -> Path:
    config = {
        "results": str(work / "results"),
        "resources": str(work / "resources"),
        "datasets": {"synthetic": {"collection": f"{inputs / 'collection'}:train", "bm25": False}},
        "models": {"tiny": {"path": "bundled/splade-tiny", "pretrained": False, "train": True}},
        "lambdas": [{"lq": 0.001, "ld": 0.001}],
        "training": {
            "train_data": f"{inputs / 'collection'}:train",
            "allow_eval_overlap": True,  # the benchmark times training; its figures are not read
            "train_examples": str(inputs / "teacher.tsv"),
            "loss": "margin_mse",
            "n_negatives": 1,
            "steps": steps,
            "batch_size": 8,
            "warmup_steps": 1,
            "lambda_warmup_steps": 1,
            "checkpoint_every": steps,
        },
        "threads": {"index": threads, "encode": threads, "train": threads},
    }
    path = work / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def read_alone(path: Path) -> dict:
    """Seconds and peak RSS of reading the example file in a fresh process."""
    code = (
        "import sys, time; from splade_core.data.examples import read_examples; t = time.perf_counter(); "
        "e, _ = read_examples(sys.argv[1]); "
        "print(time.perf_counter() - t, len(e), len(e.pos) + len(e.neg), len(e.doc_ids), file=sys.stderr)"
    )
    seconds, rss = measured([sys.executable, "-c", code, str(path)])
    return {"seconds": round(seconds, 1), "max_rss_mb": round(rss)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=MSMARCO_DOCS)
    parser.add_argument("--queries", type=int, default=TRAIN_QUERIES)
    parser.add_argument("--lines", type=int, default=TEACHER_LINES)
    parser.add_argument("--steps", type=int, default=20, help="training steps (the point is the data, not the model)")
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--work", type=Path, help="default: benchmarks/.cache/training-<docs>-<lines>")
    args = parser.parse_args()
    work = args.work or ROOT / "benchmarks" / ".cache" / f"training-{args.docs}-{args.lines}"
    inputs = generate(work, args.docs, args.queries, args.lines)
    shutil.rmtree(work / "results", ignore_errors=True)
    config = study_config(work, inputs, args.cores, args.steps)
    log = work / "snakemake.log"
    target = str(work / "results" / "train" / "tiny" / "lq=0.001_ld=0.001" / "model")
    command = [sys.executable, "-m", "snakemake", target, "--cores", str(args.cores), "--configfile", str(config)]
    started = time.perf_counter()
    with open(log, "w") as out:
        subprocess.run(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, check=True)
    wall = time.perf_counter() - started
    rows = job_table(work, log)
    teacher = inputs / "teacher.tsv"
    result = {
        "docs": args.docs,
        "queries": args.queries,
        "lines": args.lines,
        "teacher_file_mb": round(teacher.stat().st_size / 2**20, 1),
        "cores": args.cores,
        "input": json.loads((inputs / "done.json").read_text()),
        "study_s": round(wall, 1),
        "jobs": rows,
        "read_examples": read_alone(teacher),
        "within_declared_memory": all(r["mem_mb"] is None or r["max_rss_mb"] <= r["mem_mb"] for r in rows),
    }
    out = ROOT / "benchmarks" / "results" / f"training-{args.docs}-{args.lines}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(markdown(rows))
    print(f"\nread_examples alone: {result['read_examples']}; study {wall:.0f} s -> {out}")


if __name__ == "__main__":
    main()
