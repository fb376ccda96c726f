"""Ranking losses against values computed by hand on tiny tensors, and the objective that
weights them with the regularizers."""

import math

import pytest
import torch

from splade_core.losses import InBatchContrastiveLoss, KLDistillationLoss, MarginMSELoss, Scores, SpladeLoss


def contrastive(in_batch, negative_scores, targets):
    """The contrastive loss reads the in-batch scores, the hard negatives' and the targets."""
    scores = Scores(torch.zeros(len(in_batch)), negative_scores, in_batch, targets)
    return InBatchContrastiveLoss()(scores)


def distilled(loss, positive, negative, teacher_positive, teacher_negative):
    """A distillation loss reads the student's and the teacher's scores of the same pairs."""
    return loss(Scores(positive, negative, teacher_positive=teacher_positive, teacher_negative=teacher_negative))


def test_contrastive_in_batch_plus_own_negative():
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    positives = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    negatives = torch.tensor([[[1.0, 1.0]], [[0.0, 0.0]]])  # one per query
    in_batch = q @ positives.T  # [[2, 0], [0, 1]]
    negative_scores = torch.einsum("bv,bnv->bn", q, negatives)  # [[1], [0]]
    loss = contrastive(in_batch, negative_scores, torch.tensor([0, 1]))
    # Row 0 candidates (2, 0, 1), target 2; row 1 candidates (0, 1, 0), target 1.
    expected = ((math.log(math.e**2 + 1 + math.e) - 2) + (math.log(1 + math.e + 1) - 1)) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_contrastive_several_negatives_and_targets_offset():
    # One query, a gathered batch of 3 positives (its own is column 2), two hard negatives.
    in_batch = torch.tensor([[0.5, 1.0, 3.0]])
    negative_scores = torch.tensor([[2.0, -1.0]])
    loss = contrastive(in_batch, negative_scores, torch.tensor([2]))
    denominator = sum(math.exp(s) for s in (0.5, 1.0, 3.0, 2.0, -1.0))
    assert loss.item() == pytest.approx(math.log(denominator) - 3.0, rel=1e-6)


def test_contrastive_without_hard_negatives_is_in_batch_softmax():
    in_batch = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    loss = contrastive(in_batch, torch.zeros(2, 0), torch.tensor([0, 1]))
    assert loss.item() == pytest.approx(math.log(1 + math.e) - 1, rel=1e-6)


def test_contrastive_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="in-batch scores"):
        contrastive(torch.zeros(2, 2), torch.zeros(3, 1), torch.tensor([0, 1]))


def test_margin_mse():
    student_pos = torch.tensor([3.0, 1.0])
    student_neg = torch.tensor([[1.0, 2.0], [0.0, 1.0]])
    teacher_pos = torch.tensor([2.0, 0.0])
    teacher_neg = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    # Student margins [[2, 1], [1, 0]], teacher margins [[1, 1], [-1, 0]]: errors 1, 0, 2, 0.
    loss = distilled(MarginMSELoss(), student_pos, student_neg, teacher_pos, teacher_neg)
    assert loss.item() == pytest.approx((1 + 0 + 4 + 0) / 4)


def test_margin_mse_is_shift_invariant_and_zero_on_equal_margins():
    student_pos, student_neg = torch.tensor([5.0]), torch.tensor([[2.0, 1.0]])
    loss = distilled(MarginMSELoss(), student_pos, student_neg, student_pos + 10, student_neg + 10)
    assert loss.item() == 0.0


def test_kl_distillation():
    # Student uniform over (positive, negative); teacher 3:1.
    loss = distilled(
        KLDistillationLoss(),
        torch.tensor([0.0]),
        torch.tensor([[0.0]]),
        torch.tensor([math.log(3.0)]),
        torch.tensor([[0.0]]),
    )
    expected = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_kl_distillation_averages_over_queries_and_vanishes_when_equal():
    student_pos, student_neg = torch.tensor([1.0, 2.0]), torch.tensor([[0.0, 3.0], [1.0, 1.0]])
    equal = distilled(KLDistillationLoss(), student_pos, student_neg, student_pos + 4, student_neg + 4)
    assert equal.item() == pytest.approx(0.0, abs=1e-7)
    one = distilled(
        KLDistillationLoss(),
        torch.tensor([0.0]),
        torch.tensor([[0.0]]),
        torch.tensor([math.log(3.0)]),
        torch.tensor([[0.0]]),
    )
    two = distilled(
        KLDistillationLoss(),
        torch.tensor([0.0, 1.0]),
        torch.tensor([[0.0], [1.0]]),
        torch.tensor([math.log(3.0), 1.0]),
        torch.tensor([[0.0], [1.0]]),
    )
    assert two.item() == pytest.approx(one.item() / 2, rel=1e-6)


def test_distillation_without_teacher_scores_names_the_loss():
    with pytest.raises(ValueError, match="margin_mse distils a teacher"):
        MarginMSELoss()(Scores(torch.zeros(2), torch.zeros(2, 1)))


def test_the_objective_weights_the_regularizers_by_their_warmed_up_lambdas():
    """L = ranking + λq(t)·FLOPS(q) + λd(t)·FLOPS(d), λ(t) = λ·min(1, t/T)²; no query term for an
    inference-free query side; the schedules step, and restore from their state."""
    objective = SpladeLoss("contrastive", "flops", "flops", lambda_q=0.5, lambda_d=2.0, warmup_steps=2)
    queries, docs = torch.tensor([[1.0, 0.0], [0.0, 3.0]]), torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    scores = Scores(torch.zeros(2), torch.zeros(2, 0), queries @ docs.T, torch.tensor([0, 1]))
    rank = contrastive(queries @ docs.T, torch.zeros(2, 0), torch.tensor([0, 1]))
    flops_q, flops_d = 0.5**2 + 1.5**2, 1.0**2 + 0.5**2  # Σ_j (mean_i |w_ij|)²
    assert objective.weights == (0.0, 0.0)
    objective.step()
    assert objective.weights == (0.5 / 4, 2.0 / 4)
    loss, parts = objective(scores, queries, docs)
    assert parts["reg_q"].item() == pytest.approx(flops_q) and parts["reg_d"].item() == pytest.approx(flops_d)
    assert loss.item() == pytest.approx(rank.item() + 0.5 / 4 * flops_q + 2.0 / 4 * flops_d)
    loss, parts = objective(scores, None, docs)
    assert parts["reg_q"].item() == 0.0 and loss.item() == pytest.approx(rank.item() + 2.0 / 4 * flops_d)
    restored = SpladeLoss("contrastive", "flops", "flops", lambda_q=0.5, lambda_d=2.0, warmup_steps=2)
    restored.load_schedule_state_dict(objective.schedule_state_dict())
    assert restored.weights == objective.weights and not restored.needs_teacher_scores
    assert SpladeLoss("kl", "flops", "l1", 0.1, 0.1, 0).needs_teacher_scores
