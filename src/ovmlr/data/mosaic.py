"""Multi-label mosaics: an n×n grid of single-object tiles, some left blank.

A *layout* is an int array ``[M, n*n]`` (row-major tiles) holding, per tile, the index of the source item
drawn there or ``-1`` for a blank tile. Labels are the set of classes of an image's items.
"""

from __future__ import annotations

import numpy as np

BLANK = -1


def plan_occupancy(
    num_images: int, grid_size: int, blank_probability: float, rng: np.random.Generator
) -> np.ndarray:
    """Which tiles hold an item: each tile is blank with ``blank_probability``, at least one item per image.

    Args:
        num_images: M, the number of mosaics.
        grid_size: n, tiles per side.
        blank_probability: Chance that a tile is blank, in [0, 1).
        rng: Source of randomness (seeded by the caller).

    Returns:
        Bool array ``[M, n*n]``, True where a tile holds an item.
    """
    if grid_size < 1:
        raise ValueError(f"grid_size must be >= 1, got {grid_size}")
    if not 0.0 <= blank_probability < 1.0:
        raise ValueError(f"blank_probability must be in [0, 1), got {blank_probability}")
    tiles = grid_size * grid_size
    occupied = rng.random((num_images, tiles)) >= blank_probability
    empty_rows = np.flatnonzero(~occupied.any(axis=1))
    occupied[empty_rows, rng.integers(0, tiles, size=len(empty_rows))] = True
    return occupied


def fill_layout(occupied: np.ndarray, items: np.ndarray) -> np.ndarray:
    """Place ``items`` (source indices, in order) into the occupied tiles, row-major, each item once.

    Raises:
        ValueError: Fewer items than occupied tiles.
    """
    needed = int(occupied.sum())
    if needed > len(items):
        raise ValueError(f"the mosaics need {needed} items but only {len(items)} are available")
    layout = np.full(occupied.shape, BLANK, dtype=np.int64)
    layout[occupied] = items[:needed]
    return layout


def compose_mosaics(pixels: np.ndarray, layout: np.ndarray) -> np.ndarray:
    """Render mosaics from item images.

    Shapes:
        pixels ``[N, h, w]`` (uint8 items), layout ``[M, n*n]`` -> ``[M, n*h, n*w]`` (blank tiles are 0).
    """
    num_images, tiles = layout.shape
    grid = int(round(tiles**0.5))
    if grid * grid != tiles:
        raise ValueError(f"layout has {tiles} tiles per image, not a square grid")
    h, w = pixels.shape[1:]
    canvas = np.zeros((num_images, tiles, h, w), dtype=pixels.dtype)
    filled = layout != BLANK
    canvas[filled] = pixels[layout[filled]]
    canvas = canvas.reshape(num_images, grid, grid, h, w).transpose(0, 1, 3, 2, 4)
    return np.ascontiguousarray(canvas.reshape(num_images, grid * h, grid * w))


def layout_labels(layout: np.ndarray, item_classes: np.ndarray, num_classes: int) -> np.ndarray:
    """Multi-hot labels ``[M, C]`` (int8): 1 for every class drawn in a tile, else 0."""
    labels = np.zeros((layout.shape[0], num_classes), dtype=np.int8)
    rows, cols = np.nonzero(layout != BLANK)
    labels[rows, item_classes[layout[rows, cols]]] = 1
    return labels
