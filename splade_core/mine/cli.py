"""CLI verb `mine`, registered on the main parser by `add_parser(subparsers)`.

    splade mine --train-data beir/scifact/train --method bm25 --teacher self --output ex.jsonl
    splade mine --train-data resources/collections/msmarco-passage/train/judged \\
        --teacher cross-encoder/ms-marco-MiniLM-L-6-v2 --device cuda --precision bf16 --output ex.jsonl
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..registry import BUNDLED_MODEL, MINE_METHODS, PRECISIONS


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "mine",
        help="mine hard negatives (and teacher scores) into a training-examples JSONL",
        description="Hard negatives by retrieval (judged documents excluded) and optional teacher scores.",
    )
    p.add_argument("--train-data", required=True, help="collection spec with qrels, e.g. beir/scifact/train")
    p.add_argument("--output", required=True, type=Path, help="examples file to write (.jsonl)")
    p.add_argument("--model", default=BUNDLED_MODEL, help="SPLADE model for --method splade and --teacher self")
    p.add_argument("--method", default="bm25", choices=MINE_METHODS)
    p.add_argument("--depth", type=int, default=50, help="negatives kept per query (top unjudged retrieved)")
    p.add_argument("--teacher", default="none", help="'none', 'self' (the model's q·d) or a cross-encoder HF id/folder")
    p.add_argument("--max-queries", type=int, help="a seeded random subset of the judged queries")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--doc-max-length", type=int, default=256)
    p.add_argument("--query-max-length", type=int, default=64)
    p.add_argument(
        "--teacher-max-length", type=int, default=512, help="tokens of a cross-encoder's (query, document) pair"
    )
    p.add_argument("--batch-size", type=int, default=32, help="texts (or teacher pairs) per forward pass")
    p.add_argument("--device", default="cpu", help="torch device of the model and the teacher: cpu, cuda, cuda:N")
    p.add_argument("--precision", default="fp32", choices=PRECISIONS, help="autocast of the model and the teacher")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run_mine)


def run_mine(args: argparse.Namespace) -> int:
    import torch

    from ..errors import SpladeError
    from ..tasks import sibling_tasks
    from .config import MineConfig
    from .mining import mine_to_file

    if (siblings := sibling_tasks()) is not None:
        variable, count = siblings
        raise SpladeError(
            f"started as one of {count} processes ({variable}={count}): mining runs as one process (on one "
            "device) before training; run `splade mine` alone and train on the file it writes"
        )
    config = MineConfig(
        train_data=args.train_data,
        method=args.method,
        depth=args.depth,
        teacher=args.teacher,
        model=args.model,
        max_queries=args.max_queries,
        seed=args.seed,
        doc_max_length=args.doc_max_length,
        query_max_length=args.query_max_length,
        teacher_max_length=args.teacher_max_length,
        batch_size=args.batch_size,
        device=args.device,
        precision=args.precision,
        threads=args.threads,
        progress=not args.no_progress and sys.stderr.isatty(),
    )
    runs_model = config.uses_model or config.teacher is not None
    if runs_model and config.device.startswith("cuda") and not torch.cuda.is_available():
        raise SpladeError(f"device {config.device!r} asked for, but torch sees no CUDA device")
    if config.threads:
        torch.set_num_threads(config.threads)
    print(mine_to_file(config, args.output))
    return 0
