"""Mining training examples: hard negatives by retrieval and teacher scores, as their own stage
above retrieval and encoding (`splade mine`; the workflow's mine_negatives rule). The trainer
reads the file this writes and never mines itself."""

from .config import MineConfig, default_teacher

__all__ = ["MineConfig", "default_teacher", "mine", "mine_examples", "mine_to_file"]


def __getattr__(name: str):
    """The mining functions on first use: they import the retrieval stack; the config does not."""
    if name in ("mine", "mine_examples", "mine_to_file"):
        from . import mining

        return getattr(mining, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
