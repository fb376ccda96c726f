"""Real SPLADE vectors for the index benchmark: embedded SciFact encoded by embedded splade-tiny.

Documents are title + " " + text (256 tokens), queries the test queries of qrels/test.tsv
(64 tokens; the first 200 queries of qrels/train.tsv are kept apart to tune approximate
engines), encoded with the fused inference path and quantized (×100, uint8) by
`splade_core.sparse.quantize`. Both files are cached under benchmarks/.cache/; encoding the
5,183 documents takes a few minutes on 2 cores.

    python benchmarks/scifact.py
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from splade_core.sparse import SparseVectors
from splade_core.sparse.quantize import quantize

ROOT = Path(__file__).resolve().parents[1] / "splade_core" / "resources"
DATASET = ROOT / "datasets" / "scifact"
MODEL = ROOT / "models" / "splade-tiny"
CACHE = Path(__file__).resolve().parent / ".cache"
BATCH = 32
TUNE_QUERIES = 200


def load_or_encode(cache: Path = CACHE, verbose: bool = True) -> tuple[SparseVectors, SparseVectors, SparseVectors]:
    """(documents, test queries, tuning queries), quantized; each file encoded on first use."""
    paths = {name: cache / f"scifact-splade-tiny-{name}.npz" for name in ("docs", "queries", "tune-queries")}
    missing = [name for name, path in paths.items() if not path.is_file()]
    if missing:
        _encode_files(missing, paths, verbose)
    return tuple(SparseVectors.load(paths[name]) for name in ("docs", "queries", "tune-queries"))


def _qrels_ids(split: str) -> list[str]:
    with (DATASET / "qrels" / f"{split}.tsv").open() as handle:
        return list(dict.fromkeys(row["query-id"] for row in csv.DictReader(handle, delimiter="\t")))


def _encode_files(names: list[str], paths: dict[str, Path], verbose: bool) -> None:
    from splade_core.model import Splade  # torch is only needed to encode

    model = Splade.from_pretrained(MODEL)
    texts = {q["_id"]: q["text"] for q in map(json.loads, (DATASET / "queries.jsonl").open())}
    test_ids = set(_qrels_ids("test"))
    tune_ids = [i for i in _qrels_ids("train") if i not in test_ids][:TUNE_QUERIES]
    sources = {
        "queries": ("query", [(i, t) for i, t in texts.items() if i in test_ids]),
        "tune-queries": ("query", [(i, texts[i]) for i in tune_ids]),
        "docs": (
            "doc",
            [
                (d["_id"], f"{d.get('title', '')} {d['text']}".strip())
                for d in map(json.loads, (DATASET / "corpus.jsonl").open())
            ],
        ),
    }
    meta = {"dataset": "scifact (embedded)", "model": "splade-tiny (embedded)"}
    for name in names:
        side, rows = sources[name]
        path = paths[name]
        encoder, max_length = model.encoder_for(side)
        started = time.perf_counter()
        matrix = _encode(encoder, [text for _, text in rows], max_length)
        vectors = SparseVectors.from_csr(matrix, [i for i, _ in rows], {**meta, "side": side, "max_length": max_length})
        quantize(vectors, scale=100.0, dtype="uint8").save(path)
        if verbose:
            print(f"encoded {len(rows)} {side} texts in {time.perf_counter() - started:.0f} s", file=sys.stderr)


def _encode(encoder, texts: list[str], max_length: int) -> sp.csr_array:
    """Texts → float32 CSR, batched by token length so that padding stays small."""
    import torch

    lengths = [len(ids) for ids in encoder.tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]]
    order = np.argsort(lengths, kind="stable")
    rows: list[sp.csr_array | None] = [None] * len(texts)
    with torch.inference_mode():
        for start in range(0, len(texts), BATCH):
            batch = order[start : start + BATCH]
            dense = encoder.encode_texts([texts[i] for i in batch], max_length).float().cpu().numpy()
            for i, vector in zip(batch, dense):
                rows[i] = sp.csr_array(vector[None, :])
    return sp.vstack(rows, format="csr").astype(np.float32)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=CACHE)
    args = parser.parse_args(argv)
    docs, queries, tune = load_or_encode(args.cache)
    print(
        f"{docs.n_rows} docs ({docs.row_nnz().mean():.1f} non-zeros/doc), {queries.n_rows} test queries "
        f"({queries.row_nnz().mean():.1f}/query), {tune.n_rows} tuning queries, vocabulary {docs.vocab_size}"
    )


if __name__ == "__main__":
    main()
