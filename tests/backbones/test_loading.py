"""Loading: fail fast without network, explicit random weights, reproducible, global RNG untouched."""

from __future__ import annotations

import time

import huggingface_hub.constants
import open_clip
import pytest
import torch

from ovmlr.backbones import BackboneSpec, BackboneWeightsUnavailable, load_backbone
from ovmlr.core.device import resolve_device


def test_a_tag_that_cannot_be_downloaded_fails_fast_naming_the_tag_and_the_fix(monkeypatch):
    def no_network(*args, **kwargs):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(open_clip, "download_pretrained", no_network)
    start = time.perf_counter()
    with pytest.raises(BackboneWeightsUnavailable, match=r"pretrained='openai'.*backbone\.pretrained.*local"):
        load_backbone(BackboneSpec(model_name="ViT-B-16", pretrained="openai").with_id())
    assert time.perf_counter() - start < 5.0


def test_hf_hub_offline_fails_fast_for_an_uncached_tag(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))  # nothing cached here
    start = time.perf_counter()
    with pytest.raises(BackboneWeightsUnavailable, match=r"laion2b_s34b_b88k.*HF_HUB_OFFLINE is set"):
        load_backbone(BackboneSpec(model_name="ViT-B-16", pretrained="laion2b_s34b_b88k").with_id())
    assert time.perf_counter() - start < 5.0


def test_random_weights_need_explicit_permission():
    with pytest.raises(BackboneWeightsUnavailable, match="allow_random_weights"):
        load_backbone(BackboneSpec(model_name="ViT-B-16", pretrained=None))


def test_random_weights_are_seeded_and_leave_the_global_rng_alone(tiny_spec, caplog):
    state = torch.random.get_rng_state()
    first = load_backbone(tiny_spec).model.state_dict()
    second = load_backbone(tiny_spec).model.state_dict()
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert "RANDOM WEIGHTS" in caplog.text


def test_loaded_backbone_is_frozen_and_in_eval_mode(tiny_backbone):
    assert not tiny_backbone.model.training
    assert not any(p.requires_grad for p in tiny_backbone.model.parameters())
    assert tiny_backbone.preprocess is not None and tiny_backbone.tokenizer(["a"]).shape == (1, 16)


def test_device_auto_picks_cuda_only_when_present():
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")


def test_loading_prints_no_third_party_report(capfd, caplog):
    """The MiniLM text tower's "LOAD REPORT" table, open_clip's INFO chatter and transformers' progress bar
    stay out of the log; ovmlr's own warning about random weights stays in."""
    from ovmlr.backbones import BackboneSpec, load_backbone

    spec = BackboneSpec(model_name="ovmlr-demo-vit-p12-96", allow_random_weights=True)
    with caplog.at_level("INFO"):
        load_backbone(spec)
    out, err = capfd.readouterr()
    shown = out + err + caplog.text
    assert "LOAD REPORT" not in shown and "UNEXPECTED" not in shown and "Loading weights" not in shown
    assert "Parsing model identifier" not in shown
    assert "RANDOM WEIGHTS" in caplog.text
