"""Cost of the vector-file validation at MS MARCO size: `check_ids` on 8.8 M passage-like ids
and `check_csr` on a chunk of 100 M postings (it is linear: ~1.1 B postings cost 11 times that).

    python benchmarks/bench_validation.py [--ids 8800000] [--postings 100000000]

Prints seconds and the peak of numpy's allocations during each check (tracemalloc).
"""

import argparse
import json
import time
import tracemalloc

import numpy as np

from splade_core.data.ids import check_ids
from splade_core.sparse.vectors import check_csr


def measured(function) -> dict:
    tracemalloc.start()
    began = time.perf_counter()
    function()
    seconds = time.perf_counter() - began
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"seconds": round(seconds, 2), "peak_mb": round(peak / 2**20)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ids", type=int, default=8_800_000)
    parser.add_argument("--postings", type=int, default=100_000_000)
    args = parser.parse_args()
    ids = np.array([str(7 * i) for i in range(args.ids)])  # MS MARCO pids are up to 7 digits
    per_row = 100
    rows = args.postings // per_row
    rng = np.random.default_rng(0)
    indices = (np.arange(per_row, dtype=np.int32) * 300 + rng.integers(0, 300, (rows, per_row), dtype=np.int32)).ravel()
    indptr = np.arange(0, rows * per_row + 1, per_row, dtype=np.int64)
    data = rng.random(rows * per_row, dtype=np.float32)
    report = {
        "check_ids": {"ids": args.ids, "ids_mb": round(ids.nbytes / 2**20), **measured(lambda: check_ids(ids))},
        "check_csr": {"postings": len(data), **measured(lambda: check_csr(indptr, indices, data, 30522, rows))},
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
