"""Encoding throughput: splade-core vs sentence-transformers' SparseEncoder vs a naive loop.

Same model (the embedded splade-tiny), same texts (SciFact documents, title + " " + text),
same token limit, same thread count, in one run; checks that the vectors agree.

    python benchmarks/bench_encode.py --docs 256 --threads 2 --output benchmarks/results/encode.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from splade_core.data import load_collection
from splade_core.encode import encode_window
from splade_core.model import Splade

MODEL = Path(__file__).parents[1] / "splade_core" / "resources" / "models" / "splade-tiny"


def time_call(function, repeats: int):
    function()  # warm-up (allocator, thread pool, tokenizer caches)
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def ours(model: Splade, texts, max_length, batch_size):
    indptr, indices, data = encode_window(model.doc_encoder, texts, max_length, batch_size)
    dense = np.zeros((len(texts), model.vocab_size), np.float32)
    for row in range(len(texts)):
        dense[row, indices[indptr[row] : indptr[row + 1]]] = data[indptr[row] : indptr[row + 1]]
    return dense


def naive(model: Splade, texts, max_length, batch_size):
    """Padded batches in input order, full logits materialised (the textbook loop)."""
    encoder = model.doc_encoder
    out = []
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            out.append(encoder(**encoder.tokenize(texts[start : start + batch_size], max_length)).numpy())
    return np.concatenate(out)


def sentence_transformers(encoder, texts, batch_size):
    return encoder.encode_document(texts, batch_size=batch_size, convert_to_sparse_tensor=False).cpu().numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=256)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    texts = [text for _, text in itertools.islice(load_collection("beir/scifact/test").docs(), args.docs)]
    model = Splade.from_pretrained(MODEL, doc_max_length=args.max_length)
    runs = {"splade-core": lambda: ours(model, texts, args.max_length, args.batch_size)}
    try:
        from sentence_transformers import SparseEncoder

        st = SparseEncoder(str(MODEL), device="cpu")
        st.max_seq_length = args.max_length
        runs["sentence-transformers SparseEncoder"] = lambda: sentence_transformers(st, texts, args.batch_size)
    except ImportError as exc:
        print(f"sentence-transformers SparseEncoder: skipped ({exc}); pip install -e '.[bench]'")
    if not args.skip_naive:
        runs["naive padded loop"] = lambda: naive(model, texts, args.max_length, args.batch_size)
    results, vectors = {}, {}
    for name, function in runs.items():
        seconds, vectors[name] = time_call(function, args.repeats)
        results[name] = {"seconds": round(seconds, 3), "docs_per_s": round(len(texts) / seconds, 2)}
        print(f"{name:40s} {results[name]['docs_per_s']:8.2f} docs/s  ({seconds:.2f} s)", flush=True)
    reference = vectors["splade-core"]
    for name, result in results.items():
        result["speedup_of_splade_core"] = round(
            result["seconds"] and results["splade-core"]["docs_per_s"] / result["docs_per_s"], 2
        )
        result["max_abs_diff_vs_splade_core"] = float(np.abs(vectors[name] - reference).max())
    report = {
        "docs": len(texts),
        "max_length": args.max_length,
        "batch_size": args.batch_size,
        "threads": args.threads,
        "torch": torch.__version__,
        "machine": platform.processor() or platform.machine(),
        "results": results,
    }
    print(json.dumps(report, indent=2))
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
