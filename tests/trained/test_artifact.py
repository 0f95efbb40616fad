"""A model folder that rots: a truncated or bit-flipped safetensors, JSON or parquet file is an error naming
the file and what to do, before anything reads it; a folder saved before checksums existed still loads, and
its damaged files are named too."""

from __future__ import annotations

import json

import pytest

from ovmlr.core.thresholds import LabelThreshold, Thresholds
from ovmlr.integrity import CHECKSUMS_FILE, DamagedFile
from ovmlr.trained import load_trained, save_trained

FILES = ("head.safetensors", "trained_model.json", "vocabulary.parquet")


def truncate(path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def flip_a_bit(path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10
    path.write_bytes(bytes(data))


def test_the_folder_lists_the_checksum_of_every_file_it_wrote(trained, tmp_path) -> None:
    folder = save_trained(trained, tmp_path / "model")
    listed = json.loads((folder / CHECKSUMS_FILE).read_text())
    assert listed["algorithm"] == "sha256" and sorted(listed["files"]) == sorted(FILES)


@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize("damage", [truncate, flip_a_bit])
def test_a_damaged_file_is_named_with_what_to_do(trained, tmp_path, name, damage) -> None:
    folder = save_trained(trained, tmp_path / "model")
    damage(folder / name)
    with pytest.raises(
        DamagedFile, match=f"'{folder / name}' is damaged: .*checksum.*Delete the model folder"
    ):
        load_trained(folder)


def test_a_missing_file_is_named(trained, tmp_path) -> None:
    folder = save_trained(trained, tmp_path / "model")
    (folder / "head.safetensors").unlink()
    with pytest.raises(DamagedFile, match="head.safetensors' is damaged: the file is missing"):
        load_trained(folder)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("head.safetensors", "cannot be read .*Error"),
        ("trained_model.json", "cannot be read .*JSONDecodeError"),
        ("vocabulary.parquet", "cannot be read .*Arrow"),
    ],
)
def test_without_checksums_a_damaged_file_is_still_named(trained, tmp_path, name, message) -> None:
    folder = save_trained(trained, tmp_path / "model")
    (folder / CHECKSUMS_FILE).unlink()  # as saved before checksums existed
    assert load_trained(folder).encoder_id == trained.encoder_id
    truncate(folder / name)
    with pytest.raises(DamagedFile, match=f"{name}' is damaged: it {message}.*Delete the model folder"):
        load_trained(folder)


def test_thresholds_are_kept_and_a_folder_saved_before_them_loads_without(make_trained, tmp_path) -> None:
    nan = float("nan")
    thresholds = Thresholds(
        "f1",
        {"cat": LabelThreshold(0.2, 0.5, 1.0, 2 / 3, 2), "dog": LabelThreshold(None, nan, nan, nan, 0)},
        LabelThreshold(0.1, 0.4, 0.5, 0.44, 9, "disjoint-val"),
        {"seen": [{"lower": 0.0, "upper": 1.0, "count": 3, "mean_score": 0.5, "positive_rate": 0.3}]},
    )
    folder = save_trained(make_trained(thresholds=thresholds), tmp_path / "model")
    loaded = load_trained(folder).thresholds
    assert loaded.labels["cat"] == thresholds.labels["cat"] and loaded.new_name == thresholds.new_name
    assert loaded.labels["dog"].threshold is None and loaded.reliability == thresholds.reliability
    config = json.loads((folder / "trained_model.json").read_text())
    del config["thresholds"]  # as written before calibration existed
    (folder / "trained_model.json").write_text(json.dumps(config))
    (folder / CHECKSUMS_FILE).unlink()
    assert load_trained(folder).thresholds is None
