"""Fast, strict parsing of whitespace-separated 0/1 text matrices (NUS-WIDE tag and label files).

A NUS-WIDE tag file has ~270k lines of 1000 values; splitting lines in Python takes minutes, so the bytes
are classified with numpy instead. Every value must be a single ``0`` or ``1``; errors name the line.
"""

from __future__ import annotations

import numpy as np

_NEWLINE, _ZERO, _ONE = ord("\n"), ord("0"), ord("1")
_BLANKS = np.array([ord(" "), ord("\t"), ord("\r"), ord("\v"), ord("\f")], dtype=np.uint8)


def parse_binary_matrix(raw: bytes, width: int, source: str) -> np.ndarray:
    """Parse lines of ``width`` whitespace-separated 0/1 values.

    Args:
        raw: File content (trailing blank lines are ignored).
        width: Values expected on every line.
        source: File name for error messages.

    Returns:
        int8 array ``[lines, width]``.

    Raises:
        ValueError: A value other than a single 0/1 digit, or a line of the wrong width (1-based line number).
    """
    data = np.frombuffer(raw.rstrip(), dtype=np.uint8)
    if data.size == 0:
        return np.zeros((0, width), dtype=np.int8)
    newline = data == _NEWLINE
    line_of = np.concatenate([[0], np.cumsum(newline[:-1])])
    digit = (data == _ZERO) | (data == _ONE)
    bad = np.flatnonzero(~(digit | newline | np.isin(data, _BLANKS)))
    if bad.size:
        char = bytes(data[bad[0] : bad[0] + 1]).decode("latin-1")
        raise ValueError(
            f"{source}, line {line_of[bad[0]] + 1}: unexpected character {char!r} (values must be 0 or 1)"
        )
    glued = np.flatnonzero(digit[:-1] & digit[1:])
    if glued.size:
        raise ValueError(
            f"{source}, line {line_of[glued[0]] + 1}: values must be single 0/1 digits separated by spaces"
        )
    num_lines = int(newline.sum()) + 1
    counts = np.bincount(line_of[digit], minlength=num_lines)
    wrong = np.flatnonzero(counts != width)
    if wrong.size:
        raise ValueError(f"{source}, line {wrong[0] + 1}: {counts[wrong[0]]} values, expected {width}")
    return (data[digit] - _ZERO).astype(np.int8).reshape(num_lines, width)
