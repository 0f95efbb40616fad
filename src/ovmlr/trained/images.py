"""Images from users: any common format and mode, from a file path or from bytes (base64 in requests).

Every image becomes RGB the same way: EXIF orientation applied, palette and greyscale modes converted,
transparency composited onto white (clip-art and emoji are drawn on transparent canvases).
"""

from __future__ import annotations

import base64
import binascii
import io
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")


def to_rgb(image: Image.Image) -> Image.Image:
    """``image`` as RGB: EXIF rotation applied, alpha composited onto white."""
    image = ImageOps.exif_transpose(image)
    if image.mode in ("P", "LA", "PA") or (image.mode == "L" and "transparency" in image.info):
        image = image.convert("RGBA")
    if image.mode == "RGBA":
        canvas = Image.new("RGB", image.size, (255, 255, 255))
        canvas.paste(image, mask=image.getchannel("A"))
        return canvas
    return image.convert("RGB")


def open_image(path: str | Path) -> Image.Image:
    """The fully decoded RGB image of a file.

    Raises:
        ValueError: Naming the file when it is missing or not a decodable image.
    """
    try:
        with Image.open(path) as image:
            image.load()
            return to_rgb(image)
    except FileNotFoundError as exc:
        raise ValueError(f"image '{path}': no such file") from exc
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ValueError(f"image '{path}': not a readable image ({type(exc).__name__}: {exc})") from exc


def image_from_bytes(data: bytes | str, where: str = "image") -> Image.Image:
    """The RGB image of raw bytes or a base64 string.

    Raises:
        ValueError: Naming ``where`` when the value is not base64 or not an image.
    """
    if isinstance(data, str):
        try:
            data = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"{where}: not base64-encoded image bytes ({exc})") from exc
    if not isinstance(data, bytes | bytearray) or not data:
        raise ValueError(f"{where}: expected image bytes or a base64 string, got {type(data).__name__}")
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            return to_rgb(image)
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ValueError(
            f"{where}: the bytes are not a readable image ({type(exc).__name__}: {exc})"
        ) from exc


def encode_file_base64(path: str | Path) -> str:
    """A file's bytes as base64 text (the ``image`` column of a serving request)."""
    return base64.b64encode(Path(path).read_bytes()).decode("ascii")


def find_images(images: str | list[str]) -> list[str]:
    """Image files of a folder (recursively), a glob pattern (``**`` allowed), or a list of either.

    Files are kept when their suffix is an image suffix (:data:`IMAGE_SUFFIXES`, any case), sorted.

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
        files = [f for f in files if Path(f).suffix.lower() in IMAGE_SUFFIXES]
        if not files:
            raise ValueError(
                f"predict.images: no image file ({', '.join(IMAGE_SUFFIXES)}) in or matching {str(pattern)!r}"
            )
        found += files
    return sorted(dict.fromkeys(found))


class UserImageDataset:
    """Image files through a model's preprocessing; a file that cannot be read gives its reason instead.

    Items are ``(image [3, H, W], error)``: a placeholder of zeros and the reason for an unreadable file.
    """

    def __init__(self, paths: list[str], transform, image_size: tuple[int, int]) -> None:
        self.paths, self.transform, self.image_size = list(paths), transform, tuple(image_size)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        import torch

        try:
            return self.transform(open_image(self.paths[index])), ""
        except ValueError as exc:
            return torch.zeros(3, *self.image_size), str(exc)
