import numpy as np
import pytest

from ovmlr.data.text_matrix import parse_binary_matrix


def test_parses_tabs_spaces_crlf_and_trailing_blank_lines():
    raw = b"0\t1\t1\t\r\n1 0 0 \r\n\n\n"
    matrix = parse_binary_matrix(raw, 3, "m.txt")
    assert matrix.dtype == np.int8
    assert matrix.tolist() == [[0, 1, 1], [1, 0, 0]]


def test_empty_file_is_an_empty_matrix():
    assert parse_binary_matrix(b"", 4, "e.txt").shape == (0, 4)


def test_row_of_the_wrong_width_names_the_line():
    with pytest.raises(ValueError, match=r"tags\.txt, line 2: 2 values, expected 3"):
        parse_binary_matrix(b"0 1 1\n1 0\n1 1 1\n", 3, "tags.txt")


def test_value_other_than_0_or_1_names_the_line():
    with pytest.raises(ValueError, match=r"l\.txt, line 3: unexpected character '2'"):
        parse_binary_matrix(b"0\n1\n2\n", 1, "l.txt")
    with pytest.raises(ValueError, match=r"l\.txt, line 1: values must be single 0/1 digits"):
        parse_binary_matrix(b"10 0\n", 2, "l.txt")


def test_blank_line_inside_the_file_is_a_row_of_width_zero():
    with pytest.raises(ValueError, match=r"x, line 2: 0 values, expected 2"):
        parse_binary_matrix(b"0 1\n\n1 1\n", 2, "x")
