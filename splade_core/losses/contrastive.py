"""Contrastive loss with in-batch negatives and each query's own hard negatives.

SPLADE v2 (Formal et al., "SPLADE v2: Sparse Lexical and Expansion Model for Information
Retrieval", arXiv:2109.10086, 2021), `InBatchPairwiseNLL` in naver/splade: the negative
log-likelihood of the positive document among the positives of every query in the batch and
the query's own BM25 hard negative; here generalised to n hard negatives per query.
"""

from __future__ import annotations

import torch
from torch import nn


class InBatchContrastiveLoss(nn.Module):
    """mean_i −log softmax([q_i·p_j for all j in batch] ++ [q_i·n_ik for k ≤ n])[target_i].

    `in_batch_scores` [B, P]: query i against every positive of the (possibly gathered) batch;
    `negative_scores` [B, n]: query i against its own hard negatives (n may be 0);
    `targets` [B]: the column of query i's own positive in `in_batch_scores`.
    """

    def forward(
        self, in_batch_scores: torch.Tensor, negative_scores: torch.Tensor, targets: torch.Tensor
    ) -> torch.Tensor:
        if in_batch_scores.ndim != 2 or negative_scores.ndim != 2 or len(negative_scores) != len(in_batch_scores):
            raise ValueError(
                f"expected in-batch scores [B, P] and negative scores [B, n], got "
                f"{tuple(in_batch_scores.shape)} and {tuple(negative_scores.shape)}"
            )
        scores = torch.cat([in_batch_scores, negative_scores], dim=1)
        return nn.functional.cross_entropy(scores, targets)
