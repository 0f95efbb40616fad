"""Write a built dataset (the default tagged art, or any environment's tables) as a custom folder: what a user
with their own images and tag file has, to try ``--env custom`` end to end on data whose numbers are known.

``python scripts/dataset_as_custom_folder.py [--data data] [--out data/01_raw/custom]`` reads the tables the
``data_processing`` and ``category_sets`` stages wrote (``image_manifest``, ``labels``, ``categories``,
``category_split``) and writes ``<out>/images/`` (symbolic links to the images), ``tags.csv`` (``path,tags``,
the positive categories joined by ``|``), ``train.txt`` / ``val.txt`` / ``test.txt`` (the same splits) and
``unseen.txt`` (the unseen categories). Labels that are unknown (−1) are left out of the tags.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import pandas as pd


def write_custom_folder(manifest: pd.DataFrame, labels: pd.DataFrame, unseen: list[str], out: Path) -> dict:
    """The custom folder of ``manifest`` and ``labels`` under ``out``; returns the counts written."""
    images = out / "images"
    images.mkdir(parents=True, exist_ok=True)
    names = list(labels.columns[1:])
    positives = labels.set_index("image_id")[names].to_numpy() == 1
    row_of = {image_id: i for i, image_id in enumerate(labels["image_id"])}
    splits: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    with (out / "tags.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "tags"])
        for image_id, path, split in manifest[["image_id", "path", "split"]].itertuples(index=False):
            source = Path(path).resolve()
            relative = image_id if image_id.endswith(source.suffix) else f"{image_id}{source.suffix}"
            link = images / relative
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.is_symlink():
                link.symlink_to(source)
            tags = [names[j] for j in positives[row_of[image_id]].nonzero()[0]]
            writer.writerow([relative, "|".join(tags)])
            splits[split].append(relative)
    for split, paths in splits.items():
        (out / f"{split}.txt").write_text("".join(f"{p}\n" for p in paths), encoding="utf-8")
    (out / "unseen.txt").write_text("".join(f"{n}\n" for n in unseen), encoding="utf-8")
    return {"images": len(manifest), "categories": len(names), "unseen": len(unseen)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="data", type=Path, help="the project's data folder")
    parser.add_argument("--out", default="data/01_raw/custom", type=Path)
    args = parser.parse_args()
    manifest = pd.read_parquet(args.data / "03_primary/image_manifest.parquet")
    labels = pd.read_parquet(args.data / "03_primary/labels.parquet")
    split = pd.read_parquet(args.data / "03_primary/category_split.parquet")
    unseen = split.loc[split["role"] == "unseen", "name"].tolist()
    print(write_custom_folder(manifest, labels, unseen, args.out))


if __name__ == "__main__":
    main()
