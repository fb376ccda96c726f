#!/usr/bin/env bash
# The CUDA check (benchmarks/gpu_check.py) on a GPU machine without internet, from the repository
# root: Python packages the machine lacks travel as wheels in .whl/ (bm25s, for mining), the
# project is installed in place (its C++ index and Cython kernels compile here), then the check
# runs. Arguments go to gpu_check.py, e.g.
#   bash benchmarks/gpu_check.sh --output "$OUT/gpu-check.json"
#   bash benchmarks/gpu_check.sh --device cpu --tiny          # the rehearsal on a CPU
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
if compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
if ! python3 -c "import splade_core.index._index" 2> /dev/null; then
  python3 -m pip install -q --no-build-isolation --no-deps -e . 2>&1 | tail -3
fi
echo "install: $(($(date +%s) - started)) s"
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export IR_DATASETS_HOME="${IR_DATASETS_HOME:-$(mktemp -d)}"
exec python3 benchmarks/gpu_check.py "$@"
