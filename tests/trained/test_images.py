"""Images from users: every format and mode becomes RGB; unreadable files and bytes are named."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from PIL import Image

from ovmlr.trained.images import encode_file_base64, find_images, image_from_bytes, open_image, to_rgb


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
        (b"", "expected"),
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
