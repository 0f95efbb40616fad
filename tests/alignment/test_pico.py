"""PICO (issue #14): semantic probability, weighted cosine, the prototype iteration and its persistence."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from ovmlr.alignment import PICOConfig, PICOWeights, fit_pico, semantic_probability, weighted_cosine
from ovmlr.metrics import mean_average_precision

N_CLASSES, N_PER_CLASS = 6, 40
# Dimensions 4-7 carry only style: every image adds its style group's offset (all > 0) ...
STYLES = torch.tensor([[0.5, 3.0, 1.0, 2.5], [3.0, 0.5, 2.5, 1.0], [1.5, 1.5, 3.5, 0.5]])
# ... and every text a positive offset, so that e_d > 0 on 4-7 for every pair, matched or not.
TEXT_OFFSETS = torch.tensor([0.5, 0.7, 0.9, 1.1, 1.3, 1.5])
CONFIG = PICOConfig(n_style_prototypes=4)


def _style_data(sample_seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Images [240, 8], texts [6, 8], one-hot labels [240, 6] of the hand-made style case.

    Dimensions 0-3 carry class semantics: image and text share the class code (fixed, seed 0). Dimensions
    4-7 carry style: the image's style group offset (independent of its class) and the text's constant
    positive offset. ``sample_seed`` draws the images' style groups and noise (a held-out split).
    """
    codes = torch.randn(N_CLASSES, 4, generator=torch.Generator().manual_seed(0))  # [C, 4]
    generator = torch.Generator().manual_seed(1000 + sample_seed)
    classes = torch.arange(N_CLASSES * N_PER_CLASS) % N_CLASSES  # [N]
    styles = torch.randint(len(STYLES), (len(classes),), generator=generator)  # [N]
    noise = 0.3 * torch.randn(len(classes), 8, generator=generator)
    image = torch.cat([codes[classes], STYLES[styles]], dim=1) + noise  # [N, 8]
    text = torch.cat([codes, TEXT_OFFSETS[:, None].expand(-1, 4)], dim=1)  # [C, 8]
    labels = F.one_hot(classes, N_CLASSES).to(torch.int8)  # [N, C]
    return image, text, labels


def test_contrast_probability_is_high_on_semantic_and_low_on_style_dimensions() -> None:
    probability = semantic_probability(*_style_data())
    assert probability.shape == (8,)
    assert ((probability >= 0) & (probability <= 1)).all()
    assert probability[:4].min() > 0.25
    assert probability[4:].max() < 0.05


def test_sign_probability_rewards_a_style_dimension_shared_by_all_pairs() -> None:
    """Why ``contrast`` is the default: every pair has e_d > 0 on the style dimensions."""
    probability = semantic_probability(*_style_data(), method="sign")
    assert probability[4:].min() > 0.98  # noise flips the sign of a few small style offsets
    assert probability[4:].min() > probability[:4].max()


def test_fit_keeps_semantic_dimensions_above_style_dimensions() -> None:
    fitted = fit_pico(*_style_data(), CONFIG)
    assert fitted.weights[:4].min() > fitted.weights[4:].max()
    assert fitted.weights.min() >= CONFIG.weight_floor - 1e-7
    assert fitted.style_prototypes.shape == (4, 8)
    assert fitted.class_prototypes.shape == (N_CLASSES, 8)


def test_prototype_iteration_repairs_the_sign_estimate() -> None:
    """The sign estimate weighs style up; the prototypes (P4-P5) bring the semantic dimensions back on top."""
    config = PICOConfig(n_style_prototypes=4, estimator="sign")
    start = semantic_probability(*_style_data(), method="sign")
    fitted = fit_pico(*_style_data(), config)
    assert start[4:].min() > start[:4].max()
    assert fitted.weights[:4].min() > fitted.weights[4:].max()
    assert fitted.scores["final"] > fitted.scores["pairs"] + 0.05


def test_margin_score_keeps_semantic_dimensions_above_style_dimensions() -> None:
    fitted = fit_pico(*_style_data(), PICOConfig(n_style_prototypes=4, score="margin"))
    assert fitted.weights[:4].min() > fitted.weights[4:].max()
    assert fitted.scores["final"] > fitted.scores["plain"]


def test_training_score_never_decreases_and_beats_the_plain_cosine() -> None:
    fitted = fit_pico(*_style_data(), CONFIG)
    scores = [fitted.scores["pairs"]] + [entry["score"] for entry in fitted.history]
    assert all(later >= earlier for earlier, later in zip(scores, scores[1:], strict=False))
    assert fitted.scores["final"] == scores[-1] > fitted.scores["plain"]
    assert any(entry["kept"] for entry in fitted.history)


def test_weighted_retrieval_beats_plain_cosine_on_held_out_images() -> None:
    fitted = fit_pico(*_style_data(), CONFIG)
    image, text, labels = _style_data(sample_seed=1)
    plain, weighted = weighted_cosine(image, text), weighted_cosine(image, text, fitted.weights)
    assert mean_average_precision(weighted, labels) > mean_average_precision(plain, labels) + 0.05
    truth = labels.argmax(dim=1)
    top1 = [(scores.argmax(dim=1) == truth).float().mean() for scores in (plain, weighted)]
    assert top1[1] > top1[0]


def _plain_cosine(image: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
    """Reference: [B, D] × [C, D] → [B, C], or [B, C, D] × [C, D] → [B, C] with F.cosine_similarity."""
    if image.ndim == 2:
        return F.cosine_similarity(image[:, None, :], text[None, :, :], dim=-1)
    return F.cosine_similarity(image, text[None], dim=-1)


@pytest.mark.parametrize("image_shape", [(5, 7), (5, 3, 7)])
def test_uniform_weights_give_the_plain_cosine(image_shape: tuple[int, ...]) -> None:
    generator = torch.Generator().manual_seed(0)
    image = torch.randn(*image_shape, generator=generator, dtype=torch.float64)
    text = torch.randn(3, 7, generator=generator, dtype=torch.float64)
    expected = _plain_cosine(image, text)
    for weights in (None, torch.ones(7, dtype=torch.float64), torch.full((7,), 0.3, dtype=torch.float64)):
        torch.testing.assert_close(weighted_cosine(image, text, weights), expected)


@pytest.mark.parametrize("image_shape", [(5, 7), (5, 3, 7)])
def test_weighted_cosine_matches_its_formula_and_is_scale_invariant(image_shape: tuple[int, ...]) -> None:
    generator = torch.Generator().manual_seed(1)
    image = torch.randn(*image_shape, generator=generator, dtype=torch.float64)
    text = torch.randn(3, 7, generator=generator, dtype=torch.float64)
    weights = torch.rand(7, generator=generator, dtype=torch.float64) + 0.05
    scores = weighted_cosine(image, text, weights)
    paired = image[:, None, :] if image.ndim == 2 else image  # [B, 1, D] or [B, C, D]
    numerator = (weights * paired * text).sum(-1)  # Σ_d w_d v_d t_d
    norms = (weights * paired.square()).sum(-1).sqrt() * (weights * text.square()).sum(-1).sqrt()
    torch.testing.assert_close(scores, (numerator / norms).reshape(scores.shape))
    torch.testing.assert_close(weighted_cosine(3.7 * image, 0.2 * text, 5.0 * weights), scores)
    assert scores.shape == (5, 3) and scores.abs().max() <= 1.0


def test_weighted_cosine_is_differentiable_in_features_and_weights() -> None:
    image = torch.randn(4, 6, requires_grad=True)
    text = torch.randn(3, 6, requires_grad=True)
    weights = torch.full((6,), 0.5, requires_grad=True)
    weighted_cosine(image, text, weights).sum().backward()
    for tensor in (image, text, weights):
        assert tensor.grad is not None and torch.isfinite(tensor.grad).all()


def test_fit_is_deterministic_with_its_seed() -> None:
    data = _style_data()
    assert fit_pico(*data, CONFIG).to_dict() == fit_pico(*data, CONFIG).to_dict()


def test_the_iteration_stops() -> None:
    data = _style_data()
    assert 1 <= len(fit_pico(*data, CONFIG).history) <= CONFIG.iterations
    assert len(fit_pico(*data, PICOConfig(n_style_prototypes=4, tolerance=10.0)).history) == 1
    assert fit_pico(*data, PICOConfig(n_style_prototypes=4, iterations=0)).history == []


def test_to_dict_from_dict_round_trip_is_exact() -> None:
    fitted = fit_pico(*_style_data(), CONFIG)
    restored = PICOWeights.from_dict(json.loads(json.dumps(fitted.to_dict())))
    for name in ("weights", "semantic_probability", "style_prototypes", "class_prototypes"):
        assert torch.equal(getattr(restored, name), getattr(fitted, name)), name
    assert (restored.history, restored.scores, restored.config) == (fitted.history, fitted.scores, CONFIG)


def test_from_dict_names_what_is_missing() -> None:
    data = fit_pico(*_style_data(), CONFIG).to_dict()
    del data["weights"]
    with pytest.raises(ValueError, match=r"lacks \['weights'\]"):
        PICOWeights.from_dict(data)


def test_bad_inputs_are_named() -> None:
    image, text, labels = _style_data()
    with pytest.raises(ValueError, match="labels shape mismatch"):
        fit_pico(image, text, labels[:, :5], CONFIG)
    with pytest.raises(ValueError, match="no positive pair"):
        semantic_probability(image, text, torch.zeros_like(labels))
    with pytest.raises(ValueError, match="D mismatch"):
        fit_pico(image, text[:, :7], labels, CONFIG)
    with pytest.raises(ValueError, match="same D"):
        weighted_cosine(image, text[:, :7])
    with pytest.raises(ValueError, match=r"weights must be \[D\]"):
        weighted_cosine(image, text, torch.ones(7))


def test_config_rejects_unknown_and_invalid_parameters() -> None:
    assert PICOConfig.from_params({"iterations": 2}).iterations == 2
    with pytest.raises(ValueError, match=r"unknown training.pico parameter\(s\) \['iteration'\]"):
        PICOConfig.from_params({"iteration": 2})
    with pytest.raises(ValueError, match="pico.estimator"):
        PICOConfig.from_params({"estimator": "variance"})
    with pytest.raises(ValueError, match="pico.weight_floor"):
        PICOConfig(weight_floor=0.0)
