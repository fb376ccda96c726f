"""SPLADE pooling (Formal et al., "SPLADE: Sparse Lexical and Expansion Model for First Stage
Ranking", SIGIR 2021; "SPLADE v2", 2021): w_j = pool_i log(1 + ReLU(logit_ij)) over the real
(non-padding) tokens i of a text, max pooling (v2 and later) or sum pooling (v1). The one
place where the vocabulary projection is pooled, for inference and for training.

The projection dominates the cost (vocab × hidden multiply-adds per token). `splade_pool` is
the reference on full MLM logits [batch, tokens, vocab]; the fast paths never build that
tensor: they project one text's real tokens a vocabulary chunk at a time (`vocabulary_chunks`)
and reduce over tokens at once, so padding costs nothing and logits stay in cache.

- `VocabularyProjection` (inference): max or sum pooling at fp32, bf16 or fp16, equal to
  `splade_pool` up to float rounding, by the path that is fastest on the device (see
  POOLING_PATHS): per text on CPU, exact float32 screened by a bfloat16 bound where the CPU has
  native bfloat16, the padded batch per vocabulary chunk on CUDA.
- `training_vectors` (training): with max pooling only one token per (text, term) receives
  gradient, the arg-max when its logit is positive, so the backward pass needs just the
  pooled maxima and their arg-max positions (`_MaxPooledProjection`): a few hundred active
  pairs per text instead of tokens × vocab. Its gradient equals autograd's except where two
  tokens tie exactly for a maximum (autograd splits the gradient, this gives it to the first).
  Sum pooling, where every token gets gradient, goes through the full logits.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

from ..registry import POOLINGS
from .precision import DTYPES

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


def chunk_ranges(vocab_size: int, chunk: int = PROJECTION_CHUNK) -> Iterator[tuple[int, int]]:
    """[start, stop) of each block of `chunk` vocabulary rows."""
    for start in range(0, vocab_size, chunk):
        yield start, min(start + chunk, vocab_size)


def pool_hidden(
    hidden: torch.Tensor,
    attention_mask: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    pooling: str,
    precision: str = "fp32",
    path: str | None = None,
) -> torch.Tensor:
    """Inference vectors [batch, vocab] (float32) from hidden states, without the full logits:
    `VocabularyProjection` for one call."""
    return VocabularyProjection(weight, bias, precision).pool(hidden, attention_mask, pooling, path)


# Inference paths (`VocabularyProjection.pool`), all equal to `splade_pool` up to float rounding:
# - "per-text": each text's real tokens, a vocabulary chunk at a time (logits stay in cache; no
#   padding is computed). The CPU path.
# - "screened": "per-text" for max pooling in float32, computing only the vocabulary rows that
#   can be positive: a bfloat16 product bounds every logit (`_screened_row`), then the rows
#   whose bound is positive (~1.5 x the non-zeros) are computed exactly in float32. The same
#   non-zero terms as "per-text", weights equal up to the rounding of a product of another shape
#   (1e-6 relative), at ~65 % of its cost on CPUs that multiply bfloat16 natively.
# - "batched": the padded batch, a vocabulary chunk at a time (a few large kernels, no
#   per-text loop or synchronisation). The CUDA path.
POOLING_PATHS = ("per-text", "screened", "batched")
SCREEN_CHUNK = 4096  # vocabulary rows of one bfloat16 screening product
BATCHED_ELEMENTS = 1 << 26  # logits [batch, tokens, chunk] of one "batched" step
_BF16_UNIT = 2.0**-8  # unit roundoff of bfloat16 (8 significand bits)


@functools.cache
def native_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 natively (AVX512_BF16 or AMX, read from Linux's
    /proc/cpuinfo), where the bfloat16 screen costs less than the float32 rows it saves."""
    try:
        flags = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return False
    return re.search(r"\b(avx512_bf16|amx_bf16)\b", flags) is not None


def default_path(device: torch.device, precision: str, pooling: str) -> str:
    if device.type == "cuda":
        return "batched"
    if precision == "fp32" and pooling == "max" and native_bf16():
        return "screened"
    return "per-text"


class VocabularyProjection:
    """The MLM head's vocabulary projection (weight [vocab, hidden], bias [vocab]) prepared for
    inference at one precision: its weight cast to the compute type once (and, for the float32
    screen, a bfloat16 copy and its row norms), then `pool` per batch."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, precision: str = "fp32"):
        self.dtype = DTYPES[precision]
        self.weight = weight.detach().to(self.dtype)
        self.bias = bias.detach().float()
        self.exact = weight.detach().float()  # the float32 rows the screen recomputes
        self._screen: tuple[torch.Tensor, torch.Tensor] | None = None

    @classmethod
    def of(cls, mlm: nn.Module, precision: str = "fp32") -> VocabularyProjection:
        return cls(*projection_of(mlm), precision)

    @property
    def vocab_size(self) -> int:
        return self.weight.shape[0]

    def pool(self, hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: str, path: str | None = None):
        """Vectors [batch, vocab] (float32) of hidden states [batch, tokens, hidden]: max or sum
        pooling of log(1 + ReLU(logits)) over the real tokens, by `path` (default: the fast one
        for the device, precision and pooling)."""
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, not {pooling!r}")
        precision = next(name for name, dtype in DTYPES.items() if dtype == self.dtype)
        path = path or default_path(hidden.device, precision, pooling)
        if path == "batched":
            return self._batched(hidden, attention_mask.bool(), pooling)
        if path == "screened":
            if pooling != "max" or self.dtype != torch.float32:
                raise ValueError("the screened path computes float32 max pooling")
            return self._per_text(hidden, attention_mask.bool(), self._screened_row)
        if path == "per-text":
            row = self._max_row if pooling == "max" else self._sum_row
            return self._per_text(hidden, attention_mask.bool(), row)
        raise ValueError(f"path must be one of {POOLING_PATHS}, not {path!r}")

    def _per_text(self, hidden, mask, row) -> torch.Tensor:
        out = torch.zeros(len(hidden), self.vocab_size, dtype=torch.float32, device=hidden.device)
        for index in range(len(hidden)):
            tokens = hidden[index][mask[index]]  # the mask need not be a prefix (left padding)
            if len(tokens):
                out[index] = row(tokens)
        return out

    def _max_row(self, tokens: torch.Tensor) -> torch.Tensor:
        if self.dtype == torch.float32:  # the bias inside the product: the kernels the study's figures came from
            maxima = torch.cat(
                [logits.amax(dim=1) for _, _, logits in vocabulary_chunks(tokens, self.weight, self.bias)]
            )
        else:  # max(x + b) = max(x) + b: the bias added once, in float32
            maxima = self._low_precision_maxima(tokens.to(self.dtype).T.contiguous(), self.weight) + self.bias
        return torch.log1p(torch.relu(maxima))

    def _sum_row(self, tokens: torch.Tensor) -> torch.Tensor:
        bias = self.bias.to(self.dtype)
        parts = [torch.log1p(torch.relu(logits.float())).sum(dim=1)
                 for _, _, logits in vocabulary_chunks(tokens.to(self.dtype), self.weight, bias)]  # fmt: skip
        return torch.cat(parts)

    @staticmethod
    def _low_precision_maxima(tokens_t: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """max over tokens of weight · tokens_t [hidden, tokens] per vocabulary row, as float32
        (the reduction in float32: several times faster than in bfloat16 on CPU)."""
        return torch.cat([torch.mm(weight[start:stop], tokens_t).float().amax(dim=1)
                          for start, stop in chunk_ranges(weight.shape[0], SCREEN_CHUNK)])  # fmt: skip

    def _screened_row(self, tokens: torch.Tensor) -> torch.Tensor:
        """Max pooling in float32, computing only the rows that can be positive.

        For a token h and row w of hidden size K, the bfloat16 product p = fl(bf16(h)·bf16(w))
        (products exact in float32, float32 accumulation, rounded once to bfloat16) satisfies
        |h·w - p| <= (2.01u + K·2^-24)·|h||w| + 1.01u·|p| with u = 2^-8 (Higham, "Accuracy and
        Stability of Numerical Algorithms", §2-3: each input rounded with relative error <= u,
        a K-term sum's error <= K·2^-24 of the sum of |terms| <= |h||w|). Since x + 1.01u|x|
        grows with x, the row's largest logit is at most m + 1.01u|m| + s·max|h|·|w| + b for m
        the max over tokens of p and s = 2.01u + 2K·2^-24 (the second K·2^-24 and 2^-20|b|
        cover float32's own rounding of the exact logits, which decide what is > 0). Rows
        whose bound is <= 0 have a float32 maximum <= 0: weight 0.
        """
        weight_bf16, norms = self._screen_weights()
        tokens_t = tokens.T.contiguous()
        maxima = self._low_precision_maxima(tokens_t.to(torch.bfloat16), weight_bf16)
        largest = tokens.norm(dim=1).max()
        slack = 2.01 * _BF16_UNIT + 2 * tokens.shape[1] * 2.0**-24
        bound = maxima + 1.01 * _BF16_UNIT * maxima.abs() + slack * largest * norms
        bound += self.bias + 2.0**-20 * self.bias.abs()
        rows = torch.nonzero(~(bound <= 0)).reshape(-1)  # NaN bounds are kept, as float32 keeps NaN
        out = torch.zeros(self.vocab_size, dtype=torch.float32, device=tokens.device)
        out[rows] = torch.addmm(self.bias[rows, None], self.exact[rows], tokens_t).amax(dim=1)
        return torch.log1p(torch.relu(out))

    def _screen_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._screen is None:
            self._screen = (self.exact.to(torch.bfloat16), self.exact.norm(dim=1))
        return self._screen

    def _batched(self, hidden: torch.Tensor, mask: torch.Tensor, pooling: str) -> torch.Tensor:
        batch, tokens, _ = hidden.shape
        hidden = hidden.to(self.dtype)
        out = torch.empty(batch, self.vocab_size, dtype=torch.float32, device=hidden.device)
        chunk = max(256, BATCHED_ELEMENTS // max(batch * tokens, 1) // 256 * 256)
        padding = ~mask[:, :, None]
        for start, stop in chunk_ranges(self.vocab_size, chunk):
            logits = torch.matmul(hidden, self.weight[start:stop].T)  # [batch, tokens, chunk]
            if pooling == "max":
                out[:, start:stop] = (
                    logits.masked_fill_(padding, float("-inf")).amax(dim=1).float() + self.bias[start:stop]
                )
            else:
                weights = torch.log1p(torch.relu(logits.float() + self.bias[start:stop]))
                out[:, start:stop] = weights.masked_fill_(padding, 0.0).sum(dim=1)
        if pooling == "max":
            out = torch.log1p(torch.relu(out))  # a text without tokens: -inf -> 0
        return out


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
