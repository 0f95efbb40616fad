"""Test images for the visual reports, read from the files the ``image_manifest`` names.

``image_manifest.path`` is absolute or relative to the project root; Kedro runs from the project root, so a
relative path is read relative to the working directory.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError


def read_rgb(path: str | Path, image_id: str) -> np.ndarray:
    """An image file as uint8 RGB [H, W, 3].

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If it cannot be decoded.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"image_manifest: image '{image_id}' points to '{path}', which does not exist"
        )
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"image_manifest: cannot decode image '{image_id}' at '{path}': {exc}") from exc


def read_manifest_images(image_manifest: pd.DataFrame, image_ids: Sequence[str]) -> dict[str, np.ndarray]:
    """The images of ``image_ids``, keyed by id, in the given order.

    Raises:
        ValueError: If the manifest lacks ``image_id`` / ``path`` or one of the ids.
    """
    missing_columns = sorted({"image_id", "path"} - set(image_manifest.columns))
    if missing_columns:
        raise ValueError(f"image_manifest lacks columns {missing_columns}")
    unique = image_manifest.drop_duplicates("image_id")
    path_of = pd.Series(unique["path"].to_numpy(), index=unique["image_id"].astype(str).to_numpy())
    unknown = [i for i in image_ids if i not in path_of.index]
    if unknown:
        raise ValueError(f"image_manifest has no row for image ids {unknown[:10]}")
    return {i: read_rgb(path_of[i], i) for i in image_ids}


def center_square(image: np.ndarray) -> np.ndarray:
    """The central square crop of an [H, W, ...] image (what CLIP's resize + center crop keeps)."""
    height, width = image.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    return image[top : top + side, left : left + side]


def patch_grid_side(num_patches: int) -> int:
    """The side g of a square g × g patch grid with ``num_patches`` cells.

    Raises:
        ValueError: If ``num_patches`` is not a perfect square.
    """
    side = int(round(num_patches**0.5))
    if side * side != num_patches or num_patches < 1:
        raise ValueError(f"cannot draw {num_patches} patches as a square grid (P must be g × g)")
    return side
