"""Fast, strict parsing of whitespace-separated 0/1 text matrices (NUS-WIDE tag and label files).

A NUS-WIDE tag file has ~270k lines of 1000 values (~540 MB); splitting lines in Python takes minutes, so
the bytes are classified with numpy instead, a block of whole lines at a time to bound memory. Every value
must be a single ``0`` or ``1``; errors name the line.
"""

from __future__ import annotations

import numpy as np

_NEWLINE, _ZERO = ord("\n"), ord("0")
# Byte classes: anything else is an error.
_BAD, _DIGIT, _BLANK, _END = 0, 1, 2, 3
_CLASS = np.zeros(256, dtype=np.uint8)
_CLASS[[ord("0"), ord("1")]] = _DIGIT
_CLASS[[ord(c) for c in " \t\r\v\f"]] = _BLANK
_CLASS[_NEWLINE] = _END
BLOCK_BYTES = 1 << 24


def parse_binary_matrix(raw: bytes, width: int, source: str, block_bytes: int = BLOCK_BYTES) -> np.ndarray:
    """Parse lines of ``width`` whitespace-separated 0/1 values.

    Args:
        raw: File content (trailing blank lines are ignored).
        width: Values expected on every line.
        source: File name for error messages.
        block_bytes: Approximate size of the blocks of whole lines parsed at once.

    Returns:
        int8 array ``[lines, width]``.

    Raises:
        ValueError: A value other than a single 0/1 digit, or a line of the wrong width (1-based line number).
    """
    data = np.frombuffer(raw.rstrip(), dtype=np.uint8)
    blocks, start, first_line = [], 0, 1
    while start < data.size:
        end = min(start + block_bytes, data.size)
        newlines = np.flatnonzero(data[end:] == _NEWLINE) if end < data.size else np.array([], dtype=np.int64)
        end = end + int(newlines[0]) if newlines.size else data.size  # cut at a line end
        block = parse_block(data[start:end], width, source, first_line)
        blocks.append(block)
        first_line += len(block)
        start = end + 1
    return np.concatenate(blocks) if blocks else np.zeros((0, width), dtype=np.int8)


def parse_block(data: np.ndarray, width: int, source: str, first_line: int) -> np.ndarray:
    """Parse whole lines (no trailing newline); ``first_line`` is the 1-based number of the first one."""
    kind = _CLASS[data]
    ends = np.flatnonzero(kind == _END)  # [lines - 1] positions of the newlines

    def line_at(position: int) -> int:
        return first_line + int(np.searchsorted(ends, position))

    bad = np.flatnonzero(kind == _BAD)
    if bad.size:
        char = bytes(data[bad[0] : bad[0] + 1]).decode("latin-1")
        raise ValueError(
            f"{source}, line {line_at(bad[0])}: unexpected character {char!r} (values must be 0 or 1)"
        )
    digit = kind == _DIGIT
    glued = np.flatnonzero(digit[:-1] & digit[1:])
    if glued.size:
        raise ValueError(
            f"{source}, line {line_at(glued[0])}: values must be single 0/1 digits separated by spaces"
        )
    starts = np.concatenate([[0], ends + 1])  # an empty line starts on its own newline, which counts 0
    counts = np.add.reduceat(digit.view(np.uint8), starts, dtype=np.int64) if data.size else np.zeros(1, int)
    wrong = np.flatnonzero(counts != width)
    if wrong.size:
        raise ValueError(
            f"{source}, line {wrong[0] + first_line}: {counts[wrong[0]]} values, expected {width}"
        )
    return (data[digit] - _ZERO).astype(np.int8).reshape(len(starts), width)
