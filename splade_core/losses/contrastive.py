"""Contrastive loss with in-batch negatives and each query's own hard negatives.

SPLADE v2 (Formal et al., "SPLADE v2: Sparse Lexical and Expansion Model for Information
Retrieval", arXiv:2109.10086, 2021), `InBatchPairwiseNLL` in naver/splade: the negative
log-likelihood of the positive document among the positives of every query in the batch and
the query's own BM25 hard negative; here generalised to n hard negatives per query.
"""

from __future__ import annotations

import torch
from torch import nn

from .scores import Scores


class InBatchContrastiveLoss(nn.Module):
    """mean_i −log softmax([q_i·p_j for all j in batch] ++ [q_i·n_ik for k ≤ n])[target_i].

    Reads `Scores.in_batch` [B, P] (query i against every positive of the possibly gathered
    batch), `Scores.negative` [B, n] (its own hard negatives; n may be 0) and `Scores.targets`
    [B] (the column of query i's own positive in `in_batch`).
    """

    def forward(self, scores: Scores) -> torch.Tensor:
        if scores.in_batch is None or scores.targets is None:
            raise ValueError("the contrastive loss needs in-batch scores and their targets")
        in_batch_scores, negative_scores, targets = scores.in_batch, scores.negative, scores.targets
        if in_batch_scores.ndim != 2 or negative_scores.ndim != 2 or len(negative_scores) != len(in_batch_scores):
            raise ValueError(
                f"expected in-batch scores [B, P] and negative scores [B, n], got "
                f"{tuple(in_batch_scores.shape)} and {tuple(negative_scores.shape)}"
            )
        scores = torch.cat([in_batch_scores, negative_scores], dim=1)
        return nn.functional.cross_entropy(scores, targets)
