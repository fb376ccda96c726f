"""FLOPS and L1 regularizers and the quadratic λ warm-up, against hand-computed values."""

import pytest
import torch

from splade_core.losses import FlopsRegularizer, L1Regularizer, QuadraticWarmup, make_regularizer


def test_flops():
    weights = torch.tensor([[1.0, 0.0, 2.0], [3.0, 0.0, 0.0]])
    # Column means of |w|: 2, 0, 1 → 4 + 0 + 1.
    assert FlopsRegularizer()(weights).item() == pytest.approx(5.0)


def test_flops_uses_absolute_values_and_prefers_spread_terms():
    assert FlopsRegularizer()(torch.tensor([[-1.0, 0.0], [-1.0, 0.0]])).item() == pytest.approx(1.0)
    # Same L1 mass, but on distinct terms: FLOPS is lower.
    assert FlopsRegularizer()(torch.tensor([[1.0, 0.0], [0.0, 1.0]])).item() == pytest.approx(0.5)


def test_l1():
    weights = torch.tensor([[1.0, 0.0, 2.0], [-3.0, 0.0, 0.0]])
    assert L1Regularizer()(weights).item() == pytest.approx(3.0)


def test_regularizer_gradients():
    weights = torch.tensor([[1.0, 2.0], [3.0, 0.0]], requires_grad=True)
    FlopsRegularizer()(weights).backward()
    # d/dw_ij Σ_j (mean_i |w_ij|)² = 2 · mean_j · sign(w_ij) / N, and |w| has no slope at 0.
    assert torch.allclose(weights.grad, torch.tensor([[2.0, 1.0], [2.0, 0.0]]))


def test_make_regularizer():
    assert isinstance(make_regularizer("flops"), FlopsRegularizer)
    assert isinstance(make_regularizer("l1"), L1Regularizer)
    with pytest.raises(ValueError, match="one of"):
        make_regularizer("l2")


def test_quadratic_warmup_at_0_half_full_and_after():
    warmup = QuadraticWarmup(0.5, 100)
    assert warmup.at(0) == 0.0
    assert warmup.at(50) == pytest.approx(0.5 * 0.25)
    assert warmup.at(100) == pytest.approx(0.5)
    assert warmup.at(200) == pytest.approx(0.5)


def test_quadratic_warmup_steps_and_state():
    warmup = QuadraticWarmup(0.2, 4)
    values = []
    for _ in range(6):
        values.append(warmup.value)
        warmup.step()
    assert values == pytest.approx([0.0, 0.2 / 16, 0.2 / 4, 0.2 * 9 / 16, 0.2, 0.2])
    restored = QuadraticWarmup(0.0, 0)
    restored.load_state_dict(warmup.state_dict())
    assert restored.value == warmup.value and restored.steps == 6


def test_quadratic_warmup_without_warmup_and_invalid():
    assert QuadraticWarmup(0.3, 0).value == 0.3
    with pytest.raises(ValueError):
        QuadraticWarmup(-1.0, 10)
