"""The SPLADE training objective (`SpladeLoss`): ranking losses and sparsity regularizers.

Ranking losses read one `Scores` record (query-document dot products and, for distillation, a
teacher's scores of the same pairs); regularizers take the vectors themselves; `SpladeLoss`
weights them with their λ schedules. Each is one small unit with its paper in the docstring.
"""

from ..registry import DISTILLATION_LOSSES
from .contrastive import InBatchContrastiveLoss
from .kl import KLDistillationLoss
from .margin_mse import MarginMSELoss
from .regularizers import REGULARIZERS, FlopsRegularizer, L1Regularizer, make_regularizer
from .scores import Scores
from .splade import RANKING_LOSSES, SpladeLoss
from .warmup import QuadraticWarmup

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
    "Scores",
    "SpladeLoss",
    "make_regularizer",
]
