"""Ranking losses against values computed by hand on tiny tensors."""

import math

import pytest
import torch

from splade_core.losses import InBatchContrastiveLoss, KLDistillationLoss, MarginMSELoss


def test_contrastive_in_batch_plus_own_negative():
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    positives = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    negatives = torch.tensor([[[1.0, 1.0]], [[0.0, 0.0]]])  # one per query
    in_batch = q @ positives.T  # [[2, 0], [0, 1]]
    negative_scores = torch.einsum("bv,bnv->bn", q, negatives)  # [[1], [0]]
    loss = InBatchContrastiveLoss()(in_batch, negative_scores, torch.tensor([0, 1]))
    # Row 0 candidates (2, 0, 1), target 2; row 1 candidates (0, 1, 0), target 1.
    expected = ((math.log(math.e**2 + 1 + math.e) - 2) + (math.log(1 + math.e + 1) - 1)) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_contrastive_several_negatives_and_targets_offset():
    # One query, a gathered batch of 3 positives (its own is column 2), two hard negatives.
    in_batch = torch.tensor([[0.5, 1.0, 3.0]])
    negative_scores = torch.tensor([[2.0, -1.0]])
    loss = InBatchContrastiveLoss()(in_batch, negative_scores, torch.tensor([2]))
    denominator = sum(math.exp(s) for s in (0.5, 1.0, 3.0, 2.0, -1.0))
    assert loss.item() == pytest.approx(math.log(denominator) - 3.0, rel=1e-6)


def test_contrastive_without_hard_negatives_is_in_batch_softmax():
    in_batch = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    loss = InBatchContrastiveLoss()(in_batch, torch.zeros(2, 0), torch.tensor([0, 1]))
    assert loss.item() == pytest.approx(math.log(1 + math.e) - 1, rel=1e-6)


def test_contrastive_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="in-batch scores"):
        InBatchContrastiveLoss()(torch.zeros(2, 2), torch.zeros(3, 1), torch.tensor([0, 1]))


def test_margin_mse():
    student_pos = torch.tensor([3.0, 1.0])
    student_neg = torch.tensor([[1.0, 2.0], [0.0, 1.0]])
    teacher_pos = torch.tensor([2.0, 0.0])
    teacher_neg = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    # Student margins [[2, 1], [1, 0]], teacher margins [[1, 1], [-1, 0]]: errors 1, 0, 2, 0.
    loss = MarginMSELoss()(student_pos, student_neg, teacher_pos, teacher_neg)
    assert loss.item() == pytest.approx((1 + 0 + 4 + 0) / 4)


def test_margin_mse_is_shift_invariant_and_zero_on_equal_margins():
    student_pos, student_neg = torch.tensor([5.0]), torch.tensor([[2.0, 1.0]])
    loss = MarginMSELoss()(student_pos, student_neg, student_pos + 10, student_neg + 10)
    assert loss.item() == 0.0


def test_kl_distillation():
    # Student uniform over (positive, negative); teacher 3:1.
    loss = KLDistillationLoss()(
        torch.tensor([0.0]), torch.tensor([[0.0]]), torch.tensor([math.log(3.0)]), torch.tensor([[0.0]])
    )
    expected = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_kl_distillation_averages_over_queries_and_vanishes_when_equal():
    student_pos, student_neg = torch.tensor([1.0, 2.0]), torch.tensor([[0.0, 3.0], [1.0, 1.0]])
    assert KLDistillationLoss()(student_pos, student_neg, student_pos + 4, student_neg + 4).item() == pytest.approx(
        0.0, abs=1e-7
    )
    one = KLDistillationLoss()(
        torch.tensor([0.0]), torch.tensor([[0.0]]), torch.tensor([math.log(3.0)]), torch.tensor([[0.0]])
    )
    two = KLDistillationLoss()(
        torch.tensor([0.0, 1.0]),
        torch.tensor([[0.0], [1.0]]),
        torch.tensor([math.log(3.0), 1.0]),
        torch.tensor([[0.0], [1.0]]),
    )
    assert two.item() == pytest.approx(one.item() / 2, rel=1e-6)
