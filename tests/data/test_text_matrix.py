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


def test_blocks_of_lines_give_the_same_matrix_and_line_numbers():
    rng = np.random.default_rng(0)
    matrix = rng.integers(0, 2, size=(50, 7))
    raw = "".join(" ".join(map(str, row)) + "\r\n" for row in matrix).encode()
    for block_bytes in (1, 13, 64, 10_000):
        np.testing.assert_array_equal(parse_binary_matrix(raw, 7, "b", block_bytes=block_bytes), matrix)
    broken = raw.replace(b"\r\n", b"\r\n1\r\n", 1)  # an extra 1-value row as line 2
    for block_bytes in (1, 64, 10_000):
        with pytest.raises(ValueError, match=r"b, line 2: 1 values, expected 7"):
            parse_binary_matrix(broken, 7, "b", block_bytes=block_bytes)
    bad_char = raw[:-3] + b"x\r\n"
    with pytest.raises(ValueError, match=r"b, line 50: unexpected character 'x'"):
        parse_binary_matrix(bad_char, 7, "b", block_bytes=64)
