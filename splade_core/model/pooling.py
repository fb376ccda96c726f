"""SPLADE pooling (Formal et al., "SPLADE: Sparse Lexical and Expansion Model for First Stage
Ranking", SIGIR 2021; "SPLADE v2", 2021): w_j = pool_i log(1 + ReLU(logit_ij)) over the real
(non-padding) tokens i of a text, max pooling (v2 and later) or sum pooling (v1). The one
place where the vocabulary projection is pooled, for inference and for training.

The projection dominates the cost (vocab × hidden multiply-adds per token). `splade_pool` is
the reference on full MLM logits [batch, tokens, vocab]; the fast paths never build that
tensor: they project one text's real tokens a vocabulary chunk at a time (`vocabulary_chunks`)
and reduce over tokens at once, so padding costs nothing and logits stay in cache.

- `pool_hidden` (inference): max or sum pooling, equal to `splade_pool` up to float rounding.
- `training_vectors` (training): with max pooling only one token per (text, term) receives
  gradient, the arg-max when its logit is positive, so the backward pass needs just the
  pooled maxima and their arg-max positions (`_MaxPooledProjection`): a few hundred active
  pairs per text instead of tokens × vocab. Its gradient equals autograd's except where two
  tokens tie exactly for a maximum (autograd splits the gradient, this gives it to the first).
  Sum pooling, where every token gets gradient, goes through the full logits.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from ..registry import POOLINGS

# Vocabulary rows projected at once: (chunk × tokens) logits stay in cache.
PROJECTION_CHUNK = 2048


def splade_pool(logits: torch.Tensor, attention_mask: torch.Tensor, pooling: str = "max") -> torch.Tensor:
    """Reference pooling of full MLM logits [batch, tokens, vocab] → [batch, vocab]."""
    weights = torch.log1p(torch.relu(logits)) * attention_mask.unsqueeze(-1).to(logits.dtype)
    if pooling == "max":
        return weights.amax(dim=1)
    if pooling == "sum":
        return weights.sum(dim=1)
    raise ValueError(f"pooling must be one of {POOLINGS}, not {pooling!r}")


def hidden_states(mlm: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Hidden states just before the MLM head's vocabulary projection [batch, tokens, hidden]."""
    with _projection_skipped(mlm):
        return mlm(input_ids=input_ids, attention_mask=attention_mask).logits


def projection_of(mlm: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """The vocabulary projection's weight [vocab, hidden] and bias [vocab] (zeros if it has none)."""
    projection = mlm.get_output_embeddings()
    weight = projection.weight
    bias = projection.bias
    if bias is None:
        bias = torch.zeros(weight.shape[0], dtype=weight.dtype, device=weight.device)
    return weight, bias


def vocabulary_chunks(
    tokens: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor
) -> Iterator[tuple[int, int, torch.Tensor]]:
    """(start, stop, logits [chunk, tokens]) of one text's real tokens [tokens, hidden]."""
    tokens_t = tokens.T.contiguous()
    for start, stop in chunk_ranges(weight.shape[0]):
        yield start, stop, torch.addmm(bias[start:stop, None], weight[start:stop], tokens_t)


def chunk_ranges(vocab_size: int) -> Iterator[tuple[int, int]]:
    """[start, stop) of each block of PROJECTION_CHUNK vocabulary rows."""
    for start in range(0, vocab_size, PROJECTION_CHUNK):
        yield start, min(start + PROJECTION_CHUNK, vocab_size)


def pool_hidden(
    hidden: torch.Tensor, attention_mask: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, pooling: str
) -> torch.Tensor:
    """Inference vectors [batch, vocab] from hidden states, without the full logits."""
    out = torch.empty(len(hidden), weight.shape[0], dtype=weight.dtype, device=weight.device)
    for row in range(len(hidden)):
        # Real tokens only: the mask need not be a prefix (left padding), so select them.
        for start, stop, logits in vocabulary_chunks(hidden[row][attention_mask[row].bool()], weight, bias):
            if pooling == "max":
                out[row, start:stop] = logits.amax(dim=1)
            else:
                out[row, start:stop] = torch.log1p(torch.relu(logits)).sum(dim=1)
    return torch.log1p(torch.relu(out)) if pooling == "max" else out


class _MaxPooledProjection(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden: torch.Tensor, attention_mask: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor):
        batch, tokens, _ = hidden.shape
        vocab = weight.shape[0]
        compute_dtype = hidden.dtype
        weight_c, bias_c = weight.to(compute_dtype), bias.to(compute_dtype)
        maxima = torch.empty(batch, vocab, dtype=torch.float32, device=hidden.device)
        argmax = torch.empty(batch, vocab, dtype=torch.long, device=hidden.device)
        mask = attention_mask.bool()
        if hidden.is_cuda:
            _max_pool_padded(hidden, mask, weight_c, bias_c, maxima, argmax)
        else:
            _max_pool_per_text(hidden, mask, weight_c, bias_c, maxima, argmax)
        ctx.save_for_backward(hidden, weight, maxima, argmax)
        ctx.tokens = tokens
        return torch.log1p(torch.relu(maxima))

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        hidden, weight, maxima, argmax = ctx.saved_tensors
        rows, terms = torch.nonzero(maxima > 0, as_tuple=True)
        # d log(1 + relu(x)) / dx = 1 / (1 + x) where x > 0, else 0.
        grad = grad_output[rows, terms].float() / (1.0 + maxima[rows, terms])
        flat_tokens = rows * ctx.tokens + argmax[rows, terms]
        hidden_flat = hidden.reshape(-1, hidden.shape[-1])
        grad_hidden = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_hidden = torch.zeros(hidden_flat.shape, dtype=torch.float32, device=hidden.device)
            grad_hidden.index_add_(0, flat_tokens, grad[:, None] * weight[terms].float())
            grad_hidden = grad_hidden.reshape(hidden.shape).to(hidden.dtype)
        if ctx.needs_input_grad[2]:
            grad_weight = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device)
            grad_weight.index_add_(0, terms, grad[:, None] * hidden_flat[flat_tokens].float())
            grad_weight = grad_weight.to(weight.dtype)
        if ctx.needs_input_grad[3]:
            grad_bias = torch.zeros(weight.shape[0], dtype=torch.float32, device=weight.device)
            grad_bias.index_add_(0, terms, grad)
        return grad_hidden, None, grad_weight, grad_bias


def _max_pool_per_text(hidden, mask, weight, bias, maxima, argmax) -> None:
    """CPU: each text's real tokens only, so padding costs nothing (as `encode_dense`)."""
    for row in range(hidden.shape[0]):
        positions = torch.nonzero(mask[row]).reshape(-1)
        if len(positions) == 0:
            maxima[row] = 0.0
            argmax[row] = 0
            continue
        for start, stop, logits in vocabulary_chunks(hidden[row, positions], weight, bias):
            values, where = logits.max(dim=1)
            maxima[row, start:stop] = values.float()
            argmax[row, start:stop] = positions[where]


def _max_pool_padded(hidden, mask, weight, bias, maxima, argmax) -> None:
    """GPU: the whole padded batch per vocabulary chunk (few large kernels), padding masked."""
    padding = ~mask[:, :, None]
    for start, stop in chunk_ranges(weight.shape[0]):
        logits = torch.matmul(hidden, weight[start:stop].T) + bias[start:stop]
        values, where = logits.masked_fill(padding, float("-inf")).max(dim=1)
        maxima[:, start:stop] = values.float()
        argmax[:, start:stop] = where
    empty = ~mask.any(dim=1)
    maxima[empty] = 0.0
    argmax[empty] = 0


def max_pooled_projection(
    hidden: torch.Tensor, attention_mask: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
) -> torch.Tensor:
    """log(1 + ReLU(max over real tokens of hidden·Wᵀ + b)) → [batch, vocab], float32."""
    if bias is None:
        bias = torch.zeros(weight.shape[0], dtype=weight.dtype, device=weight.device)
    return _MaxPooledProjection.apply(hidden, attention_mask, weight, bias)


def training_vectors(encoder, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Differentiable SPLADE vectors [batch, vocab] of a `SpladeEncoder`: the sparse-gradient
    path for max pooling, `SpladeEncoder.forward` (full logits) for sum pooling."""
    if encoder.pooling != "max":
        return encoder(input_ids, attention_mask).float()
    hidden = hidden_states(encoder.mlm, input_ids, attention_mask)
    return max_pooled_projection(hidden, attention_mask, *projection_of(encoder.mlm))


@contextlib.contextmanager
def _projection_skipped(mlm: nn.Module) -> Iterator[None]:
    """Make the MLM head stop before its vocabulary projection (its output = its input)."""
    projection = mlm.get_output_embeddings()
    projection.forward = lambda hidden: hidden
    try:
        yield
    finally:
        del projection.forward
