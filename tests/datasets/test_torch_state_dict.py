"""TorchStateDictDataset: atomic round trip, open_clip-loadable checkpoints, clear errors."""

from __future__ import annotations

import open_clip
import pytest
import torch
from kedro.io import DatasetError

from ovmlr.backbones import register_model_config
from ovmlr.datasets import TorchStateDictDataset

TINY = {
    "embed_dim": 8,
    "vision_cfg": {"image_size": 16, "layers": 1, "width": 16, "head_width": 8, "patch_size": 8},
    "text_cfg": {"context_length": 8, "vocab_size": 49408, "width": 16, "heads": 2, "layers": 1},
}


def test_round_trip_leaves_no_temporary_file(tmp_path):
    dataset = TorchStateDictDataset(str(tmp_path / "m" / "ckpt.pt"))
    data = {"state_dict": {"w": torch.arange(3.0)}, "ovmlr": {"training_key": "abc", "history": [1.5]}}
    dataset.save(data)
    loaded = dataset.load()
    assert torch.equal(loaded["state_dict"]["w"], torch.arange(3.0))
    assert loaded["ovmlr"] == {"training_key": "abc", "history": [1.5]}
    assert [p.name for p in (tmp_path / "m").iterdir()] == ["ckpt.pt"]


def test_saved_checkpoint_loads_in_open_clip(tmp_path):
    register_model_config("ovmlr-test-ckpt", TINY)
    torch.manual_seed(0)
    model = open_clip.create_model("ovmlr-test-ckpt")
    path = tmp_path / "open_clip_model.pt"
    TorchStateDictDataset(str(path)).save({"state_dict": model.state_dict(), "ovmlr": {"note": "demo"}})
    reloaded = open_clip.create_model("ovmlr-test-ckpt", pretrained=str(path))
    assert all(torch.equal(v, reloaded.state_dict()[k]) for k, v in model.state_dict().items())


def test_missing_file_is_an_error_unless_missing_ok(tmp_path):
    with pytest.raises(DatasetError, match="No checkpoint at"):
        TorchStateDictDataset(str(tmp_path / "none.pt")).load()
    assert TorchStateDictDataset(str(tmp_path / "none.pt"), missing_ok=True).load() == {}


def test_saving_nothing_explains_the_memory_dataset_override(tmp_path):
    with pytest.raises(DatasetError, match="MemoryDataset"):
        TorchStateDictDataset(str(tmp_path / "x.pt")).save({})


def test_corrupt_file_is_named(tmp_path):
    path = tmp_path / "bad.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(DatasetError, match="Cannot read checkpoint .*bad.pt"):
        TorchStateDictDataset(str(path)).load()
