"""Images from users: every format and mode becomes RGB; unreadable files and bytes are named."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from PIL import Image

from ovmlr.trained.images import (
    ImageRefused,
    encode_file_base64,
    find_images,
    image_from_bytes,
    open_image,
    to_rgb,
)


def test_every_mode_becomes_rgb_with_alpha_on_white(image_files) -> None:
    for path in image_files:
        image = open_image(path)
        assert image.mode == "RGB", path
    transparent = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    assert np.asarray(to_rgb(transparent)).min() == 255  # fully transparent: white, not black


def test_base64_and_bytes_decode_to_the_same_image(image_files) -> None:
    text = encode_file_base64(image_files[1])
    a = np.asarray(image_from_bytes(text))
    b = np.asarray(image_from_bytes(base64.b64decode(text)))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, np.asarray(open_image(image_files[1])))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("not base64!", "not base64"),
        (base64.b64encode(b"plain text").decode(), "not a readable image"),
        (b"", r"not a readable image \(empty: 0 bytes\)"),
        ("", r"not a readable image \(empty: 0 bytes\)"),
        (3, "expected image bytes or a base64 string, got int"),
    ],
)
def test_bad_bytes_are_named(value, message) -> None:
    with pytest.raises(ValueError, match=f"row 3 'image'.*{message}|{message}"):
        image_from_bytes(value, where="row 3 'image'")


def test_unreadable_files_are_named(tmp_path) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="broken.jpg': not a readable image"):
        open_image(broken)
    with pytest.raises(ValueError, match="no such file"):
        open_image(tmp_path / "missing.png")


def test_find_images_searches_folders_recursively_and_globs(image_files, tmp_path) -> None:
    folder = image_files[0].parent
    (folder / "notes.txt").write_text("not an image")
    found = find_images(str(folder))
    assert [p.rsplit("/", 1)[-1] for p in found] == ["a.jpg", "b.png", "c.png", "e.gif", "d.webp"]
    assert find_images(str(folder / "*.png")) == [str(folder / "b.png"), str(folder / "c.png")]
    assert find_images([str(folder / "a.jpg"), str(folder / "**" / "*.webp")]) == [
        str(folder / "a.jpg"),
        str(folder / "sub" / "d.webp"),
    ]
    with pytest.raises(ValueError, match="no image file"):
        find_images(str(tmp_path / "nothing-here"))


def test_sixteen_bit_greyscale_is_scaled_not_clipped(tmp_path) -> None:
    levels = np.linspace(0, 65535, 64 * 48).reshape(48, 64).astype(np.uint16)
    Image.fromarray(levels).save(tmp_path / "deep.png")
    grey = np.asarray(open_image(tmp_path / "deep.png"))[..., 0].astype(int)
    np.testing.assert_allclose(
        grey, levels / 257, atol=1
    )  # Pillow's convert("RGB") clips 256..65535 to white


def test_a_reason_names_no_file_so_it_can_be_cached_by_content(tmp_path) -> None:
    reasons = set()
    for folder in ("run1", "run2"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "broken.jpg").write_bytes(b"garbage")
        with pytest.raises(ImageRefused, match=f"{folder}/broken.jpg': not a readable image") as info:
            open_image(tmp_path / folder / "broken.jpg")
        reasons.add(info.value.reason)
    assert reasons == {"not a readable image (no known image format)"}


def test_the_pixel_limit_is_checked_from_the_header_before_decoding(tmp_path) -> None:
    Image.new("RGB", (100, 60)).save(tmp_path / "big.png")
    assert open_image(tmp_path / "big.png", max_pixels=6000).size == (100, 60)
    with pytest.raises(ImageRefused, match=r"100 x 60 = 6,000 pixels: more than the limit of 5,999"):
        open_image(tmp_path / "big.png", max_pixels=5999)
    encoded = encode_file_base64(tmp_path / "big.png")
    with pytest.raises(ImageRefused, match=r"row 0 'image': 100 x 60 .*\(max_image_pixels\)"):
        image_from_bytes(encoded, "row 0 'image'", max_pixels=5999)


def test_svg_files_are_listed_and_refused_with_the_reason(tmp_path) -> None:
    (tmp_path / "drawing.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>')
    assert find_images(str(tmp_path)) == [str(tmp_path / "drawing.svg")]  # listed: predict reports it
    with pytest.raises(ImageRefused, match="an SVG vector drawing: rasterise it to PNG first"):
        open_image(tmp_path / "drawing.svg")
