"""Encoding throughput: splade-core vs sentence-transformers' SparseEncoder (and a naive loop), per
precision and pooling path, on one device, in one run; checks that the vectors agree.

    python benchmarks/bench_encode.py --docs 256 --threads 2 --output benchmarks/results/encode.json
    python benchmarks/bench_encode.py --model bert-base --docs 64 --threads 2 \\
        --output benchmarks/results/encode-bert-base.json
    python benchmarks/bench_encode.py --model bert-base --device cuda --docs 4096 --batch-size 128 \\
        --precisions fp32,bf16,fp16 --max-length 80     # MS MARCO-length passages on a GPU

Same model (the embedded splade-tiny, or a BERT-base-sized masked LM with random weights,
`encode_resources.bert_base`), same texts (SciFact documents, title + " " + text), same token
limit, thread count and batch size. splade-core runs under autocast at bf16 / fp16 and by each
pooling path (`splade_core.model.pooling.POOLING_PATHS`; the device's default is marked);
SparseEncoder runs with its weights cast to the precision (`model.to(dtype)`, its usual way).
Each row reports documents per second (best of `--repeats` after a warm-up), its ratio to
SparseEncoder at the same precision, and its largest weight difference from splade-core fp32.
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from encode_resources import bert_base  # noqa: E402

from splade_core.data import load_collection  # noqa: E402
from splade_core.encode import encode_window  # noqa: E402
from splade_core.io import write_json  # noqa: E402
from splade_core.model import Splade  # noqa: E402
from splade_core.model.pooling import default_path  # noqa: E402
from splade_core.model.precision import DTYPES  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODELS = {"splade-tiny": lambda: ROOT / "splade_core" / "resources" / "models" / "splade-tiny",
          "bert-base": lambda: bert_base(ROOT / "benchmarks" / ".cache" / "bert-base-random")}  # fmt: skip
PATHS = {"fp32": ("per-text", "screened", "batched"), "bf16": ("per-text", "batched"), "fp16": ("per-text", "batched")}


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_call(function, repeats: int, device: str):
    function()  # warm-up (allocator, thread pool, tokenizer caches, CUDA kernels)
    best, result = float("inf"), None
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        result = function()
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return best, result


def dense(indptr, indices, data, rows: int, vocab: int) -> np.ndarray:
    out = np.zeros((rows, vocab), np.float32)
    for row in range(rows):
        out[row, indices[indptr[row] : indptr[row + 1]]] = data[indptr[row] : indptr[row + 1]]
    return out


def ours(model: Splade, texts, args, precision: str, path: str):
    return lambda: dense(
        *encode_window(model.doc_encoder, texts, args.max_length, args.batch_size, precision=precision, path=path),
        len(texts), model.vocab_size,
    )  # fmt: skip


def naive(model: Splade, texts, args):
    """Padded batches in input order, full logits materialised (the textbook loop)."""
    encoder = model.doc_encoder

    def run():
        out = []
        with torch.inference_mode():
            for start in range(0, len(texts), args.batch_size):
                out.append(encoder(**encoder.tokenize(texts[start : start + args.batch_size], args.max_length)).cpu())
        return torch.cat(out).numpy()

    return run


def sentence_transformers(folder: Path, texts, args, precision: str):
    from sentence_transformers import SparseEncoder

    encoder = SparseEncoder(str(folder), device=args.device)
    encoder.max_seq_length = args.max_length
    encoder.to(DTYPES[precision])
    return lambda: (
        encoder.encode_document(
            texts, batch_size=args.batch_size, convert_to_sparse_tensor=False, convert_to_tensor=True
        )
        .float()
        .cpu()
        .numpy()
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="splade-tiny")
    parser.add_argument("--docs", type=int, default=256)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precisions", default="fp32,bf16", help="comma-separated (fp16 is slow on most CPUs)")
    parser.add_argument("--paths", default="all", help="'all' pooling paths, or 'default' (the device's)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--skip-peer", action="store_true", help="no SparseEncoder rows")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    folder = MODELS[args.model]()
    texts = [text for _, text in itertools.islice(load_collection("bundled/scifact").docs(), args.docs)]
    model = Splade.from_pretrained(folder, doc_max_length=args.max_length).to(args.device)
    device = torch.device(args.device)
    runs = {}
    for precision in args.precisions.split(","):
        default = default_path(device, precision, model.pooling)
        for path in PATHS[precision] if args.paths == "all" else (default,):
            name = f"splade-core {precision} {path}" + (" (default)" if path == default else "")
            runs[name] = (precision, ours(model, texts, args, precision, path))
        if not args.skip_peer:
            try:
                runs[f"SparseEncoder {precision}"] = (precision, sentence_transformers(folder, texts, args, precision))
            except ImportError as exc:
                print(f"sentence-transformers SparseEncoder: skipped ({exc}); pip install -e '.[bench]'")
    if not args.skip_naive:
        runs["naive padded loop fp32"] = ("fp32", naive(model, texts, args))
    results, vectors = {}, {}
    for name, (precision, function) in runs.items():
        seconds, vectors[name] = time_call(function, args.repeats, args.device)
        results[name] = {
            "precision": precision,
            "seconds": round(seconds, 3),
            "docs_per_s": round(len(texts) / seconds, 2),
        }
        print(f"{name:40s} {results[name]['docs_per_s']:9.2f} docs/s  ({seconds:.2f} s)", flush=True)
    reference = next(vectors[name] for name in runs if name.startswith("splade-core fp32") and "(default)" in name)
    for name, result in results.items():
        peer = results.get(f"SparseEncoder {result['precision']}")
        if name.startswith("splade-core") and peer:
            result["times_sparse_encoder"] = round(result["docs_per_s"] / peer["docs_per_s"], 2)
        result["max_abs_diff_vs_fp32"] = float(np.abs(vectors[name] - reference).max())
        result["nonzeros_per_doc"] = round(float((vectors[name] > 0).sum(axis=1).mean()), 1)
    report = {
        "command": " ".join(["python", *sys.argv]),
        "model": args.model,
        "docs": len(texts),
        "max_length": args.max_length,
        "batch_size": args.batch_size,
        "threads": args.threads,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "torch": torch.__version__,
        "results": results,
    }
    print(json.dumps(report, indent=2))
    if args.output:
        write_json(args.output, report)


if __name__ == "__main__":
    main()
