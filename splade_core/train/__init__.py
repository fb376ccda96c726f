"""Training SPLADE models: config, loop, checkpoints, and the `train` / `mine` CLI verbs."""

from .config import TrainConfig, load_config
from .loop import train
from .model import INFERENCE_FREE_KEY

__all__ = ["INFERENCE_FREE_KEY", "TrainConfig", "load_config", "train"]
