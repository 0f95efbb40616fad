"""A Kedro dataset for the tagged-art sources (Openclipart SVGs, Noto emoji + CLDR keywords)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd
from kedro.io import DatasetError

from ovmlr.data.tagged_art.release import (
    CACHE_COLUMNS,
    TaggedArtRelease,
    TaggedArtSources,
    read_tagged_art,
)

from .read_only import ReadOnlyDataset


class TaggedArtDataset(ReadOnlyDataset[TaggedArtRelease]):
    """Loads every tagged-art item with its metadata and RGBA pixels; the source files are never written.

    Rendered pixels are kept in ``cache_path`` (parquet, rewritten only when something new was rendered),
    keyed by each source file's path, size and mtime and the render settings.

    Example catalog entry::

        raw_source:
          type: ovmlr.datasets.TaggedArtDataset
          openclipart_dir: /usr/share/openclipart/svg
          cldr_annotations: [/usr/share/unicode/cldr/common/annotations/en.xml]
          emoji_font: /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf
          cache_path: data/02_intermediate/tagged_art_items.parquet

    Args:
        cache_path: The render cache.
        metadata: Kedro-Viz and plugin metadata, ignored here.
        **sources: The fields of :class:`~ovmlr.data.tagged_art.release.TaggedArtSources`.
    """

    def __init__(self, cache_path: str, metadata: dict[str, Any] | None = None, **sources: Any) -> None:
        if "cldr_annotations" in sources:
            sources["cldr_annotations"] = tuple(sources["cldr_annotations"])
        try:
            self._sources = TaggedArtSources(**sources)
        except TypeError as exc:
            raise DatasetError(f"TaggedArtDataset: {exc}") from exc
        self._cache_path = Path(cache_path)
        self.metadata = metadata

    def _load(self) -> TaggedArtRelease:
        cache = self._read_cache()
        release, table = read_tagged_art(self._sources, cache)
        if cache is None or not table["key"].equals(cache["key"]):
            self._cache_path.parent.mkdir(parents=True, exist_ok=True)
            partial = self._cache_path.with_suffix(".partial")
            table.to_parquet(partial, index=False)
            os.replace(partial, self._cache_path)
        return release

    def _read_cache(self) -> pd.DataFrame | None:
        if not self._cache_path.is_file():
            return None
        cache = pd.read_parquet(self._cache_path)
        if list(cache.columns) != CACHE_COLUMNS:
            return None  # written by another version: render again
        return cache

    def _describe(self) -> dict[str, Any]:
        return {"sources": vars(self._sources), "cache_path": str(self._cache_path)}
