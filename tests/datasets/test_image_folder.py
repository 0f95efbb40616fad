import numpy as np
import pytest
from kedro.io import DatasetError
from PIL import Image

from ovmlr.datasets import ImageFolderDataset


def _image(value: int) -> Image.Image:
    return Image.fromarray(np.full((4, 6), value, dtype=np.uint8))


def test_save_then_load_round_trip(tmp_path):
    ds = ImageFolderDataset(path=str(tmp_path / "imgs"))
    ds.save({"a": _image(1), "b": lambda: _image(2)})  # images or callables rendering them
    loaded = ds.load()
    assert sorted(loaded) == ["a", "b"]
    np.testing.assert_array_equal(np.asarray(loaded["b"]()), np.full((4, 6), 2))
    assert ds.exists()


def test_only_changed_images_are_rewritten_and_stale_ones_removed(tmp_path):
    folder = tmp_path / "imgs"
    ds = ImageFolderDataset(path=str(folder))
    ds.save({"a": _image(1), "b": _image(2), "c": _image(3)})
    mtimes = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    ds.save({"a": _image(1), "b": _image(9)})
    assert ds.last_save_counts == {"written": 1, "unchanged": 1, "removed": 1}
    assert (folder / "a.png").stat().st_mtime_ns == mtimes["a.png"]
    assert sorted(p.name for p in folder.iterdir()) == ["a.png", "b.png"]
    np.testing.assert_array_equal(np.asarray(ds.load()["b"]()), np.full((4, 6), 9))


def test_bad_input_is_named(tmp_path):
    ds = ImageFolderDataset(path=str(tmp_path))
    with pytest.raises(DatasetError, match="image 'x': expected a PIL image, got ndarray"):
        ds.save({"x": np.zeros((2, 2))})
    with pytest.raises(DatasetError, match="not a plain file name"):
        ds.save({"sub/x": _image(1)})
    with pytest.raises(ValueError, match="no image format"):
        ImageFolderDataset(path=str(tmp_path), filename_suffix=".nope")
