#!/usr/bin/env bash
# The README's first command as a new user runs it: a fresh clone of HEAD, empty ir_datasets and
# Hugging Face caches, no network needed. Repeats it N times (default 3), each on new caches, and
# prints one line per run: exit code, wall seconds, jobs done, and the SciFact nDCG@10 rows.
#   bash benchmarks/fresh_machine.sh [N] [WORKDIR]
set -uo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
runs="${1:-3}"
root="${2:-$(mktemp -d -t splade-fresh.XXXXXX)}"
mkdir -p "$root"
for run in $(seq 1 "$runs"); do
  dir="$root/run$run"
  rm -rf "$dir" && git clone -q "$repo" "$dir/clone"
  mkdir -p "$dir/ir_datasets" "$dir/huggingface"
  began=$(date +%s)
  (
    cd "$dir/clone" &&
      export IR_DATASETS_HOME="$dir/ir_datasets" HF_HOME="$dir/huggingface" &&
      python3 -m venv .venv && . .venv/bin/activate && pip install -q -c constraints.txt -e '.[dev]' &&
      installed=$(date +%s) && echo "install_s $((installed - began))" &&
      snakemake --cores all
  ) > "$dir/log" 2>&1
  code=$?
  ended=$(date +%s)
  done_line=$(grep -Eo '[0-9]+ of [0-9]+ steps \(100%\) done' "$dir/log" | tail -1)
  install=$(grep -Eo '^install_s [0-9]+' "$dir/log" | cut -d' ' -f2)
  echo "run $run: exit $code, ${install:-?} s install + $((ended - began - ${install:-0})) s study, ${done_line:-no 100% line} (log: $dir/log)"
done
