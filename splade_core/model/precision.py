"""Numeric precision of a model run (`registry.PRECISIONS`): fp32, or bf16 / fp16 autocast (matrix
products in the low-precision type, reductions and normalisations in float32, as torch.autocast
chooses per operation)."""

from __future__ import annotations

import contextlib

import torch

from ..registry import PRECISIONS

DTYPES = dict(zip(PRECISIONS, (torch.float32, torch.bfloat16, torch.float16)))


def autocast(device: torch.device | str, precision: str) -> contextlib.AbstractContextManager:
    """torch.autocast at `precision` for `device`'s type; nothing for fp32."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=DTYPES[precision])


def allow_tf32(device: torch.device | str) -> None:
    """Let float32 matrix products on a CUDA `device` use TensorFloat-32 (10-bit mantissa inputs,
    float32 accumulation; Ampere and later): several times faster, about fp16's input precision.
    Process-wide; nothing on other devices."""
    if torch.device(device).type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
