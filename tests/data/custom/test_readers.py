"""The tag file readers (CSV, JSON Lines, COCO) on tiny files, and their errors naming file and line."""

import json

import pytest
from data_replicas import custom_image_tags, write_custom_folder

from ovmlr.data.custom.readers import read_path_list, read_tag_file, tag_format


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "coco"])
def test_every_format_gives_the_same_records(tmp_path, fmt):
    records = read_tag_file(write_custom_folder(tmp_path, fmt, count=8))
    expected = [(path, tuple(tags)) for path, tags in custom_image_tags(8)]
    assert [(r.path, r.tags) for r in records] == expected


def test_csv_with_another_separator_and_extra_columns(tmp_path):
    path = tmp_path / "tags.csv"
    path.write_text('id,path,tags\n1,a.jpg,"cat; sofa ;"\n2,b.jpg,\n', encoding="utf-8")
    records = read_tag_file(path, separator=";")
    assert [(r.path, r.tags) for r in records] == [("a.jpg", ("cat", "sofa")), ("b.jpg", ())]
    assert records[1].where == f"{path}, line 3"


def test_tsv_is_tab_delimited(tmp_path):
    path = tmp_path / "tags.tsv"
    path.write_text("path\ttags\na b.jpg\tcat|dog\n", encoding="utf-8")
    assert read_tag_file(path)[0].tags == ("cat", "dog")


def test_csv_without_the_columns_names_the_header(tmp_path):
    path = tmp_path / "tags.csv"
    path.write_text("file,labels\na.jpg,cat\n", encoding="utf-8")
    with pytest.raises(
        ValueError, match=r"tags.csv, line 1: the header must name .* missing \['path', 'tags'\]"
    ):
        read_tag_file(path)


def test_a_csv_tag_row_without_an_image_names_the_line(tmp_path):
    path = tmp_path / "tags.csv"
    path.write_text("path,tags\na.jpg,cat\n,dog|cat\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"tags.csv, line 3: a tag row without an image"):
        read_tag_file(path)


def test_a_jsonl_tag_row_without_an_image_names_the_line(tmp_path):
    path = tmp_path / "tags.jsonl"
    path.write_text('{"path": "a.jpg", "tags": ["cat"]}\n\n{"tags": ["dog"]}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"tags.jsonl, line 3: a tag row without an image"):
        read_tag_file(path)


def test_jsonl_bad_lines_are_named(tmp_path):
    path = tmp_path / "tags.jsonl"
    path.write_text(
        '{"path": "a.jpg", "tags": "cat|dog"}\n{"path": "b.jpg", "tags": [1]}\n', encoding="utf-8"
    )
    with pytest.raises(ValueError, match=r"line 2: 'tags' must be a list of strings"):
        read_tag_file(path)
    path.write_text('{"path": "a.jpg"\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"tags.jsonl, line 1: not a JSON object"):
        read_tag_file(path)


def test_coco_annotation_without_an_image_is_named(tmp_path):
    path = tmp_path / "instances.json"
    coco = {
        "images": [{"id": 1, "file_name": "a.jpg"}],
        "categories": [{"id": 1, "name": "cat"}],
        "annotations": [
            {"id": 7, "image_id": 1, "category_id": 1},
            {"id": 8, "image_id": 2, "category_id": 1},
        ],
    }
    path.write_text(json.dumps(coco), encoding="utf-8")
    with pytest.raises(ValueError, match=r"annotations\[1\] \(id 8\): a tag without an image: image_id 2"):
        read_tag_file(path)


def test_coco_unknown_category_and_repeated_image_id(tmp_path):
    path = tmp_path / "instances.json"
    coco = {"images": [{"id": 1, "file_name": "a.jpg"}], "categories": [], "annotations": []}
    path.write_text(json.dumps(coco | {"annotations": [{"id": 3, "image_id": 1, "category_id": 9}]}))
    with pytest.raises(ValueError, match=r"category_id 9 is not in categories"):
        read_tag_file(path)
    path.write_text(json.dumps(coco | {"images": [{"id": 1, "file_name": "a.jpg"}] * 2}))
    with pytest.raises(ValueError, match=r"images\[1\]: image id 1 is listed twice"):
        read_tag_file(path)
    path.write_text('{"images": [\n  {"id": 1,}\n]}')
    with pytest.raises(ValueError, match=r"instances.json, line 2: not valid JSON"):
        read_tag_file(path)


def test_format_from_suffix_and_errors(tmp_path):
    assert tag_format(tmp_path / "x.ndjson", "auto") == "jsonl"
    with pytest.raises(ValueError, match=r"cannot tell the tag file format from the suffix '.txt'"):
        tag_format(tmp_path / "x.txt", "auto")
    with pytest.raises(ValueError, match=r"unknown tag file format 'xml'"):
        tag_format(tmp_path / "x.csv", "xml")
    with pytest.raises(FileNotFoundError, match=r"tag file not found: .*nope.csv"):
        read_tag_file(tmp_path / "nope.csv")


def test_split_file_lines(tmp_path):
    path = tmp_path / "train.txt"
    path.write_text("# train images\na.jpg\n\n sub/b.png \n", encoding="utf-8")
    assert read_path_list(path) == [("a.jpg", f"{path}, line 2"), ("sub/b.png", f"{path}, line 4")]
