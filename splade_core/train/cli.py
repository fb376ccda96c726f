"""CLI verbs `train` and `mine`, registered on the main parser by `add_parser(subparsers)`.

    splade train --config train.yaml --steps 300 --lambda-d 0.01 --output runs/x
    splade mine --train-data beir/scifact/train --method bm25 --teacher self --output ex.jsonl

Every training setting is also a `--flag` named after its config key (`lambda_q` →
`--lambda-q`; booleans as `--flag/--no-flag`; `none` clears an optional setting); flags
override the config file.
"""

from __future__ import annotations

import argparse
import sys
import types
import typing
from dataclasses import MISSING, fields
from pathlib import Path

from .config import TrainConfig

_NONE_WORDS = ("none", "null")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    train_parser = subparsers.add_parser(
        "train",
        help="fine-tune a SPLADE model (resumes from the output's last checkpoint)",
        description="Fine-tune a SPLADE model; settings from --config (JSON/YAML) overridden by flags.",
    )
    train_parser.add_argument("--config", type=Path, help="JSON or YAML file of training settings")
    hints = typing.get_type_hints(TrainConfig)
    for field in fields(TrainConfig):
        flag = "--" + field.name.replace("_", "-")
        base, optional = _unwrap_optional(hints[field.name])
        if base is bool:
            train_parser.add_argument(
                flag, dest=field.name, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS
            )
        else:
            train_parser.add_argument(
                flag,
                dest=field.name,
                type=_parse_value(base, optional),
                default=argparse.SUPPRESS,
                metavar=field.name.upper(),
                help="required (here or in --config)" if field.default is MISSING else f"default: {field.default!r}",
            )
    train_parser.set_defaults(func=run_train)

    mine_parser = subparsers.add_parser(
        "mine",
        help="mine hard negatives (and teacher scores) into a training-examples JSONL",
        description="Hard negatives by retrieval (judged documents excluded) and optional teacher scores.",
    )
    mine_parser.add_argument("--train-data", required=True, help="collection spec with qrels, e.g. beir/scifact/train")
    mine_parser.add_argument("--output", required=True, type=Path, help="examples file to write (.jsonl)")
    mine_parser.add_argument(
        "--model", default="bundled/splade-tiny", help="SPLADE model for --method splade and --teacher self"
    )
    mine_parser.add_argument("--method", default="bm25", choices=("bm25", "splade", "bm25+splade"))
    mine_parser.add_argument("--depth", type=int, default=50, help="negatives kept per query (top unjudged retrieved)")
    mine_parser.add_argument(
        "--teacher", default="none", help="'none', 'self' (the model's q·d) or a cross-encoder HF id/folder"
    )
    mine_parser.add_argument("--max-queries", type=int, help="a seeded random subset of the judged queries")
    mine_parser.add_argument("--seed", type=int, default=42)
    mine_parser.add_argument("--doc-max-length", type=int, default=256)
    mine_parser.add_argument("--query-max-length", type=int, default=64)
    mine_parser.add_argument("--batch-size", type=int, default=32, help="texts per encoding batch")
    mine_parser.add_argument("--threads", type=int, help="torch CPU threads")
    mine_parser.set_defaults(func=run_mine)


def run_train(args: argparse.Namespace) -> int:
    from .config import load_config
    from .loop import train

    names = {f.name for f in fields(TrainConfig)}
    overrides = {name: value for name, value in vars(args).items() if name in names}
    config = load_config(args.config, overrides)
    model_dir = train(config)
    print(model_dir)
    return 0


def run_mine(args: argparse.Namespace) -> int:
    import torch

    from ..data.examples import write_examples
    from ..data.mining import mine_examples
    from .config import resolve_model

    if args.threads:
        torch.set_num_threads(args.threads)
    examples, header = mine_examples(
        args.train_data,
        args.method,
        args.depth,
        args.teacher,
        resolve_model(args.model),
        args.max_queries,
        args.seed,
        args.doc_max_length,
        args.query_max_length,
        batch_size=args.batch_size,
        progress=sys.stderr.isatty(),
    )
    print(write_examples(args.output, examples, header))
    return 0


def _unwrap_optional(hint) -> tuple[type, bool]:
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0], True
    return hint, False


def _parse_value(base: type, optional: bool):
    def parse(text: str):
        if optional and text.lower() in _NONE_WORDS:
            return None
        return base(text)

    parse.__name__ = base.__name__
    return parse
