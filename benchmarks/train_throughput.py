"""Training throughput and the λ acceptance experiment on the embedded model and SciFact.

    .venv/bin/python benchmarks/train_throughput.py --threads 2 --out /tmp/splade-train-bench

1. Throughput: `--throughput-steps` optimizer steps of the embedded splade-tiny on
   beir/scifact/train; examples/s and steps/s from the training log (first step excluded).
2. Acceptance: the starting model and one fine-tuning per λ setting (`--lambdas`, pairs
   λq:λd), each evaluated on beir/scifact/test over the full 5,183-document corpus: documents
   and queries encoded with `encode_dense` in length-sorted batches, exact float dot products,
   nDCG@10 by pytrec_eval; average non-zeros per query and document; FLOPS = Σ_j p_q(j)·p_d(j)
   (p = fraction of test queries / documents where term j is non-zero: the expected number of
   multiply-adds per query-document pair, as in the SPLADE papers).

Results go to `<out>/results.json` and a Markdown table is printed (paste it into
benchmarks/TRAINING.md). Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from splade_core.data import load_collection
from splade_core.encode import encode_sparse
from splade_core.mine import MineConfig, mine_to_file
from splade_core.model import Splade
from splade_core.train import TrainConfig, train
from splade_core.train.config import resolve_model

TEST = "beir/scifact/test"
TRAIN = "beir/scifact/train"


def evaluate(model: str, threads: int, batch_size: int = 32, cache: Path | None = None) -> dict:
    """Metrics on SciFact test; the encoded matrices are kept in `cache` (.npz) for re-runs."""
    import pytrec_eval
    import scipy.sparse as sp

    torch.set_num_threads(threads)
    splade = Splade.from_pretrained(model)
    collection = load_collection(TEST)
    doc_ids, doc_texts = zip(*collection.docs())
    query_ids, query_texts = zip(*collection.queries())
    if cache is not None and cache.with_suffix(".docs.npz").is_file():
        docs = sp.csr_array(sp.load_npz(cache.with_suffix(".docs.npz")))
        queries = sp.csr_array(sp.load_npz(cache.with_suffix(".queries.npz")))
        doc_seconds = json.loads(cache.with_suffix(".json").read_text())["encode_docs_s"]
    else:
        started = time.perf_counter()
        docs = encode_sparse(splade, "doc", list(doc_texts), batch_size)
        doc_seconds = time.perf_counter() - started
        queries = encode_sparse(splade, "query", list(query_texts), batch_size)
        if cache is not None:
            sp.save_npz(cache.with_suffix(".docs.npz"), docs)
            sp.save_npz(cache.with_suffix(".queries.npz"), queries)
            cache.with_suffix(".json").write_text(json.dumps({"encode_docs_s": doc_seconds}))
    scores = (queries @ docs.T).toarray()
    run = {}
    for row, query_id in enumerate(query_ids):
        top = np.argsort(-scores[row], kind="stable")[:1000]
        run[query_id] = {doc_ids[i]: float(scores[row, i]) for i in top}
    evaluator = pytrec_eval.RelevanceEvaluator(collection.qrels(), {"ndcg_cut_10"})
    ndcg = float(np.mean([m["ndcg_cut_10"] for m in evaluator.evaluate(run).values()]))
    p_query = np.bincount(queries.indices, minlength=queries.shape[1]) / queries.shape[0]
    p_doc = np.bincount(docs.indices, minlength=docs.shape[1]) / docs.shape[0]
    return {
        "ndcg@10": round(ndcg, 4),
        "nnz_q": round(float(np.diff(queries.indptr).mean()), 1),
        "nnz_d": round(float(np.diff(docs.indptr).mean()), 1),
        "flops": round(float(np.asarray(p_query * p_doc).sum()), 3),
        "encode_docs_s": round(doc_seconds, 1),
    }


def log_rates(output: Path, skip_first: bool = True) -> dict:
    records = [json.loads(line) for line in (output / "train_log.jsonl").read_text().splitlines()]
    if skip_first and len(records) > 1 and records[0]["step"] == 1:
        records = records[1:]
    steps = sum(1 for _ in records)
    seconds = sum(1 / r["steps_per_s"] for r in records)  # log_every=1 → one step per record
    return {
        "steps_per_s": round(steps / seconds, 4),
        "examples_per_s": round(float(np.mean([r["examples_per_s"] for r in records])), 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/splade-train-bench"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--n-negatives", type=int, default=1)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--doc-max-length", type=int, default=256)
    parser.add_argument("--lambdas", default="1e-4:1e-4,3e-2:3e-2", help="comma-separated λq:λd pairs")
    parser.add_argument("--throughput-steps", type=int, default=10)
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: throughput,baseline,finetune")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    args.out.mkdir(parents=True, exist_ok=True)
    results_path = args.out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    results["settings"] = {k: str(v) for k, v in vars(args).items()}
    results["load_average_start"] = os.getloadavg()

    def save() -> None:
        results_path.write_text(json.dumps(results, indent=2) + "\n")

    examples = args.out / "examples.jsonl"  # BM25 negatives, 50 per query (the embedded study's)
    if not examples.is_file():
        mine_to_file(MineConfig(TRAIN, depth=50, progress=sys.stderr.isatty()), examples)
    base = dict(
        train_data=TRAIN,
        train_examples=str(examples),
        steps=args.steps,
        batch_size=args.batch_size,
        n_negatives=args.n_negatives,
        lr=args.lr,
        warmup_steps=max(1, args.steps // 10),
        doc_max_length=args.doc_max_length,
        threads=args.threads,
        log_every=1,
        device=args.device,
        progress=sys.stderr.isatty(),
        seed=42,
    )
    if "throughput" not in skip:
        output = args.out / "throughput"
        train(
            TrainConfig(
                output=str(output),
                **{**base, "steps": args.throughput_steps, "warmup_steps": 0, "lambda_q": 1e-2, "lambda_d": 1e-2},
            )
        )
        results["throughput"] = {
            **log_rates(output),
            "batch_size": args.batch_size,
            "docs_per_example": 1 + args.n_negatives,
            "doc_max_length": args.doc_max_length,
            "threads": args.threads,
            "device": args.device,
        }
        save()
        print("throughput", results["throughput"], flush=True)
    if "baseline" not in skip:
        results["start"] = evaluate(
            resolve_model("bundled/splade-tiny"), args.threads, cache=args.out / "start-encoded"
        )
        save()
        print("start", results["start"], flush=True)
    if "finetune" not in skip:
        for pair in args.lambdas.split(","):
            lambda_q, lambda_d = (float(v) for v in pair.split(":"))
            name = f"lq={lambda_q:g}_ld={lambda_d:g}"
            output = args.out / name
            started = time.perf_counter()
            model_dir = train(TrainConfig(output=str(output), lambda_q=lambda_q, lambda_d=lambda_d, **base))
            train_seconds = time.perf_counter() - started
            metrics = evaluate(str(model_dir), args.threads, cache=output / "encoded")
            training = json.loads((model_dir / "training_config.json").read_text())
            metrics.update(
                {
                    "train_s": round(train_seconds, 1),
                    "loop_s": training["train_seconds"],
                    "steps_per_s": round(args.steps / training["train_seconds"], 3),
                    "final_train_nnz_q": training["final_metrics"].get("nnz_q"),
                    "final_train_nnz_d": training["final_metrics"].get("nnz_d"),
                }
            )
            results[name] = metrics
            save()
            print(name, metrics, flush=True)
    results["load_average_end"] = os.getloadavg()
    save()
    print(markdown(results))
    return 0


def markdown(results: dict) -> str:
    rows = [
        "| model | nDCG@10 | avg nnz q | avg nnz d | FLOPS | train steps/s | doc encoding (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, m in results.items():
        if isinstance(m, dict) and "ndcg@10" in m:
            label = "splade-tiny (start)" if name == "start" else name
            rows.append(
                f"| {label} | {m['ndcg@10']:.4f} | {m['nnz_q']} | {m['nnz_d']} | {m['flops']} | "
                f"{m.get('steps_per_s', '—')} | {m['encode_docs_s']} |"
            )
    return "\n".join(rows)


if __name__ == "__main__":
    sys.exit(main())
