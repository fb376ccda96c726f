"""KL-divergence distillation over each query's candidates (positive and negatives), as in
Lin et al., "In-Batch Negatives for Knowledge Distillation with Tightly-Coupled Teachers for
Dense Retrieval" (RepL4NLP 2021) and SPLADE++ (Formal et al., SIGIR 2022), which trains with
KL-Div and MarginMSE.
"""

from __future__ import annotations

import torch
from torch import nn

from .scores import Scores


class KLDistillationLoss(nn.Module):
    """mean_i KL(softmax(t_i) ‖ softmax(s_i)) over the candidates [positive, negatives...].

    Reads the scores `MarginMSELoss` reads; the positive is the first candidate of each row.
    """

    def forward(self, scores: Scores) -> torch.Tensor:
        positive_scores, negative_scores = scores.positive, scores.negative
        teacher_positive, teacher_negative = scores.teacher("kl")
        student = torch.cat([positive_scores.unsqueeze(1), negative_scores], dim=1)
        teacher = torch.cat([teacher_positive.unsqueeze(1), teacher_negative], dim=1)
        return nn.functional.kl_div(
            torch.log_softmax(student, dim=1), torch.log_softmax(teacher, dim=1), reduction="batchmean", log_target=True
        )
