"""The shipped-weights guard: used on a match, retrained on a mismatch, an error if corrupt."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from ovmlr.backbones.shipped import (
    SHIPPED_DTYPE,
    ShippedRelease,
    read_shipped,
    shipped_part,
    with_shipped_weights,
    write_shipped,
)

RECIPE = {"model": {"embed_dim": 4}, "training": {"epochs": 3, "seed": 0}}
POOL = {"pretrain_items": "aaa", "heldout_items": "bbb", "vocabulary": "ccc"}


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.visual = nn.Linear(3, 4)
        self.text = nn.Module()
        self.text.transformer = nn.Linear(5, 5)
        self.text.proj = nn.Linear(5, 4, bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(2.3))


@pytest.fixture
def shipped(tmp_path):
    torch.manual_seed(0)
    write_shipped(tmp_path, ShippedRelease("tiny", Tiny().state_dict(), {"recipe": RECIPE, "pool": POOL}))
    return tmp_path


def test_the_file_holds_only_the_image_tower_projection_and_scale_in_half_precision(shipped):
    entry = read_shipped(shipped)["tiny"]
    state = entry.state()
    assert sorted(state) == ["logit_scale", "text.proj.weight", "visual.bias", "visual.weight"]
    assert entry.manifest["weights"] == "tiny.safetensors" and len(entry.manifest["sha256"]) == 64
    part = shipped_part(Tiny().state_dict())
    assert all(v.dtype == SHIPPED_DTYPE for v in part.values())


def test_a_matching_manifest_is_used_and_loads_into_the_model(shipped):
    entry = read_shipped(shipped)["tiny"]
    assert entry.mismatch(RECIPE, POOL) is None
    model = Tiny()
    state = with_shipped_weights(model, entry.state())
    torch.testing.assert_close(state["visual.weight"], entry.state()["visual.weight"])
    torch.testing.assert_close(
        state["text.transformer.weight"], model.state_dict()["text.transformer.weight"]
    )


def test_a_mismatch_says_what_differs(shipped):
    entry = read_shipped(shipped)["tiny"]
    other_recipe = {"model": {"embed_dim": 4}, "training": {"epochs": 5, "seed": 0}}
    assert "training.epochs" in entry.mismatch(other_recipe, POOL)
    reason = entry.mismatch(RECIPE, POOL | {"vocabulary": "zzz"})
    assert "vocabulary" in reason and "zzz" in reason and "ccc" in reason


def test_a_corrupt_file_is_an_error_naming_it(shipped):
    path = shipped / "tiny.safetensors"
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"tiny.safetensors are corrupt: SHA-256 .*make backbone"):
        read_shipped(shipped)["tiny"].state()


def test_a_truncated_file_with_a_matching_hash_still_fails_to_read(shipped):
    path = shipped / "tiny.safetensors"
    path.write_bytes(path.read_bytes()[:40])
    manifest = json.loads((shipped / "tiny.json").read_text())
    import hashlib

    manifest["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    (shipped / "tiny.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="do not read as safetensors"):
        read_shipped(shipped)["tiny"].state()


def test_a_bad_manifest_is_named(tmp_path):
    (tmp_path / "tiny.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"tiny.json is not valid JSON"):
        read_shipped(tmp_path)


def test_weights_of_another_architecture_are_refused(shipped):
    entry = read_shipped(shipped)["tiny"]
    model = Tiny()
    model.visual = nn.Linear(3, 6)
    with pytest.raises(ValueError, match=r"shipped weight visual.bias has shape \(4,\), the model \(6,\)"):
        with_shipped_weights(model, entry.state())
