"""Encoding throughput: onnxruntime on an `splade export-model` graph (pooling inside) against
splade-core's torch path, on the same texts and threads, in one run; checks that the vectors agree.

    python benchmarks/bench_onnx.py --docs 256 --threads 2 --output benchmarks/results/onnx.json
    python benchmarks/bench_onnx.py --model bert-base --docs 64 --threads 2 \\
        --output benchmarks/results/onnx-bert-base.json

Same model (the embedded splade-tiny, or a BERT-base-sized masked LM with random weights,
`encode_resources.bert_base`), same texts (SciFact documents), same token limit and threads
(torch intra-op threads; onnxruntime intra-op threads, one inter-op thread). The torch row is
`splade encode`'s path (`encode_window`: length-sorted batches, the device's default pooling
path, fp32); the onnxruntime rows run the exported graph (`OnnxEncoder.encode`: the same
length-sorted batches, padding masked inside the graph) at each batch size of
`--onnx-batch-sizes`. Each row reports documents per second (best of `--repeats`, taken in
turn, after a warm-up) and per CPU second of the process (threads that wait by spinning count), its ratios
to the torch row, and its largest weight difference from the torch vectors. Other processes on
a shared machine slow the torch path's many small parallel steps most: compare figures from a
quiet machine (`load_average_1min`, before and after), or at --threads 1.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import sys
import tempfile
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
from splade_core.model.onnx import OnnxEncoder, export_onnx  # noqa: E402
from splade_core.model.pooling import default_path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODELS = {"splade-tiny": lambda: ROOT / "splade_core" / "resources" / "models" / "splade-tiny",
          "bert-base": lambda: bert_base(ROOT / "benchmarks" / ".cache" / "bert-base-random")}  # fmt: skip


def time_calls(functions: dict, repeats: int) -> tuple[dict, dict, dict]:
    """Best wall seconds, best CPU seconds (this process, all threads) and last result of each
    function; the repeats go round the functions in turn, so that load from elsewhere on a shared
    machine falls on all of them alike."""
    results = {name: function() for name, function in functions.items()}  # warm-up
    wall, cpu = dict.fromkeys(functions, float("inf")), dict.fromkeys(functions, float("inf"))
    for _ in range(repeats):
        for name, function in functions.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            results[name] = function()
            wall[name] = min(wall[name], time.perf_counter() - start)
            cpu[name] = min(cpu[name], time.process_time() - start_cpu)
    return wall, cpu, results


def dense(indptr, indices, data, rows: int, vocab: int) -> np.ndarray:
    out = np.zeros((rows, vocab), np.float32)
    for row in range(rows):
        out[row, indices[indptr[row] : indptr[row + 1]]] = data[indptr[row] : indptr[row + 1]]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="splade-tiny")
    parser.add_argument("--docs", type=int, default=256)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32, help="torch batch size (splade encode's default)")
    parser.add_argument("--onnx-batch-sizes", default="32,8", help="comma-separated onnxruntime batch sizes")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    folder = MODELS[args.model]()
    texts = [text for _, text in itertools.islice(load_collection("bundled/scifact").docs(), args.docs)]
    load_before = os.getloadavg()[0]  # others' processes on a shared machine slow the torch path most
    model = Splade.from_pretrained(folder, doc_max_length=args.max_length)
    encoder = model.doc_encoder
    tokens = [len(ids) for ids in encoder.tokenizer(texts, truncation=True, max_length=args.max_length)["input_ids"]]
    with tempfile.TemporaryDirectory(prefix="bench-onnx-") as scratch:
        began = time.perf_counter()
        export = export_onnx(model, Path(scratch) / "export", source=args.model)
        export_seconds = time.perf_counter() - began
        path = default_path(encoder.device, "fp32", model.pooling)
        vocab = model.vocab_size
        runs = {
            f"splade-core torch fp32 ({path}), batch {args.batch_size}": (
                lambda: dense(*encode_window(encoder, texts, args.max_length, args.batch_size), len(texts), vocab)
            )
        }
        onnx_encoder = OnnxEncoder.load(Path(scratch) / "export", "doc", threads=args.threads)
        for size in (int(value) for value in args.onnx_batch_sizes.split(",")):
            runs[f"onnxruntime fp32, batch {size}"] = lambda size=size: onnx_encoder.encode(texts, batch_size=size)
        wall, cpu, vectors = time_calls(runs, args.repeats)
    results = {}
    for name, seconds in wall.items():
        results[name] = {
            "seconds": round(seconds, 3),
            "docs_per_s": round(len(texts) / seconds, 2),
            "cpu_seconds": round(cpu[name], 3),
            "docs_per_cpu_s": round(len(texts) / cpu[name], 2),
        }
        print(f"{name:45s} {results[name]['docs_per_s']:9.2f} docs/s  ({seconds:.2f} s, {cpu[name]:.2f} CPU s)")
    torch_name = next(iter(runs))
    for name, result in results.items():
        result["times_torch"] = round(result["docs_per_s"] / results[torch_name]["docs_per_s"], 2)
        result["times_torch_per_cpu_s"] = round(result["docs_per_cpu_s"] / results[torch_name]["docs_per_cpu_s"], 2)
        result["max_abs_diff_vs_torch"] = float(np.abs(vectors[name] - vectors[torch_name]).max())
        result["nonzeros_per_doc"] = round(float((vectors[name] > 0).sum(axis=1).mean()), 1)
    import onnxruntime

    report = {
        "command": " ".join(["python", *sys.argv]),
        "model": args.model,
        "docs": len(texts),
        "max_length": args.max_length,
        "mean_tokens": round(float(np.mean(tokens)), 1),
        "threads": args.threads,
        "device": platform.processor() or "cpu",
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "export_seconds": round(export_seconds, 1),
        "export_check_max_abs_diff": export["check_max_abs_diff"],
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "results": results,
    }
    print(json.dumps(report, indent=2))
    if args.output:
        write_json(args.output, report)


if __name__ == "__main__":
    main()
