"""The workflow's glue that turns Snakemake benchmark files into `splade evaluate --timing`
seconds: each file's mean over its repeats, summed over files; a file without an `s` column
stops the job with one line."""

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "workflow" / "scripts" / "benchmark_seconds.py"
HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def run(*paths):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, paths)], capture_output=True, text=True)


def test_seconds_are_summed_over_files_of_means(tmp_path):
    one, two = tmp_path / "shard0.tsv", tmp_path / "shard1.tsv"
    one.write_text(HEADER + "10.0\t0:00:10\t1\t1\t1\t1\t0\t0\t50\t9\n12.0\t0:00:12\t1\t1\t1\t1\t0\t0\t50\t9\n")
    two.write_text(HEADER + "2.5\t0:00:02\t1\t1\t1\t1\t0\t0\t50\t2\n")
    done = run(one, two)
    assert done.returncode == 0 and done.stdout.strip() == "13.5"


def test_a_file_that_is_not_a_benchmark_stops_with_one_line(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("seconds\n1\n")
    done = run(bad)
    assert done.returncode == 1 and done.stderr.strip() == f"{bad}: not a Snakemake benchmark file (no 's' column)"
