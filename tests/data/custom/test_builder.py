"""A custom folder -> the data contracts: release checks, splits, unseen roles and positives per split."""

import sys
from pathlib import Path

import numpy as np
import pytest
from data_replicas import write_custom_folder

from ovmlr.data.custom.builder import CustomConfig, build_custom_tables, stratified_split
from ovmlr.data.custom.release import read_custom
from ovmlr.data.sources import build_tables

CONFIG = CustomConfig(val_fraction=0.2, test_fraction=0.2, min_count=5)


def release(root, **options):
    tags = write_custom_folder(root, options.pop("fmt", "csv"))
    return read_custom(root / "images", tags, **options)


def test_seeded_split_tables(tmp_path):
    tables = build_custom_tables(release(tmp_path), CONFIG, seed=3)
    assert tables.categories["name"].tolist() == ["blue square", "circle", "green", "red"]
    assert set(tables.categories["dataset_role"]) == {""}
    manifest = tables.image_manifest
    assert manifest["image_id"].iloc[0] == "sub/img_000.jpg"
    counts = manifest["split"].value_counts()
    for split, share in (("train", 0.6), ("val", 0.2), ("test", 0.2)):
        assert abs(counts[split] - share * 36) <= 1, counts
    labels = tables.labels.set_index("image_id")
    assert labels.loc["img_001.png"].tolist() == [0, 0, 1, 0]  # green, not a circle
    assert labels.loc["img_002.jpg"].tolist() == [1, 1, 0, 0]  # blue square with a circle
    assert "rare" in tables.vocabulary_report["tag"].tolist()
    assert tables.data_report.empty


@pytest.mark.parametrize("fmt", ["jsonl", "coco"])
def test_every_format_builds_the_same_tables(tmp_path, fmt):
    csv = build_custom_tables(release(tmp_path / "csv"), CONFIG, seed=3)
    other = build_custom_tables(release(tmp_path / fmt, fmt=fmt), CONFIG, seed=3)
    assert other.labels.equals(csv.labels)
    assert other.image_manifest["split"].tolist() == csv.image_manifest["split"].tolist()


def test_the_builder_is_registered_for_the_release(tmp_path):
    options = {"custom": {"val_fraction": 0.2, "test_fraction": 0.2, "min_count": 5}}
    tables = build_tables(release(tmp_path), options, seed=3)
    assert len(tables.categories) == 4


def test_stratified_split_reaches_every_split_and_is_seeded():
    tags = [frozenset({"a"})] * 3 + [frozenset({"b"})] * 40 + [frozenset()] * 7
    fractions = {"train": 0.7, "val": 0.1, "test": 0.2}
    out = stratified_split(tags, fractions, seed=0)
    assert sorted(out[:3]) == ["test", "train", "val"]  # a tag on three images reaches all three splits
    assert np.array_equal(out, stratified_split(tags, fractions, seed=0))
    assert {s: int((out == s).sum()) for s in fractions} == {"train": 35, "val": 5, "test": 10}


def test_split_files_with_val_drawn_from_train_and_unlisted_images_reported(tmp_path):
    write_custom_folder(tmp_path)
    ids = [f"{'sub/' if i % 5 == 0 else ''}img_{i:03d}.{'png' if i % 2 else 'jpg'}" for i in range(36)]
    (tmp_path / "train.txt").write_text("\n".join(ids[:24]))
    (tmp_path / "test.txt").write_text("\n".join(ids[24:35]))
    files = {"train": str(tmp_path / "train.txt"), "test": str(tmp_path / "test.txt")}
    loaded = read_custom(tmp_path / "images", tmp_path / "tags.csv", split_files=files)
    tables = build_custom_tables(loaded, CustomConfig(val_fraction=0.25, min_count=5), seed=0)
    assert tables.image_manifest["split"].value_counts().to_dict() == {"train": 18, "test": 11, "val": 6}
    assert tables.data_report[["image_id", "reason"]].values.tolist() == [[ids[35], "in no split file"]]


def test_a_split_with_no_positive_names_the_split_file_and_category(tmp_path):
    write_custom_folder(tmp_path)
    ids = [f"{'sub/' if i % 5 == 0 else ''}img_{i:03d}.{'png' if i % 2 else 'jpg'}" for i in range(36)]
    (tmp_path / "train.txt").write_text("\n".join(ids[:30]))
    (tmp_path / "test.txt").write_text("\n".join(ids[31::2]))  # odd images: green/red/blue, never a circle
    files = {"train": str(tmp_path / "train.txt"), "test": str(tmp_path / "test.txt")}
    loaded = read_custom(tmp_path / "images", tmp_path / "tags.csv", split_files=files)
    with pytest.raises(
        ValueError, match=r"test.txt: category 'circle' has no positive image in the test split"
    ):
        build_custom_tables(loaded, CONFIG, seed=0)


def test_a_seeded_split_without_positives_names_the_seed(tmp_path):
    with pytest.raises(ValueError, match=r"the seeded split \(seed 0, .*\): category '.*' has no positive"):
        build_custom_tables(release(tmp_path), CustomConfig(min_count=1), seed=0)  # 'rare' on two images


def test_unseen_file_sets_roles_and_unknown_names_are_named(tmp_path):
    write_custom_folder(tmp_path)
    unseen = tmp_path / "unseen.txt"
    unseen.write_text("# unseen\nGreen\n", encoding="utf-8")
    loaded = read_custom(tmp_path / "images", tmp_path / "tags.csv", unseen_file=unseen)
    roles = build_custom_tables(loaded, CONFIG, seed=3).categories.set_index("name")["dataset_role"]
    assert roles.to_dict() == {"blue square": "seen", "circle": "seen", "green": "unseen", "red": "seen"}
    unseen.write_text("green\nrare\n", encoding="utf-8")
    loaded = read_custom(tmp_path / "images", tmp_path / "tags.csv", unseen_file=unseen)
    with pytest.raises(
        ValueError, match=r"unseen.txt, line 2: unseen category 'rare' is not a category .*min_count"
    ):
        build_custom_tables(loaded, CONFIG, seed=3)


def test_a_missing_image_names_the_tag_file_line(tmp_path):
    tags = write_custom_folder(tmp_path)
    (tmp_path / "images" / "img_003.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"tags.csv, line 5: image 'img_003.png' does not exist"):
        read_custom(tmp_path / "images", tags)
    with pytest.raises(FileNotFoundError, match=r"image folder not found: .*nowhere"):
        read_custom(tmp_path / "nowhere", tags)


def test_an_image_listed_twice_names_both_lines(tmp_path):
    tags = write_custom_folder(tmp_path)
    tags.write_text(tags.read_text() + "./img_001.png,red\n")
    with pytest.raises(
        ValueError, match=r"tags.csv, line 38: image './img_001.png' is listed twice \(first: .*line 3\)"
    ):
        read_custom(tmp_path / "images", tags)


def test_split_file_errors_name_the_line(tmp_path):
    tags = write_custom_folder(tmp_path)
    (tmp_path / "train.txt").write_text("img_001.png\nnot_there.png\n")
    with pytest.raises(ValueError, match=r"train.txt, line 2: image 'not_there.png' is not in the tag file"):
        read_custom(tmp_path / "images", tags, split_files={"train": str(tmp_path / "train.txt")})
    (tmp_path / "test.txt").write_text("img_003.png\nimg_001.png\n")
    files = {"train": str(tmp_path / "train.txt"), "test": str(tmp_path / "test.txt")}
    (tmp_path / "train.txt").write_text("img_001.png\n")
    with pytest.raises(ValueError, match=r"test.txt, line 2: image 'img_001.png' is listed twice"):
        read_custom(tmp_path / "images", tags, split_files=files)
    with pytest.raises(ValueError, match=r"unknown split\(s\) \['dev'\]"):
        read_custom(tmp_path / "images", tags, split_files={"dev": str(tmp_path / "test.txt")})


def test_an_undecodable_image_is_dropped_and_reported(tmp_path):
    tags = write_custom_folder(tmp_path)
    (tmp_path / "images" / "img_007.png").write_bytes(b"not a png")
    tables = build_custom_tables(read_custom(tmp_path / "images", tags), CONFIG, seed=3)
    assert tables.data_report["image_id"].tolist() == ["img_007.png"]
    assert tables.data_report["reason"].iloc[0].startswith("undecodable")
    assert "img_007.png" not in tables.image_manifest["image_id"].tolist()


def test_fractions_are_checked():
    with pytest.raises(
        ValueError, match="val_fraction and test_fraction must be positive with a sum below 1"
    ):
        CustomConfig(val_fraction=0.5, test_fraction=0.5)


def test_a_built_dataset_written_as_a_custom_folder_builds_the_same_tables(tmp_path):
    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "scripts"))
    from dataset_as_custom_folder import write_custom_folder as as_custom

    tables = build_custom_tables(release(tmp_path / "first"), CONFIG, seed=3)
    counts = as_custom(tables.image_manifest, tables.labels, ["green"], tmp_path / "second")
    assert counts == {"images": 36, "categories": 4, "unseen": 1}
    out = tmp_path / "second"
    files = {split: str(out / f"{split}.txt") for split in ("train", "val", "test")}
    again = read_custom(out / "images", out / "tags.csv", split_files=files, unseen_file=out / "unseen.txt")
    rebuilt = build_custom_tables(again, CustomConfig(min_count=1, merge_plurals=False), seed=0)
    assert rebuilt.labels.iloc[:, 1:].equals(tables.labels.iloc[:, 1:])
    assert rebuilt.image_manifest["split"].tolist() == tables.image_manifest["split"].tolist()
    assert rebuilt.categories.set_index("name")["dataset_role"]["green"] == "unseen"
