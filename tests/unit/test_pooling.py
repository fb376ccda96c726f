"""Inference pooling paths: per text (CPU), batched (CUDA), and the float32 projection screened by
a bfloat16 bound, all equal to the reference pooling of the full logits."""

import pytest
import torch

from splade_core.model import splade_pool
from splade_core.model.pooling import POOLING_PATHS, VocabularyProjection, default_path, hidden_states, projection_of

TEXTS = ["Sparse retrieval with learned term weights.", "a", "BERT masked language model heads " * 20, "cells"]


def _random_batch(seed: int, batch=5, tokens=17, hidden=24, vocab=700):
    generator = torch.Generator().manual_seed(seed)
    hidden_states = torch.randn(batch, tokens, hidden, generator=generator)
    weight = torch.randn(vocab, hidden, generator=generator) / hidden**0.5
    bias = torch.randn(vocab, generator=generator) - 1.0
    mask = (torch.rand(batch, tokens, generator=generator) > 0.3).long()
    mask[0] = 0  # a text without real tokens
    mask[1, :3] = 0  # left padding: the mask need not be a prefix
    return hidden_states, mask, weight, bias


@pytest.mark.parametrize("pooling", ["max", "sum"])
@pytest.mark.parametrize("seed", range(3))
def test_batched_pooling_equals_the_per_text_result_on_cpu_tensors(pooling, seed):
    hidden, mask, weight, bias = _random_batch(seed)
    projection = VocabularyProjection(weight, bias)
    per_text = projection.pool(hidden, mask, pooling, "per-text")
    batched = projection.pool(hidden, mask, pooling, "batched")
    torch.testing.assert_close(batched, per_text, rtol=1e-5, atol=1e-5)
    reference = splade_pool(hidden @ weight.T + bias, mask, pooling)
    torch.testing.assert_close(per_text, reference, rtol=1e-5, atol=1e-5)
    assert (per_text[0] == 0).all() and (per_text >= 0).all()


def assert_same_vectors(screened: torch.Tensor, per_text: torch.Tensor, scale: float = 1.0) -> None:
    """The same non-zero terms, and weights equal up to the rounding of the matrix product
    (the screen recomputes its rows in one product of another shape: ~1e-7 of the logits' scale)."""
    assert torch.equal(screened > 0, per_text > 0)
    torch.testing.assert_close(screened, per_text, rtol=1e-5, atol=1e-6 * max(1.0, scale))


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("scale", [0.01, 1.0, 30.0])
def test_the_screened_float32_path_keeps_every_positive_term(seed, scale):
    """Logits crowded around 0 (small scale) are where a loose bound would drop a positive term."""
    hidden, mask, weight, bias = _random_batch(seed, vocab=3000)
    projection = VocabularyProjection(weight * scale, bias * scale)
    screened = projection.pool(hidden, mask, "max", "screened")
    assert_same_vectors(screened, projection.pool(hidden, mask, "max", "per-text"), scale)
    assert 0 < (screened > 0).float().mean() < 1


def test_the_screened_path_on_a_real_model_equals_per_text(splade_tiny):
    encoder = splade_tiny.doc_encoder
    inputs = encoder.tokenize(TEXTS)
    with torch.inference_mode():
        hidden = hidden_states(encoder.mlm, inputs["input_ids"], inputs["attention_mask"])
    projection = VocabularyProjection(*projection_of(encoder.mlm))
    results = {path: projection.pool(hidden, inputs["attention_mask"], "max", path) for path in POOLING_PATHS}
    assert_same_vectors(results["screened"], results["per-text"])
    torch.testing.assert_close(results["batched"], results["per-text"], rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="screened path computes float32 max pooling"):
        projection.pool(hidden, inputs["attention_mask"], "sum", "screened")


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_low_precision_paths_agree_and_stay_near_float32(splade_tiny, precision):
    encoder = splade_tiny.doc_encoder
    inputs = encoder.tokenize(TEXTS[:2], max_length=16)
    with torch.inference_mode():
        hidden = hidden_states(encoder.mlm, inputs["input_ids"], inputs["attention_mask"])
    exact = VocabularyProjection(*projection_of(encoder.mlm)).pool(hidden, inputs["attention_mask"], "max")
    low = VocabularyProjection(*projection_of(encoder.mlm), precision)
    per_text = low.pool(hidden, inputs["attention_mask"], "max", "per-text")
    batched = low.pool(hidden, inputs["attention_mask"], "max", "batched")
    assert per_text.dtype == batched.dtype == torch.float32
    torch.testing.assert_close(batched, per_text, rtol=2e-2, atol=2e-2)
    assert (per_text - exact).abs().max() < 0.25


def test_each_device_takes_its_fast_path():
    assert default_path(torch.device("cuda"), "fp32", "max") == "batched"
    assert default_path(torch.device("cpu"), "bf16", "max") == "per-text"
    assert default_path(torch.device("cpu"), "fp32", "sum") == "per-text"
    assert default_path(torch.device("cpu"), "fp32", "max") in ("screened", "per-text")  # native bf16 or not
