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
from .io import file_problem
from .registry import (
    ANSERINI_QUERY_FORMATS,
    BM25_B,
    BM25_K1,
    BUNDLED_MODEL,
    EXPORT_FORMATS,
    IMPORT_FORMATS,
    PRECISIONS,
    PRUNING_METHODS,
    TOP_K_PRUNING_METHODS,
    UNKNOWN_TOKENS,
)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.verb in TRAINING_VERBS:
        args = _training_parser().parse_args([args.verb, *extra])
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        _check_existing_files(args)
        args.func(args)
    except (SpladeError, ValueError, OSError, MemoryError) as exc:  # bad input, files, sizes
        print(f"splade {args.verb}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"splade {args.verb}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: still one line, and the traceback on request
        if os.environ.get("SPLADE_TRACEBACK") == "1":
            raise
        print(
            f"splade {args.verb}: internal error: {type(exc).__name__}: {_one_line(exc)} "
            "(SPLADE_TRACEBACK=1 shows where; please report it)",
            file=sys.stderr,
        )
        return 1
    return 0


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if isinstance(exc, OSError) and exc.filename is not None and str(exc.filename) not in text:
        text = f"{exc.filename}: {text}"
    return text or type(exc).__name__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="splade", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for add in (
        _add_download,
        _add_encode,
        _add_merge,
        _add_import,
        _add_export,
        _add_export_model,
        _add_quantize,
        _add_prune,
        _add_index,
        _add_search,
        _add_bm25,
        _add_evaluate,
        _add_aggregate,
        _add_verify,
        _add_info,
    ):
        add(subparsers)
    for verb, summary in TRAINING_VERBS.items():  # parsed by splade_core.train.cli, loaded on use
        subparsers.add_parser(verb, help=summary, add_help=False)
    return parser


# Their parsers import torch; the other verbs start without it (most workflow jobs).
TRAINING_VERBS = {
    "train": "fine-tune a SPLADE model (resumes from the output's last checkpoint)",
    "mine": "mine hard negatives (and teacher scores) into a training-examples JSONL",
}


def _training_parser() -> argparse.ArgumentParser:
    from .mine import cli as mine_cli
    from .train import cli as train_cli

    parser = argparse.ArgumentParser(prog="splade")
    subparsers = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    train_cli.add_parser(subparsers)
    mine_cli.add_parser(subparsers)
    return parser


class _ExistingFile(type(Path())):
    """A path argument that must name a readable regular file. It is checked when the verb runs
    (`_check_existing_files`), not by argparse, so that a missing file, a directory, a FIFO or a
    dangling link is the verb's one-line error rather than a usage block."""


def _existing_file(value: str) -> Path:
    return _ExistingFile(value)


def _check_existing_files(args: argparse.Namespace) -> None:
    for value in vars(args).values():
        for path in value if isinstance(value, list) else [value]:
            if isinstance(path, _ExistingFile) and (problem := file_problem(path)) is not None:
                raise SpladeError(f"{path}: {problem}")


def _shard(value: str) -> tuple[int, int]:
    try:
        index, total = (int(part) for part in value.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"shard must look like I/N (e.g. 0/4), got {value!r}") from None
    if not 0 <= index < total:
        raise argparse.ArgumentTypeError(f"shard index must lie in [0, {total}), got {index}")
    return index, total


# --- download -------------------------------------------------------------------------------


def _add_download(subparsers) -> None:
    p = subparsers.add_parser(
        "download",
        help="materialize a collection, model or file under a resources folder (the only verb that needs the network)",
        description="Write an external input as local files under --resources; later verbs read only those.",
    )
    kinds = p.add_subparsers(dest="kind", required=True, metavar="KIND")
    collection = kinds.add_parser("collection", help="documents, queries and qrels of an ir_datasets id or BEIR folder")
    collection.add_argument("spec", help="ir_datasets id, BEIR folder[:split] or bundled/<name>")
    collection.add_argument(
        "--part", choices=("all", "docs", "topics"), default="all", help="documents, queries + qrels, or both"
    )
    model = kinds.add_parser("model", help="an HF model (id, local folder or bundled/<name>) as a local folder")
    model.add_argument("spec", help="HF id, local directory or bundled/splade-tiny")
    model.add_argument("--kind", dest="model_kind", choices=("splade", "cross-encoder"), default="splade")
    file = kinds.add_parser("file", help="a training-data file (triples, teacher scores) from an http(s)/file URL")
    file.add_argument("spec", metavar="URL")
    for sub in (collection, model, file):
        sub.add_argument("--resources", required=True, type=Path, help="the resources folder (shared by studies)")
        sub.add_argument("--no-progress", action="store_true", help="no progress bar")
        sub.set_defaults(func=_run_download)
    p.set_defaults(func=_run_download)


def _run_download(args) -> None:
    from .data import download

    if args.kind == "collection":
        summary = download.download_collection(args.spec, args.resources, args.part, progress=not args.no_progress)
    elif args.kind == "model":
        from .model.download import download_model

        summary = download_model(args.spec, args.resources, args.model_kind)
    else:
        summary = download.download_file(args.spec, args.resources, progress=not args.no_progress)
    print(json.dumps(summary))


# --- encode / merge -------------------------------------------------------------------------


def _add_encode(subparsers) -> None:
    p = subparsers.add_parser("encode", help="encode a collection's documents or queries into sparse vectors")
    p.add_argument(
        "--model", default=BUNDLED_MODEL, help="HF id or local directory (default: the embedded splade-tiny)"
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
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="fp32",
        help="fp32 (default), or bf16 / fp16 autocast: faster, vectors within the bounds of docs/encoding.md",
    )
    p.add_argument("--tf32", action="store_true", help="CUDA float32 products in TensorFloat-32 (fp32 only)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_run_encode)


def _run_encode(args) -> None:
    from .data import load_collection
    from .encode import EncodeOptions, encode_to_file

    options = EncodeOptions(
        batch_size=args.batch_size,
        threads=args.threads,
        shard=args.shard[0],
        num_shards=args.shard[1],
        device=args.device,
        precision=args.precision,
        tf32=args.tf32,
        progress=not args.no_progress,
    )
    from .model.identity import FINGERPRINT_KEY, fingerprint

    collection = load_collection(args.collection)
    if args.side == "doc":  # the collection's faults before the model's load
        read_rows, total = collection.docs, collection.doc_count()
    else:
        queries = collection.queries()
        read_rows, total = (lambda start, stop: queries[start:stop]), len(queries)
    model = load_model(
        args.model,
        args.pooling,
        args.max_length if args.side == "doc" else None,
        args.max_length if args.side == "query" else None,
    )
    meta = {"model": str(args.model), FINGERPRINT_KEY: fingerprint(model, model.pooling), "collection": collection.spec}
    source = collection.docs_file if args.side == "doc" else collection.spec
    summary = encode_to_file(model, read_rows, total, args.side, args.output, options, meta, source)
    print(json.dumps({"output": str(args.output), **summary}))


def load_model(name_or_path: str, pooling=None, doc_max_length=None, query_max_length=None):
    """A Splade model from an HF id, a local folder, or bundled/<name> (`Splade.load`)."""
    from .model import Splade

    return Splade.load(name_or_path, pooling, doc_max_length, query_max_length)


def _add_merge(subparsers) -> None:
    p = subparsers.add_parser("merge", help="concatenate encoded shards (in the order given) into one file")
    p.add_argument("inputs", nargs="+", type=_existing_file, help="shard files, shard 0 first")
    p.add_argument("--output", required=True, type=Path)
    p.set_defaults(func=_run_merge)


def _run_merge(args) -> None:
    from .encode import merge_vector_files

    print(json.dumps({"output": str(args.output), **merge_vector_files(args.inputs, args.output)}))


def _add_import(subparsers) -> None:
    p = subparsers.add_parser(
        "import", help="pre-encoded vectors (Anserini JsonVectorCollection, TSV queries, CIFF, .npz) -> a vector file"
    )
    p.add_argument("inputs", nargs="+", type=Path, help="files in row order (shards: the first one first)")
    p.add_argument("--output", required=True, type=Path)
    p.add_argument("--vocabulary", help="model (folder, HF id, bundled/<name>) whose tokenizer numbers the tokens")
    p.add_argument("--format", choices=("auto", *IMPORT_FORMATS), default="auto", help="default: from the file names")
    p.add_argument("--scale", type=float, default=1.0, help="divide weights by this (100 for Anserini's impacts)")
    p.add_argument("--unknown", choices=UNKNOWN_TOKENS, default="error", help="tokens missing from the vocabulary")
    p.set_defaults(func=_run_import)


def _run_import(args) -> None:
    from .formats import Vocabulary, import_vectors

    vocabulary = Vocabulary.of_model(args.vocabulary) if args.vocabulary else None
    meta = {"model": args.vocabulary} if args.vocabulary else {}
    stats = import_vectors(
        args.inputs, args.output, vocabulary, format=args.format, scale=args.scale, unknown=args.unknown, meta=meta
    )
    print(json.dumps({"output": str(args.output), **stats}))


def _add_export(subparsers) -> None:
    p = subparsers.add_parser(
        "export",
        help="quantized vectors -> Anserini JsonVectorCollection documents / TSV queries, or a CIFF index (PISA, BMP)",
        description="Write quantized vectors for another engine, streamed; the output is gzip-compressed only when its"
        " name ends in .gz (or with --gzip).",
    )
    p.add_argument("input", type=_existing_file, help="quantized sparse-vector file (.npz; `splade quantize` first)")
    p.add_argument("--format", required=True, choices=EXPORT_FORMATS, help="anserini (JSON lines / TSV) or ciff")
    p.add_argument("--output", required=True, type=Path, help="file to write (docs.jsonl, queries.tsv, docs.ciff...)")
    p.add_argument(
        "--model", help="model (folder, HF id, bundled/<name>) whose tokenizer names the term ids (default: the file's)"
    )
    p.add_argument("--queries", action="store_true", help="the rows are queries: Anserini topics (not for ciff)")
    p.add_argument(
        "--query-format", choices=ANSERINI_QUERY_FORMATS, default="tsv", help="topics as TSV (TsvString) or JSON"
    )
    p.add_argument("--gzip", action="store_true", help="gzip-compress whatever the output's name")
    p.add_argument("--description", help="CIFF header description (default: the model and the quantization scale)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_run_export)


def _run_export(args) -> None:
    from .formats import export_file

    stats = export_file(
        args.input,
        args.output,
        args.format,
        args.model,
        queries=args.queries,
        query_format=args.query_format,
        compress=True if args.gzip else None,
        description=args.description,
        progress=not args.no_progress,
    )
    print(json.dumps({"output": str(args.output), **stats}))


def _add_export_model(subparsers) -> None:
    p = subparsers.add_parser(
        "export-model",
        help="a model's encoders -> ONNX graphs that output the pooled sparse vector, with tokenizer and layout JSON",
        description="Write the document and query encoders of a model as ONNX (pooling inside the graph), checked"
        " against torch with onnxruntime; needs pip install 'splade-core[onnx]'. See docs/onnx.md.",
    )
    p.add_argument("model", help="HF id, local directory or bundled/splade-tiny")
    p.add_argument("--format", choices=("onnx",), default="onnx", help="onnx (the only one so far)")
    p.add_argument("--output", required=True, type=Path, help="folder to write (replaces an earlier export only)")
    p.add_argument("--pooling", choices=("max", "sum"), help="pooling over tokens (default: the model's, else max)")
    p.add_argument("--doc-max-length", type=int, help="document token limit recorded (default: the model's, else 256)")
    p.add_argument("--query-max-length", type=int, help="query token limit recorded (default: the model's, else 64)")
    p.add_argument("--anserini", action="store_true", help="also the query encoder in Anserini's layout (docs/onnx.md)")
    p.set_defaults(func=_run_export_model)


def _run_export_model(args) -> None:
    from .model.onnx import check_output, export_onnx, require_onnx

    require_onnx()  # before loading the model: a missing package or a bad output is the error to show
    check_output(args.output)
    model = load_model(args.model, args.pooling, args.doc_max_length, args.query_max_length)
    summary = export_onnx(model, args.output, source=str(args.model), anserini=args.anserini)
    print(json.dumps({"output": str(args.output), **summary}))


# --- quantize -------------------------------------------------------------------------------


def _add_quantize(subparsers) -> None:
    p = subparsers.add_parser("quantize", help="float weights -> integer impacts (round to nearest, ties to even)")
    p.add_argument("input", type=_existing_file, help="float sparse-vector file")
    p.add_argument("--output", required=True, type=Path)
    p.add_argument("--scale", type=float, default=100.0, help="multiplier before rounding (default 100, as Anserini)")
    p.add_argument("--dtype", choices=("uint8", "uint16"), default="uint8", help="impact type; larger values clip")
    p.set_defaults(func=_run_quantize)


def _run_quantize(args) -> None:
    from .sparse.quantize import quantize_file

    stats = quantize_file(args.input, args.output, args.scale, args.dtype)
    shown = ("rows", "nnz_before", "nnz_after", "clipped")
    print(json.dumps({"output": str(args.output), **{key: stats[key] for key in shown}}))


# --- prune / index ----------------------------------------------------------------------------


def _add_prune(subparsers) -> None:
    p = subparsers.add_parser("prune", help="static pruning of sparse vectors (document, term or agnostic)")
    p.add_argument("input", type=_existing_file, help="sparse-vector file (usually quantized documents)")
    p.add_argument(
        "--method",
        required=True,
        choices=PRUNING_METHODS,
        help="document: top-k terms per document; term: top-k postings per term; "
        "term_quantile: postings above a per-term quantile; agnostic: weights >= threshold",
    )
    p.add_argument("--value", required=True, type=float, help="k, quantile or threshold")
    p.add_argument("--output", required=True, type=Path)
    p.set_defaults(func=_run_prune)


def _run_prune(args) -> None:
    from .sparse.prune import prune_file

    value = int(args.value) if args.method in TOP_K_PRUNING_METHODS else args.value
    if args.method in TOP_K_PRUNING_METHODS and value != args.value:
        raise SpladeError(f"--value must be a whole number for method {args.method}, got {args.value:g}")
    print(json.dumps({"output": str(args.output), **prune_file(args.input, args.output, args.method, value)}))


def _add_index(subparsers) -> None:
    p = subparsers.add_parser("index", help="build the inverted index of quantized document vectors")
    p.add_argument("input", type=_existing_file, help="quantized document vectors (.npz)")
    p.add_argument("--output", required=True, type=Path, help="index file to write")
    p.add_argument("--block-size", type=int, default=64, help="documents per doc-range block of the block-max metadata")
    p.add_argument(
        "--reorder",
        choices=["auto", "none", "bp"],
        default="auto",
        help="reorder the documents by recursive graph bisection first (slower build, faster search on large "
        "collections); auto: bp from 100,000 documents on, where it pays",
    )
    p.add_argument("--threads", type=int, default=1, help="threads of the build and of the reordering")
    p.add_argument(
        "--calibration-queries",
        type=_existing_file,
        help="quantized query vectors of the same model from which to derive the approximate search presets "
        "(approx-95, approx-99: recall@10 targets; from 100,000 documents on, clustered search is built and "
        "calibrated beside bmp, and kept where a preset uses it); none by default",
    )
    p.add_argument("--stats", type=Path, help="JSON file for the index statistics")
    _add_allow_model_mismatch(p)
    p.set_defaults(func=_run_index)


def _run_index(args) -> None:
    import time

    from .index import InvertedIndex
    from .io import write_json
    from .sparse import SparseVectors
    from .sparse.vectors import check_pairing

    began = time.perf_counter()
    reorder = None if args.reorder == "none" else args.reorder
    index = InvertedIndex.from_file(args.input, block_size=args.block_size, reorder=reorder, threads=args.threads)
    build_s = time.perf_counter() - began
    stats = {"index": str(args.output), "build_s": round(build_s, 3)}
    if args.calibration_queries:
        queries = SparseVectors.load(args.calibration_queries)
        check_pairing(queries, index, args.calibration_queries, args.input, args.allow_model_mismatch)
        began = time.perf_counter()
        try:
            presets = index.calibrate_presets(queries.to_csr(), threads=args.threads)
        except ValueError as exc:
            raise SpladeError(f"{args.calibration_queries}: {exc}") from None
        stats["calibration_s"] = round(time.perf_counter() - began, 3)
        stats["presets"] = {name: preset.to_json() for name, preset in presets.items()}
    index.save(args.output)
    stats.update(index.stats())
    if args.stats:
        write_json(args.stats, stats)
    print(json.dumps(stats))


# --- search / bm25 --------------------------------------------------------------------------


def _add_search(subparsers) -> None:
    p = subparsers.add_parser("search", help="retrieve the top-k documents of each query (exact)")
    p.add_argument("--queries", required=True, type=_existing_file, help="query sparse-vector file")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--index", type=_existing_file, help="inverted index built by `splade index`")
    target.add_argument("--docs", type=_existing_file, help="document vectors: exact brute force (scipy)")
    p.add_argument("--k", type=int, default=1000, help="documents per query (default 1000)")
    p.add_argument(
        "--algorithm",
        default="default",
        help="index query algorithm ('default': fastest exact), or an approximate preset the index was calibrated "
        "for (approx-95, approx-99)",
    )
    p.add_argument("--threads", type=int, default=1, help="search threads (index only)")
    p.add_argument("--output", required=True, type=Path, help="TREC run file to write")
    p.add_argument("--stats", type=Path, help="JSON file for latency (1 thread, one query at a time) and QPS")
    p.add_argument("--tag", default="splade-core", help="run tag (last column)")
    _add_allow_model_mismatch(p)
    p.set_defaults(func=_run_search)


def _run_search(args) -> None:
    from .io import write_json
    from .retrieve import write_trec_run
    from .retrieve.runs import iter_topk
    from .retrieve.search import search_brute_force, search_index
    from .sparse import SparseVectors
    from .sparse.vectors import check_pairing

    queries = SparseVectors.load(args.queries)
    if args.index:
        doc_ids, doc_idx, scores, stats = search_index(
            args.index,
            queries,
            args.k,
            args.algorithm,
            args.threads,
            measure_latency=args.stats is not None,
            queries_path=args.queries,
            allow_model_mismatch=args.allow_model_mismatch,
        )
    else:
        docs = SparseVectors.load(args.docs)
        check_pairing(queries, docs, args.queries, args.docs, args.allow_model_mismatch)
        doc_ids, (doc_idx, scores, stats) = docs.ids, search_brute_force(queries, docs, args.k)
    write_trec_run(args.output, iter_topk(queries.ids, doc_ids, doc_idx, scores), args.tag)
    if args.stats:
        write_json(args.stats, stats)
    print(json.dumps({"output": str(args.output), **stats}))


def _add_allow_model_mismatch(parser) -> None:
    parser.add_argument(
        "--allow-model-mismatch",
        action="store_true",
        help="accept queries and documents encoded by different models (refused by default)",
    )


def _add_bm25(subparsers) -> None:
    p = subparsers.add_parser("bm25", help="BM25 baseline run (bm25s, Lucene variant)")
    p.add_argument("--collection", required=True, help="ir_datasets id, BEIR folder[:split] or bundled/<name>")
    p.add_argument("--output", required=True, type=Path, help="TREC run file to write")
    p.add_argument("--k", type=int, default=1000)
    p.add_argument("--k1", type=float, default=BM25_K1)
    p.add_argument("--b", type=float, default=BM25_B)
    p.set_defaults(func=_run_bm25)


def _run_bm25(args) -> None:
    from .data import load_collection
    from .retrieve import write_trec_run
    from .retrieve.bm25 import bm25_topk
    from .retrieve.runs import iter_topk

    query_ids, doc_ids, doc_idx, scores = bm25_topk(load_collection(args.collection), args.k, args.k1, args.b)
    write_trec_run(args.output, iter_topk(query_ids, doc_ids, doc_idx, scores), tag="bm25")
    print(json.dumps({"output": str(args.output), "queries": len(query_ids)}))


# --- evaluate / info ------------------------------------------------------------------------


def _add_evaluate(subparsers) -> None:
    p = subparsers.add_parser("evaluate", help="MRR@10, nDCG@10, R@100, R@1000 of a run; FLOPS and non-zeros")
    p.add_argument("--run", required=True, type=_existing_file, help="TREC run file")
    p.add_argument("--collection", required=True, help="collection whose qrels judge the run")
    p.add_argument("--queries", type=_existing_file, help="query vectors (adds FLOPS and non-zeros)")
    p.add_argument("--docs", type=_existing_file, help="document vectors (adds FLOPS and non-zeros)")
    p.add_argument("--output", type=Path, help="JSON file to write (metrics, sparsity, per-query values)")
    p.add_argument(
        "--per-query",
        type=Path,
        metavar="TSV",
        help="also write each judged query's metrics (query_id, metric, value; unretrieved = 0) for `aggregate`",
    )
    p.add_argument("--name", help="row name in the printed table (default: the run file name)")
    p.add_argument(
        "--exact-run",
        type=_existing_file,
        help="the exact run of the same index: adds the run's recall against it at 10 and at the search's k "
        "(of an --attach'ed retrieval record)",
    )
    p.add_argument("--label", action="append", default=[], metavar="KEY=VALUE", help="identify the row (repeatable)")
    p.add_argument(
        "--attach",
        action="append",
        default=[],
        type=_existing_file,
        metavar="JSON",
        help="merge this JSON object (e.g. retrieval statistics) into the output (repeatable)",
    )
    p.add_argument(
        "--timing",
        action="append",
        default=[],
        metavar="NAME=SECONDS",
        help="record a stage's wall-clock seconds under NAME (e.g. training_s=229.6); repeated NAMEs add up",
    )
    _add_allow_model_mismatch(p)
    p.set_defaults(func=_run_evaluate)


def _run_evaluate(args) -> None:
    from .data import load_collection
    from .evaluate import evaluate_run, format_table, sparsity_stats
    from .evaluate.metrics import recall_against_exact, write_per_query
    from .io import read_json, write_json
    from .retrieve import read_trec_run
    from .retrieve.runs import UngroupedRun, iter_trec_run, paired_rankings
    from .sparse import SparseVectors, VectorFile
    from .sparse.vectors import check_pairing

    if (args.queries is None) != (args.docs is None):
        raise SpladeError("--queries and --docs go together (FLOPS needs both)")
    collection = load_collection(args.collection)
    qrels = collection.qrels()
    try:
        result = evaluate_run(iter_trec_run(args.run), qrels)  # a query at a time
    except UngroupedRun:
        result = evaluate_run(read_trec_run(args.run), qrels)
    if result["queries_retrieved"] == 0:
        raise SpladeError(f"{args.run}: no query of the run is judged in {collection.spec}")
    result["collection"], result["run"] = collection.spec, str(args.run)
    if args.queries:
        with VectorFile(args.docs) as docs:  # streamed: its term ids are counted, its weights not read
            queries = SparseVectors.load(args.queries)
            check_pairing(queries, docs, args.queries, args.docs, args.allow_model_mismatch)
            result["sparsity"] = sparsity_stats(queries, docs)
    result["labels"] = dict(_key_value(item, "--label") for item in args.label)
    result["attached"] = {key: value for path in args.attach for key, value in read_json(path).items()}
    if args.exact_run:  # at 10 and at the search's k (of an attached retrieval record)
        depth = result["attached"].get("k", 10)
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
            raise SpladeError(f"--attach: 'k' must be a positive whole number, not {depth!r}")
        cutoffs = sorted({10, depth})
        try:
            result["vs_exact"] = recall_against_exact(paired_rankings(args.run, args.exact_run), cutoffs)
        except UngroupedRun:  # a query's lines apart in one of them: both read whole
            run, exact = read_trec_run(args.run), read_trec_run(args.exact_run)
            pairs = ((ranking, run.get(query_id, [])) for query_id, ranking in exact.items())
            result["vs_exact"] = recall_against_exact(pairs, cutoffs)
    result["timings"] = _timings([_key_value(item, "--timing") for item in args.timing])
    if args.output:
        write_json(args.output, result)
    if args.per_query:
        write_per_query(args.per_query, result["per_query"])
    row = {
        "run": args.name or Path(args.run).name,
        **result["metrics"],
        **result.get("vs_exact", {}),
        **result.get("sparsity", {}),
    }
    print(format_table([row], list(row)))


def _key_value(item: str, flag: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise SpladeError(f"{flag} takes KEY=VALUE, got {item!r}")
    return key, value


def _timings(named: list[tuple[str, str]]) -> dict[str, float]:
    """Seconds by name, repeated names added up."""
    totals: dict[str, float] = {}
    for name, value in named:
        try:
            seconds = float(value)
        except ValueError:
            raise SpladeError(f"--timing {name}: {value!r} is not a number of seconds") from None
        if not seconds >= 0:
            raise SpladeError(f"--timing {name}: seconds must be a non-negative number, not {value}")
        totals[name] = round(totals.get(name, 0.0) + seconds, 3)
    return totals


def _add_aggregate(subparsers) -> None:
    from .registry import SIGNIFICANCE_TESTS

    p = subparsers.add_parser("aggregate", help="summary table (CSV + Markdown) and plots of evaluated rows")
    p.add_argument("inputs", nargs="+", type=_existing_file, help="metrics JSON files of `splade evaluate`")
    p.add_argument("--output-dir", required=True, type=Path, help="receives summary.csv, summary.md, plots/")
    p.add_argument("--metric", default="nDCG@10", help="effectiveness axis of the plots; metric of the W/T/L counts")
    p.add_argument(
        "--per-query",
        nargs="+",
        type=Path,
        metavar="TSV",
        help="per-query files of `splade evaluate --per-query`, one per metrics file and in the same order: "
        "each row is tested against --baseline",
    )
    p.add_argument(
        "--baseline",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a label of the row the others are tested against, e.g. model=bm25 (repeatable; with --per-query)",
    )
    p.add_argument("--test", choices=SIGNIFICANCE_TESTS, default="t-test", help="paired test, Holm-corrected")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level of the summary's markers")
    p.set_defaults(func=_run_aggregate)


def _run_aggregate(args) -> None:
    from .evaluate.aggregate import summarize, write_summary
    from .evaluate.significance import Significance

    if bool(args.per_query) != bool(args.baseline):
        raise SpladeError("--per-query and --baseline go together (the rows are tested against the baseline)")
    significance = None
    if args.baseline:
        baseline = dict(_key_value(item, "--baseline") for item in args.baseline)
        significance = Significance(baseline, args.test, args.alpha, args.metric)
    frame = summarize(args.inputs, args.per_query, significance)
    paths = write_summary(frame, args.output_dir, args.metric, significance)
    print(paths["md"].read_text())
    for name, path in paths.items():
        print(f"{name}: {path}")


def _add_verify(subparsers) -> None:
    p = subparsers.add_parser(
        "verify", help="check a summary against expected figures within their tolerances (exit 2 on a mismatch)"
    )
    p.add_argument("--summary", required=True, type=Path, help="summary.csv of `splade aggregate`")
    p.add_argument("--expected", required=True, type=Path, help="YAML of expected figures and tolerances")
    p.add_argument("--dataset", help="the expected file's dataset to check (default: the summary's)")
    p.add_argument("--output", type=Path, help="also write the table of checks to this file (when all pass)")
    p.add_argument(
        "--write-expected",
        action="store_true",
        help="instead, write the summary's figures into --expected as the dataset's rows "
        "(other datasets, tolerances and leading comments kept)",
    )
    p.set_defaults(func=_run_verify)


def _run_verify(args) -> None:
    from .evaluate.verify import read_summary, summary_dataset, verify_summary, write_expected

    frame = read_summary(args.summary)
    if args.write_expected:
        dataset = args.dataset or summary_dataset(frame, {"datasets": {}})
        write_expected(args.expected, frame, dataset, header=f"Expected figures, from {args.summary}.")
        print(f"expected: {args.expected} (dataset {dataset}, from {args.summary})")
        return
    verification = verify_summary(frame, args.expected, args.dataset)
    table = verification.table()
    print(table, end="")
    if not verification.ok:
        raise SpladeError(verification.verdict())
    if args.output:
        from .io import atomic_path

        with atomic_path(args.output) as tmp:
            tmp.write_text(table)


def _add_info(subparsers) -> None:
    p = subparsers.add_parser("info", help="describe a sparse-vector file, run file or model directory")
    p.add_argument("path", type=Path)
    p.add_argument("--top", type=int, default=0, help="also decode the first row's top tokens (vectors + --model)")
    p.add_argument("--model", default=BUNDLED_MODEL, help="tokenizer for --top")
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
