"""The names users choose between, and the bundled resources: importable without torch.

The modules that implement each choice are keyed by these names (`losses.RANKING_LOSSES`,
`losses.REGULARIZERS`, the model's pooling), so `TrainConfig` and the workflow can validate a
study's settings at plan time without importing torch.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

POOLINGS = ("max", "sum")
RANKING_LOSSES = ("contrastive", "margin_mse", "kl")
# Losses that need a teacher score for the positive and every negative of an example.
DISTILLATION_LOSSES = ("margin_mse", "kl")
REGULARIZERS = ("flops", "l1")
MINE_METHODS = ("bm25", "splade", "bm25+splade")
# Numeric precision of encoding, mining and training (autocast dtype; fp32 computes in float32).
PRECISIONS = ("fp32", "bf16", "fp16")
# Static pruning (splade_core.sparse.prune); a study's config sweeps STUDY_PRUNING_METHODS
# (`pruning.<method>: [values]`, result folders `prune=<method>-<value>`), whose values are
# whole numbers: k for document and term, an impact threshold for agnostic.
PRUNING_METHODS = ("document", "term", "term_quantile", "agnostic")
STUDY_PRUNING_METHODS = ("document", "term", "agnostic")
# The search of a summary row run by the index's fastest exact algorithm; approximate rows carry
# the name of their preset (splade_core.index.presets.PRESETS) instead.
EXACT_SEARCH = "exact"
EXACT_SEARCHES = (EXACT_SEARCH, "")  # the search labels of exact rows ("": a row evaluated without one)
TOP_K_PRUNING_METHODS = ("document", "term")
# Pre-encoded vectors a study can import (splade_core.formats), and what becomes of
# tokens their encoder's vocabulary lacks; the formats `splade export` writes.
IMPORT_FORMATS = ("jsonl", "tsv", "npz", "ciff")
UNKNOWN_TOKENS = ("error", "drop")
EXPORT_FORMATS = ("anserini", "ciff")
ANSERINI_QUERY_FORMATS = ("tsv", "jsonl")  # topics for TsvString, or JSON vectors
# Paired tests of a summary's rows against its baseline row (splade_core.evaluate.significance).
SIGNIFICANCE_TESTS = ("t-test", "permutation")
# BM25 of the baseline run and of mining (splade_core.retrieve.bm25): Anserini's MS MARCO k1, b.
BM25_K1, BM25_B = 0.9, 0.4
# splade_config.json key of a model whose query side is a bag of the query's tokens.
INFERENCE_FREE_KEY = "inference_free_query"
FINGERPRINT_KEY = "model_fingerprint"  # vector files' meta: which weights encoded them (model.identity)
BUNDLED_MODEL = "bundled/splade-tiny"  # the embedded default model
BUNDLED_MODELS = {BUNDLED_MODEL: "splade-tiny"}
_DEVICE = re.compile(r"cpu|mps|cuda(:[0-9]+)?")


def check_device(device: object, auto: bool = False) -> str | None:
    """Why `device` is not a torch device name this project runs on (cpu, cuda, cuda:N, mps; and
    "auto" where `auto`), or None."""
    if isinstance(device, str) and (_DEVICE.fullmatch(device) or (auto and device == "auto")):
        return None
    names = "'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'" if auto else "'cpu', 'cuda', 'cuda:N' or 'mps'"
    return f"device must be {names}, not {device!r}"


def local_path(spec: str | os.PathLike) -> Path | None:
    """The folder a model spec names when it is a path (it starts with '.', '/' or '~', or names an
    existing folder), None for a hub id (`org/name`): the one rule every loader and the workflow
    follow. A path that is no folder is the caller's error to name."""
    spec = str(spec)
    if spec.startswith((".", "/", "~")) or Path(spec).expanduser().is_dir():
        return Path(spec).expanduser()
    return None


def resolve_model(name_or_path: str | os.PathLike) -> str:
    """A model path or HF id; `bundled/<name>` names a model shipped in the package."""
    name = str(name_or_path)
    if name in BUNDLED_MODELS:
        return str(Path(__file__).parent / "resources" / "models" / BUNDLED_MODELS[name])
    return name
