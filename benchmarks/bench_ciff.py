"""Speed and peak memory of `splade export` (CIFF, Anserini) and of `splade import` of what it wrote.

    python benchmarks/bench_ciff.py [--docs 40000] [--repeat 3]

On `synthetic.py`'s SPLADE-like documents (~124 non-zeros each, uint8 impacts, 30,522 terms),
each step runs as the `splade` verb in its own process under `/usr/bin/time -v` (wall time and
peak RSS), `--repeat` times (the fastest kept); the import is checked to give back the exported
vectors exactly. The import is also timed in-process, without the tokenizer load and the process
start, as postings per second of its passes (scan, transpose, write). Writes
`results/ciff-<docs>.json` and prints it.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from synthetic import CACHE, SyntheticConfig, load_or_generate  # noqa: E402

from splade_core.sparse import SparseVectors  # noqa: E402

MODEL = "bundled/splade-tiny"  # its tokenizer names the 30,522 BERT word pieces


def timed(command: list[str]) -> dict:
    done = subprocess.run(["/usr/bin/time", "-v", *command], capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(done.stderr[-2000:])
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr).group(1))
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", done.stderr).group(1)
    seconds = sum(float(part) * 60**i for i, part in enumerate(reversed(wall.split(":"))))
    return {"s": round(seconds, 2), "max_rss_mb": round(rss / 1024)}


def fastest(command: list[str], repeat: int) -> dict:
    return min((timed(command) for _ in range(repeat)), key=lambda run: run["s"])


def in_process_import(path: Path, output: Path, repeat: int, scale: float = 1.0) -> dict:
    from splade_core.sparse.imports import Vocabulary, import_vectors

    vocabulary = Vocabulary.of_model(MODEL)
    best = float("inf")
    for _ in range(repeat):
        began = time.perf_counter()
        import_vectors([path], output, vocabulary, scale=scale)
        best = min(best, time.perf_counter() - began)
    return {"s": round(best, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=40_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    docs, _ = load_or_generate(SyntheticConfig(n_docs=args.docs, n_queries=10))
    folder = CACHE / f"ciff-{args.docs}"
    folder.mkdir(parents=True, exist_ok=True)
    vectors = folder / "docs.q.npz"
    SparseVectors(docs.indptr, docs.indices, docs.data, docs.ids, docs.vocab_size, {**docs.meta, "model": MODEL}).save(
        vectors
    )
    splade = [sys.executable, "-m", "splade_core"]
    report = {"docs": docs.n_rows, "postings": docs.nnz, "input_mb": round(vectors.stat().st_size / 2**20, 1)}
    for name, extra in (("docs.ciff", ["--format", "ciff"]), ("docs.ciff.gz", ["--format", "ciff"])):
        report[f"export {name}"] = fastest(
            [*splade, "export", str(vectors), *extra, "--no-progress", "--output", str(folder / name)], args.repeat
        )
    report["export docs.jsonl"] = fastest(
        [
            *splade,
            "export",
            str(vectors),
            "--format",
            "anserini",
            "--no-progress",
            "--output",
            str(folder / "docs.jsonl"),
        ],
        args.repeat,
    )
    for name, scale in (("docs.ciff", []), ("docs.ciff.gz", []), ("docs.jsonl", ["--scale", "100"])):
        output = folder / f"back-{name}.npz"
        report[f"import {name}"] = fastest(
            [*splade, "import", str(folder / name), "--vocabulary", MODEL, *scale, "--output", str(output)], args.repeat
        )
        back = SparseVectors.load(output)
        weights = docs.data.astype(np.float32) / (100 if scale else 1)  # JSON weights are impacts ×100
        assert (back.indptr == docs.indptr).all() and (back.indices == docs.indices).all()
        assert np.allclose(back.data, weights, rtol=1e-6) and (back.ids == docs.ids).all()
        report[f"import {name} in-process"] = in_process_import(
            folder / name, output, args.repeat, 100.0 if scale else 1.0
        )
    for step, run in report.items():
        if isinstance(run, dict):
            run["postings_per_s"] = round(docs.nnz / run["s"])
            if step.startswith("export"):
                run["output_mb"] = round((folder / step.split()[1]).stat().st_size / 2**20, 1)
    out = Path(__file__).parent / "results" / f"ciff-{args.docs}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
