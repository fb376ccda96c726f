"""The scores a ranking loss reads: one record for every loss, so that the training loop never
needs to know which loss it trains with."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Scores:
    """Scores of a batch of B queries, each with one positive and n hard negatives.

    `positive` [B] and `negative` [B, n]: the student's q·d of each query's own documents;
    `in_batch` [B, P]: each query against every positive of the (in distributed training,
    gathered) batch, its own at column `targets[i]`; `teacher_positive` [B] and
    `teacher_negative` [B, n]: a teacher's scores of the same pairs, when the examples carry them.
    """

    positive: torch.Tensor
    negative: torch.Tensor
    in_batch: torch.Tensor | None = None
    targets: torch.Tensor | None = None
    teacher_positive: torch.Tensor | None = None
    teacher_negative: torch.Tensor | None = None

    def teacher(self, loss: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(teacher_positive, teacher_negative), or ValueError naming the `loss` that needs them."""
        if self.teacher_positive is None or self.teacher_negative is None:
            raise ValueError(f"{loss} distils a teacher: the batch carries no teacher scores")
        return self.teacher_positive, self.teacher_negative
