"""Max-pooled SPLADE vectors for training, without the [batch, tokens, vocab] logits tensor.

`SpladeEncoder.forward` materialises the MLM logits (batch × tokens × 30,522 floats: 1 GB for
32 documents of 256 tokens) and autograd keeps several tensors of that size for the backward
pass. With max pooling only one token per (text, term) receives gradient — the arg-max, when
its logit is positive — so the backward pass needs just the pooled maxima and their arg-max
positions. This function computes the projection a vocabulary chunk at a time on the real
tokens only (like `encode_dense`), keeps [batch, vocab] maxima and arg-maxes, and back-propagates
through the active (text, term) pairs only: a few hundred per text instead of tokens × vocab.
The result equals `SpladeEncoder.forward` up to float rounding; its gradient equals autograd's
except where two tokens tie exactly for a maximum (autograd splits the gradient, this gives it
to the first).
"""

from __future__ import annotations

import torch

from ..model import SpladeEncoder

PROJECTION_CHUNK = 2048


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
        tokens_t = hidden[row, positions].T.contiguous()
        for start in range(0, weight.shape[0], PROJECTION_CHUNK):
            stop = start + PROJECTION_CHUNK
            logits = torch.addmm(bias[start:stop, None], weight[start:stop], tokens_t)
            values, where = logits.max(dim=1)
            maxima[row, start:stop] = values.float()
            argmax[row, start:stop] = positions[where]


def _max_pool_padded(hidden, mask, weight, bias, maxima, argmax) -> None:
    """GPU: the whole padded batch per vocabulary chunk (few large kernels), padding masked."""
    padding = ~mask[:, :, None]
    for start in range(0, weight.shape[0], PROJECTION_CHUNK):
        stop = start + PROJECTION_CHUNK
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


def training_vectors(encoder: SpladeEncoder, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Differentiable SPLADE vectors [batch, vocab]: the sparse-gradient path for max pooling,
    `SpladeEncoder.forward` (full logits) for sum pooling, where every token gets gradient."""
    if encoder.pooling != "max":
        return encoder(input_ids, attention_mask).float()
    hidden = encoder._projection_inputs(input_ids, attention_mask)
    projection = encoder.mlm.get_output_embeddings()
    return max_pooled_projection(hidden, attention_mask, projection.weight, projection.bias)
