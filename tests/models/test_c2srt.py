"""The assembled C²SRT head: ablation switches, vocabulary checks, temperature resolution, a tiny overfit."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ovmlr.metrics import mean_average_precision
from ovmlr.models import C2SRT, load_model_config, ranking_loss, zero_shot_scores

B, P, D, C, K = 4, 9, 16, 6, 2
NEIGHBOURS = torch.tensor([[(i + 1) % C, (i + 2) % C] for i in range(C)])


def _config(**overrides: object):  # noqa: ANN202 - C2SRTConfig
    base = {"embed_dim": D, "ist": {"heads": 2, "hidden_dim": 8, "dropout": 0.0}, "isr.max_patches": 3}
    return load_model_config("c2srt", {**base, **overrides})


def _inputs(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return (
        torch.randn(B, D, generator=gen),
        torch.randn(B, P, D, generator=gen),
        torch.randn(C, D, generator=gen),
    )


@pytest.mark.parametrize("use_isr", [True, False])
@pytest.mark.parametrize("use_ist", [True, False])
@pytest.mark.parametrize("implementation", ["lean", "dense", "pyg"])
def test_forward_shapes_for_every_ablation(use_isr: bool, use_ist: bool, implementation: str) -> None:
    torch.manual_seed(0)
    model = C2SRT(_config(use_isr=use_isr, use_ist=use_ist, **{"ist.implementation": implementation}), 100.0)
    out = model(*_inputs(), NEIGHBOURS)
    expected = {
        "logits": (B, C),
        "cosine": (B, C),
        "zero_shot": (B, C),
        "f_img": (B, C, D),
        "node_feats": (B, C, D),
    }
    if use_isr:
        expected |= {"f_local": (B, C, D), "isr_mask": (B, C, P)}
    assert {key: tuple(value.shape) for key, value in out.items()} == expected
    assert out["logits"].abs().max() <= 1.0 + 1e-6  # scale 1: cosines


def test_without_isr_and_ist_the_head_is_zero_shot_clip() -> None:
    global_feats, _, text = _inputs()
    out = C2SRT(_config(use_isr=False, use_ist=False))(global_feats, None, text, None)
    torch.testing.assert_close(out["logits"], zero_shot_scores(global_feats, text))
    assert sum(p.numel() for p in C2SRT(_config(use_isr=False, use_ist=False)).parameters()) == 0


def test_zero_shot_ensemble_applies_in_eval_mode_only() -> None:
    global_feats, patches, text = _inputs()
    torch.manual_seed(0)
    model = C2SRT(_config(**{"score.zero_shot_weight": 0.3}), 100.0)
    trained_view = model.train()(global_feats, patches, text, NEIGHBOURS)
    torch.testing.assert_close(trained_view["logits"], trained_view["cosine"])  # Eq. 10 for the loss
    out = model.eval()(global_feats, patches, text, NEIGHBOURS)
    zero_shot = zero_shot_scores(global_feats, text)
    torch.testing.assert_close(out["zero_shot"], zero_shot)
    torch.testing.assert_close(out["logits"], 0.7 * out["cosine"] + 0.3 * zero_shot)
    assert not torch.allclose(out["logits"], out["cosine"])


def test_full_zero_shot_weight_scores_exactly_as_zero_shot_clip() -> None:
    global_feats, patches, text = _inputs(seed=3)
    torch.manual_seed(1)  # any head weights: with w = 1 the head does not enter the evaluated score
    model = C2SRT(_config(**{"score.zero_shot_weight": 1.0}), 100.0).eval()
    out = model(global_feats, patches, text, NEIGHBOURS)
    torch.testing.assert_close(out["logits"], zero_shot_scores(global_feats, text), rtol=0, atol=0)


def test_zero_shot_term_uses_the_frozen_global_when_given() -> None:
    """Finetune mode: the head scores the student's features, the zero-shot term is frozen CLIP's."""
    student_global, patches, text = _inputs()
    frozen_global = torch.randn(B, D, generator=torch.Generator().manual_seed(9))
    torch.manual_seed(0)
    model = C2SRT(_config(**{"score.zero_shot_weight": 0.4}), 100.0).eval()
    out = model(student_global, patches, text, NEIGHBOURS, frozen_global)
    torch.testing.assert_close(out["zero_shot"], zero_shot_scores(frozen_global, text))
    torch.testing.assert_close(out["logits"], 0.6 * out["cosine"] + 0.4 * out["zero_shot"])
    same_head = model(student_global, patches, text, NEIGHBOURS)
    torch.testing.assert_close(out["cosine"], same_head["cosine"])  # only the zero-shot term changes
    with pytest.raises(ValueError, match="zero_shot_global must be"):
        model(student_global, patches, text, NEIGHBOURS, frozen_global[:2])


def test_alpha_zero_uses_no_local_feature() -> None:
    global_feats, patches, text = _inputs()
    out = C2SRT(_config(use_ist=False, **{"isr.alpha": 0.0}), 100.0)(global_feats, patches, text, None)
    off = C2SRT(_config(use_isr=False, use_ist=False))(global_feats, None, text, None)
    torch.testing.assert_close(out["f_img"], off["f_img"])
    torch.testing.assert_close(out["logits"], off["logits"])


def test_isr_image_feature_is_mean_of_local_and_global() -> None:
    global_feats, patches, text = _inputs()
    out = C2SRT(_config(use_ist=False), logit_scale=50.0)(global_feats, patches, text, None)
    expected = (out["f_local"] + F.normalize(global_feats, dim=-1).unsqueeze(1)) / 2
    torch.testing.assert_close(out["f_img"], expected)
    assert out["isr_mask"].sum(dim=-1).max() <= 3


def test_temperature_comes_from_the_backbone_unless_set() -> None:
    assert C2SRT(_config(), logit_scale=42.0).config.isr.temperature == 42.0
    assert C2SRT(_config(**{"isr.temperature": 7.0}), logit_scale=42.0).config.isr.temperature == 7.0
    with pytest.raises(ValueError, match="backbone's logit scale is needed"):
        C2SRT(_config())


def test_same_weights_score_a_larger_vocabulary() -> None:
    torch.manual_seed(0)
    model = C2SRT(_config(), 100.0).eval()
    global_feats, patches, text = _inputs()
    seen = model(global_feats, patches, text[:4], NEIGHBOURS[:4] % 4)["logits"]
    everything = model(global_feats, patches, text, NEIGHBOURS)["logits"]
    assert seen.shape == (B, 4)
    assert everything.shape == (B, C)


@pytest.mark.parametrize(
    ("neighbours", "match"),
    [
        (None, r"neighbours must be \[C=6, K>=1\] \(IST is on\), got None"),
        (NEIGHBOURS[:5], r"neighbours must be \[C=6, K>=1\] \(IST is on\), got \(5, 2\)"),
        (NEIGHBOURS[:, :0], r"neighbours must be \[C=6, K>=1\]"),
        (NEIGHBOURS.float(), "integer category indices"),
        (NEIGHBOURS + 1, r"got values in \[1, 6\]"),
        (torch.tensor([[1, 2], [1, 3], [3, 4], [4, 5], [5, 0], [0, 1]]), "category 1 lists itself"),
    ],
)
def test_bad_neighbours_raise(neighbours: torch.Tensor | None, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        C2SRT(_config(), 100.0)(*_inputs(), neighbours)


def test_bad_feature_shapes_raise() -> None:
    global_feats, patches, text = _inputs()
    model = C2SRT(_config(), 100.0)
    with pytest.raises(ValueError, match=r"global_feats must be \[B, D=16\], got \(4, 15\)"):
        model(global_feats[:, :15], patches, text, NEIGHBOURS)
    with pytest.raises(ValueError, match=r"text_feats must be \[C, D=16\]"):
        model(global_feats, patches, text[:, :8], NEIGHBOURS)
    with pytest.raises(ValueError, match=r"patch_feats must be \[B=4, P, D\] \(ISR is on\), got None"):
        model(global_feats, None, text, NEIGHBOURS)


def test_tiny_overfit_loss_decreases() -> None:
    torch.manual_seed(0)
    model = C2SRT(_config(), logit_scale=100.0)
    global_feats, patches, text = _inputs(seed=1)
    labels = (torch.rand(B, C, generator=torch.Generator().manual_seed(2)) < 0.4).to(torch.int8)
    labels[:, 0] = 1  # every image has a positive and (below) a negative
    labels[:, 1] = 0
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(20):
        loss = ranking_loss(model(global_feats, patches, text, NEIGHBOURS)["logits"], labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert all(later < earlier for earlier, later in zip(losses, losses[1:], strict=False))
    assert losses[-1] < 0.5 * losses[0]
    final_logits = model(global_feats, patches, text, NEIGHBOURS)["logits"].detach()
    assert mean_average_precision(final_logits, labels) == 1.0


def test_the_mkt_head_scores_as_mkt_and_trains_only_through_the_encoder() -> None:
    from ovmlr.models import mkt_style_scores

    global_feats, patches, text = _inputs()
    model = C2SRT(_config(head="mkt", mkt_k=20), 100.0).eval()
    assert sum(p.numel() for p in model.parameters()) == 0
    out = model(global_feats, patches, text, None)
    torch.testing.assert_close(out["logits"], mkt_style_scores(global_feats, patches, text, k=P))  # k capped
    g = global_feats.clone().requires_grad_(True)
    ranking_loss(model.train()(g, patches, text, None)["logits"], (torch.rand(B, C) < 0.5).long()).backward()
    assert g.grad is not None and g.grad.abs().sum() > 0  # the loss reaches the (student's) features
    with pytest.raises(ValueError, match="head must be"):
        _config(head="biam")


def test_attention_of_every_layer_sums_to_one_over_the_neighbours() -> None:
    global_feats, patches, text = _inputs()
    torch.manual_seed(0)
    model = C2SRT(_config(), 100.0).eval()
    layers = model.attention(global_feats, patches, text, NEIGHBOURS)
    assert [tuple(a.shape) for a in layers] == [(B, C, K, 2)] * model.config.ist.layers
    for alpha in layers:
        torch.testing.assert_close(alpha.sum(dim=2), torch.ones(B, C, 2))
    with pytest.raises(ValueError, match="no IST"):
        C2SRT(_config(use_ist=False), 100.0).attention(global_feats, patches, text, NEIGHBOURS)


def test_pico_alignment_makes_every_comparison_a_weighted_cosine() -> None:
    from ovmlr.alignment.pico import weighted_cosine

    global_feats, patches, text = _inputs()
    weights = torch.linspace(0.1, 1.0, D)
    head = C2SRT(_config(use_isr=False, use_ist=False, alignment="pico")).eval()
    plain = head(global_feats, None, text, None)["logits"]
    torch.testing.assert_close(plain, zero_shot_scores(global_feats, text))  # w = 1 until fitted
    head.set_alignment_weights(weights)
    out = head(global_feats, None, text, None)
    torch.testing.assert_close(out["logits"], weighted_cosine(global_feats, text, weights))
    torch.testing.assert_close(out["zero_shot"], weighted_cosine(global_feats, text, weights))
    assert "alignment_weights" in head.state_dict()  # saved, loaded and served with the head
    full = C2SRT(_config(alignment="pico"), 100.0)
    full.set_alignment_weights(weights)
    assert len(full.attention(global_feats, patches, text, NEIGHBOURS)) == full.config.ist.layers
    with pytest.raises(ValueError, match="alignment must be"):
        _config(alignment="euclid")
    with pytest.raises(ValueError, match="needs alignment: pico"):
        C2SRT(_config(), 100.0).set_alignment_weights(weights)
