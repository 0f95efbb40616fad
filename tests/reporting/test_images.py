"""Reading the report images named by the manifest."""

from __future__ import annotations

import numpy as np
import pytest

from ovmlr.reporting.images import read_manifest_images


def test_reads_rgb_images_in_the_requested_order(manifest, images) -> None:
    read = read_manifest_images(manifest, ["img2", "img0"])
    assert list(read) == ["img2", "img0"]
    np.testing.assert_array_equal(read["img2"], images["img2"])


def test_missing_rows_files_and_bad_files_are_named(manifest, tmp_path) -> None:
    with pytest.raises(ValueError, match=r"no row for image ids \['zzz'\]"):
        read_manifest_images(manifest, ["zzz"])
    with pytest.raises(ValueError, match=r"lacks columns \['path'\]"):
        read_manifest_images(manifest.drop(columns="path"), ["img0"])
    moved = manifest.assign(path=manifest["path"].str.replace("img1", "gone"))
    with pytest.raises(FileNotFoundError, match="image 'img1' points to .*gone.png"):
        read_manifest_images(moved, ["img1"])
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    with pytest.raises(ValueError, match="cannot decode image 'img0'"):
        read_manifest_images(manifest.assign(path=str(broken)), ["img0"])
