"""Pretraining canvases of the demo backbone, drawn as the dataset's mosaics are.

A canvas is a ``grid × grid`` mosaic of pretraining items, some tiles blank, exactly as
:mod:`ovmlr.data.tagged_art.builder` draws the train/val/test mosaics (RGBA items at a random scale and
position in their tile, on a random light background) or as :mod:`ovmlr.data.fashion_mnist` does (grey
items filling their tiles, blank tiles black). So the backbone learns at the scale, crowding and clutter it
will be used at: an item covers 16 of the 64 patch tokens, never all of them. The tensors produced equal
open_clip's preprocessing of the canvas saved as a PNG (``to_model_input``).

Shapes: B canvases, G = grid² tiles, N items, S item side.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ovmlr.data.mosaic import BLANK, compose_mosaics, plan_occupancy

POOL_COLUMNS = ("item_id", "class_id", "class_name", "split", "pixels", "height", "width")


@dataclass(frozen=True)
class CanvasConfig:
    """How pretraining canvases are drawn (``backbone.demo.training.canvas``); match the mosaics'."""

    grid: int = 2  # tiles per side
    tile_size: int = 64  # RGBA items: pixels per tile side (grey items fill their tile at their own size)
    blank_probability: float = 0.25  # chance a tile is blank (the captioned item's tile never is)
    min_scale: float = 0.6  # RGBA items cover min_scale..1 of their tile's side
    background_min: int = 150  # RGBA canvases: background RGB drawn uniformly in [background_min, 255]

    def __post_init__(self) -> None:
        if self.grid < 1 or self.tile_size < 4 or not 0 < self.min_scale <= 1:
            raise ValueError(f"backbone.demo.training.canvas: invalid {self}")
        if not 0 <= self.blank_probability < 1:
            raise ValueError(
                "backbone.demo.training.canvas.blank_probability must be in [0, 1), got "
                f"{self.blank_probability}"
            )


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


def plan_canvases(
    captioned: np.ndarray, n_items: int, config: CanvasConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Layouts of canvases built around their captioned items.

    Each canvas holds its captioned item on a random tile; every other tile is blank with
    ``blank_probability`` or holds a random item of the pool.

    Shapes:
        captioned ``[B]`` item rows -> layout ``[B, G]`` item rows or ``BLANK``, the captioned tiles ``[B]``.
    """
    tiles = config.grid * config.grid
    occupied = plan_occupancy(len(captioned), config.grid, config.blank_probability, rng)
    layout = np.where(occupied, rng.integers(0, n_items, size=occupied.shape), BLANK)
    where = rng.integers(0, tiles, size=len(captioned))
    layout[np.arange(len(captioned)), where] = captioned
    return layout, where


def tile_token_index(tiles: np.ndarray, grid: int, patch_grid: int) -> np.ndarray:
    """The patch tokens (row-major indices into the ``patch_grid²`` patches) that cover each tile.

    Shapes:
        tiles ``[B]`` tile indices (row-major over ``grid × grid``) -> ``[B, (patch_grid / grid)²]``.
    """
    if patch_grid % grid:
        raise ValueError(f"a {patch_grid}x{patch_grid} patch grid does not split into {grid}x{grid} tiles")
    side = patch_grid // grid
    local = (np.arange(side)[:, None] * patch_grid + np.arange(side)[None, :]).reshape(-1)  # [side²]
    origin = (tiles // grid) * side * patch_grid + (tiles % grid) * side  # [B]
    return origin[:, None] + local[None, :]


def render_canvases(
    items: np.ndarray, layout: np.ndarray, config: CanvasConfig, rng: np.random.Generator
) -> np.ndarray:
    """The canvases' pixels: RGBA items drawn as tagged-art mosaics, grey items as Fashion-MNIST mosaics.

    Shapes:
        items ``[N, S, S, 4]`` or ``[N, S, S]`` uint8, layout ``[B, G]`` -> ``[B, H, W, 3]`` or ``[B, H, W]``.
    """
    if items.ndim == 3:
        return compose_mosaics(items, layout)
    from ovmlr.data.tagged_art.builder import render_mosaic

    shape = layout.shape
    scales = rng.uniform(config.min_scale, 1.0, size=shape)
    offsets = rng.uniform(0.0, 1.0, size=(*shape, 2))
    backgrounds = rng.integers(config.background_min, 256, size=(shape[0], 3))
    side = config.grid * config.tile_size
    out = np.empty((shape[0], side, side, 3), dtype=np.uint8)
    for b in range(shape[0]):
        image = render_mosaic(
            items.__getitem__, layout[b], scales[b], offsets[b], backgrounds[b], config.tile_size
        )
        out[b] = np.asarray(image)
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
