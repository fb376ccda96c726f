"""Sparsity regularizers on SPLADE vectors [N, vocab] (one per query or document)."""

from __future__ import annotations

import torch
from torch import nn

from .. import registry


class FlopsRegularizer(nn.Module):
    """FLOPS = Σ_j (mean_i |w_ij|)² (Paria et al., "Minimizing FLOPs to Learn Efficient Sparse
    Representations", ICLR 2020; used by SPLADE, Formal et al. 2021).

    A smooth estimate of the number of multiply-adds a query–document dot product costs: it
    pushes down terms that are frequent across the batch more than rare ones. Compute it on the
    largest batch available (in distributed training, the gathered one).
    """

    def forward(self, weights: torch.Tensor) -> torch.Tensor:
        return (weights.abs().mean(dim=0) ** 2).sum()


class L1Regularizer(nn.Module):
    """L1 = mean_i Σ_j |w_ij| (Tibshirani 1996; the query regularizer of SPLADE v2's
    document-expansion variants): every weight is pushed down alike.
    """

    def forward(self, weights: torch.Tensor) -> torch.Tensor:
        return weights.abs().sum(dim=1).mean()


# The regularizer of each name in registry.REGULARIZERS (flops, l1), in that order.
REGULARIZERS = dict(zip(registry.REGULARIZERS, (FlopsRegularizer, L1Regularizer)))


def make_regularizer(name: str) -> nn.Module:
    if name not in REGULARIZERS:
        raise ValueError(f"regularizer must be one of {sorted(REGULARIZERS)}, not {name!r}")
    return REGULARIZERS[name]()
