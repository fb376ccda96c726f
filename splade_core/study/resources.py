"""What each job of the study asks its scheduler for: mem_mb and runtime from the size of its
inputs, each constant beside the measurement that calibrated it (docs/scale.md has the model).

Every function returns a Snakemake resource callable `(wildcards, input, attempt) -> int`; a job
Snakemake retries (--retries) asks for attempt times as much. Streaming stages hold a row chunk
plus ~70 bytes per row (ids, row lengths, id hashes); the index build holds its input, the index
(~0.62x a quantized input, its block-max rows included) and one 512 MB pass; BM25 holds ~26
bytes per distinct document-term pair while it indexes, ~3 MB per MB of corpus text
(benchmarks/scale.py at 8.8 M passages).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from ..data.download import data_bytes

# Encoding is sized by the model's weights, the batch and the text (benchmarks/encode_resources.py:
# `splade encode` on CPU, 2 threads, SciFact documents filling 256 tokens). splade-tiny (17 MB of
# weights) peaked at 561 / 769 MB with batches of 32 / 128 texts and a BERT-base-sized model
# (418 MB) at 1,332 / 1,943 MB: about 2x the weights plus 25 KB per token of a batch. They took
# 425 and 4,037 minutes per GB of text, about 9 x (weights MB + 30). The rules ask for more:
# 0.03 MB a token, 15 x (weights + 30) minutes a GB, no speed-up credited beyond 2 threads. On a
# GPU (not measured: no GPU was lent) the host also maps the CUDA libraries (CUDA_HOST_MB) and the
# time is assumed to be at most the CPU's / GPU_SPEEDUP; a shard killed at its limit resumes from
# its last block when retried, with attempt x the time.
CUDA_HOST_MB = 2000
GPU_SPEEDUP = 20

# Mining holds the corpus's ids (a few bytes a passage), its BM25 index (about 3.5 MB a corpus MB,
# as retrieve_bm25 measured at 8.8 M passages), for the "splade" methods the corpus's float32
# vectors (about 8 MB a corpus MB: ~300 terms x 8 bytes for a ~300-byte passage), the rankings and
# the models (2x their weights, as encoding). The texts of one block of queries' documents are
# read by seeking; none is held per passage. benchmarks/mining_scale.py: 8.8 M passages (2.3 GB),
# 6,980 judged queries, in 603 s at 4,829 MB (9,704 declared). BM25 ranks a query in ~0.012 s a
# corpus GB on one thread (MINE_QUERY_MINUTES: twice that); a teacher's scoring is not counted
# (not measured on a GPU: set the rule's runtime in profiles/slurm for one).
MINE_INDEX_MB = {"bm25": 3.5, "splade": 8.0}
MINE_QUERY_MINUTES = 0.0004  # per judged query and corpus GB


def on_cuda(device: str) -> bool:
    """Whether a torch device setting (encoding.device, training.device) is a GPU."""
    return device.startswith("cuda")


def input_data_mb(input, of: list[str] | None = None) -> float:
    """MB of a job's input data, or of its inputs named in `of`: a download's manifest counts as
    the files it lists (a collection's manifest: its queries and qrels; a corpus's: its
    documents), any other file as its size."""
    paths = input if of is None else [path for name in of for path in _paths(getattr(input, name))]
    return sum(data_bytes(path) for path in paths) / 2**20


def _paths(value) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def memory(base_mb: float, per_input_mb: float = 0.0, of: list[str] | None = None):
    """mem_mb = base_mb + per_input_mb x the job's input data (MB; see input_data_mb)."""
    return lambda wildcards, input, attempt: math.ceil((base_mb + per_input_mb * input_data_mb(input, of)) * attempt)


# An index build that calibrates presets may build the clustered sections of approximate search
# (InvertedIndex.calibrate_presets, from CLUSTERS_MIN_DOCS documents on): 3.52x the quantized
# input at 1 M synthetic documents (`python benchmarks/cluster_sections.py --docs 1000000`: 2,198
# MiB beside 624 MiB of input; forward index 472, summaries 1,590). `splade index
# --calibration-queries` on that collection peaked at 2,831 MB (/usr/bin/time; the input is freed
# before the sections are built), against the 4,445 MB declared with them (2,261 without).
CLUSTERS_PER_INPUT_MB = 3.5


def index_memory(base_mb: float, per_input_mb: float):
    """mem_mb of an index build: base_mb + per_input_mb x its documents (input `docs`), plus
    CLUSTERS_PER_INPUT_MB x them when it calibrates presets (input `calibration` given), as that
    may build clustered sections (InvertedIndex.calibrate_presets)."""

    def mem_mb(wildcards, input, attempt):
        per_mb = per_input_mb + CLUSTERS_PER_INPUT_MB * bool(_paths(input.calibration))
        return math.ceil((base_mb + per_mb * input_data_mb(input, ["docs"])) * attempt)

    return mem_mb


def minutes(base: float, per_input_gb: float = 0.0, of: list[str] | None = None):
    """runtime (minutes) = base + per_input_gb x the job's input data (GB)."""
    return lambda wildcards, input, attempt: math.ceil(
        (base + per_input_gb * input_data_mb(input, of) / 1024) * attempt
    )


def encode_memory(encoding: dict, max_length: int):
    """mem_mb of an encoding job: the model (2x its weights, input `model`), a batch of
    max_length tokens, and the CUDA libraries on a GPU."""
    fixed_mb = 500 + 0.03 * encoding["batch_size"] * max_length + CUDA_HOST_MB * on_cuda(encoding["device"])
    return lambda wildcards, input, attempt: math.ceil((fixed_mb + 2 * input_data_mb(input, ["model"])) * attempt)


def encode_minutes(encoding: dict, threads: int, text: str, shards: int = 1):
    """runtime of an encoding job: 1/shards of its `text` input's data at the model's rate."""

    def runtime(wildcards, input, attempt):
        per_gb = 15 * (input_data_mb(input, ["model"]) + 30)
        per_gb = per_gb / GPU_SPEEDUP if on_cuda(encoding["device"]) else per_gb * max(1.0, 2 / threads)
        return math.ceil((10 + per_gb * input_data_mb(input, [text]) / 1024 / shards) * attempt)

    return runtime


def judged_queries(manifest_path: str) -> int:
    """Judged queries of a downloaded collection, from its manifest (0 before the download)."""
    path = Path(manifest_path)
    return json.loads(path.read_text()).get("judged_queries", 0) if path.is_file() else 0


def mine_minutes(mining: dict):
    """runtime of the mining job: reading the corpus, and BM25 for each judged query it mines."""

    def runtime(wildcards, input, attempt):
        corpus_gb = input_data_mb(input, ["corpus"]) / 1024
        queries = min(judged_queries(input.collection), mining["max_queries"] or float("inf"))
        return math.ceil((120 + 30 * corpus_gb + MINE_QUERY_MINUTES * queries * corpus_gb) * attempt)

    return runtime


def mine_memory(mining: dict, runs_model: bool):
    """mem_mb of the mining job: the corpus's indexes, the models (inputs base, teacher), CUDA."""
    per_corpus_mb = sum(rate for name, rate in MINE_INDEX_MB.items() if name in mining["method"])
    cuda_mb = CUDA_HOST_MB * (on_cuda(mining["device"]) and runs_model)

    def mem_mb(wildcards, input, attempt):
        models_mb = 2 * input_data_mb(input, ["base", "teacher"])
        return math.ceil((1500 + per_corpus_mb * input_data_mb(input, ["corpus"]) + models_mb + cuda_mb) * attempt)

    return mem_mb
