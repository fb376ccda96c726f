"""CLI verb `train`, registered on the main parser by `add_parser(subparsers)`.

    splade train --config train.yaml --steps 300 --lambda-d 0.01 --output runs/x
    splade train --train-data beir/scifact/train --train-examples ex.jsonl --processes 4 --device cuda ...

Every training setting is also a `--flag` named after its config key (`lambda_q` →
`--lambda-q`; booleans as `--flag/--no-flag`; `none` clears an optional setting); flags
override the config file.
"""

from __future__ import annotations

import argparse
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


def run_train(args: argparse.Namespace) -> int:
    from .config import load_config
    from .launch import run

    names = {f.name for f in fields(TrainConfig)}
    overrides = {name: value for name, value in vars(args).items() if name in names}
    config = load_config(args.config, overrides)
    print(run(config))
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
