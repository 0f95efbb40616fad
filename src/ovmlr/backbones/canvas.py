"""Single items of the pretraining pool as mosaic-scale images for the demo backbone.

The mosaics are n×n grids of 28×28 tiles (56×56 for n = 2, blank tiles black). A pretraining item is placed
on one random tile of an otherwise blank n×n canvas, so an object has the same size and the same kind of
empty surroundings during pretraining as in a mosaic, and every position is seen. The tensor produced
equals open_clip's preprocessing of the canvas saved as a grayscale PNG (``to_model_input``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

POOL_COLUMNS = ("item_id", "class_id", "class_name", "split", "pixels", "height", "width")
# Canvas of RGBA items (tagged art): as the mosaics are drawn (ovmlr.data.tagged_art.builder).
RGBA_MIN_SCALE = 0.6
RGBA_BACKGROUND_MIN = 150


def pool_items(pretrain_pool: pd.DataFrame, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Pixels and class ids of one split of the ``pretrain_pool`` table.

    Returns:
        ``(pixels uint8 [N, h, w] (grey) or [N, h, w, c] (``channels`` c > 1), class_ids int64 [N])``.

    Raises:
        ValueError: Missing columns, no item in ``split``, mixed item sizes, or a ``pixels`` value whose
            length is not ``height * width`` (the item is named).
    """
    missing = [c for c in POOL_COLUMNS if c not in pretrain_pool.columns]
    if missing:
        raise ValueError(f"pretrain_pool lacks columns {missing}")
    rows = pretrain_pool[pretrain_pool["split"] == split]
    if rows.empty:
        raise ValueError(f"pretrain_pool has no item with split == {split!r}")
    sizes = rows[["height", "width"]].drop_duplicates()
    if len(sizes) != 1:
        raise ValueError(f"pretrain_pool {split!r} items have mixed sizes: {sizes.to_numpy().tolist()[:5]}")
    h, w = (int(v) for v in sizes.iloc[0])
    channels = int(rows["channels"].iloc[0]) if "channels" in rows.columns else 1
    lengths = rows["pixels"].map(len).to_numpy()
    bad = np.flatnonzero(lengths != h * w * channels)
    if bad.size:
        item = rows["item_id"].iloc[bad[0]]
        raise ValueError(
            f"pretrain_pool item {item!r}: pixels has {lengths[bad[0]]} bytes, expected {h}x{w}x{channels}"
        )
    shape = (len(rows), h, w) if channels == 1 else (len(rows), h, w, channels)
    pixels = np.frombuffer(b"".join(rows["pixels"].tolist()), dtype=np.uint8).reshape(shape)
    return pixels, rows["class_id"].to_numpy(dtype=np.int64)


def place_on_canvas(items: np.ndarray, tiles: np.ndarray, grid: int) -> np.ndarray:
    """Each item on tile ``tiles[i]`` (row-major) of a black ``grid × grid`` canvas.

    Shapes:
        items ``[N, h, w]`` uint8, tiles ``[N]`` in ``[0, grid²)`` -> ``[N, grid*h, grid*w]`` uint8.
    """
    n, h, w = items.shape
    if tiles.shape != (n,) or tiles.min(initial=0) < 0 or tiles.max(initial=0) >= grid * grid:
        raise ValueError(f"tiles must be {n} indices in [0, {grid * grid}), got shape {tiles.shape}")
    canvas = np.zeros((n, grid, grid, h, w), dtype=np.uint8)
    canvas[np.arange(n), tiles // grid, tiles % grid] = items
    return canvas.transpose(0, 1, 3, 2, 4).reshape(n, grid * h, grid * w)


def place_rgba_on_canvas(
    items: np.ndarray, tiles: np.ndarray, grid: int, tile_size: int, rng: np.random.Generator
) -> np.ndarray:
    """Each RGBA item on tile ``tiles[i]`` of a ``grid × grid`` canvas, drawn as a mosaic tile is: a random
    scale in ``[RGBA_MIN_SCALE, 1]`` of the tile, a random position, a random light background.

    Shapes:
        items ``[N, S, S, 4]`` uint8, tiles ``[N]`` -> ``[N, grid*tile_size, grid*tile_size, 3]`` uint8.
    """
    from ovmlr.data.mosaic import BLANK
    from ovmlr.data.tagged_art.builder import render_mosaic

    n = len(items)
    scales = rng.uniform(RGBA_MIN_SCALE, 1.0, size=n)
    offsets = rng.uniform(0.0, 1.0, size=(n, 2))
    backgrounds = rng.integers(RGBA_BACKGROUND_MIN, 256, size=(n, 3))
    out = np.empty((n, grid * tile_size, grid * tile_size, 3), dtype=np.uint8)
    for i in range(n):
        layout = np.full(grid * grid, BLANK, dtype=np.int64)
        layout[tiles[i]] = 0
        scale = np.full(grid * grid, scales[i])
        offset = np.tile(offsets[i], (grid * grid, 1))
        image = render_mosaic(
            lambda rows, i=i: items[i][None], layout, scale, offset, backgrounds[i], tile_size
        )
        out[i] = np.asarray(image)
    return out


def to_model_input(canvas: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 images (grey or RGB) as normalised RGB tensors, as open_clip's preprocessing makes them.

    Shapes:
        canvas ``[N, H, W]`` (grey) or ``[N, H, W, 3]`` uint8 -> ``[N, 3, H, W]`` float32.
    """
    pixels = torch.from_numpy(np.ascontiguousarray(canvas)).float().div_(255.0)
    rgb = pixels.unsqueeze(1).expand(-1, 3, -1, -1) if pixels.ndim == 3 else pixels.permute(0, 3, 1, 2)
    mean_t = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    return (rgb - mean_t) / std_t
