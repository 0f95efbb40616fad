"""Reading the tagged-art sources into one release: every item's metadata and RGBA pixels.

Rendering 8,121 SVGs takes minutes, so the pixels are cached in a parquet file keyed by each source file's
(path, size, mtime) and the render settings: a warm run renders nothing. Items that cannot be used are kept
in the release's ``skipped`` table with the reason (they go to ``data_report``).
"""

from __future__ import annotations

import json
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ovmlr.data.tables import REPORT_SCHEMA, empty_frame

from .render import RenderError, load_emoji_font, rasterise_svg, render_emoji
from .sources import EmojiAnnotation, merge_annotations, parse_cldr_annotations, parse_svg_metadata

logger = logging.getLogger(__name__)

ITEM_SCHEMA = {
    "item_id": "str",  # oca/<path below the svg folder, no suffix>, noto/<hex>, openmoji/<hex>
    "group_id": "str",  # one pool per group: an emoji (its code points) in every style; else the item
    "source": "str",  # openclipart | noto-emoji | openmoji
    "path": "str",  # the SVG file, or the emoji's characters
    "title": "str",  # dc:title, or the emoji's CLDR short name
    "tags": "object",  # list[str]: dc:subject bag, or CLDR keywords, as written
    "creator": "str",  # dc:creator ("" for emoji)
    "licence": "str",
    "pixels": "object",  # bytes: RGBA uint8 [S, S, 4], row-major
}
CACHE_COLUMNS = [*ITEM_SCHEMA, "key", "reason"]
EMOJI_LICENCE = "SIL OFL 1.1 (Noto Color Emoji); keywords: Unicode License v3 (CLDR)"
OPENMOJI_LICENCE = "CC BY-SA 4.0 (OpenMoji)"
VARIATION_SELECTORS = {0xFE0E, 0xFE0F}
RENDER_VERSION = 2  # bump when rendering changes, so that cached pixels are redone


@dataclass(frozen=True)
class TaggedArtSources:
    """Where the sources lie and how items are rendered (the ``raw_source`` dataset's arguments)."""

    openclipart_dir: str  # Debian openclipart-svg: /usr/share/openclipart/svg
    cldr_annotations: tuple[
        str, ...
    ]  # Debian unicode-cldr-core: annotations/en.xml, annotationsDerived/en.xml
    emoji_font: str  # Debian fonts-noto-color-emoji: NotoColorEmoji.ttf
    openmoji_dir: str | None = (
        None  # npm openmoji: the package folder (data/openmoji.json, color/svg/); None: unused
    )
    raster_size: int = 48  # S: items are rendered to S×S RGBA
    max_svg_bytes: int = 4_000_000  # larger SVG files are skipped (the largest Openclipart file: 1.7 MB)
    max_aspect: float = 4.0  # wider (or taller) drawings are skipped
    num_workers: int = 2  # processes rendering SVGs


@dataclass(frozen=True)
class TaggedArtRelease:
    """Every usable item (``items``, columns ``ITEM_SCHEMA``) and the skipped ones (``skipped``)."""

    items: pd.DataFrame
    skipped: pd.DataFrame
    raster_size: int


OPENMOJI_HOW = "the npm package openmoji (make dataset: scripts/ensure_tagged_art.sh unpacks it)"


def require_package_path(path: str, package: str, what: str) -> Path:
    """``path`` if it exists, else a ``FileNotFoundError`` saying which package provides it.

    ``package`` is a Debian package name, or a sentence saying how to install a non-Debian one.
    """
    found = Path(path)
    if not found.exists():
        how = (
            f"Install the Debian package {package} (apt-get update && apt-get install {package})"
            if " " not in package
            else f"Install {package}"
        )
        raise FileNotFoundError(f"{what} not found: {found}. {how}, or point the catalog's raw_source at it")
    return found


def file_key(path: Path, sources: TaggedArtSources) -> str:
    """Cache key of a source file: path, size, mtime and the render settings."""
    if not path.is_file():
        return f"{path}|missing|v{RENDER_VERSION}"  # rendered again (and reported) until it appears
    stat = path.stat()
    return (
        f"{path}|{stat.st_size}|{stat.st_mtime_ns}|{sources.raster_size}|{sources.max_aspect}|"
        f"{sources.max_svg_bytes}|v{RENDER_VERSION}"
    )


def emoji_group(code_points: list[int]) -> str:
    """The group of an emoji in every style: its code points in hex, variation selectors dropped."""
    return "emoji/" + "-".join(f"{c:x}" for c in code_points if c not in VARIATION_SELECTORS)


def _render_svg_file(task: tuple[dict[str, object], int, int, float]) -> dict[str, object]:
    """Worker: pixels of one SVG file, and its RDF metadata where the row has none (errors -> ``reason``)."""
    row, size, max_bytes, max_aspect = task
    row = {"pixels": b"", "reason": ""} | row
    path = str(row["path"])
    try:
        data = Path(path).read_bytes()
        if row["source"] == "openclipart":
            meta = parse_svg_metadata(data, path)
            row |= {
                "title": meta.title,
                "tags": list(meta.tags),
                "creator": meta.creator,
                "licence": meta.licence,
            }
        row["pixels"] = rasterise_svg(data, size, max_bytes, max_aspect).tobytes()
    except (RenderError, ValueError, OSError) as exc:
        row["reason"] = str(exc).replace(f"{path}: ", "")
    return row


def scan_openclipart(sources: TaggedArtSources) -> list[dict[str, object]]:
    """A row (ids, path; metadata filled by the renderer) for every ``.svg`` below the folder, sorted."""
    root = require_package_path(sources.openclipart_dir, "openclipart-svg", "Openclipart SVG folder")
    files = sorted(root.rglob("*.svg"))
    if not files:
        raise FileNotFoundError(f"{root}: no .svg file (install the Debian package openclipart-svg)")
    rows = []
    for path in files:
        item_id = f"oca/{path.relative_to(root).with_suffix('').as_posix()}"
        rows.append(
            {"item_id": item_id, "group_id": item_id, "source": "openclipart", "path": str(path)}
            | {"title": "", "tags": [], "creator": "", "licence": ""}
        )
    return rows


def scan_openmoji(sources: TaggedArtSources) -> list[dict[str, object]]:
    """A row per OpenMoji emoji without a skin tone: metadata from ``data/openmoji.json``, the colour SVG.

    Tags are the entry's CLDR ``tags`` and its ``openmoji_tags``; the title its ``annotation``.

    Raises:
        ValueError: ``openmoji.json`` is malformed (the message names the file and the entry).
    """
    if not sources.openmoji_dir:
        return []
    root = require_package_path(sources.openmoji_dir, OPENMOJI_HOW, "OpenMoji package folder")
    index = require_package_path(str(root / "data" / "openmoji.json"), OPENMOJI_HOW, "OpenMoji index")
    try:
        entries = json.loads(index.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{index}: not valid JSON ({exc})") from exc
    rows = []
    for position, entry in enumerate(entries):
        try:
            if entry.get("skintone"):
                continue
            hexcode = str(entry["hexcode"])
            words = f"{entry.get('tags', '')},{entry.get('openmoji_tags', '')}".split(",")
            code_points = [int(h, 16) for h in hexcode.split("-")]
        except (KeyError, ValueError, AttributeError) as exc:
            raise ValueError(f"{index}: entry {position} is malformed ({type(exc).__name__}: {exc})") from exc
        rows.append(
            {
                "item_id": f"openmoji/{hexcode.lower()}",
                "group_id": emoji_group(code_points),
                "source": "openmoji",
            }
            | {
                "path": str(root / "color" / "svg" / f"{hexcode}.svg"),
                "title": str(entry.get("annotation", "")),
            }
            | {
                "tags": [w.strip() for w in words if w.strip()],
                "creator": str(entry.get("openmoji_author", "")),
            }
            | {"licence": OPENMOJI_LICENCE}
        )
    return rows


def read_emoji_annotations(sources: TaggedArtSources) -> dict[str, EmojiAnnotation]:
    """CLDR keywords of every emoji, merged over the configured annotation files."""
    files = [
        require_package_path(p, "unicode-cldr-core", "CLDR annotation file") for p in sources.cldr_annotations
    ]
    return merge_annotations(*(parse_cldr_annotations(f.read_bytes(), str(f)) for f in files))


def render_emoji_rows(sources: TaggedArtSources, annotations: dict[str, EmojiAnnotation]) -> list[dict]:
    """One row per annotated emoji (pixels, or the reason it is skipped)."""
    from fontTools.ttLib import TTFont

    font_path = require_package_path(sources.emoji_font, "fonts-noto-color-emoji", "emoji font")
    font = load_emoji_font(str(font_path))
    covered = frozenset(TTFont(str(font_path)).getBestCmap())
    rows = []
    for sequence, entry in sorted(annotations.items()):
        group = emoji_group([ord(c) for c in sequence])
        item_id = "noto/" + group.removeprefix("emoji/")
        row = {
            "item_id": item_id,
            "group_id": group,
            "source": "noto-emoji",
            "path": sequence,
            "title": entry.name,
        }
        row |= {"tags": list(entry.keywords), "creator": "", "licence": EMOJI_LICENCE, "reason": ""}
        try:
            pixels = render_emoji(font, sequence, covered, sources.raster_size, sources.max_aspect)
            row["pixels"] = pixels.tobytes()
        except RenderError as exc:
            row |= {"pixels": b"", "reason": str(exc)}
        rows.append(row)
    return rows


def emoji_key(sources: TaggedArtSources) -> str:
    """Cache key of the emoji rows: the font and annotation files and the render settings."""
    paths = [Path(sources.emoji_font), *map(Path, sources.cldr_annotations)]
    return "+".join(file_key(p, sources) for p in paths)


def read_tagged_art(
    sources: TaggedArtSources, cache: pd.DataFrame | None
) -> tuple[TaggedArtRelease, pd.DataFrame]:
    """The release, rendering only what ``cache`` does not hold; returns ``(release, new cache)``.

    Args:
        sources: Locations and render settings.
        cache: The previous cache table (``CACHE_COLUMNS``), or None.
    """
    cached = {} if cache is None else dict(zip(cache["key"], cache.to_dict("records"), strict=True))
    svg_rows = scan_openclipart(sources) + scan_openmoji(sources)
    keys = [file_key(Path(str(row["path"])), sources) for row in svg_rows]
    todo = [
        (row, sources.raster_size, sources.max_svg_bytes, sources.max_aspect)
        for row, key in zip(svg_rows, keys, strict=True)
        if key not in cached
    ]
    logger.info(
        "Tagged art: %d of %d SVG files to render (%d cached)", len(todo), len(keys), len(keys) - len(todo)
    )
    rendered = {row["item_id"]: row for row in _render_all(todo, sources.num_workers)}
    rows = [
        cached[key] if key in cached else rendered[row["item_id"]] | {"key": key}
        for row, key in zip(svg_rows, keys, strict=True)
    ]
    key = emoji_key(sources)
    emoji_rows = [r for r in cached.values() if r["key"].startswith(key + "#")]
    if not emoji_rows:
        emoji_rows = [
            r | {"key": f"{key}#{r['item_id']}"}
            for r in render_emoji_rows(sources, read_emoji_annotations(sources))
        ]
        logger.info("Tagged art: %d emoji rendered", len(emoji_rows))
    table = pd.DataFrame(rows + emoji_rows, columns=CACHE_COLUMNS)
    return release_from_table(table, sources.raster_size), table


def _render_all(tasks: list[tuple[dict[str, object], int, int, float]], num_workers: int) -> list[dict]:
    if not tasks:
        return []
    if num_workers <= 1:
        return [_render_svg_file(t) for t in tasks]
    context = multiprocessing.get_context("fork")  # workers touch no torch state
    with ProcessPoolExecutor(max_workers=num_workers, mp_context=context) as pool:
        return list(pool.map(_render_svg_file, tasks, chunksize=32))


def release_from_table(table: pd.DataFrame, raster_size: int) -> TaggedArtRelease:
    """Split the cache table into usable items and skipped ones."""
    bad = table["reason"].astype(bool)
    skipped = table.loc[bad, ["item_id", "path", "reason"]].rename(columns={"item_id": "image_id"})
    skipped = skipped.reset_index(drop=True) if len(skipped) else empty_frame(REPORT_SCHEMA)
    items = table.loc[~bad, list(ITEM_SCHEMA)].reset_index(drop=True)
    items["tags"] = items["tags"].map(list)
    return TaggedArtRelease(items=items, skipped=skipped, raster_size=raster_size)
