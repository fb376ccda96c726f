"""Optimizer parameter groups and the learning-rate schedule."""

from __future__ import annotations

from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


def parameter_groups(module: nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups: weight decay on matrices, none on biases and LayerNorm weights (1-D)."""
    decay, no_decay = [], []
    for name, parameter in module.named_parameters():
        if not parameter.requires_grad:
            continue
        if parameter.ndim < 2 or "LayerNorm" in name or "layer_norm" in name:
            no_decay.append(parameter)
        else:
            decay.append(parameter)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def linear_factor(step: int, warmup_steps: int, total_steps: int) -> float:
    """LR multiplier after `step` optimizer steps: linear warm-up to 1, then linear decay to 0."""
    if step < warmup_steps:
        return step / warmup_steps
    if total_steps <= warmup_steps:
        return 1.0
    return max(0.0, (total_steps - step) / (total_steps - warmup_steps))


def linear_schedule(optimizer: Optimizer, warmup_steps: int, total_steps: int) -> LambdaLR:
    """Step it once per OPTIMIZER step (not per micro-batch under gradient accumulation)."""
    return LambdaLR(optimizer, lambda step: linear_factor(step, warmup_steps, total_steps))
