import gzip

import numpy as np
import pytest
from data_replicas import idx_bytes, write_idx

from ovmlr.data.idx import IDXFormatError, parse_idx, read_idx


def test_parse_round_trips_uint8_and_big_endian_int32():
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    ints = np.array([1, -2, 70000], dtype=np.int32)
    np.testing.assert_array_equal(parse_idx(idx_bytes(images), "a"), images)
    decoded = parse_idx(idx_bytes(ints, type_code=0x0C), "b")
    assert decoded.dtype == np.dtype("int32") and decoded.tolist() == [1, -2, 70000]


def test_read_idx_handles_gzip_and_raw_files(tmp_path):
    labels = np.array([9, 0, 3], dtype=np.uint8)
    assert read_idx(write_idx(tmp_path / "l.gz", labels)).tolist() == [9, 0, 3]
    assert read_idx(write_idx(tmp_path / "l.idx", labels, compress=False)).tolist() == [9, 0, 3]


def test_bad_magic_number_names_the_file(tmp_path):
    path = tmp_path / "bad.gz"
    path.write_bytes(gzip.compress(b"\x12\x34\x08\x01" + b"\x00" * 8))
    with pytest.raises(IDXFormatError, match=r"bad\.gz: not an IDX file \(magic number 12340801\)"):
        read_idx(path)


def test_unknown_type_code_is_rejected():
    with pytest.raises(IDXFormatError, match="x.idx: unknown IDX type code 0x07"):
        parse_idx(b"\x00\x00\x07\x01\x00\x00\x00\x01\x05", "x.idx")


def test_item_count_must_match_the_header():
    raw = idx_bytes(np.zeros((5, 2, 2), dtype=np.uint8))
    with pytest.raises(
        IDXFormatError,
        match=r"t\.idx: header declares shape \(5, 2, 2\) \(20 data bytes\) but the file holds 16",
    ):
        parse_idx(raw[:-4], "t.idx")
    with pytest.raises(IDXFormatError, match="holds 21 data bytes"):
        parse_idx(raw + b"\x00", "t.idx")


def test_truncated_header_and_missing_file(tmp_path):
    with pytest.raises(IDXFormatError, match="h.idx: truncated IDX header"):
        parse_idx(b"\x00\x00\x08\x03\x00\x00", "h.idx")
    with pytest.raises(FileNotFoundError, match="IDX file not found: .*nope.gz"):
        read_idx(tmp_path / "nope.gz")
