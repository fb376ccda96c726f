"""SPLADE encoders: a masked-LM head, log(1+ReLU), and pooling over tokens."""

from .encoder import POOLINGS, Splade, SpladeEncoder, splade_pool

__all__ = ["POOLINGS", "Splade", "SpladeEncoder", "splade_pool"]
