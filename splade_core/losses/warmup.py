"""Quadratic warm-up of a regularization weight, as SPLADE does (Formal et al., SIGIR 2021:
"we found it beneficial to increase λ quadratically over the first steps"; SPLADE++ used
T = 50k of 150k steps).
"""

from __future__ import annotations


class QuadraticWarmup:
    """λ(t) = λ · min(1, t / T)², where t counts optimizer steps taken so far (0 at the first).

    Stateful like an LR scheduler: `value` is the weight for the coming step, `step()` moves
    on after an optimizer step, and `state_dict()` / `load_state_dict()` checkpoint it.
    """

    def __init__(self, weight: float, warmup_steps: int):
        if weight < 0:
            raise ValueError(f"regularization weight must be ≥ 0 (got {weight})")
        if warmup_steps < 0:
            raise ValueError(f"warm-up steps must be ≥ 0 (got {warmup_steps})")
        self.weight = float(weight)
        self.warmup_steps = int(warmup_steps)
        self.steps = 0

    def at(self, step: int) -> float:
        if self.warmup_steps == 0:
            return self.weight
        return self.weight * min(1.0, step / self.warmup_steps) ** 2

    @property
    def value(self) -> float:
        return self.at(self.steps)

    def step(self) -> None:
        self.steps += 1

    def state_dict(self) -> dict:
        return {"weight": self.weight, "warmup_steps": self.warmup_steps, "steps": self.steps}

    def load_state_dict(self, state: dict) -> None:
        self.weight = float(state["weight"])
        self.warmup_steps = int(state["warmup_steps"])
        self.steps = int(state["steps"])
