"""Training settings: one dataclass, validated when constructed, read from JSON/YAML + overrides.

Keys are the field names; an unknown key is an error, never silently ignored.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ..errors import SpladeError
from ..registry import (  # no torch here: the workflow validates a study's settings at plan time
    BUNDLED_MODEL,
    DISTILLATION_LOSSES,
    POOLINGS,
    PRECISIONS,
    RANKING_LOSSES,
    REGULARIZERS,
    check_device,
    resolve_model,  # noqa: F401  (re-exported for train modules)
)

# Fields that may differ when a run is resumed: they do not change what is computed (a changed
# process count keeps the data order; the result differs by float rounding).
FLOAT_FIELDS = ("lr", "weight_decay", "max_grad_norm", "lambda_q", "lambda_d")
RESUMABLE_CHANGES = (
    "output", "threads", "device", "processes", "log_every", "checkpoint_every", "keep_checkpoints", "progress",
)  # fmt: skip
REQUIRED = ("train_data", "train_examples", "output")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (see config/README.md for the recipe values).

    Sizes: `batch_size` examples per optimizer step over all processes, split into
    `grad_accum` micro-batches per process; `steps` counts optimizer steps. `processes` > 1
    trains data-parallel (DDP): one process per GPU on CUDA, gloo processes on CPU, started by
    `splade train` itself (`splade_core.train.launch`) or by torchrun; `threads` are the whole
    run's CPU threads, shared by its processes.
    """

    train_data: str
    # Examples file (JSONL or TSV, see splade_core.data.examples): `splade mine` writes one.
    train_examples: str
    output: str
    model: str = BUNDLED_MODEL
    steps: int = 1000
    batch_size: int = 32
    grad_accum: int = 1
    lr: float = 2e-5
    warmup_steps: int = 0
    weight_decay: float = 0.01
    max_grad_norm: float | None = None
    lambda_q: float = 1e-2
    lambda_d: float = 8e-3
    reg_q: str = "flops"
    reg_d: str = "flops"
    # Quadratic warm-up length T of λq and λd; None = a third of the steps (SPLADE++: 50k/150k).
    lambda_warmup_steps: int | None = None
    loss: str = "contrastive"
    n_negatives: int = 1
    doc_max_length: int = 256
    query_max_length: int = 64
    pooling: str = "max"
    separate_query_encoder: bool = False
    inference_free_query: bool = False
    precision: str = "fp32"
    seed: int = 42
    # Optimizer steps between checkpoints (0: only at the end); the last `keep_checkpoints` kept.
    checkpoint_every: int = 0
    keep_checkpoints: int = 1
    log_every: int = 10
    threads: int | None = None
    device: str = "cpu"  # cpu, cuda, cuda:N, mps, or auto (cuda when torch sees one)
    processes: int = 1
    progress: bool = True

    def __post_init__(self) -> None:
        problems = []

        def check(ok: bool, message: str) -> None:
            if not ok:
                problems.append(message)

        for name in (
            "steps",
            "batch_size",
            "grad_accum",
            "doc_max_length",
            "query_max_length",
            "log_every",
            "keep_checkpoints",
            "processes",
        ):
            check(_is_int(getattr(self, name)) and getattr(self, name) >= 1, f"{name} must be an integer ≥ 1")
        for name in ("warmup_steps", "checkpoint_every", "n_negatives", "seed"):
            check(_is_int(getattr(self, name)) and getattr(self, name) >= 0, f"{name} must be an integer ≥ 0")
        check(
            self.lambda_warmup_steps is None or (_is_int(self.lambda_warmup_steps) and self.lambda_warmup_steps >= 0),
            "lambda_warmup_steps must be an integer ≥ 0 or null",
        )
        check(
            self.threads is None or (_is_int(self.threads) and self.threads >= 1),
            "threads must be an integer ≥ 1 or null",
        )
        for name in ("lr", "weight_decay", "lambda_q", "lambda_d"):
            check(_is_number(getattr(self, name)) and getattr(self, name) >= 0, f"{name} must be a number ≥ 0")
        check(_is_number(self.lr) and self.lr > 0, "lr must be > 0")
        check(
            self.max_grad_norm is None or (_is_number(self.max_grad_norm) and self.max_grad_norm > 0),
            "max_grad_norm must be a number > 0 or null (no clipping)",
        )
        check(self.reg_q in REGULARIZERS, f"reg_q must be one of {sorted(REGULARIZERS)}")
        check(self.reg_d in REGULARIZERS, f"reg_d must be one of {sorted(REGULARIZERS)}")
        check(self.loss in RANKING_LOSSES, f"loss must be one of {sorted(RANKING_LOSSES)}")
        check(self.pooling in POOLINGS, f"pooling must be one of {list(POOLINGS)}")
        check(self.precision in PRECISIONS, f"precision must be one of {list(PRECISIONS)}")
        device_problem = check_device(self.device, auto=True)
        check(device_problem is None, device_problem or "")
        if device_problem is None and _is_int(self.processes) and self.processes > 1:
            check(
                not self.device.startswith("cuda:"),
                f"device {self.device!r} would put all {self.processes} processes on one GPU; "
                "with processes > 1 say cuda (process i takes the i-th visible GPU)",
            )
            check(self.device != "mps", "processes > 1 needs cpu or cuda devices")
        for name in ("separate_query_encoder", "inference_free_query", "progress"):
            check(isinstance(getattr(self, name), bool), f"{name} must be true or false")
        for name in ("train_data", "train_examples", "output", "model"):
            check(
                isinstance(getattr(self, name), str) and getattr(self, name) != "", f"{name} must be a non-empty string"
            )
        if self.loss in DISTILLATION_LOSSES:
            check(self.n_negatives >= 1, f"loss {self.loss!r} needs n_negatives ≥ 1")
        check(
            not (self.separate_query_encoder and self.inference_free_query),
            "inference_free_query has no query encoder, so separate_query_encoder must be false",
        )
        check(
            self.warmup_steps <= self.steps if _is_int(self.warmup_steps) and _is_int(self.steps) else True,
            "warmup_steps must not exceed steps",
        )
        if all(
            _is_int(getattr(self, name)) and getattr(self, name) >= 1
            for name in ("batch_size", "grad_accum", "processes")
        ):
            check(
                self.batch_size % (self.processes * self.grad_accum) == 0,
                f"batch_size ({self.batch_size}) must be a multiple of processes × grad_accum "
                f"({self.processes} × {self.grad_accum})",
            )
        if problems:
            raise SpladeError("invalid training config: " + "; ".join(problems))

    @property
    def lambda_warmup(self) -> int:
        return self.steps // 3 if self.lambda_warmup_steps is None else self.lambda_warmup_steps

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "config") -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise SpladeError(f"{source}: unknown training settings {unknown} (known: {', '.join(sorted(known))})")
        missing = [name for name in REQUIRED if values.get(name) is None]
        if missing:
            hint = " (training examples: `splade mine` writes a file of them)" if "train_examples" in missing else ""
            raise SpladeError(f"{source}: missing required settings {missing}{hint}")
        values = dict(values)
        for name in FLOAT_FIELDS:
            # YAML 1.1 reads "1e-5" (no dot) as a string; accept numbers written that way.
            if isinstance(values.get(name), str):
                try:
                    values[name] = float(values[name])
                except ValueError:
                    pass
        try:
            return cls(**values)
        except TypeError as exc:
            raise SpladeError(f"{source}: {exc}") from None


def load_config(path: str | os.PathLike | None = None, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Settings from a JSON or YAML file (optional), then `overrides` (a None sets None)."""
    values: dict[str, Any] = {}
    source = "overrides"
    if path is not None:
        values = read_config_file(path)
        source = str(path)
    values.update(overrides or {})
    return TrainConfig.from_dict(values, source)


def read_config_file(path: str | os.PathLike) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise SpladeError(f"{path}: no such config file")
    text = path.read_text()
    try:
        if path.suffix in (".yaml", ".yml"):
            import yaml

            values = yaml.safe_load(text) or {}
        else:
            values = json.loads(text)
    except Exception as exc:  # yaml.YAMLError, json.JSONDecodeError
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SpladeError(f"{path}: cannot parse config ({first_line})") from None
    if not isinstance(values, dict):
        raise SpladeError(f"{path}: a config must be a mapping of settings")
    return values


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
