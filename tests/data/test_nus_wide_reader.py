import numpy as np
import pytest
from data_replicas import (
    NUS_CONCEPTS,
    NUS_IMAGES,
    NUS_SEEN,
    NUS_TAGS,
    nus_concept_matrix,
    nus_tag_matrix,
)

from ovmlr.data.nus_wide import NusWideConfig, build_nus_wide_tables, image_key, read_nus_wide


def test_reader_parses_the_release_layout(nus_wide_root):
    release = read_nus_wide(nus_wide_root, num_workers=2)
    images = release.images
    assert images["image_id"].tolist() == [key.removesuffix(".jpg") for key, _, _ in NUS_IMAGES]
    assert images["list_split"].tolist() == [split for _, split, _ in NUS_IMAGES]
    assert images["path"].iloc[0] == str(nus_wide_root / "Flickr/actor/0001_11.jpg")
    assert release.tag_names == NUS_TAGS and release.concept_names == NUS_CONCEPTS
    np.testing.assert_array_equal(release.tags, nus_tag_matrix())
    np.testing.assert_array_equal(release.concept_labels, nus_concept_matrix())
    problems = dict(zip(images["image_id"], images["problem"], strict=True))
    assert problems["beach/0005_25"] == "missing file"
    assert problems["beach/0002_22"].startswith("undecodable: ")
    assert problems["actor/0001_11"] == ""


def test_image_keys_accept_backslashes_and_slashes():
    assert image_key(r"C:\ImageData\Flickr\actor\0001_2124494179.jpg", "f", 1) == "actor/0001_2124494179.jpg"
    assert image_key("actor/0001_2124494179.jpg", "f", 1) == "actor/0001_2124494179.jpg"
    with pytest.raises(ValueError, match=r"f, line 4: expected a '<dir>/<file>' path, got 'lonely.jpg'"):
        image_key("lonely.jpg", "f", 4)


def test_tables_use_the_lesa_split_and_label_order(nus_wide_root):
    tables = build_nus_wide_tables(read_nus_wide(nus_wide_root), NusWideConfig(val_fraction=0.0), seed=0)
    categories = tables.categories
    assert categories["name"].tolist() == NUS_SEEN + NUS_CONCEPTS
    assert categories["dataset_role"].tolist() == ["seen"] * 4 + ["unseen"] * 3
    labels = tables.labels.set_index("image_id")
    row = [key for key, _, _ in NUS_IMAGES].index("beach/0003_23.jpg")
    tag_cols = [NUS_TAGS.index(name) for name in NUS_SEEN]
    expected = np.concatenate([nus_tag_matrix()[row, tag_cols], nus_concept_matrix()[row]])
    np.testing.assert_array_equal(labels.loc["beach/0003_23"].to_numpy(), expected)


def test_placeholder_missing_and_corrupt_images_are_dropped_and_reported(nus_wide_root):
    tables = build_nus_wide_tables(read_nus_wide(nus_wide_root), NusWideConfig(val_fraction=0.0), seed=0)
    report = tables.data_report.set_index("image_id")["reason"]
    assert report["actor/0003_13"] == "placeholder image (<= 4000 bytes)"
    assert report["beach/0005_25"] == "missing file"
    assert report["beach/0002_22"].startswith("undecodable: ")
    assert len(report) == 3
    assert tables.image_manifest["split"].value_counts().to_dict() == {"train": 4, "test": 2}
    assert not set(report.index) & set(tables.image_manifest["image_id"])


def test_placeholder_threshold_is_the_rule_not_the_file(nus_wide_root):
    release = read_nus_wide(nus_wide_root)
    tables = build_nus_wide_tables(release, NusWideConfig(val_fraction=0.0, placeholder_max_bytes=0), seed=0)
    assert "actor/0003_13" in set(tables.image_manifest["image_id"])


def test_val_is_a_seeded_fraction_of_the_train_list(nus_wide_root):
    release = read_nus_wide(nus_wide_root)
    a = build_nus_wide_tables(release, NusWideConfig(val_fraction=0.5), seed=1).image_manifest
    b = build_nus_wide_tables(release, NusWideConfig(val_fraction=0.5), seed=1).image_manifest
    assert a.equals(b)
    # 3 of the 6 train-list images become val (before dropping the unusable ones); test is untouched.
    val_or_train = a[a["split"] != "test"]
    assert len(val_or_train) == 4 and set(a.loc[a["split"] == "test", "image_id"]) == {
        "beach/0004_24",
        "actor/0004_14",
    }
    seeds = {
        tuple(build_nus_wide_tables(release, NusWideConfig(0.5), seed=s).image_manifest["split"])
        for s in range(6)
    }
    assert len(seeds) > 1


def test_missing_release_file_is_named(nus_wide_root):
    (nus_wide_root / "AllLabels/Labels_animal.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"NUS-WIDE file not found: .*AllLabels/Labels_animal\.txt"):
        read_nus_wide(nus_wide_root)


def test_tag_row_of_the_wrong_width_names_file_and_line(nus_wide_root):
    path = nus_wide_root / "NUS_WID_Tags/AllTags1k.txt"
    lines = path.read_text().splitlines()
    lines[4] = "0\t1"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"AllTags1k\.txt, line 5: 2 values, expected 6"):
        read_nus_wide(nus_wide_root)


def test_label_file_with_too_few_rows_is_an_error(nus_wide_root):
    path = nus_wide_root / "AllLabels/Labels_sky.txt"
    path.write_text("\n".join(path.read_text().splitlines()[:-1]) + "\n")
    with pytest.raises(ValueError, match=r"Labels_sky\.txt: 8 rows but .*Imagelist\.txt lists 9 images"):
        read_nus_wide(nus_wide_root)


def test_duplicate_image_is_an_error_naming_both_lines(nus_wide_root):
    path = nus_wide_root / "ImageList/TestImagelist.txt"
    path.write_text(path.read_text() + "actor\\0004_14.jpg\r\n")
    with pytest.raises(
        ValueError,
        match=r"TestImagelist\.txt, line 4: duplicate entry 'actor/0004_14\.jpg' \(first on line 3\)",
    ):
        read_nus_wide(nus_wide_root)


def test_image_in_both_lists_or_unknown_is_an_error(nus_wide_root):
    test_list = nus_wide_root / "ImageList/TestImagelist.txt"
    test_list.write_text(test_list.read_text() + "actor\\0001_11.jpg\r\n")
    with pytest.raises(ValueError, match=r"image 'actor/0001_11\.jpg' is in both .*TrainImagelist\.txt and"):
        read_nus_wide(nus_wide_root)
    test_list.write_text("beach\\9999_99.jpg\r\n")
    with pytest.raises(
        ValueError, match=r"TestImagelist\.txt: image 'beach/9999_99\.jpg' is not in .*Imagelist\.txt"
    ):
        read_nus_wide(nus_wide_root)


def test_duplicate_tag_name_is_an_error(nus_wide_root):
    path = nus_wide_root / "NUS_WID_Tags/TagList1k.txt"
    path.write_text("water\nsky\nsunset\nbeach\ncat\nwater\n")
    with pytest.raises(
        ValueError, match=r"TagList1k\.txt, line 6: duplicate entry 'water' \(first on line 1\)"
    ):
        read_nus_wide(nus_wide_root)


def test_kedro_dataset_reads_the_release_and_is_read_only(nus_wide_root):
    from kedro.io import DataCatalog, DatasetError

    catalog = DataCatalog.from_config(
        {
            "raw_source": {
                "type": "ovmlr.datasets.NusWideDataset",
                "root": str(nus_wide_root),
                "num_workers": 1,
            }
        }
    )
    release = catalog.load("raw_source")
    assert release.tag_names == NUS_TAGS
    with pytest.raises(DatasetError, match="NusWideDataset is read-only"):
        catalog.save("raw_source", release)
