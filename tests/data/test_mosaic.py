import numpy as np
import pytest

from ovmlr.data.mosaic import BLANK, compose_mosaics, fill_layout, layout_labels, plan_occupancy


def test_occupancy_keeps_one_item_per_image_and_follows_the_blank_rate():
    occupied = plan_occupancy(4000, 2, 0.6, np.random.default_rng(1))
    assert occupied.shape == (4000, 4)
    assert occupied.any(axis=1).all()
    # Tiles are blank with p=0.6, except one forced tile in all-blank rows (0.6**4 of them).
    expected_items = 4 * 0.4 + 0.6**4
    assert abs(occupied.sum(axis=1).mean() - expected_items) < 0.05


def test_occupancy_is_deterministic_given_the_seed():
    a = plan_occupancy(50, 3, 0.3, np.random.default_rng(7))
    b = plan_occupancy(50, 3, 0.3, np.random.default_rng(7))
    c = plan_occupancy(50, 3, 0.3, np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize(
    ("grid", "p", "message"), [(0, 0.1, "grid_size must be >= 1"), (2, 1.0, r"\[0, 1\)")]
)
def test_occupancy_rejects_bad_settings(grid, p, message):
    with pytest.raises(ValueError, match=message):
        plan_occupancy(3, grid, p, np.random.default_rng(0))


def test_fill_layout_uses_each_item_once_in_order():
    occupied = np.array([[True, False, True, True], [False, True, False, False]])
    layout = fill_layout(occupied, np.array([10, 11, 12, 13, 14]))
    assert layout.tolist() == [[10, BLANK, 11, 12], [BLANK, 13, BLANK, BLANK]]
    with pytest.raises(ValueError, match="need 4 items but only 3 are available"):
        fill_layout(occupied, np.array([1, 2, 3]))


def test_compose_places_tiles_row_major_and_blanks_are_zero():
    pixels = np.stack([np.full((2, 3), v, dtype=np.uint8) for v in (5, 6, 7)])
    mosaic = compose_mosaics(pixels, np.array([[2, BLANK, 0, 1]]))[0]
    assert mosaic.shape == (4, 6)
    assert (mosaic[:2, :3] == 7).all() and (mosaic[:2, 3:] == 0).all()
    assert (mosaic[2:, :3] == 5).all() and (mosaic[2:, 3:] == 6).all()


def test_labels_are_the_set_of_tile_classes():
    layout = np.array([[0, 1, BLANK, 2], [BLANK, BLANK, 3, BLANK]])
    classes = np.array([4, 4, 1, 0])
    assert layout_labels(layout, classes, 5).tolist() == [[0, 1, 0, 0, 1], [1, 0, 0, 0, 0]]
