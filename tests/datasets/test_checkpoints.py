import pytest
import torch
from kedro.io import DatasetError

from ovmlr.datasets.checkpoints import TrainingCheckpointsDataset


def test_save_load_latest_per_fingerprint(tmp_path):
    ds = TrainingCheckpointsDataset(path=str(tmp_path))
    for epoch in (1, 2, 3):
        ds.save({"fingerprint": "run-a", "epoch": epoch, "w": torch.full((2,), float(epoch))})
    ds.save({"fingerprint": "run-b", "epoch": 1, "w": torch.zeros(2)})
    store = ds.load()
    assert store.epochs("run-a") == [1, 2, 3]
    assert torch.equal(store.latest("run-a")["w"], torch.full((2,), 3.0))
    assert store.load("run-a", 2)["epoch"] == 2
    assert store.latest("missing") is None
    assert not list(tmp_path.rglob("*.tmp"))


def test_missing_keys_and_epoch_are_clear_errors(tmp_path):
    ds = TrainingCheckpointsDataset(path=str(tmp_path))
    with pytest.raises(DatasetError, match="needs the key 'fingerprint'"):
        ds.save({"epoch": 1})
    with pytest.raises(DatasetError, match="No checkpoint for epoch 7"):
        ds.load().load("run-a", 7)
