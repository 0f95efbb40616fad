"""Write a corpus of hostile image files: what a careless or malicious client sends to ``predict`` and the
served model. ``python scripts/hostile_images.py <folder>`` writes them and prints what each should give.

Each file is either **refused** (``predict`` skips it, the served model answers HTTP 400; the reason matches
``reason``) or **scored** (an unusual but valid image: it becomes RGB like any other, only its pixels are
read). Nothing may crash the process or run past a time limit. ``tests/trained/test_hostile_images.py``
runs the corpus through both.
"""

from __future__ import annotations

import io
import struct
import sys
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Hostile:
    """One file of the corpus.

    Attributes:
        name: File name.
        what: What the file is.
        outcome: ``refused`` or ``scored``.
        reason: Regular expression the refusal's reason matches (for ``scored``: why it is a valid image).
    """

    name: str
    what: str
    outcome: str
    reason: str


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def huge_png_header(width: int = 100_000, height: int = 100_000) -> bytes:
    """A PNG whose header claims ``width x height`` RGB pixels, with one row of data (a pixel flood)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = zlib.compress(b"\x00" + b"\x00" * 3 * 16)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", data)
        + _png_chunk(b"IEND", b"")
    )


def _encoded(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def _zip_payload() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.html", "<html><script>alert('polyglot')</script></html>")
    return buffer.getvalue()


def corpus() -> dict[Hostile, bytes]:
    """Every hostile file and its bytes."""
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    jpeg, png = _encoded(rgb, "JPEG", quality=90), _encoded(rgb, "PNG")
    gradient = (np.arange(48 * 64, dtype=np.uint32).reshape(48, 64) * 21).astype(np.uint16)
    frames = [Image.new("P", (32, 32), i * 60) for i in range(3)]
    svg = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>'
    return {
        Hostile("zero_bytes.jpg", "an empty file", "refused", r"empty: 0 bytes"): b"",
        Hostile("truncated.jpg", "a JPEG cut at 60 %", "refused", "not a readable image"): jpeg[
            : int(len(jpeg) * 0.6)
        ],
        Hostile("truncated.png", "a PNG cut at 50 %", "refused", "not a readable image"): png[
            : len(png) // 2
        ],
        Hostile(
            "huge_header.png", "a PNG header claiming 100,000 x 100,000", "refused", "max_image_pixels"
        ): huge_png_header(),
        Hostile("sixteen_bit.png", "a 16-bit greyscale PNG", "scored", "scaled to 8 bits"): _encoded(
            Image.fromarray(gradient), "PNG"
        ),
        Hostile("cmyk.jpg", "a CMYK JPEG", "scored", "converted to RGB"): _encoded(
            rgb.convert("CMYK"), "JPEG"
        ),
        Hostile("animated.gif", "an animated GIF, 3 frames", "scored", "first frame"): _encoded(
            frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0
        ),
        Hostile(
            "polyglot.jpg", "a JPEG with a ZIP (HTML + script) appended", "scored", "only the pixels are read"
        ): jpeg + _zip_payload(),
        Hostile(
            "text.jpg", "a text file named .jpg", "refused", "no known image format"
        ): b"hello, not a jpeg\n",
        Hostile("drawing.svg", "an SVG drawing", "refused", "SVG"): svg,
    }


def write_hostile_images(folder: str | Path) -> list[Hostile]:
    """Write the corpus into ``folder`` (created); returns its entries in file-name order."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files = corpus()
    for entry, data in files.items():
        (folder / entry.name).write_bytes(data)
    return sorted(files, key=lambda entry: entry.name)


def main() -> None:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "hostile_images")
    for entry in write_hostile_images(folder):
        print(f"{entry.name:18s} {entry.outcome:8s} {entry.what} ({entry.reason})")


if __name__ == "__main__":
    main()
