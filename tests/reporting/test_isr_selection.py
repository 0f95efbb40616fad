"""ISR's selected patches drawn over the test images."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.patches import Rectangle

from ovmlr.reporting.images import center_square, patch_grid_side
from ovmlr.reporting.isr_selection import plot_isr_selection
from ovmlr.reporting.style import CORRECT_COLOUR, WRONG_COLOUR


def _selections() -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"image_id": "img0", "rank": 0, "name": "cat", "role": "seen", "score": 0.8, "label": 1,
             "patches": [0, 5]},
            {"image_id": "img0", "rank": 1, "name": "lion", "role": "unseen", "score": 0.5, "label": 0,
             "patches": [15]},
            {"image_id": "img1", "rank": 0, "name": "dog", "role": "seen", "score": 0.7, "label": -1,
             "patches": [1, 2, 3]},
        ]
    )  # fmt: skip


def test_grid_side_and_center_square() -> None:
    assert patch_grid_side(196) == 14
    with pytest.raises(ValueError, match="cannot draw 10 patches as a square grid"):
        patch_grid_side(10)
    assert center_square(np.zeros((30, 40, 3))).shape == (30, 30, 3)
    assert center_square(np.arange(12).reshape(4, 3))[:, 0].tolist() == [
        0,
        3,
        6,
    ]  # rows 0..2, one row cropped


def test_selected_cells_are_outlined_in_grid_coordinates(images, png_bytes) -> None:
    figure = plot_isr_selection(images, _selections(), num_patches=16, crop="center")
    panels = figure.axes
    assert len(panels) == 4  # 2 images × 2 columns, the spare panel blank
    cells = [
        (p.get_x(), p.get_y()) for p in panels[0].patches if isinstance(p, Rectangle) and not p.get_fill()
    ]
    assert cells == [(0, 0), (1, 1)]  # patches 0 and 5 of a 4 × 4 grid
    assert panels[0].title.get_color() == CORRECT_COLOUR and panels[1].title.get_color() == WRONG_COLOUR
    assert "lion (unseen)" in panels[1].get_title() and "1 patch" in panels[1].get_title()
    assert not panels[3].axison
    assert png_bytes(figure) > 10_000


def test_bad_inputs_are_named(images) -> None:
    with pytest.raises(ValueError, match="crop must be one of"):
        plot_isr_selection(images, _selections(), 16, crop="middle")
    with pytest.raises(ValueError, match=r"lacks columns \['patches'\]"):
        plot_isr_selection(images, _selections().drop(columns="patches"), 16)
    with pytest.raises(ValueError, match=r"images that were not read: \['img1'\]"):
        plot_isr_selection({"img0": images["img0"]}, _selections(), 16)
    with pytest.raises(ValueError, match="empty"):
        plot_isr_selection(images, _selections().iloc[:0], 16)
