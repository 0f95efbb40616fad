"""Nodes of the ``data_processing`` pipeline."""

from __future__ import annotations

import logging
from typing import Any

from ovmlr.data.sources import SourceRelease, build_tables
from ovmlr.data.tables import build_hash

logger = logging.getLogger(__name__)


def build_dataset(raw_source: SourceRelease, sources: dict[str, Any], seed: int) -> dict[str, Any]:
    """Turn a raw dataset release into the data contracts shared by every later stage.

    The release type (tagged art, Fashion-MNIST, NUS-WIDE, Open Images; chosen by the Kedro environment's
    catalog) picks the builder; ``source_options`` are that builder's options (``ovmlr.data.sources``).

    Args:
        raw_source: The release loaded by the ``raw_source`` dataset.
        sources: Builder options by source name (``data_processing.sources``), e.g. mosaic sizes or the
            NUS-WIDE val fraction; the release's type picks its section.
        seed: Seed of every random choice (mosaic layouts, val split).

    Returns:
        ``image_manifest``, ``labels``, ``categories``, ``pretrain_pool``, ``data_report``,
        ``mosaic_layout``, ``vocabulary_report`` (DataFrames), ``mosaic_images`` (image id -> callable
        rendering a PIL image; empty for photo datasets) and ``dataset_build`` (the build's content hash
        and counts).
    """
    tables = build_tables(raw_source, sources, seed)
    counts = tables.image_manifest["split"].value_counts().reindex(["train", "val", "test"], fill_value=0)
    build = {
        "build_hash": build_hash(tables),
        "categories": len(tables.categories),
        "images": {split: int(counts[split]) for split in ("train", "val", "test")},
        "pretrain_items": len(tables.pretrain_pool),
        "skipped": len(tables.data_report),
    }
    logger.info(
        "Dataset %s: %d categories; images train %d, val %d, test %d; %d pretraining items; %d skipped "
        "(data_report)",
        build["build_hash"],
        build["categories"],
        *build["images"].values(),
        build["pretrain_items"],
        build["skipped"],
    )
    return {
        "image_manifest": tables.image_manifest,
        "labels": tables.labels,
        "categories": tables.categories,
        "pretrain_pool": tables.pretrain_pool,
        "data_report": tables.data_report,
        "mosaic_layout": tables.mosaic_layout,
        "mosaic_images": tables.image_files,
        "vocabulary_report": tables.vocabulary_report,
        "dataset_build": build,
    }
