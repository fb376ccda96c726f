"""Ranking losses and sparsity regularizers for training SPLADE models.

Ranking losses take scores (query-document dot products) and, for distillation, a teacher's
scores for the same pairs; regularizers take the vectors themselves. Each is one small unit
with its paper in the docstring.
"""

from .contrastive import InBatchContrastiveLoss
from .kl import KLDistillationLoss
from .margin_mse import MarginMSELoss
from .regularizers import REGULARIZERS, FlopsRegularizer, L1Regularizer, make_regularizer
from .warmup import QuadraticWarmup

RANKING_LOSSES = {
    "contrastive": InBatchContrastiveLoss,
    "margin_mse": MarginMSELoss,
    "kl": KLDistillationLoss,
}
# Losses that need a teacher score for the positive and every negative of an example.
DISTILLATION_LOSSES = ("margin_mse", "kl")

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
