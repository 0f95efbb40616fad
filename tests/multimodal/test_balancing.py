"""OGM-GE and CAL on tiny inputs: coefficients, contributions, gradient scaling, the bottleneck's KL."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from ovmlr.multimodal.balancing import (
    acceleration,
    bottleneck_weights,
    contributions,
    gradient_noise,
    normalised,
    normalised_entropy,
    ogm_ge_coefficients,
    positive_mass,
    set_learning_rates,
    shared_columns,
)
from ovmlr.multimodal.model import ModalityAligner
from ovmlr.multimodal.training import MultimodalTrainingConfig, _cal_contribution, fused_training_scores


def test_ogm_ge_suppresses_only_the_dominant_modality() -> None:
    k = ogm_ge_coefficients({"a": 0.6, "b": 0.3}, alpha=0.5)
    assert k["b"] == 1.0
    assert k["a"] == pytest.approx(1 - math.tanh(0.5 * (2.0 - 1.0)))


def test_positive_mass_and_entropy() -> None:
    scores = torch.tensor([[10.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    labels = torch.tensor([[1, 0, 0], [0, 1, 0]])
    columns = torch.tensor([True, True, True])
    mass = positive_mass(scores, labels, columns, temperature=1.0)
    assert float(mass) == pytest.approx((torch.softmax(scores[0], 0)[0] + 1 / 3).item() / 2)
    flat = normalised_entropy(torch.zeros(2, 3), columns, 1.0)
    assert float(flat) == pytest.approx(1.0)
    assert float(normalised_entropy(scores[:1] * 10, columns, 1.0)) < 0.01


def test_contribution_is_information_times_confidence() -> None:
    w = contributions({"a": 0.2, "b": 0.05}, {"a": 0.5, "b": 0.8})
    assert w == pytest.approx({"a": 0.1, "b": 0.04})
    shares = normalised(w)
    assert shares["a"] == pytest.approx(0.1 / 0.14)
    assert normalised({"a": 0.0, "b": 0.0}) == {"a": 0.5, "b": 0.5}


def test_acceleration_speeds_up_the_strong_modality_and_never_suppresses() -> None:
    a = acceleration({"a": 0.8, "b": 0.2}, temperature=0.1)
    assert a["a"] > 1.9 and a["b"] == 1.0
    even = acceleration({"a": 0.5, "b": 0.5}, temperature=0.1)
    assert even == pytest.approx({"a": 1.0, "b": 1.0})
    with pytest.raises(ValueError, match="temperature must be > 0"):
        acceleration({"a": 1.0}, 0.0)


def test_bottleneck_weight_rises_as_contribution_falls() -> None:
    beta = bottleneck_weights({"a": 0.8, "b": 0.2}, beta=1.0)
    assert beta["b"] > beta["a"]
    assert beta == pytest.approx({"a": 0.2, "b": 0.8})


def test_balancing_factors_scale_the_parameter_updates_under_adamw() -> None:
    """The factor must reach the *update*: Adam would cancel a gradient scale, the learning rate it cannot."""

    def updates(factors):
        torch.manual_seed(0)
        modules = nn.ModuleDict({"a": nn.Linear(3, 2), "b": nn.Linear(3, 2)})
        before = {m: module.weight.detach().clone() for m, module in modules.items()}
        optimiser = torch.optim.AdamW(
            [{"params": modules[m].parameters(), "modality": m} for m in modules], lr=1e-2, weight_decay=0.0
        )
        x = torch.randn(4, 3, generator=torch.Generator().manual_seed(1))
        sum(module(x).pow(2).sum() for module in modules.values()).backward()
        set_learning_rates(optimiser, 1e-2, factors)
        optimiser.step()
        return {m: module.weight.detach() - before[m] for m, module in modules.items()}

    plain, scaled = updates({}), updates({"a": 2.5})
    assert torch.allclose(scaled["a"], 2.5 * plain["a"])
    assert torch.allclose(scaled["b"], plain["b"])


def test_ogm_ge_noise_is_seeded() -> None:
    module = {"a": nn.Linear(3, 2)}
    start = torch.ones(2, 3) * torch.arange(3.0)
    module["a"].weight.grad = start.clone()
    gradient_noise(module, generator=torch.Generator().manual_seed(0))
    first = module["a"].weight.grad.clone()
    module["a"].weight.grad = start.clone()
    gradient_noise(module, generator=torch.Generator().manual_seed(0))
    assert torch.equal(first, module["a"].weight.grad)
    assert not torch.allclose(first, start)


def test_bottleneck_kl_by_hand_and_deterministic_in_eval() -> None:
    torch.manual_seed(0)
    aligner = ModalityAligner(4, 4, hidden=3, dropout=0.0, bottleneck=True)
    x = torch.randn(2, 4)
    mu = aligner.encode(x)
    log_var = aligner.log_var(mu)
    posterior = torch.distributions.Normal(mu, (0.5 * log_var).exp())
    prior = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    expected = torch.distributions.kl_divergence(posterior, prior).sum(1)
    _, kl = aligner(x)
    assert torch.allclose(kl, expected, atol=1e-6)
    aligner.eval()
    assert torch.equal(aligner(x)[0], aligner(x)[0])
    plain = ModalityAligner(4, 4, hidden=3, dropout=0.0, bottleneck=False)
    assert torch.equal(plain(x)[1], torch.zeros(2))


def test_residual_aligner_starts_at_the_identity() -> None:
    x = torch.randn(5, 6)
    assert torch.equal(ModalityAligner(6, 6, 8, 0.0, False)(x)[0], x)
    assert ModalityAligner(6, 4, 8, 0.0, False)(x)[0].shape == (5, 4)


def test_fused_training_scores_use_only_the_modalities_that_train_a_category() -> None:
    scores = {"a": torch.tensor([[1.0, 2.0, 3.0]]), "b": torch.tensor([[5.0, 6.0, 7.0]])}
    member = {"a": torch.tensor([True, True, False]), "b": torch.tensor([False, True, False])}
    assert torch.allclose(fused_training_scores(scores, member), torch.tensor([[1.0, 4.0, 0.0]]))
    assert shared_columns(list(member.values())).tolist() == [False, True, False]


def test_cal_information_is_the_fused_loss_gain_of_a_modality() -> None:
    member = {"a": torch.tensor([True, True]), "b": torch.tensor([True, True])}
    labels = torch.tensor([[1, 0]])
    good = {"a": torch.tensor([[0.9, -0.9]]), "b": torch.tensor([[0.0, 0.0]])}
    from ovmlr.models.losses import ranking_loss

    fused_loss = ranking_loss(fused_training_scores(good, member), labels)
    w = _cal_contribution(good, member, labels, fused_loss, margin=1.0, temperature=1.0)
    assert w["a"] > w["b"]  # removing a hurts the fused ranking, removing b (all zeros) does not
    assert w["b"] == pytest.approx(1e-6 * (1 - float(normalised_entropy(good["b"], member["b"], 1.0))))


def test_training_config_names_bad_values() -> None:
    with pytest.raises(ValueError, match="balancing must be one of"):
        MultimodalTrainingConfig(balancing="grad_blend")
    with pytest.raises(ValueError, match=r"unknown multimodal.training parameter\(s\)"):
        MultimodalTrainingConfig.from_params({"epoch": 3})
    with pytest.raises(ValueError, match="cal needs keys"):
        MultimodalTrainingConfig(cal={"beta": 1.0})
    assert np.isfinite(MultimodalTrainingConfig().lr)
