"""Mining settings: one dataclass, validated when constructed (importable without torch, so the
workflow checks a study's mining settings at plan time)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ..errors import SpladeError
from ..registry import BUNDLED_MODEL, DISTILLATION_LOSSES, MINE_METHODS, PRECISIONS, check_device


@dataclass(frozen=True)
class MineConfig:
    """How training examples are mined from a collection with relevance judgments.

    `teacher`: None (no scores), "self" (the `model`'s q·d, SPLADE++ self-distillation) or a
    cross-encoder HF id or folder. `model` ranks for the "splade" methods and is the "self"
    teacher. `device` and `precision` are where and how both models run.
    """

    train_data: str
    method: str = "bm25"
    depth: int = 50
    teacher: str | None = None
    model: str = BUNDLED_MODEL
    max_queries: int | None = None
    seed: int = 42
    doc_max_length: int = 256
    query_max_length: int = 64
    teacher_max_length: int = 512
    batch_size: int = 32
    device: str = "cpu"
    precision: str = "fp32"
    threads: int | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        problems = []
        if self.teacher == "none":
            object.__setattr__(self, "teacher", None)
        if self.method not in MINE_METHODS:
            problems.append(f"method must be one of {', '.join(MINE_METHODS)}, not {self.method!r}")
        for name in ("depth", "doc_max_length", "query_max_length", "teacher_max_length", "batch_size"):
            if not _is_int(getattr(self, name)) or getattr(self, name) < 1:
                problems.append(f"{name} must be an integer ≥ 1")
        if self.max_queries is not None and (not _is_int(self.max_queries) or self.max_queries < 1):
            problems.append("max_queries must be an integer ≥ 1 or null")
        if self.threads is not None and (not _is_int(self.threads) or self.threads < 1):
            problems.append("threads must be an integer ≥ 1 or null")
        if self.precision not in PRECISIONS:
            problems.append(f"precision must be one of {', '.join(PRECISIONS)}")
        if (device_problem := check_device(self.device)) is not None:
            problems.append(device_problem)
        for name in ("train_data", "model"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                problems.append(f"{name} must be a non-empty string")
        if self.teacher is not None and (not isinstance(self.teacher, str) or not self.teacher):
            problems.append("teacher must be null, 'self' or a cross-encoder id or folder")
        if problems:
            raise SpladeError("invalid mining settings: " + "; ".join(problems))

    @property
    def uses_model(self) -> bool:
        """Whether the SPLADE `model` runs: to rank ("splade" methods) or as the "self" teacher."""
        return "splade" in self.method or self.teacher == "self"

    def header(self) -> dict[str, Any]:
        """What defines a mined examples file (the header of the file, less its example count)."""
        return {
            "train_data": self.train_data,
            "method": self.method,
            "depth": self.depth,
            "teacher": self.teacher,
            "model": self.model if self.uses_model else None,
            "max_queries": self.max_queries,
            "seed": self.seed if self.max_queries is not None else None,
            "doc_max_length": self.doc_max_length if self.uses_model else None,
            "query_max_length": self.query_max_length if self.uses_model else None,
            "teacher_max_length": self.teacher_max_length if self.teacher not in (None, "self") else None,
            "precision": self.precision if self.uses_model or self.teacher is not None else None,
        }

    def replace(self, **changes: Any) -> MineConfig:
        return dataclasses.replace(self, **changes)


def default_teacher(teacher: str | None, loss: str) -> str | None:
    """The teacher a study mines with: the one configured, else "self" when the training loss
    distils (it needs a teacher score for every positive and negative), else none."""
    if teacher not in (None, "none"):
        return teacher
    return "self" if loss in DISTILLATION_LOSSES and teacher is None else None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
