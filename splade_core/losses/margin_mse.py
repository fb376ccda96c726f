"""MarginMSE distillation (Hofstätter et al., "Improving Efficient Neural Ranking Models with
Cross-Architecture Knowledge Distillation", arXiv:2010.02666, 2020), as SPLADE++ uses it
(Formal et al., "From Distillation to Hard Negative Sampling", SIGIR 2022).
"""

from __future__ import annotations

import torch
from torch import nn


class MarginMSELoss(nn.Module):
    """mean_{i,k} ((s⁺_i − s⁻_ik) − (t⁺_i − t⁻_ik))²: the student copies the teacher's margins.

    `positive_scores` [B] and `negative_scores` [B, n] are the student's; `teacher_positive`
    [B] and `teacher_negative` [B, n] the teacher's scores for the same pairs.
    """

    def forward(
        self,
        positive_scores: torch.Tensor,
        negative_scores: torch.Tensor,
        teacher_positive: torch.Tensor,
        teacher_negative: torch.Tensor,
    ) -> torch.Tensor:
        student_margin = positive_scores.unsqueeze(1) - negative_scores
        teacher_margin = teacher_positive.unsqueeze(1) - teacher_negative
        return ((student_margin - teacher_margin) ** 2).mean()
