"""Fixtures: real image files in several formats and modes (the tiny trained model: tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def write_images(folder: Path) -> list[Path]:
    """Five images: RGB JPEG, RGBA PNG, greyscale PNG, WebP (odd size), palette GIF."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    rgb = rng.integers(0, 255, (40, 56, 3), dtype=np.uint8)
    paths = [
        folder / "a.jpg",
        folder / "b.png",
        folder / "c.png",
        folder / "sub" / "d.webp",
        folder / "e.gif",
    ]
    paths[3].parent.mkdir(exist_ok=True)
    Image.fromarray(rgb).save(paths[0])
    rgba = np.concatenate([rgb, rng.integers(0, 255, (40, 56, 1), dtype=np.uint8)], axis=2)
    Image.fromarray(rgba, "RGBA").save(paths[1])
    Image.fromarray(rgb[..., 0]).save(paths[2])
    Image.fromarray(rng.integers(0, 255, (23, 71, 3), dtype=np.uint8)).save(paths[3])
    Image.fromarray(rgb).convert("P").save(paths[4])
    return paths


@pytest.fixture(name="image_files")
def image_files_fixture(tmp_path: Path) -> list[Path]:
    return write_images(tmp_path / "images")
