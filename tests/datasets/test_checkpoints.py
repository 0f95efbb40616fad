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


@pytest.mark.parametrize("sidecar", [True, False])  # False: a checkpoint saved before its checksum existed
@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_a_rotted_checkpoint_is_named_and_deleting_it_resumes_from_the_epoch_before(
    tmp_path, sidecar, damage
):
    ds = TrainingCheckpointsDataset(path=str(tmp_path))
    for epoch in (1, 2):
        ds.save({"fingerprint": "run-a", "epoch": epoch, "w": torch.arange(4096, dtype=torch.float32)})
    path = tmp_path / "run-a" / "epoch_0002.pt"
    assert (tmp_path / "run-a" / "epoch_0002.pt.sha256").is_file()
    if not sidecar:
        (tmp_path / "run-a" / "epoch_0002.pt.sha256").unlink()
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    else:
        data[data.find(torch.tensor([1000.0]).numpy().tobytes()) + 2] ^= 0x01  # one weight changes
    path.write_bytes(bytes(data))
    store = ds.load()
    if damage == "flip" and not sidecar:  # no checksum: a flipped weight is read as it is (why it is stored)
        assert store.latest("run-a")["w"][1000] != 1000.0
        return
    with pytest.raises(DatasetError, match="epoch_0002.pt' is damaged: .*Delete it .* and rerun"):
        store.latest("run-a")
    path.unlink()
    assert store.latest("run-a")["epoch"] == 1
