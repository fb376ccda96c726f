"""Which model made a vector file: a fingerprint of its weights and pooling, the same wherever
the model was loaded from (a hub id, a local copy, `bundled/<name>`), so that queries and
documents encoded by different models are told apart even when their vocabularies agree."""

from __future__ import annotations

import hashlib

import torch
from torch import nn

from ..registry import FINGERPRINT_KEY  # noqa: F401  (where vector files' meta records it)


def fingerprint(model: nn.Module, pooling: str) -> str:
    """`sha256:<hex>` of every parameter and persistent buffer of `model` (names, dtypes,
    shapes, bytes, in name order) and the pooling. Max lengths are settings, not the model,
    and stay out. Costs one read of the weights (~0.3 s for BERT-base on a CPU)."""
    digest = hashlib.sha256(f"pooling={pooling}\n".encode())
    for name, tensor in sorted(model.state_dict().items()):
        tensor = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}\n".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy())
    return f"sha256:{digest.hexdigest()}"
