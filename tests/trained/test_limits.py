"""The serving limits and the path rule: settings from the environment, each limit named when exceeded, and
no path outside the allowed folder, whether it exists or not."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ovmlr.trained.limits import (
    PATH_INPUT_OFF,
    PATH_REFUSED,
    LimitExceeded,
    PathRefused,
    ServingLimits,
    check_pixels,
    env_name,
)


def test_limits_come_from_ovmlr_environment_variables(tmp_path) -> None:
    environ = {
        "OVMLR_MAX_ROWS": "8",
        "OVMLR_MAX_IMAGE_PIXELS": "1_000_000",
        "OVMLR_SERVE_PATH_ROOT": str(tmp_path),
    }
    limits = ServingLimits.from_env(environ)
    assert limits.max_rows == 8 and limits.max_image_pixels == 1_000_000
    assert limits.serve_path_root == tmp_path.resolve() and limits.max_labels == ServingLimits().max_labels
    assert ServingLimits.from_env({}).serve_path_root is None  # path input is off by default
    assert env_name("label_cache_bytes") == "OVMLR_LABEL_CACHE_BYTES"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"OVMLR_MAX_ROWS": "many"}, "OVMLR_MAX_ROWS='many' is not an integer"),
        ({"OVMLR_MAX_LABELS": "0"}, r"max_labels \(OVMLR_MAX_LABELS\) must be a positive integer"),
        (
            {"OVMLR_SERVE_PATH_ROOT": "/no/such/folder"},
            "OVMLR_SERVE_PATH_ROOT='/no/such/folder' is not a folder",
        ),
    ],
)
def test_a_bad_setting_is_named_when_the_server_starts(environ, message) -> None:
    with pytest.raises(ValueError, match=message):
        ServingLimits.from_env(environ)


@pytest.mark.parametrize(
    ("rows", "size", "labels", "message"),
    [
        (5, 10, None, r"5 images: the limit is 4 \(max_rows\)"),
        (1, 1001, None, r"1,001 bytes .* the limit is 1,000 \(max_request_bytes\)"),
        (1, 10, ["a", "b", "c", "d"], r"4 labels: the limit is 3 \(max_labels\)"),
        (1, 10, ["a", "x" * 13], r"labels\[1\] has 13 characters: the limit is 12 \(max_label_chars\)"),
    ],
)
def test_each_limit_is_named_when_exceeded(rows, size, labels, message) -> None:
    limits = ServingLimits(max_rows=4, max_request_bytes=1000, max_labels=3, max_label_chars=12)
    limits.check_request(4, 1000, ["a", "b", "c"])  # at every limit: accepted
    with pytest.raises(LimitExceeded, match=message):
        limits.check_request(rows, size, labels)


def test_the_pixel_limit_reads_the_claimed_size() -> None:
    check_pixels(100, 100, 10_000)
    check_pixels(100_000, 100_000, None)
    with pytest.raises(LimitExceeded, match=r"100000 x 100000 = 10,000,000,000 pixels.*\(max_image_pixels\)"):
        check_pixels(100_000, 100_000, 50_000_000)


@pytest.fixture(name="tree")
def tree_fixture(tmp_path: Path) -> Path:
    """``root/`` with a file, a sub-folder, a symlink inside and one out; a secret file beside the root."""
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "a.png").write_bytes(b"x")
    (tmp_path / "secret.txt").write_text("secret")
    os.symlink(tmp_path / "secret.txt", root / "out.png")
    os.symlink(root / "sub" / "a.png", root / "in.png")
    return root


def test_paths_under_the_root_are_read_and_every_other_path_is_refused_alike(tree) -> None:
    limits = ServingLimits(serve_path_root=tree)
    assert limits.resolve_path("sub/a.png") == tree / "sub" / "a.png"
    assert limits.resolve_path(str(tree / "sub" / "a.png")) == tree / "sub" / "a.png"
    assert limits.resolve_path("in.png") == tree / "sub" / "a.png"  # a symlink that stays inside
    assert limits.resolve_path("sub/missing.png") == tree / "sub" / "missing.png"  # inside: the caller says
    outside = [
        "../secret.txt",  # exists
        "../missing.txt",  # does not
        "sub/../../secret.txt",
        str(tree.parent / "secret.txt"),
        "/etc/passwd",
        "/no/such/file",
        "out.png",  # a symlink inside that leads out
        "a\x00b",
    ]
    messages = set()
    for path in outside:
        with pytest.raises(PathRefused) as info:
            limits.resolve_path(path)
        messages.add(str(info.value))
    assert messages == {PATH_REFUSED}  # one message: nothing tells what exists outside


def test_path_input_is_off_without_a_root(tree) -> None:
    with pytest.raises(PathRefused, match="path input is off") as info:
        ServingLimits().resolve_path(str(tree / "sub" / "a.png"))
    assert str(info.value) == PATH_INPUT_OFF
