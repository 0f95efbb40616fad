"""Reading one-name-per-line text files (category lists, image lists)."""

from __future__ import annotations

from pathlib import Path


def require_file(path: Path, dataset: str) -> Path:
    """``path`` if it is a file, else a ``FileNotFoundError`` naming it and the dataset."""
    if not path.is_file():
        raise FileNotFoundError(f"{dataset} file not found: {path}")
    return path


def read_lines(path: Path) -> list[tuple[int, str]]:
    """Non-blank lines as ``(1-based line number, stripped text)``; a UTF-8 BOM is ignored."""
    text = path.read_text(encoding="utf-8-sig")
    return [(number, line.strip()) for number, line in enumerate(text.splitlines(), start=1) if line.strip()]


def unique_names(lines: list[tuple[int, str]], source: str) -> list[str]:
    """The names in order; a repeated name is an error naming both lines."""
    first_line: dict[str, int] = {}
    for number, name in lines:
        if name in first_line:
            raise ValueError(
                f"{source}, line {number}: duplicate entry {name!r} (first on line {first_line[name]})"
            )
        first_line[name] = number
    return list(first_line)
