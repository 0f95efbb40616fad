"""docs/paper-map.md names real code: every object imports, every test is a ``def`` in its file.

The page maps each paper element to a dotted Python path and a ``tests/<path>.py::<test_name>`` reference.
A rename that is not carried into the page fails here. The test modules are read as text, never imported.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAPER_MAP = ROOT / "docs" / "paper-map.md"
HEADER = "paper element"
CODE = re.compile(r"`([^`]+)`")
EQUATION = re.compile(r"Eq\. (\d+)(?:–(\d+))?")


@dataclass(frozen=True)
class MapRow:
    """One table row of the paper map."""

    line: int
    element: str
    obj: str
    test: str


def _cells(line: str) -> list[str]:
    """The cells of a markdown table row, without the outer pipes."""
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _only_code(cell: str, line: int, column: str) -> str:
    """The single backticked name of ``cell``; a ValueError names the line otherwise."""
    names = CODE.findall(cell)
    if len(names) != 1:
        raise ValueError(
            f"docs/paper-map.md:{line}: the {column} cell needs exactly one `name`, got {cell!r}"
        )
    return names[0]


def parse_paper_map(text: str) -> list[MapRow]:
    """Every data row of the tables whose first header cell is ``paper element``.

    Raises:
        ValueError: A row without three cells, or without one backticked name in each of the last two.
    """
    rows: list[MapRow] = []
    in_table = False
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.lstrip().startswith("|"):
            in_table = False
            continue
        cells = _cells(line)
        if cells[0] == HEADER:
            in_table = True
            continue
        if not in_table or set(cells[0]) <= {"-", ":", ""}:
            continue
        if len(cells) != 3:
            raise ValueError(f"docs/paper-map.md:{number}: expected 3 cells, got {len(cells)}")
        obj = _only_code(cells[1], number, "object")
        test = _only_code(cells[2], number, "test")
        rows.append(MapRow(number, cells[0], obj, test))
    return rows


def resolve(dotted: str) -> Any:
    """Import the longest module prefix of ``dotted``, then follow the attribute chain.

    Raises:
        ImportError: No prefix of ``dotted`` is an importable module.
        AttributeError: The module has no such attribute chain.
    """
    parts = dotted.split(".")
    for cut in range(len(parts), 1, -1):
        name = ".".join(parts[:cut])
        try:
            target: ModuleType | Any = importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name is not None and f"{name}.".startswith(f"{error.name}."):
                continue  # this prefix is not a module; try a shorter one
            raise  # the module exists but one of its own imports is missing
        for depth, attribute in enumerate(parts[cut:], start=cut):
            if not hasattr(target, attribute):
                raise AttributeError(f"{dotted!r}: {'.'.join(parts[:depth])} has no attribute {attribute!r}")
            target = getattr(target, attribute)
        return target
    raise ImportError(f"{dotted!r}: no prefix of it is an importable module")


def defines_test(reference: str) -> bool:
    """Whether ``tests/<path>.py::<name>`` names a file under the repository with ``def <name>(`` in it."""
    path, _, name = reference.partition("::")
    file = ROOT / path
    if not (path.startswith("tests/") and path.endswith(".py") and name and file.is_file()):
        return False
    return re.search(rf"^\s*(?:async\s+)?def\s+{re.escape(name)}\s*\(", file.read_text(), re.M) is not None


def equations_named(rows: list[MapRow]) -> set[int]:
    """The equation numbers the element column mentions, ranges such as ``Eq. 17–18`` expanded."""
    numbers: set[int] = set()
    for row in rows:
        for first, last in EQUATION.findall(row.element):
            numbers.update(range(int(first), int(last or first) + 1))
    return numbers


ROWS = parse_paper_map(PAPER_MAP.read_text())


def test_the_map_covers_every_equation_algorithm_1_and_the_prompt() -> None:
    assert equations_named(ROWS) >= set(range(1, 25))
    elements = " ".join(row.element for row in ROWS)
    for needle in ("Algorithm 1", "Supp. B.3", "CSCF alignment", "CSCF uncertainty", "CSCF refinement"):
        assert needle in elements
    for needle in ("CAL contribution metric", "CAL asymmetric scaling", "PICO prototype weighting"):
        assert needle in elements


@pytest.mark.parametrize("row", ROWS, ids=[f"line{row.line}" for row in ROWS])
def test_every_object_imports(row: MapRow) -> None:
    assert resolve(row.obj) is not None, row


@pytest.mark.parametrize("row", ROWS, ids=[f"line{row.line}" for row in ROWS])
def test_every_test_reference_is_a_def_in_its_file(row: MapRow) -> None:
    assert defines_test(row.test), f"docs/paper-map.md:{row.line}: no `def` for {row.test}"


def test_a_missing_name_fails() -> None:
    with pytest.raises(AttributeError, match="no_such_function"):
        resolve("ovmlr.metrics.no_such_function")
    with pytest.raises(ImportError, match="no prefix"):
        resolve("ovmlr.no_such_module.function")
    assert not defines_test("tests/test_metrics.py::test_no_such_test")
    assert not defines_test("tests/no_such_file.py::test_average_precision_hand_worked")
    assert defines_test("tests/test_metrics.py::test_average_precision_hand_worked")


def test_a_row_without_a_name_is_rejected() -> None:
    table = "\n".join(
        [
            "| paper element | Python object | test |",
            "| --- | --- | --- |",
            "| Eq. 1 | nothing | `tests/x.py::y` |",
        ]
    )
    with pytest.raises(ValueError, match="object cell needs exactly one"):
        parse_paper_map(table)
