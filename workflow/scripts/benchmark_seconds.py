"""Workflow glue: the wall-clock seconds of Snakemake `benchmark:` files, summed over files
(each file's mean over its repeats, column `s`), printed for `splade evaluate --timing`.

    python workflow/scripts/benchmark_seconds.py FILE...      # prints e.g. 229.571
"""

import sys

import pandas as pd


def seconds(paths: list[str]) -> float:
    total = 0.0
    for path in paths:
        times = pd.read_csv(path, sep="\t")
        if "s" not in times or times.empty:
            sys.exit(f"{path}: not a Snakemake benchmark file (no 's' column)")
        total += float(times["s"].mean())
    return round(total, 3)


if __name__ == "__main__":
    print(seconds(sys.argv[1:]))
