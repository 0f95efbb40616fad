import pandas as pd
import pytest
from data_replicas import OI_NAMES, OI_SEEN, OI_UNSEEN, write_lines, write_open_images_replica

from ovmlr.data.open_images import OpenImagesConfig, build_open_images_tables, read_open_images


def build(root, **config):
    return build_open_images_tables(read_open_images(root, num_workers=2), OpenImagesConfig(**config), seed=0)


def test_categories_are_trainable_then_top_unseen_with_display_names(open_images_root):
    categories = build(open_images_root).categories
    assert categories["name"].tolist() == ["Cat", "Dog", "Tree", "Giraffe", "Kite"]
    assert categories["dataset_role"].tolist() == ["seen"] * 3 + ["unseen"] * 2


def test_unseen_given_as_indices_into_the_lesa_pickle(tmp_path):
    root = write_open_images_replica(tmp_path / "oi", unseen_as_indices=True)
    release = read_open_images(root)
    assert release.unseen_ids == OI_UNSEEN and release.seen_ids == OI_SEEN


def test_confidence_maps_to_1_0_and_unannotated_to_unknown(open_images_root):
    labels = build(open_images_root).labels.set_index("image_id")
    assert labels.loc["a1"].tolist() == [1, 0, -1, -1, -1]
    assert labels.loc["a2"].tolist() == [-1, -1, 1, -1, -1]  # /m/99 is neither seen nor unseen: ignored
    assert labels.loc["v1"].tolist() == [-1, 0, -1, -1, 0]
    assert labels.loc["t1"].tolist() == [1, -1, -1, 1, -1]  # annotated 0 and 1: positive wins
    assert labels.loc["t2"].tolist() == [-1, -1, -1, -1, 1]


def test_splits_and_missing_images(open_images_root):
    tables = build(open_images_root)
    assert tables.image_manifest.set_index("image_id")["split"].to_dict() == {
        "a1": "train",
        "a2": "train",
        "a3": "train",
        "v1": "val",
        "t1": "test",
        "t2": "test",
    }
    assert tables.image_manifest["path"].iloc[0] == str(open_images_root / "images/train/a1.jpg")
    assert tables.data_report[["image_id", "reason"]].values.tolist() == [["t3", "missing file"]]


def test_images_without_a_positive_can_be_dropped_and_reported(open_images_root):
    tables = build(open_images_root, drop_images_without_positive=True)
    reasons = tables.data_report.set_index("image_id")["reason"]
    assert reasons["v1"] == "no positive label among the categories"
    assert reasons["t3"] == "missing file"
    assert "v1" not in set(tables.image_manifest["image_id"])


def test_seeded_subset_of_a_split(open_images_root):
    a = read_open_images(open_images_root, max_images={"train": 2}, seed=5)
    b = read_open_images(open_images_root, max_images={"train": 2}, seed=5)
    assert (a.images["split"] == "train").sum() == 2
    pd.testing.assert_frame_equal(a.images, b.images)
    assert set(a.annotations["ImageID"]) == set(a.images["image_id"])


def test_duplicate_display_names_get_the_class_id(open_images_root):
    write_lines(
        open_images_root / "class-descriptions.csv",
        [f"{k},{'Cat' if k == '/m/04' else v}" for k, v in OI_NAMES.items()],
    )
    names = build(open_images_root).categories["name"].tolist()
    assert names == ["Cat (/m/01)", "Dog", "Tree", "Cat (/m/04)", "Kite"]


def test_class_missing_from_the_class_list_is_named(open_images_root):
    write_lines(
        open_images_root / "class-descriptions.csv",
        ["LabelName,DisplayName", "/m/01,Cat", "/m/02,Dog", "/m/03,Tree", "/m/04,Giraffe"],
    )
    with pytest.raises(
        ValueError,
        match=r"class '/m/05' of .*top_400_unseen\.csv is missing from the class list .*descriptions\.csv",
    ):
        read_open_images(open_images_root)


def test_class_both_seen_and_unseen_is_an_error(open_images_root):
    write_lines(open_images_root / "top_400_unseen.csv", ["/m/04", "/m/02"])
    with pytest.raises(
        ValueError, match=r"class '/m/02' is in both .*classes-trainable\.txt and .*top_400_unseen\.csv"
    ):
        read_open_images(open_images_root)


def test_bad_confidence_names_file_and_line(open_images_root):
    path = open_images_root / "validation/validation-annotations-human-imagelabels.csv"
    write_lines(
        path, ["ImageID,Source,LabelName,Confidence", "v1,verification,/m/02,1", "v1,verification,/m/05,0.5"]
    )
    with pytest.raises(
        ValueError,
        match=r"validation-annotations-human-imagelabels\.csv, line 3: Confidence '0\.5' is not 0 or 1",
    ):
        read_open_images(open_images_root)


def test_missing_column_and_missing_file_are_named(open_images_root):
    path = open_images_root / "test/test-annotations-human-imagelabels.csv"
    write_lines(path, ["ImageID,Source,LabelName", "t1,verification,/m/04"])
    with pytest.raises(
        ValueError, match=r"test-annotations-human-imagelabels\.csv: missing column\(s\) \['Confidence'\]"
    ):
        read_open_images(open_images_root)
    path.unlink()
    with pytest.raises(
        FileNotFoundError, match=r"Open Images file not found: .*test-annotations-human-imagelabels\.csv"
    ):
        read_open_images(open_images_root)


def test_image_in_two_splits_is_an_error(open_images_root):
    path = open_images_root / "validation/validation-annotations-human-imagelabels.csv"
    write_lines(path, ["ImageID,Source,LabelName,Confidence", "a1,verification,/m/02,1"])
    with pytest.raises(ValueError, match="duplicate image id 'a1' in two annotation splits"):
        read_open_images(open_images_root)


def test_undecodable_image_is_reported(open_images_root):
    (open_images_root / "images/test/t2.jpg").write_bytes(b"not a jpeg at all" * 300)
    reasons = build(open_images_root).data_report.set_index("image_id")["reason"]
    assert reasons["t2"].startswith("undecodable: UnidentifiedImageError")


def test_kedro_dataset_reads_the_release(open_images_root):
    from kedro.io import DataCatalog

    catalog = DataCatalog.from_config(
        {
            "raw_source": {
                "type": "ovmlr.datasets.OpenImagesDataset",
                "root": str(open_images_root),
                "max_images": {"test": 1},
                "seed": 2,
            }
        }
    )
    release = catalog.load("raw_source")
    assert release.seen_ids == OI_SEEN
    assert (release.images["split"] == "test").sum() == 1


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("v1,verification,/m/02,1,extra", r"Expected 4 fields in line 3, saw 5"),
        ("v1,verification", r"line 3: empty ImageID or LabelName \(a row with too few fields\?\)"),
    ],
)
def test_annotation_row_of_the_wrong_width_names_the_file(open_images_root, row, message):
    path = open_images_root / "validation/validation-annotations-human-imagelabels.csv"
    write_lines(path, ["ImageID,Source,LabelName,Confidence", "v1,verification,/m/05,0", row])
    with pytest.raises(ValueError, match=rf"validation-annotations-human-imagelabels\.csv.*{message}"):
        read_open_images(open_images_root)
