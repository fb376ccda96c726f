"""SPLADE encoders: a masked-LM head, log(1+ReLU), and pooling over tokens."""

from .encoder import BUNDLED_MODELS, POOLINGS, Splade, SpladeEncoder, resolve_model
from .pooling import splade_pool

__all__ = ["BUNDLED_MODELS", "POOLINGS", "Splade", "SpladeEncoder", "resolve_model", "splade_pool"]
