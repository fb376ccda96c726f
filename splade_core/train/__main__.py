"""`python -m splade_core.train train ...`: the training verb without the main CLI (what
`torchrun -m splade_core.train train ...` runs, for a launch by hand across nodes)."""

from __future__ import annotations

import argparse
import sys

from ..errors import SpladeError
from .cli import add_parser


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m splade_core.train")
    add_parser(parser.add_subparsers(dest="verb", required=True))
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except SpladeError as exc:
        print(f"splade {args.verb}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
