"""The IDX file format of (Fashion-)MNIST: a magic number, the dimensions, then the raw array.

Layout (big-endian): two zero bytes, one type code, one byte ``ndim``; ``ndim`` 4-byte sizes; the
``prod(sizes)`` items. Files may be gzip-compressed (``*.gz``).
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

# IDX type code -> big-endian numpy dtype.
IDX_DTYPES: dict[int, str] = {
    0x08: "u1",
    0x09: "i1",
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}
GZIP_MAGIC = b"\x1f\x8b"


class IDXFormatError(ValueError):
    """An IDX file whose header or length does not match the format."""


def parse_idx(raw: bytes, source: str) -> np.ndarray:
    """Decode the bytes of one (uncompressed) IDX file.

    Args:
        raw: The whole file content.
        source: The file's name, used in error messages.

    Returns:
        The array with the header's shape and dtype (native byte order).

    Raises:
        IDXFormatError: Bad magic number, unknown type code, truncated header, or an item count that
            disagrees with the header.
    """
    if len(raw) < 4 or raw[:2] != b"\x00\x00":
        raise IDXFormatError(f"{source}: not an IDX file (magic number {raw[:4].hex() or 'missing'})")
    type_code, ndim = raw[2], raw[3]
    if type_code not in IDX_DTYPES:
        raise IDXFormatError(f"{source}: unknown IDX type code 0x{type_code:02x}")
    if ndim == 0:
        raise IDXFormatError(f"{source}: IDX header declares 0 dimensions")
    header_end = 4 + 4 * ndim
    if len(raw) < header_end:
        raise IDXFormatError(f"{source}: truncated IDX header ({len(raw)} bytes, {ndim} dimensions declared)")
    shape = struct.unpack(f">{ndim}I", raw[4:header_end])
    dtype = np.dtype(IDX_DTYPES[type_code])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    actual = len(raw) - header_end
    if actual != expected:
        raise IDXFormatError(
            f"{source}: header declares shape {tuple(shape)} ({expected} data bytes) but the file holds "
            f"{actual} data bytes"
        )
    array = np.frombuffer(raw, dtype=dtype, offset=header_end).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=True)


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file, gzip-compressed or not (detected from its first bytes).

    Raises:
        FileNotFoundError: The file does not exist (message names it).
        IDXFormatError: See ``parse_idx``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"IDX file not found: {path}")
    raw = path.read_bytes()
    if raw[:2] == GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise IDXFormatError(f"{path}: corrupt gzip stream ({exc})") from exc
    return parse_idx(raw, str(path))
