"""Images from users: any common format and mode, from a file path or from bytes (base64 in requests).

Every image becomes RGB the same way: EXIF orientation applied, palette and greyscale modes converted,
16-bit greyscale scaled to 8 bits, transparency composited onto white (clip-art and emoji are drawn on
transparent canvases). Only the first frame of an animated image is used.

An image that cannot be used raises :class:`ImageRefused`, whose ``reason`` names no file: the same bytes
give the same reason wherever they lie, so it can be cached by content. The pixel count a header claims is
checked before anything is decoded (:func:`ovmlr.trained.limits.check_pixels`).
"""

from __future__ import annotations

import base64
import binascii
import io
import re
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .limits import LimitExceeded, check_pixels

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")
# Listed by find_images so that predict reports them as skipped (with the reason) instead of ignoring them.
UNSUPPORTED_SUFFIXES = (".svg", ".svgz")
_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N", "I")


class ImageRefused(ValueError):
    """An image that cannot be used.

    Attributes:
        where: What the image was (a file, a request's row), as the message shows it.
        reason: Why, naming no file (safe to cache by content).
    """

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where, self.reason = where, reason


def to_rgb(image: Image.Image) -> Image.Image:
    """``image`` as RGB: EXIF rotation applied, 16-bit scaled to 8 bits, alpha composited onto white."""
    image = ImageOps.exif_transpose(image)
    if image.mode in _SIXTEEN_BIT:  # 0..65535: convert("RGB") would clip everything above 255 to white
        image = Image.fromarray((np.asarray(image, dtype=np.float64) / 257).clip(0, 255).astype(np.uint8))
    elif image.mode == "F":
        image = Image.fromarray(np.asarray(image, dtype=np.float64).clip(0, 255).astype(np.uint8))
    if image.mode in ("P", "LA", "PA") or (image.mode == "L" and "transparency" in image.info):
        image = image.convert("RGBA")
    if image.mode == "RGBA":
        canvas = Image.new("RGB", image.size, (255, 255, 255))
        canvas.paste(image, mask=image.getchannel("A"))
        return canvas
    return image.convert("RGB")


def _unknown_format(head: bytes) -> str:
    """Why bytes that no image decoder recognises were refused (SVG named: a common mistake)."""
    if not head:
        return "not a readable image (empty: 0 bytes)"
    if b"<svg" in head[:1024].lower():
        return "not a readable image (an SVG vector drawing: rasterise it to PNG first)"
    return "not a readable image (no known image format)"


def _bomb_reason(exc: Image.DecompressionBombError, max_pixels: int | None) -> str:
    """The pixel limit's reason for an image Pillow refused on opening (its size is only in the message)."""
    claimed = re.search(r"\((\d+) pixels\)", str(exc))
    pixels = f"{int(claimed.group(1)):,} pixels" if claimed else "more pixels than Pillow decodes"
    limit = f"the limit of {max_pixels:,}" if max_pixels else "Pillow's limit"
    return f"{pixels}: more than {limit} decoded pixels per image (max_image_pixels)"


def decode_image(source: BinaryIO, where: str, max_pixels: int | None = None) -> Image.Image:
    """The fully decoded RGB image of an open binary file, its size checked from the header first.

    Raises:
        ImageRefused: Naming ``where`` and why: no known format, truncated or corrupt data, too many pixels.
    """
    try:
        with Image.open(source) as image:  # reads the header only
            check_pixels(*image.size, max_pixels)
            image.load()
            return to_rgb(image)
    except LimitExceeded as exc:
        raise ImageRefused(where, str(exc)) from exc
    except Image.DecompressionBombError as exc:  # Pillow's own ceiling, checked when the header is read
        raise ImageRefused(where, _bomb_reason(exc, max_pixels)) from exc
    except UnidentifiedImageError as exc:
        source.seek(0)
        raise ImageRefused(where, _unknown_format(source.read(1024))) from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageRefused(where, f"not a readable image ({type(exc).__name__}: {exc})") from exc


def open_image(path: str | Path, max_pixels: int | None = None, where: str | None = None) -> Image.Image:
    """The fully decoded RGB image of a file.

    Args:
        path: The file.
        max_pixels: Refuse an image whose header claims more pixels (``None``: Pillow's own ceiling).
        where: How messages name the file (default ``image '<path>'``).

    Raises:
        ImageRefused: Naming the file when it is missing or not a decodable image.
    """
    where = where or f"image '{path}'"
    try:
        with open(path, "rb") as handle:
            return decode_image(handle, where, max_pixels)
    except FileNotFoundError as exc:
        raise ImageRefused(where, "no such file") from exc
    except OSError as exc:  # a folder, no permission
        raise ImageRefused(where, f"not a readable file ({type(exc).__name__})") from exc


def image_from_bytes(data: bytes | str, where: str = "image", max_pixels: int | None = None) -> Image.Image:
    """The RGB image of raw bytes or a base64 string.

    Raises:
        ImageRefused: Naming ``where`` when the value is not base64 or not an image.
    """
    if isinstance(data, str):
        try:
            data = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ImageRefused(where, f"not base64-encoded image bytes ({exc})") from exc
    if not isinstance(data, bytes | bytearray):
        raise ImageRefused(where, f"expected image bytes or a base64 string, got {type(data).__name__}")
    return decode_image(io.BytesIO(data), where, max_pixels)


def encode_file_base64(path: str | Path) -> str:
    """A file's bytes as base64 text (the ``image`` column of a serving request)."""
    return base64.b64encode(Path(path).read_bytes()).decode("ascii")


def find_images(images: str | list[str]) -> list[str]:
    """Image files of a folder (recursively), a glob pattern (``**`` allowed), or a list of either.

    Files are kept when their suffix is an image suffix (:data:`IMAGE_SUFFIXES`, any case), sorted; SVG
    files too (:data:`UNSUPPORTED_SUFFIXES`), so that ``predict`` reports them as skipped rather than ignore
    them.

    Raises:
        ValueError: Naming the folder or pattern when nothing is found.
    """
    import glob

    patterns = [images] if isinstance(images, str) else list(images)
    found: list[str] = []
    for pattern in patterns:
        path = Path(str(pattern)).expanduser()
        if path.is_dir():
            files = [str(p) for p in path.rglob("*") if p.is_file()]
        elif path.is_file():
            files = [str(path)]
        else:
            files = [p for p in glob.glob(str(path), recursive=True) if Path(p).is_file()]
        files = [f for f in files if Path(f).suffix.lower() in IMAGE_SUFFIXES + UNSUPPORTED_SUFFIXES]
        if not files:
            raise ValueError(
                f"predict.images: no image file ({', '.join(IMAGE_SUFFIXES)}) in or matching {str(pattern)!r}"
            )
        found += files
    return sorted(dict.fromkeys(found))


class UserImageDataset:
    """Image files through a model's preprocessing; a file that cannot be used gives its reason instead.

    Items are ``(image [3, H, W], reason)``: a placeholder of zeros and the reason (naming no file: it is
    cached by the file's content) for an image that cannot be used, else ``""``.

    Args:
        paths: Image files.
        transform: The model's preprocessing (PIL image -> ``[3, H, W]``).
        image_size: ``(H, W)`` of the placeholder.
        max_pixels: Refuse an image whose header claims more pixels (``None``: Pillow's own ceiling).
    """

    def __init__(
        self, paths: list[str], transform, image_size: tuple[int, int], max_pixels: int | None = None
    ) -> None:
        self.paths, self.transform, self.image_size = list(paths), transform, tuple(image_size)
        self.max_pixels = max_pixels

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        import torch

        try:
            return self.transform(open_image(self.paths[index], self.max_pixels)), ""
        except ImageRefused as exc:
            return torch.zeros(3, *self.image_size), exc.reason
