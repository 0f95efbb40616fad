"""Image files listed in ``image_manifest``: content hashes and a torch ``Dataset`` that decodes them.

The content hash (SHA-256 of the file bytes) is the image's key in the embedding cache: the same pixels
under another name or path are encoded once, and a changed file is re-encoded. File size and
modification time (``stat_files``) tell which files changed since they were last hashed.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import torch
from PIL import Image
from torch.utils.data import Dataset


def resolve_paths(paths: Sequence[str], image_root: str) -> list[str]:
    """Manifest paths as files: absolute paths unchanged, relative ones joined to ``image_root``."""
    if image_root in ("", "."):
        return list(paths)
    return [os.path.join(image_root, p) for p in paths]  # an absolute p stays as is


def hash_file(path: str) -> tuple[str | None, str | None]:
    """``(sha256 hex, None)`` of a file's bytes, or ``(None, reason)`` when it cannot be read."""
    try:
        with open(path, "rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest(), None
    except FileNotFoundError:
        return None, "missing file"
    except OSError as exc:
        return None, f"unreadable: {type(exc).__name__}: {exc}"


def hash_files(paths: Sequence[str], num_workers: int) -> pd.DataFrame:
    """``image_key`` and ``error`` per path (same order), hashed by ``num_workers`` threads.

    Each thread hashes a contiguous batch of files (one task per file would cost more than the hash).
    """
    workers = max(1, num_workers)
    size = max(1, -(-len(paths) // (workers * 4)))
    batches = [paths[i : i + size] for i in range(0, len(paths), size)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = [r for batch in pool.map(lambda b: [hash_file(p) for p in b], batches) for r in batch]
    return pd.DataFrame(results, columns=["image_key", "error"], index=range(len(paths)), dtype=object)


def stat_file(path: str) -> tuple[int, int]:
    """``(size, mtime_ns)`` of a file, ``(-1, -1)`` when it cannot be stat-ed."""
    try:
        info = os.stat(path)
    except OSError:
        return -1, -1
    return info.st_size, info.st_mtime_ns


def stat_files(paths: Sequence[str]) -> pd.DataFrame:
    """``size`` and ``mtime_ns`` per path (same order; -1 for a missing file)."""
    results = [stat_file(p) for p in paths]  # ~2 µs each: cheaper than any thread pool
    return pd.DataFrame(results or None, columns=["size", "mtime_ns"], index=range(len(paths)), dtype="int64")


def decode_image(path: str) -> Image.Image:
    """The fully decoded image (truncated or corrupt files raise here, not later)."""
    with Image.open(path) as image:
        image.load()
        return image.copy()


class ImageFileDataset(Dataset):
    """Image files through a transform (open_clip's ``preprocess`` or ``preprocess_train``).

    Args:
        paths: Image files.
        transform: PIL image -> ``[3, H, W]`` tensor.
        image_size: ``(H, W)`` of the transform's output (shape of the placeholder of a failed image).
        skip_errors: Return ``(zeros, reason)`` for an undecodable image instead of raising.

    Items are ``(image [3, H, W], error)`` with ``error`` ``""`` for a decoded image.
    """

    def __init__(
        self,
        paths: Sequence[str],
        transform: Callable[[Image.Image], torch.Tensor],
        image_size: tuple[int, int],
        skip_errors: bool = True,
    ) -> None:
        self.paths = list(paths)
        self.transform = transform
        self.image_size = tuple(image_size)
        self.skip_errors = skip_errors

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, str]:
        path = self.paths[index]
        try:
            return self.transform(decode_image(path)), ""
        except Exception as exc:  # noqa: BLE001 - any decoder failure means "cannot be used"
            if not self.skip_errors:
                raise ValueError(f"Cannot decode image '{path}': {type(exc).__name__}: {exc}") from exc
            return torch.zeros(3, *self.image_size), f"undecodable: {type(exc).__name__}: {exc}"
