"""MarginMSE distillation (Hofstätter et al., "Improving Efficient Neural Ranking Models with
Cross-Architecture Knowledge Distillation", arXiv:2010.02666, 2020), as SPLADE++ uses it
(Formal et al., "From Distillation to Hard Negative Sampling", SIGIR 2022).
"""

from __future__ import annotations

import torch
from torch import nn

from .scores import Scores


class MarginMSELoss(nn.Module):
    """mean_{i,k} ((s⁺_i − s⁻_ik) − (t⁺_i − t⁻_ik))²: the student copies the teacher's margins.

    Reads `Scores.positive` [B] and `Scores.negative` [B, n], the student's, and the teacher's
    scores of the same pairs, `Scores.teacher_positive` [B] and `Scores.teacher_negative` [B, n].
    """

    def forward(self, scores: Scores) -> torch.Tensor:
        positive_scores, negative_scores = scores.positive, scores.negative
        teacher_positive, teacher_negative = scores.teacher("margin_mse")
        student_margin = positive_scores.unsqueeze(1) - negative_scores
        teacher_margin = teacher_positive.unsqueeze(1) - teacher_negative
        return ((student_margin - teacher_margin) ** 2).mean()
