"""Ranking loss (Eq. 11, sign corrected), total loss (Eq. 12) and distillation loss (Eq. 2)."""

from __future__ import annotations

import pytest
import torch

from ovmlr.models import distillation_loss, ranking_loss, total_loss

# Image 0: positive 0.9 vs negatives 0.2, 0.5 → hinges 0.3, 0.6 (category 3 unknown: ignored).
# Image 1: positives 1.5, 0.3 vs negatives 0.1, -0.5 → hinges 0, 0, 0.8, 0.2 (2 violating of 4 pairs).
# Image 2: no known negative → no pair → left out of the mean.
LOGITS = torch.tensor([[0.9, 0.2, 0.5, 0.0], [0.1, 1.5, -0.5, 0.3], [0.4, 0.3, 0.2, 0.1]])
LABELS = torch.tensor([[1, 0, 0, -1], [0, 1, 0, 1], [1, -1, -1, 1]], dtype=torch.int8)


def test_ranking_loss_hand_worked_valid_normalisation() -> None:
    # (0.9 / 2 valid pairs + 1.0 / 4 valid pairs) / 2 images
    assert ranking_loss(LOGITS, LABELS).item() == pytest.approx(0.35)


def test_ranking_loss_hand_worked_violating_normalisation() -> None:
    # (0.9 / 2 violating pairs + 1.0 / 2 violating pairs) / 2 images
    assert ranking_loss(LOGITS, LABELS, pair_normalization="violating").item() == pytest.approx(0.475)


def test_ranking_loss_margin() -> None:
    # margin 0.5: image 0 → (0 + 0.1) / 2, image 1 → (0.3 + 0) / 4
    assert ranking_loss(LOGITS, LABELS, margin=0.5).item() == pytest.approx((0.05 + 0.075) / 2)


def test_ranking_loss_pushes_positives_up_and_negatives_down() -> None:
    logits = LOGITS.clone().requires_grad_(True)
    ranking_loss(logits, LABELS).backward()
    assert logits.grad[0, 0] < 0  # positive: gradient descent raises it
    assert logits.grad[0, 1] > 0
    assert logits.grad[0, 2] > 0  # negatives: lowered


def test_ranking_loss_ignores_unknown_labels() -> None:
    logits = LOGITS.clone().requires_grad_(True)
    changed = LOGITS.clone()
    changed[0, 3] = 5.0  # unknown label: a negative here would add a hinge of 5.1
    changed[2, 1] = -3.0
    assert ranking_loss(changed, LABELS).item() == pytest.approx(ranking_loss(LOGITS, LABELS).item())
    ranking_loss(logits, LABELS).backward()
    assert logits.grad[0, 3] == 0
    assert torch.all(logits.grad[2] == 0)


def test_ranking_loss_without_pairs_is_zero_and_differentiable() -> None:
    logits = torch.zeros(2, 3, requires_grad=True)
    loss = ranking_loss(logits, torch.tensor([[1, 1, -1], [0, 0, 0]]))
    loss.backward()
    assert loss.item() == 0.0
    assert torch.equal(logits.grad, torch.zeros(2, 3))


def test_ranking_loss_bad_inputs() -> None:
    with pytest.raises(ValueError, match=r"must both be \[B, C\]"):
        ranking_loss(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"labels must be 1, 0 or -1, got values \[0, 2\]"):
        ranking_loss(torch.zeros(1, 2), torch.tensor([[0, 2]]))
    with pytest.raises(ValueError, match="pair_normalization"):
        ranking_loss(LOGITS, LABELS, pair_normalization="sum")


def test_distillation_loss_sum_is_eq2_batch_mean_of_l1_norms() -> None:
    student = torch.tensor([[1.0, 2.0], [0.0, 0.0]], requires_grad=True)
    teacher = torch.tensor([[0.0, 0.0], [1.0, -1.0]])
    loss = distillation_loss(student, teacher, reduction="sum")
    assert loss.item() == pytest.approx((3.0 + 2.0) / 2)
    loss.backward()
    assert student.grad.tolist() == [[0.5, 0.5], [-0.5, 0.5]]


def test_distillation_loss_default_is_mkt_mean_over_dimensions() -> None:
    """The default scale is MKT's F.l1_loss (λ's scale), D times smaller than Eq. 2 read literally."""
    gen = torch.Generator().manual_seed(0)
    student, teacher = torch.randn(4, 512, generator=gen), torch.randn(4, 512, generator=gen)
    mean = distillation_loss(student, teacher)
    assert mean.item() == pytest.approx(torch.nn.functional.l1_loss(student, teacher).item(), rel=1e-6)
    assert distillation_loss(student, teacher, reduction="sum").item() == pytest.approx(
        512 * mean.item(), rel=1e-5
    )
    with pytest.raises(ValueError, match="reduction"):
        distillation_loss(student, teacher, reduction="max")


def test_distillation_loss_normalised_and_teacher_detached() -> None:
    student = torch.tensor([[3.0, 4.0]])
    teacher = torch.tensor([[6.0, 8.0]], requires_grad=True)
    assert distillation_loss(student, teacher, normalize=True).item() == pytest.approx(0.0)
    distillation_loss(student.requires_grad_(True), teacher).backward()
    assert teacher.grad is None
    with pytest.raises(ValueError, match=r"\[B, D\]"):
        distillation_loss(torch.zeros(2, 3), torch.zeros(3, 3))


def test_total_loss() -> None:
    assert total_loss(torch.tensor(2.0), torch.tensor(3.0), 0.5).item() == 3.5
    assert total_loss(torch.tensor(2.0), None, 0.5).item() == 2.0
    with pytest.raises(ValueError, match="lambda_dist must be >= 0"):
        total_loss(torch.tensor(2.0), torch.tensor(3.0), -1.0)
