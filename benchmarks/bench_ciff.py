"""Speed and peak memory of `splade export` (CIFF, Anserini) and of `splade import` of what it wrote.

    python benchmarks/bench_ciff.py [--docs 40000] [--repeat 3]
    python benchmarks/bench_ciff.py --input SCALE_DOCS --formats docs.ciff,docs.jsonl.gz --repeat 1 --no-in-process

SCALE_DOCS: the quantized corpus benchmarks/scale.py leaves (MS MARCO size), benchmarks/.cache/
scale-8841823/results/quantize/synthetic/synthetic/pretrained/docs.npz.

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
    from splade_core.formats import Vocabulary, import_vectors

    vocabulary = Vocabulary.of_model(MODEL)
    best = float("inf")
    for _ in range(repeat):
        began = time.perf_counter()
        import_vectors([path], output, vocabulary, scale=scale)
        best = min(best, time.perf_counter() - began)
    return {"s": round(best, 2)}


def same_vectors(back: SparseVectors, docs: SparseVectors, divisor: float) -> None:
    """The import gave back the exported vectors (weights ÷ divisor), checked a slice at a time."""
    assert np.array_equal(back.indptr, docs.indptr) and (back.ids == docs.ids).all()
    step = 1 << 24
    for start in range(0, docs.nnz, step):
        part = slice(start, start + step)
        assert np.array_equal(back.indices[part], docs.indices[part])
        assert np.allclose(back.data[part], docs.data[part].astype(np.float32) / divisor, rtol=1e-6)


FORMATS = {  # name: (export flags, import flags; JSON weights are impacts / 100)
    "docs.ciff": (["--format", "ciff"], []),
    "docs.ciff.gz": (["--format", "ciff"], []),
    "docs.jsonl": (["--format", "anserini"], ["--scale", "100"]),
    "docs.jsonl.gz": (["--format", "anserini"], ["--scale", "100"]),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=40_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--input",
        type=Path,
        help="a quantized vector file to use instead of synthetic.py's (scale.py's quantize/…/docs.npz)",
    )
    parser.add_argument("--formats", default="docs.ciff,docs.ciff.gz,docs.jsonl", help=f"subset of {','.join(FORMATS)}")
    parser.add_argument("--no-in-process", action="store_true", help="skip the in-process import timing")
    args = parser.parse_args()
    if args.input:
        vectors = args.input
        docs = SparseVectors.load(vectors)
        folder = CACHE / f"ciff-{docs.n_rows}"
    else:
        docs, _ = load_or_generate(SyntheticConfig(n_docs=args.docs, n_queries=10))
        folder = CACHE / f"ciff-{args.docs}"
        vectors = folder / "docs.q.npz"
        folder.mkdir(parents=True, exist_ok=True)
        meta = {**docs.meta, "model": MODEL}
        SparseVectors(docs.indptr, docs.indices, docs.data, docs.ids, docs.vocab_size, meta).save(vectors)
    folder.mkdir(parents=True, exist_ok=True)
    splade = [sys.executable, "-m", "splade_core"]
    report = {"docs": docs.n_rows, "postings": docs.nnz, "input_mb": round(vectors.stat().st_size / 2**20, 1)}
    if args.input:
        report["input"] = str(args.input)
    for name in args.formats.split(","):
        export_flags, import_flags = FORMATS[name]
        exported, output = folder / name, folder / f"back-{name}.npz"
        report[f"export {name}"] = fastest(
            [
                *splade,
                "export",
                str(vectors),
                *export_flags,
                "--model",
                MODEL,
                "--no-progress",
                "--output",
                str(exported),
            ],
            args.repeat,
        )
        report[f"export {name}"]["output_mb"] = round(exported.stat().st_size / 2**20, 1)
        report[f"import {name}"] = fastest(
            [*splade, "import", str(exported), "--vocabulary", MODEL, *import_flags, "--output", str(output)],
            args.repeat,
        )
        same_vectors(SparseVectors.load(output), docs, 100 if import_flags else 1)
        if not args.no_in_process:
            report[f"import {name} in-process"] = in_process_import(
                exported, output, args.repeat, 100.0 if import_flags else 1.0
            )
        if args.input:  # at scale the disk holds one format at a time
            exported.unlink()
            output.unlink()
        print(json.dumps({k: v for k, v in report.items() if name in k}), flush=True)
    for run in report.values():
        if isinstance(run, dict):
            run["postings_per_s"] = round(docs.nnz / run["s"])
    out = Path(__file__).parent / "results" / f"ciff-{docs.n_rows}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
