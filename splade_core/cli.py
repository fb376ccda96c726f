"""`splade <verb>` / `python -m splade_core <verb>`: one verb per pipeline stage.

Every verb reads and writes files named on the command line; user mistakes (a missing file,
an unknown dataset or model, mismatched artefacts) end in one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from .errors import SpladeError

DEFAULT_MODEL = str(Path(__file__).parent / "resources" / "models" / "splade-tiny")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        args.func(args)
    except (SpladeError, ValueError, FileNotFoundError) as exc:
        print(f"splade {args.verb}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"splade {args.verb}: interrupted", file=sys.stderr)
        return 130
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="splade", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for add in (_add_encode, _add_merge, _add_quantize, _add_search, _add_bm25, _add_evaluate, _add_info):
        add(subparsers)
    return parser


def _existing_file(value: str) -> Path:
    path = Path(value)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{value}: no such file")
    return path


def _shard(value: str) -> tuple[int, int]:
    try:
        index, total = (int(part) for part in value.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"shard must look like I/N (e.g. 0/4), got {value!r}") from None
    if not 0 <= index < total:
        raise argparse.ArgumentTypeError(f"shard index must lie in [0, {total}), got {index}")
    return index, total


# --- encode / merge -------------------------------------------------------------------------


def _add_encode(subparsers) -> None:
    p = subparsers.add_parser("encode", help="encode a collection's documents or queries into sparse vectors")
    p.add_argument(
        "--model", default=DEFAULT_MODEL, help="HF id or local directory (default: the embedded splade-tiny)"
    )
    p.add_argument("--collection", required=True, help="ir_datasets id, BEIR folder[:split] or bundled/<name>")
    p.add_argument("--side", choices=("doc", "query"), required=True, help="encode documents or queries")
    p.add_argument("--output", required=True, type=Path, help="sparse-vector file to write (.npz)")
    p.add_argument("--max-length", type=int, help="token limit (default: the model's, else 256 doc / 64 query)")
    p.add_argument("--pooling", choices=("max", "sum"), help="pooling over tokens (default: the model's, else max)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    p.add_argument("--shard", type=_shard, default=(0, 1), help="encode only shard I of N (contiguous rows)")
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default: cpu)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_run_encode)


def _run_encode(args) -> None:
    from .data import load_collection
    from .encode import EncodeOptions, encode_to_file

    collection = load_collection(args.collection)
    model = load_model(
        args.model,
        args.pooling,
        args.max_length if args.side == "doc" else None,
        args.max_length if args.side == "query" else None,
    )
    if args.side == "doc":
        items, total = collection.docs(), collection.doc_count()
    else:
        queries = collection.queries()
        items, total = iter(queries), len(queries)
    options = EncodeOptions(
        batch_size=args.batch_size,
        threads=args.threads,
        shard=args.shard[0],
        num_shards=args.shard[1],
        device=args.device,
        progress=not args.no_progress,
    )
    meta = {"model": str(args.model), "collection": args.collection}
    summary = encode_to_file(model, items, total, args.side, args.output, options, meta)
    print(json.dumps({"output": str(args.output), **summary}))


def load_model(name_or_path: str, pooling=None, doc_max_length=None, query_max_length=None):
    from .model import Splade

    looks_local = name_or_path.startswith((".", "/", "~")) or os.sep in name_or_path and Path(name_or_path).exists()
    if looks_local and not Path(name_or_path).expanduser().is_dir():
        raise SpladeError(f"unknown model path {name_or_path!r}: no such directory")
    return Splade.from_pretrained(
        Path(name_or_path).expanduser() if looks_local else name_or_path,
        pooling=pooling,
        doc_max_length=doc_max_length,
        query_max_length=query_max_length,
    )


def _add_merge(subparsers) -> None:
    p = subparsers.add_parser("merge", help="concatenate encoded shards (in the order given) into one file")
    p.add_argument("inputs", nargs="+", type=_existing_file, help="shard files, shard 0 first")
    p.add_argument("--output", required=True, type=Path)
    p.set_defaults(func=_run_merge)


def _run_merge(args) -> None:
    from .encode import merge_vector_files

    print(json.dumps({"output": str(args.output), **merge_vector_files(args.inputs, args.output)}))


# --- quantize -------------------------------------------------------------------------------


def _add_quantize(subparsers) -> None:
    p = subparsers.add_parser("quantize", help="float weights -> integer impacts (round to nearest, ties to even)")
    p.add_argument("input", type=_existing_file, help="float sparse-vector file")
    p.add_argument("--output", required=True, type=Path)
    p.add_argument("--scale", type=float, default=100.0, help="multiplier before rounding (default 100, as Anserini)")
    p.add_argument("--dtype", choices=("uint8", "uint16"), default="uint8", help="impact type; larger values clip")
    p.set_defaults(func=_run_quantize)


def _run_quantize(args) -> None:
    from .sparse import SparseVectors
    from .sparse.quantize import quantize

    vectors = SparseVectors.load(args.input)
    quantized = quantize(vectors, args.scale, args.dtype)
    quantized.save(args.output)
    print(
        json.dumps(
            {
                "output": str(args.output),
                "rows": quantized.n_rows,
                "nnz_before": vectors.nnz,
                "nnz_after": quantized.nnz,
                "clipped": quantized.meta["quantization"]["clipped"],
            }
        )
    )


# --- search / bm25 --------------------------------------------------------------------------


def _add_search(subparsers) -> None:
    p = subparsers.add_parser("search", help="retrieve the top-k documents of each query (exact)")
    p.add_argument("--queries", required=True, type=_existing_file, help="query sparse-vector file")
    p.add_argument("--docs", required=True, type=_existing_file, help="document sparse-vector file")
    p.add_argument("--k", type=int, default=1000, help="documents per query (default 1000)")
    p.add_argument("--output", required=True, type=Path, help="TREC run file to write")
    p.add_argument("--tag", default="splade-core", help="run tag (last column)")
    p.set_defaults(func=_run_search)


def _run_search(args) -> None:
    from .retrieve import brute_force_search, write_trec_run
    from .retrieve.runs import run_from_topk
    from .sparse import SparseVectors

    queries, docs = SparseVectors.load(args.queries), SparseVectors.load(args.docs)
    check_same_vocabulary(queries, docs, args.queries, args.docs)
    doc_idx, scores = brute_force_search(queries.to_csr(), docs.to_csr(), args.k)
    write_trec_run(args.output, run_from_topk(queries.ids, docs.ids, doc_idx, scores), args.tag)
    print(json.dumps({"output": str(args.output), "queries": queries.n_rows, "k": args.k}))


def check_same_vocabulary(queries, docs, queries_path, docs_path) -> None:
    if queries.vocab_size != docs.vocab_size:
        raise SpladeError(
            f"vocabulary sizes differ: {queries_path} has {queries.vocab_size} terms, {docs_path} {docs.vocab_size}"
        )


def _add_bm25(subparsers) -> None:
    p = subparsers.add_parser("bm25", help="BM25 baseline run (bm25s, Lucene variant)")
    p.add_argument("--collection", required=True, help="ir_datasets id, BEIR folder[:split] or bundled/<name>")
    p.add_argument("--output", required=True, type=Path, help="TREC run file to write")
    p.add_argument("--k", type=int, default=1000)
    p.add_argument("--k1", type=float, default=0.9)
    p.add_argument("--b", type=float, default=0.4)
    p.set_defaults(func=_run_bm25)


def _run_bm25(args) -> None:
    from .data import load_collection
    from .retrieve import write_trec_run
    from .retrieve.bm25 import bm25_run

    run = bm25_run(load_collection(args.collection), args.k, args.k1, args.b)
    write_trec_run(args.output, run, tag="bm25")
    print(json.dumps({"output": str(args.output), "queries": len(run)}))


# --- evaluate / info ------------------------------------------------------------------------


def _add_evaluate(subparsers) -> None:
    p = subparsers.add_parser("evaluate", help="MRR@10, nDCG@10, R@100, R@1000 of a run; FLOPS and non-zeros")
    p.add_argument("--run", required=True, type=_existing_file, help="TREC run file")
    p.add_argument("--collection", required=True, help="collection whose qrels judge the run")
    p.add_argument("--queries", type=_existing_file, help="query vectors (adds FLOPS and non-zeros)")
    p.add_argument("--docs", type=_existing_file, help="document vectors (adds FLOPS and non-zeros)")
    p.add_argument("--output", type=Path, help="JSON file to write (metrics, sparsity, per-query values)")
    p.add_argument("--name", help="row name in the printed table (default: the run file name)")
    p.set_defaults(func=_run_evaluate)


def _run_evaluate(args) -> None:
    from .data import load_collection
    from .evaluate import evaluate_run, format_table, sparsity_stats
    from .io import write_json
    from .retrieve import read_trec_run
    from .sparse import SparseVectors

    if (args.queries is None) != (args.docs is None):
        raise SpladeError("--queries and --docs go together (FLOPS needs both)")
    run = read_trec_run(args.run)
    result = evaluate_run(run, load_collection(args.collection).qrels())
    if result["queries_retrieved"] == 0:
        raise SpladeError(f"{args.run}: no query of the run is judged in {args.collection}")
    result["collection"], result["run"] = args.collection, str(args.run)
    if args.queries:
        queries, docs = SparseVectors.load(args.queries), SparseVectors.load(args.docs)
        check_same_vocabulary(queries, docs, args.queries, args.docs)
        result["sparsity"] = sparsity_stats(queries, docs)
    if args.output:
        write_json(args.output, result)
    row = {"run": args.name or Path(args.run).name, **result["metrics"], **result.get("sparsity", {})}
    print(format_table([row], list(row)))


def _add_info(subparsers) -> None:
    p = subparsers.add_parser("info", help="describe a sparse-vector file, run file or model directory")
    p.add_argument("path", type=Path)
    p.add_argument("--top", type=int, default=0, help="also decode the first row's top tokens (vectors + --model)")
    p.add_argument("--model", default=DEFAULT_MODEL, help="tokenizer for --top")
    p.set_defaults(func=_run_info)


def _run_info(args) -> None:
    from .sparse import SparseVectors

    if args.path.is_dir():
        model = load_model(str(args.path))
        print(
            json.dumps(
                {
                    "model": str(args.path),
                    "vocab_size": model.vocab_size,
                    **model.config_dict(),
                    "parameters": sum(p.numel() for p in model.parameters()),
                },
                indent=2,
            )
        )
        return
    if not args.path.is_file():
        raise SpladeError(f"{args.path}: no such file or directory")
    if args.path.suffix != ".npz":
        from .retrieve import read_trec_run

        run = read_trec_run(args.path)
        print(json.dumps({"run": str(args.path), "queries": len(run), "results": sum(map(len, run.values()))}))
        return
    vectors = SparseVectors.load(args.path)
    nnz = vectors.row_nnz()
    info = {
        "file": str(args.path),
        "rows": vectors.n_rows,
        "vocab_size": vectors.vocab_size,
        "nnz": vectors.nnz,
        "avg_nnz": round(float(nnz.mean()), 2) if len(nnz) else 0,
        "max_nnz": int(nnz.max()) if len(nnz) else 0,
        "dtype": str(vectors.data.dtype),
        "meta": vectors.meta,
    }
    if args.top and vectors.n_rows:
        import torch

        encoder = load_model(args.model).doc_encoder
        first = torch.zeros(vectors.vocab_size)
        first[vectors.indices[: nnz[0]]] = torch.as_tensor(vectors.data[: nnz[0]].astype("float32"))
        info["first_row"] = {"id": str(vectors.ids[0]), "top": encoder.decode(first, top=args.top)}
    print(json.dumps(info, indent=2))
