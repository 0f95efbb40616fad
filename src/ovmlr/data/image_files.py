"""Checks on the image files of a photo dataset: present, size, decodable."""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
from PIL import Image

MISSING = "missing file"


def inspect_image(path: str, verify: bool) -> tuple[int, str]:
    """``(size_bytes, problem)`` of one file; ``size_bytes`` is -1 when missing, ``problem`` "" when fine.

    Decoding uses Pillow's draft mode (JPEGs are decoded at reduced scale), which still reads the whole
    compressed stream, so truncated or corrupt files are caught cheaply.
    """
    try:
        size = os.stat(path).st_size
    except OSError:
        return -1, MISSING
    if not verify:
        return size, ""
    try:
        with Image.open(path) as image:
            image.draft("RGB", (64, 64))
            image.load()
    except Exception as exc:  # noqa: BLE001 - any decoder failure means "cannot be used"
        return size, f"undecodable: {type(exc).__name__}: {exc}"
    return size, ""


def inspect_images(paths: Sequence[str], verify: bool, num_workers: int) -> pd.DataFrame:
    """``size_bytes`` and ``problem`` per path (same order), checked by ``num_workers`` threads."""
    with ThreadPoolExecutor(max_workers=max(1, num_workers)) as pool:
        results = list(pool.map(lambda p: inspect_image(p, verify), paths))
    return pd.DataFrame(results or None, columns=["size_bytes", "problem"]).astype({"size_bytes": "int64"})
