"""Pretraining canvases: drawn as the mosaics are, and exactly as open_clip preprocesses a mosaic PNG."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from open_clip.transform import PreprocessCfg, image_transform_v2
from PIL import Image

from ovmlr.backbones.canvas import CanvasConfig, plan_canvases, pool_items, render_canvases, to_model_input
from ovmlr.data.mosaic import BLANK
from ovmlr.data.tagged_art.builder import render_mosaic


def _pool(n: int = 4, size: int = 3) -> pd.DataFrame:
    pixels = np.arange(n * size * size, dtype=np.uint8).reshape(n, size, size)
    return pd.DataFrame(
        {
            "item_id": [f"i{k}" for k in range(n)],
            "class_id": np.arange(n) % 2,
            "class_name": ["bag" if k % 2 else "coat" for k in range(n)],
            "split": ["train", "train", "heldout", "train"][:n],
            "pixels": [p.tobytes() for p in pixels],
            "height": size,
            "width": size,
        }
    )


def test_every_canvas_holds_its_captioned_item_and_other_tiles_hold_pool_items_or_nothing():
    config = CanvasConfig(grid=2, tile_size=8, blank_probability=0.5)
    captioned = np.arange(200) % 7
    layout, where = plan_canvases(captioned, 7, config, np.random.default_rng(0))
    assert (layout[np.arange(200), where] == captioned).all()
    assert layout.shape == (200, 4)
    assert all(c in row for c, row in zip(captioned, layout, strict=True))
    assert set(np.unique(layout)) <= {BLANK, *range(7)}
    blank_share = (layout == BLANK).mean()
    assert 0.2 < blank_share < 0.45  # 0.5 of the three other tiles, fewer on the captioned one


def test_rgba_canvases_are_drawn_exactly_as_the_mosaic_builder_draws_them():
    items = np.random.default_rng(2).integers(0, 256, (5, 8, 8, 4), dtype=np.uint8)
    layout = np.array([[0, BLANK, 3, 4], [BLANK, BLANK, 1, BLANK]])
    config = CanvasConfig(grid=2, tile_size=8)
    canvases = render_canvases(items, layout, config, np.random.default_rng(5))
    rng = np.random.default_rng(5)  # the same draws, in the same order
    scales = rng.uniform(config.min_scale, 1.0, size=layout.shape)
    offsets = rng.uniform(0.0, 1.0, size=(*layout.shape, 2))
    backgrounds = rng.integers(config.background_min, 256, size=(2, 3))
    for b in range(2):
        expected = render_mosaic(items.__getitem__, layout[b], scales[b], offsets[b], backgrounds[b], 8)
        np.testing.assert_array_equal(canvases[b], np.asarray(expected))


def test_grey_canvases_fill_their_tiles_and_leave_blank_tiles_black():
    items = np.array([[[1, 2], [3, 4]], [[5, 6], [7, 8]]], dtype=np.uint8)
    canvas = render_canvases(
        items, np.array([[BLANK, 0, 1, BLANK]]), CanvasConfig(), np.random.default_rng(0)
    )
    np.testing.assert_array_equal(canvas[0], [[0, 0, 1, 2], [0, 0, 3, 4], [5, 6, 0, 0], [7, 8, 0, 0]])


def test_model_input_equals_open_clips_preprocessing_of_the_grayscale_png(tmp_path):
    rng = np.random.default_rng(0)
    items = rng.integers(0, 256, (1, 28, 28), dtype=np.uint8)
    canvas = render_canvases(items, np.array([[BLANK, BLANK, BLANK, 0]]), CanvasConfig(), rng)
    Image.fromarray(canvas[0]).save(tmp_path / "mosaic.png")
    expected = image_transform_v2(PreprocessCfg(size=56), is_train=False)(Image.open(tmp_path / "mosaic.png"))
    cfg = PreprocessCfg()
    np.testing.assert_allclose(
        to_model_input(canvas, cfg.mean, cfg.std)[0].numpy(), expected.numpy(), atol=1e-6
    )


def test_model_input_equals_open_clips_preprocessing_of_the_rgb_png(tmp_path):
    rgb = np.random.default_rng(1).integers(0, 256, (1, 56, 56, 3), dtype=np.uint8)
    Image.fromarray(rgb[0]).save(tmp_path / "mosaic.png")
    expected = image_transform_v2(PreprocessCfg(size=56), is_train=False)(Image.open(tmp_path / "mosaic.png"))
    cfg = PreprocessCfg()
    np.testing.assert_allclose(to_model_input(rgb, cfg.mean, cfg.std)[0].numpy(), expected.numpy(), atol=1e-6)


def test_pool_items_reads_one_split():
    pixels, classes = pool_items(_pool(), "train")
    assert pixels.shape == (3, 3, 3)
    np.testing.assert_array_equal(classes, [0, 1, 1])
    np.testing.assert_array_equal(pixels[2].ravel(), np.arange(27, 36))


def test_pool_items_names_an_item_with_the_wrong_pixel_count():
    pool = _pool()
    pool.loc[1, "pixels"] = b"\x00" * 5
    with pytest.raises(ValueError, match="item 'i1': pixels has 5 bytes, expected 3x3"):
        pool_items(pool, "train")


def test_a_bad_canvas_setting_is_refused():
    with pytest.raises(ValueError, match="blank_probability must be in"):
        CanvasConfig(blank_probability=1.0)
