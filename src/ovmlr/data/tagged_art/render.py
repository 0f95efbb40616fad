"""Pixels of the tagged-art items: SVG rasterisation (cairosvg) and colour emoji glyphs (Pillow).

Every item becomes a square RGBA array ``[S, S, 4]`` uint8: the drawing scaled to fit ``S × S`` with its
aspect ratio kept, centred on a transparent background. An item that cannot be used raises
:class:`RenderError` with the reason that ``data_report`` lists (does not render, timed out, blank, extreme
aspect ratio, glyph missing from the font).

SVG renderers, measured here on 300 Openclipart files (2026-12-03): resvg (PyPI ``resvg-py``, Rust) 7.5 ms
per file but it refuses 30 % of them ("invalid size": no usable width/height); cairosvg 44 ms per file and
renders nearly all. So resvg renders first and cairosvg takes what resvg refuses.

**Deterministic pixels.** cairo keeps process-wide font and glyph caches, and a file with ``<text>`` came out
differently depending on which files the same worker had rendered before (18 of 10,586 files differed
between two cold builds, enough to change pixel deduplication and so the vocabulary: 289 vs 283
categories). cairo's static data is therefore reset before every cairosvg render
(``cairo_debug_reset_static_data``), which gives what a fresh process gives, whatever the order. No limit
depends on the wall clock: a file is skipped only for what it is (``max_svg_bytes``, does not render, blank,
aspect), so every machine renders the same items.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageFont

# CBDT bitmap colour fonts (Noto Color Emoji) only open at their strike size.
EMOJI_STRIKE_SIZE = 109


class RenderError(ValueError):
    """An item that yields no usable pixels; ``str(error)`` is the reason for ``data_report``."""


def fit_square(image: Image.Image, size: int, max_aspect: float) -> np.ndarray:
    """``image`` (RGBA) cropped to its visible content, scaled to fit ``size × size``, centred.

    Raises:
        RenderError: Fully transparent (blank), or content more than ``max_aspect`` times wider than tall
            (or taller than wide).

    Shapes:
        -> ``[size, size, 4]`` uint8.
    """
    image = image.convert("RGBA")
    box = image.getchannel("A").point(lambda a: 255 if a > 8 else 0).getbbox()
    if box is None:
        raise RenderError("blank: no visible pixel")
    content = image.crop(box)
    w, h = content.size
    if max(w, h) > max_aspect * min(w, h):
        raise RenderError(f"extreme aspect ratio {w}x{h} (max {max_aspect:g}:1)")
    scale = size / max(w, h)
    new = (max(1, round(w * scale)), max(1, round(h * scale)))
    content = content.resize(new, Image.Resampling.LANCZOS)
    canvas = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    canvas.paste(content, ((size - new[0]) // 2, (size - new[1]) // 2))
    return np.asarray(canvas, dtype=np.uint8)


def rasterise_svg(data: bytes, size: int, max_bytes: int, max_aspect: float) -> np.ndarray:
    """Render an SVG document to ``[size, size, 4]`` RGBA (see :func:`fit_square`).

    It is rendered at 2× ``size`` on its longer side, then cropped and downscaled, so that thin strokes
    survive the reduction: by resvg, or by cairosvg (from a reset cairo state) where resvg refuses it.

    Raises:
        RenderError: The document is larger than ``max_bytes``, neither renderer renders it, or the result
            is blank or of extreme aspect ratio.
    """
    import cairocffi
    import cairosvg
    import resvg_py

    if len(data) > max_bytes:
        raise RenderError(f"larger than {max_bytes:,} bytes ({len(data):,}): not rendered")
    try:
        png = bytes(resvg_py.svg_to_bytes(svg_string=data.decode("utf-8"), width=2 * size))
    except (ValueError, UnicodeDecodeError):
        cairocffi.cairo.cairo_debug_reset_static_data()  # no font/glyph cache from an earlier file
        try:
            png = cairosvg.svg2png(bytestring=data, output_width=2 * size, unsafe=False)
        except Exception as exc:  # cairosvg raises many types on malformed input
            raise RenderError(f"does not render: {type(exc).__name__}: {exc}"[:200]) from exc
    with Image.open(io.BytesIO(png)) as image:
        return fit_square(image, size, max_aspect)


def load_emoji_font(path: str) -> ImageFont.FreeTypeFont:
    """The colour emoji font at its bitmap strike size."""
    try:
        return ImageFont.truetype(path, EMOJI_STRIKE_SIZE)
    except OSError as exc:
        raise FileNotFoundError(
            f"{path}: cannot open the emoji font ({exc}); install the Debian package fonts-noto-color-emoji"
        ) from exc


def render_emoji(
    font: ImageFont.FreeTypeFont, sequence: str, covered: frozenset[int], size: int, max_aspect: float
) -> np.ndarray:
    """Draw one emoji (a code point sequence) in colour to ``[size, size, 4]`` RGBA.

    Args:
        font: From :func:`load_emoji_font`.
        sequence: The emoji's characters.
        covered: Code points the font maps (its cmap); variation selectors and ZWJ need not be.
        size: Output side.
        max_aspect: See :func:`fit_square`.

    Raises:
        RenderError: A code point is missing from the font, or the drawing is blank.
    """
    joiners = {0x200D, 0xFE0F, 0xFE0E, 0x20E3}
    missing = [f"U+{ord(c):04X}" for c in sequence if ord(c) not in covered and ord(c) not in joiners]
    if missing:
        raise RenderError(f"glyph not in the font: {' '.join(missing)}")
    side = 2 * EMOJI_STRIKE_SIZE
    image = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    from PIL import ImageDraw

    ImageDraw.Draw(image).text((side // 4, side // 4), sequence, font=font, embedded_color=True)
    return fit_square(image, size, max_aspect)
