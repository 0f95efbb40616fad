"""The persistent text-feature cache: hits across calls and processes, keys (tower, template, name), damaged
shards detected and re-encoded; prompts batched by length keep their order."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from ovmlr.backbones.text_cache import TextFeatureCache


class CountingTower:
    """A fake text tower: a fixed feature per prompt; records every prompt it encodes."""

    def __init__(self) -> None:
        self.encoded: list[str] = []

    def __call__(self, prompts: list[str]) -> torch.Tensor:
        self.encoded += prompts
        rows = [np.random.default_rng(sum(map(ord, p))).normal(size=4) for p in prompts]
        return torch.nn.functional.normalize(torch.tensor(np.array(rows), dtype=torch.float32), dim=-1)


TEMPLATES = ["a photo of a {}.", "art of the {}."]


def test_second_call_runs_no_tower_and_returns_the_same_features(tmp_path: Path) -> None:
    tower = CountingTower()
    first = TextFeatureCache(tmp_path, "tower-a").features(TEMPLATES, ["cat", "kite"], tower)
    assert len(tower.encoded) == 4 and first.shape == (4, 4)
    again = TextFeatureCache(tmp_path, "tower-a").features(TEMPLATES, ["kite", "cat"], tower)  # new process
    assert len(tower.encoded) == 4
    torch.testing.assert_close(again, first[[1, 0, 3, 2]])
    torch.testing.assert_close(
        first, tower(["a photo of a cat.", "a photo of a kite.", "art of the cat.", "art of the kite."])
    )


def test_only_new_names_templates_and_towers_are_encoded(tmp_path: Path) -> None:
    tower = CountingTower()
    cache = TextFeatureCache(tmp_path, "tower-a")
    cache.features(TEMPLATES, ["cat"], tower)
    cache.features(TEMPLATES, ["cat", "fire truck"], tower)
    assert tower.encoded[2:] == ["a photo of a fire truck.", "art of the fire truck."]
    cache.features(["a sketch of a {}."], ["cat"], tower)  # another template
    TextFeatureCache(tmp_path, "tower-b").features(TEMPLATES[:1], ["cat"], tower)  # another tower
    assert tower.encoded[4:] == ["a sketch of a cat.", "a photo of a cat."]


def test_a_damaged_shard_is_named_removed_and_encoded_again(tmp_path: Path, caplog) -> None:
    tower = CountingTower()
    expected = TextFeatureCache(tmp_path, "tower-a").features(TEMPLATES, ["cat"], tower)
    (shard,) = (tmp_path / "tower-a").glob("*.npz")
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="ovmlr.backbones.text_cache"):
        again = TextFeatureCache(tmp_path, "tower-a").features(TEMPLATES, ["cat"], tower)
    assert str(shard) in caplog.text and "encoded again" in caplog.text
    assert len(tower.encoded) == 4 and not shard.exists()
    torch.testing.assert_close(again, expected)


def test_a_bad_tower_id_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="tower_id"):
        TextFeatureCache(tmp_path, "../elsewhere")


def test_trained_model_uses_the_cache_and_encodes_a_name_once(
    make_trained, tmp_path: Path, monkeypatch
) -> None:
    trained = make_trained()
    names = ["fire truck", "snowman"]
    plain = trained.text_features(names)
    model = trained.backbone().model
    calls = []
    original = model.encode_text
    monkeypatch.setattr(model, "encode_text", lambda *a, **k: calls.append(1) or original(*a, **k))
    trained.use_text_cache(tmp_path)
    cached = trained.text_features(names)
    assert calls and cached.shape == plain.shape
    np.testing.assert_allclose(cached, plain, atol=1e-6)
    calls.clear()
    np.testing.assert_array_equal(trained.text_features(list(reversed(names))), cached[::-1])
    assert not calls
    assert (tmp_path / trained.backbone_spec.backbone_id).is_dir()
