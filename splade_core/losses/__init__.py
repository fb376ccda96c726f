"""Ranking losses and sparsity regularizers for training SPLADE models.

Ranking losses take scores (query-document dot products) and, for distillation, a teacher's
scores for the same pairs; regularizers take the vectors themselves. Each is one small unit
with its paper in the docstring.
"""

from .. import registry
from ..registry import DISTILLATION_LOSSES
from .contrastive import InBatchContrastiveLoss
from .kl import KLDistillationLoss
from .margin_mse import MarginMSELoss
from .regularizers import REGULARIZERS, FlopsRegularizer, L1Regularizer, make_regularizer
from .warmup import QuadraticWarmup

# The loss of each name in registry.RANKING_LOSSES (contrastive, margin_mse, kl), in that order.
RANKING_LOSSES = dict(zip(registry.RANKING_LOSSES, (InBatchContrastiveLoss, MarginMSELoss, KLDistillationLoss)))

__all__ = [
    "DISTILLATION_LOSSES",
    "REGULARIZERS",
    "RANKING_LOSSES",
    "FlopsRegularizer",
    "InBatchContrastiveLoss",
    "KLDistillationLoss",
    "L1Regularizer",
    "MarginMSELoss",
    "QuadraticWarmup",
    "make_regularizer",
]
