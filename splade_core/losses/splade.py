"""The SPLADE training objective as one unit: a ranking loss plus the sparsity regularizers of
queries and documents, weighted by λ schedules (Formal et al., "SPLADE", SIGIR 2021, eq. 5:
L = L_rank + λq·L_reg(q) + λd·L_reg(d), λ warmed up quadratically; SPLADE++, SIGIR 2022, for
distillation losses; as sentence-transformers' SpladeLoss wraps them).

`forward(scores, queries, docs) -> (loss, parts)`; `step()` after each optimizer step moves the
λ schedules on; `schedule_state_dict()` checkpoints them. A new loss is a new entry of
`RANKING_LOSSES` reading `Scores`: the training loop does not change.
"""

from __future__ import annotations

import torch
from torch import nn

from .. import registry
from ..registry import DISTILLATION_LOSSES
from .contrastive import InBatchContrastiveLoss
from .kl import KLDistillationLoss
from .margin_mse import MarginMSELoss
from .regularizers import make_regularizer
from .scores import Scores
from .warmup import QuadraticWarmup

# The loss of each name in registry.RANKING_LOSSES (contrastive, margin_mse, kl), in that order.
RANKING_LOSSES = dict(zip(registry.RANKING_LOSSES, (InBatchContrastiveLoss, MarginMSELoss, KLDistillationLoss)))


class SpladeLoss(nn.Module):
    """L = ranking(scores) + λq(t)·reg_q(queries) + λd(t)·reg_d(docs).

    `queries` and `docs` are the vectors the regularizers see (in distributed training, the
    gathered batch, as FLOPS needs); `queries=None` leaves queries unregularized (an
    inference-free query side has no weights to learn).
    """

    def __init__(self, loss: str, reg_q: str, reg_d: str, lambda_q: float, lambda_d: float, warmup_steps: int):
        super().__init__()
        if loss not in RANKING_LOSSES:
            raise ValueError(f"loss must be one of {sorted(RANKING_LOSSES)}, not {loss!r}")
        self.name = loss
        self.ranking = RANKING_LOSSES[loss]()
        self.reg_q, self.reg_d = make_regularizer(reg_q), make_regularizer(reg_d)
        self.lambda_q = QuadraticWarmup(lambda_q, warmup_steps)
        self.lambda_d = QuadraticWarmup(lambda_d, warmup_steps)

    @property
    def needs_teacher_scores(self) -> bool:
        return self.name in DISTILLATION_LOSSES

    @property
    def weights(self) -> tuple[float, float]:
        """(λq, λd) of the coming step."""
        return self.lambda_q.value, self.lambda_d.value

    def forward(
        self, scores: Scores, queries: torch.Tensor | None, docs: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        lambda_q, lambda_d = self.weights
        rank_loss = self.ranking(scores)
        reg_q = torch.zeros((), device=docs.device) if queries is None else self.reg_q(queries)
        reg_d = self.reg_d(docs)
        loss = rank_loss + lambda_q * reg_q + lambda_d * reg_d
        return loss, {"rank_loss": rank_loss, "reg_q": reg_q, "reg_d": reg_d}

    def step(self) -> None:
        self.lambda_q.step()
        self.lambda_d.step()

    def schedule_state_dict(self) -> dict:
        return {"lambda_q": self.lambda_q.state_dict(), "lambda_d": self.lambda_d.state_dict()}

    def load_schedule_state_dict(self, state: dict) -> None:
        self.lambda_q.load_state_dict(state["lambda_q"])
        self.lambda_d.load_state_dict(state["lambda_d"])
