"""What an encoding precision changes on the embedded study: SciFact test encoded by splade-tiny at
each precision through the study's own commands (`splade encode`, `quantize`, `index`, `search
--k 1000`, `evaluate`), with documents per second, the metrics, and how far the vectors are from
fp32's.

    python benchmarks/precision_effect.py --precisions fp32,bf16 --threads 2
    python benchmarks/precision_effect.py --precisions fp16 --threads 2    # slow on CPUs without fp16 units

Results are merged by precision into `--output` (default benchmarks/results/precision-scifact.json),
so precisions can be run one at a time; fp32 must exist for the vector comparisons.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from splade_core.sparse import SparseVectors

ROOT = Path(__file__).resolve().parents[1]
COLLECTION = "beir/scifact/test"


def splade(*args: str) -> float:
    """Run a `splade` verb; its wall-clock seconds."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "splade_core", *args], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def encode_and_evaluate(precision: str, work: Path, threads: int) -> dict:
    out = work / precision
    out.mkdir(parents=True, exist_ok=True)
    common = ["--collection", COLLECTION, "--precision", precision, "--threads", str(threads), "--no-progress"]
    doc_seconds = splade("encode", *common, "--side", "doc", "--output", str(out / "docs.npz"))
    query_seconds = splade("encode", *common, "--side", "query", "--output", str(out / "queries.npz"))
    for side in ("docs", "queries"):
        splade("quantize", str(out / f"{side}.npz"), "--output", str(out / f"{side}.q.npz"))
    splade("index", str(out / "docs.q.npz"), "--output", str(out / "index.bin"))
    splade("search", "--index", str(out / "index.bin"), "--queries", str(out / "queries.q.npz"), "--k", "1000",
           "--output", str(out / "run.trec"))  # fmt: skip
    quantized = ["--queries", str(out / "queries.q.npz"), "--docs", str(out / "docs.q.npz")]
    splade("evaluate", "--run", str(out / "run.trec"), "--collection", COLLECTION, *quantized,
           "--output", str(out / "metrics.json"))  # fmt: skip
    evaluated = json.loads((out / "metrics.json").read_text())
    docs = SparseVectors.load(out / "docs.npz")
    return {
        "docs_per_s": round(docs.n_rows / doc_seconds, 2),
        "encode_docs_s": round(doc_seconds, 1),
        "encode_queries_s": round(query_seconds, 1),
        "metrics": {name: round(value, 4) for name, value in evaluated["metrics"].items()},
        "sparsity": {name: round(value, 2) for name, value in evaluated["sparsity"].items()},
        "meta_precision": docs.meta.get("precision"),
    }


def difference(work: Path, precision: str) -> dict:
    """How `precision`'s float document vectors differ from fp32's."""
    exact = SparseVectors.load(work / "fp32" / "docs.npz").to_csr()
    low = SparseVectors.load(work / precision / "docs.npz").to_csr()
    delta = abs(low - exact)
    support_exact, support_low = exact.copy(), low.copy()
    support_exact.data[:] = 1
    support_low.data[:] = 1
    flips = int(abs(support_low - support_exact).sum())
    on_exact = np.asarray(delta[exact.nonzero()]).reshape(-1)
    return {
        "max_abs_weight_difference": round(float(delta.max()), 5),
        "mean_abs_difference_on_fp32_nonzeros": round(float(on_exact.mean()), 6),
        "terms_in_one_but_not_the_other": flips,
        "fp32_nonzeros": int(exact.nnz),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work", type=Path, default=ROOT / "benchmarks" / ".cache" / "precision")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results" / "precision-scifact.json")
    args = parser.parse_args()
    report = json.loads(args.output.read_text()) if args.output.is_file() else {"rows": {}}
    for precision in args.precisions.split(","):
        row = encode_and_evaluate(precision, args.work, args.threads)
        if precision != "fp32" and (args.work / "fp32" / "docs.npz").is_file():
            row["vs_fp32"] = difference(args.work, precision)
        row["command"] = " ".join(["python", *sys.argv])
        report["rows"][precision] = row
        print(precision, json.dumps(row), flush=True)
    report.update(collection=COLLECTION, model="bundled/splade-tiny", threads=args.threads,
                  machine=platform.processor() or platform.machine())  # fmt: skip
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"-> {args.output}")


if __name__ == "__main__":
    main()
