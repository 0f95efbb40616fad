import pytest
from kedro.io import DatasetError

from ovmlr.datasets import NameListDataset


def test_reads_names_skipping_comments_and_blank_lines(tmp_path):
    path = tmp_path / "unseen.txt"
    path.write_text("# unseen categories\nsandal\n\n  shirt  \nbag\n")
    assert NameListDataset(str(path)).load() == ["sandal", "shirt", "bag"]


def test_unset_filepath_is_an_empty_list():
    assert NameListDataset(None).load() == []


def test_missing_file_and_repeated_name_are_errors(tmp_path):
    with pytest.raises(DatasetError, match="name list file not found: .*nope.txt"):
        NameListDataset(str(tmp_path / "nope.txt")).load()
    path = tmp_path / "dup.txt"
    path.write_text("bag\nshirt\nbag\n")
    with pytest.raises(DatasetError, match=r"dup\.txt, line 3: duplicate entry 'bag' \(first on line 1\)"):
        NameListDataset(str(path)).load()
