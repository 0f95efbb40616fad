"""Fixtures for the report figures: a PNG-size check and a few tiny RGB images on disk."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure


def _png_bytes(figure: Figure) -> int:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    data = buffer.getvalue()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    return len(data)


@pytest.fixture
def png_bytes() -> Callable[[Figure], int]:
    """``png_bytes(figure)``: size of the figure saved as PNG (checked to be a PNG)."""
    return _png_bytes


@pytest.fixture
def images() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    return {f"img{i}": rng.integers(0, 255, size=(30 + 4 * i, 40, 3), dtype=np.uint8) for i in range(3)}


@pytest.fixture
def manifest(tmp_path: Path, images: dict[str, np.ndarray]) -> pd.DataFrame:
    from PIL import Image

    paths = []
    for image_id, pixels in images.items():
        paths.append(str(tmp_path / f"{image_id}.png"))
        Image.fromarray(pixels).save(paths[-1])
    return pd.DataFrame({"image_id": list(images), "path": paths, "split": "test"})
