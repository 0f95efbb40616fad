"""Pretraining items on a blank canvas, exactly as open_clip preprocesses a mosaic PNG."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from open_clip.transform import PreprocessCfg, image_transform_v2
from PIL import Image

from ovmlr.backbones.canvas import place_on_canvas, pool_items, to_model_input


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


def test_items_land_on_their_tile_of_a_black_canvas():
    items = np.array([[[1, 2], [3, 4]], [[5, 6], [7, 8]]], dtype=np.uint8)
    canvas = place_on_canvas(items, np.array([1, 2]), grid=2)
    assert canvas.shape == (2, 4, 4)
    np.testing.assert_array_equal(canvas[0], [[0, 0, 1, 2], [0, 0, 3, 4], [0, 0, 0, 0], [0, 0, 0, 0]])
    np.testing.assert_array_equal(canvas[1], [[0, 0, 0, 0], [0, 0, 0, 0], [5, 6, 0, 0], [7, 8, 0, 0]])


def test_model_input_equals_open_clips_preprocessing_of_the_grayscale_png(tmp_path):
    rng = np.random.default_rng(0)
    canvas = place_on_canvas(rng.integers(0, 256, (1, 28, 28), dtype=np.uint8), np.array([3]), grid=2)
    Image.fromarray(canvas[0]).save(tmp_path / "mosaic.png")
    preprocess = image_transform_v2(PreprocessCfg(size=56), is_train=False)
    cfg = PreprocessCfg()
    expected = preprocess(Image.open(tmp_path / "mosaic.png"))
    actual = to_model_input(canvas, cfg.mean, cfg.std)[0]
    np.testing.assert_allclose(actual.numpy(), expected.numpy(), atol=1e-6)


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


def test_tiles_outside_the_canvas_are_refused():
    with pytest.raises(ValueError, match=r"in \[0, 4\)"):
        place_on_canvas(np.zeros((1, 2, 2), np.uint8), np.array([4]), grid=2)


def test_rgba_items_are_drawn_on_a_light_background_in_their_tile():
    from ovmlr.backbones.canvas import place_rgba_on_canvas

    item = np.zeros((1, 8, 8, 4), dtype=np.uint8)
    item[0, 2:6, 2:6] = (255, 0, 0, 255)
    canvas = place_rgba_on_canvas(item, np.array([3]), grid=2, tile_size=8, rng=np.random.default_rng(0))
    assert canvas.shape == (1, 16, 16, 3)
    assert (canvas[0, :8].min(axis=2) >= 150).all()  # tiles 0 and 1: background only
    red = (canvas[0, ..., 0] > 200) & (canvas[0, ..., 1] < 60)
    assert red.any() and red[8:, 8:].sum() == red.sum()  # the item lies in tile 3


def test_model_input_equals_open_clips_preprocessing_of_the_rgb_png(tmp_path):
    rgb = np.random.default_rng(1).integers(0, 256, (1, 56, 56, 3), dtype=np.uint8)
    Image.fromarray(rgb[0]).save(tmp_path / "mosaic.png")
    expected = image_transform_v2(PreprocessCfg(size=56), is_train=False)(Image.open(tmp_path / "mosaic.png"))
    cfg = PreprocessCfg()
    np.testing.assert_allclose(to_model_input(rgb, cfg.mean, cfg.std)[0].numpy(), expected.numpy(), atol=1e-6)
