"""Training SPLADE models: config, loop, checkpoints, and the `train` / `mine` CLI verbs."""

from ..registry import INFERENCE_FREE_KEY
from .config import TrainConfig, load_config

__all__ = ["INFERENCE_FREE_KEY", "TrainConfig", "load_config", "train"]


def __getattr__(name: str):
    """`train` on first use: the loop imports torch, the config alone does not."""
    if name == "train":
        from .loop import train

        return train
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
