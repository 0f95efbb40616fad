"""Size rules the linter does not state: no function in ``src/`` over 60 lines (a ``create_pipeline`` in a
``pipeline.py`` is one declarative list of nodes and is exempt)."""

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "ovmlr"
MAX_LINES = 60


def long_functions(root: Path, max_lines: int) -> list[str]:
    """``path:line name (n lines)`` of every function or method longer than ``max_lines``."""
    found = []
    for path in sorted(root.rglob("*.py")):
        if path.name == "pipeline.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > max_lines:
                    found.append(f"{path.relative_to(root.parent)}:{node.lineno} {node.name} ({lines} lines)")
    return found


def test_the_rule_finds_a_long_function(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_LINES))
    (tmp_path / "long.py").write_text(f"def long():\n{body}\n")
    (tmp_path / "pipeline.py").write_text(f"def create_pipeline():\n{body}\n")
    assert long_functions(tmp_path, MAX_LINES) == [f"{tmp_path.name}/long.py:1 long ({MAX_LINES + 1} lines)"]


def test_no_function_is_over_60_lines():
    assert long_functions(SRC, MAX_LINES) == []
