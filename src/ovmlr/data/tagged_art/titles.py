"""The text side of a tagged-art mosaic: its items' titles (the default text modality of `multimodal`)."""

from __future__ import annotations

import pandas as pd


def mosaic_titles(mosaic_layout: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
    """Each mosaic's item titles, in tile order, joined by '; '.

    Returns:
        ``image_id``, ``text``.

    Raises:
        ValueError: A mosaic item without a title row, naming it.
    """
    titles = items.drop_duplicates("item_id").set_index("item_id")["title"].astype(str)
    missing = sorted(set(mosaic_layout["item_id"]) - set(titles.index))
    if missing:
        raise ValueError(f"mosaic_layout names items without a title in tagged_art_items: {missing[:5]}")
    layout = mosaic_layout.sort_values(["image_id", "tile"]).assign(title=lambda f: f["item_id"].map(titles))
    texts = layout.groupby("image_id", sort=True)["title"].agg(lambda t: "; ".join(s.strip() for s in t))
    return texts.rename("text").reset_index()
