"""Mining at MS MARCO size, through the real `mine_negatives` rule.

    python benchmarks/mining_scale.py                     # 8,841,823 passages, 6,980 judged queries
    python benchmarks/mining_scale.py --docs 200000       # a rehearsal

1. Input: benchmarks/scale.py's collection (cached under benchmarks/.cache/scale-<docs>/input),
   whose passages are ~36-token texts (their 32 heaviest synthetic terms as words, as MS MARCO's
   ~32 distinct words after stop words) and whose qrels judge one passage per query.
2. A study config that trains splade-tiny on it, run by `snakemake --cores N` up to the mined
   examples file: the download stage copies the corpus, then `splade mine` builds its BM25
   index a chunk of texts at a time, keeps the ids as one numpy array, ranks every judged query
   and writes `--depth` negatives each; `--teacher self` adds splade-tiny's q·d, encoding each
   block's passages read by seeking in the downloaded corpus (`--teacher-queries` of them).
3. The job's wall time and peak RSS from its `benchmark:` file against the `mem_mb` it declared,
   written to benchmarks/results/mining-<docs>.json and printed as a table.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import MSMARCO_DEV_QUERIES, MSMARCO_DOCS, ROOT, generate, job_table, markdown, run_study  # noqa: E402


def study_config(work: Path, inputs: Path, threads: int, depth: int, teacher: str | None, queries: int | None):
    collection = f"{inputs / 'collection'}:test"
    config = {
        "results": str(work / "results"),
        "resources": str(work.parent / "resources"),  # the corpus copied once for both runs
        "datasets": {"synthetic": {"collection": collection, "bm25": False}},
        "models": {"tiny": {"path": "bundled/splade-tiny", "pretrained": False, "train": True}},
        "lambdas": [{"lq": 0.001, "ld": 0.001}],
        "training": {"train_data": collection, "allow_eval_overlap": True, "steps": 1, "batch_size": 2},
        "mining": {"method": "bm25", "depth": depth, "teacher": teacher, "max_queries": queries},
        "encoding": {"doc_max_length": 64},
        "threads": {"mine": threads, "train": threads, "encode": threads, "index": threads},
    }
    path = work / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=MSMARCO_DOCS)
    parser.add_argument("--queries", type=int, default=MSMARCO_DEV_QUERIES)
    parser.add_argument("--depth", type=int, default=50)
    parser.add_argument("--teacher-queries", type=int, default=200, help="queries of the run with teacher self")
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()
    inputs = generate(ROOT / "benchmarks" / ".cache" / f"scale-{args.docs}", args.docs, args.queries)
    runs = {"bm25": (None, None), "bm25, teacher self": ("self", args.teacher_queries)}
    report = {"command": " ".join(["python", *sys.argv]), "docs": args.docs, "queries": args.queries,
              "depth": args.depth, "machine": platform.processor() or platform.machine(), "runs": {}}  # fmt: skip
    for name, (teacher, queries) in runs.items():
        work = ROOT / "benchmarks" / ".cache" / f"mining-{args.docs}" / name.replace(", ", "-").replace(" ", "-")
        work.mkdir(parents=True, exist_ok=True)
        config = study_config(work, inputs, args.cores, args.depth, teacher, queries)
        examples = work / "results" / "mine" / "tiny" / "examples.jsonl"
        examples.unlink(missing_ok=True)
        log = work / "snakemake.log"
        started = time.perf_counter()
        run_study(config, args.cores, log, str(examples))
        rows = [row for row in job_table(work, log) if row["job"].startswith("mine_negatives")]
        lines = sum(1 for _ in examples.open()) - 1
        report["runs"][name] = {"seconds_with_download": round(time.perf_counter() - started), "examples": lines,
                                "jobs": rows}  # fmt: skip
        print(name, json.dumps(report["runs"][name]), flush=True)
        print(markdown(rows))
    output = ROOT / "benchmarks" / "results" / f"mining-{args.docs}.json"
    output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"-> {output}")


if __name__ == "__main__":
    main()
