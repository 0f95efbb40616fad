"""Layers point one way: a pipeline never imports another pipeline's module, and library packages
(``reporting``, ``trained``, ``training``, …) never import a pipeline."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "ovmlr"


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from ovmlr.pipelines import training` names the stage in the alias
            aliases = [f"{node.module}.{a.name}" for a in node.names]
            names += aliases if node.module == "ovmlr.pipelines" else [node.module]
        elif isinstance(node, ast.Import):
            names += [a.name for a in node.names]
    return names


def _violations(package: Path = PACKAGE) -> list[str]:
    found = []
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package)
        stage = relative.parts[1] if relative.parts[0] == "pipelines" and len(relative.parts) > 2 else None
        for name in _imports(path):
            if not name.startswith("ovmlr.pipelines."):
                continue
            target = name.split(".")[2]
            if relative.parts[0] != "pipelines":
                found.append(f"{relative}: library code imports the pipeline module {name}")
            elif target != stage:
                found.append(f"{relative}: stage {stage!r} imports another pipeline's module {name}")
    return found


def test_no_pipeline_imports_another_and_no_library_imports_a_pipeline() -> None:
    assert _violations() == []


def test_pipeline_folders_hold_only_nodes_and_pipeline() -> None:
    extra = [
        str(p.relative_to(PACKAGE))
        for p in (PACKAGE / "pipelines").glob("*/*.py")
        if p.name not in {"__init__.py", "nodes.py", "pipeline.py"}
    ]
    assert extra == []


def test_the_check_sees_a_violation(tmp_path) -> None:
    fake = tmp_path / "ovmlr"
    (fake / "pipelines" / "a").mkdir(parents=True)
    (fake / "reporting").mkdir()
    (fake / "pipelines" / "a" / "nodes.py").write_text("from ovmlr.pipelines.b.nodes import x\n")
    (fake / "reporting" / "plot.py").write_text("import ovmlr.pipelines.a.nodes\n")
    assert len(_violations(fake)) == 2


def package_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Library package → the library packages it imports (lazy imports in functions included).

    Top-level modules (``metrics.py``) count as packages; ``pipelines``, ``hooks``, ``settings``, the
    registry and ``__main__`` are the application layer above every library and are left out.
    """
    application = {"pipelines", "hooks", "settings", "pipeline_registry", "__main__", "__init__"}
    graph: dict[str, set[str]] = {}
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package)
        me = relative.parts[0].removesuffix(".py")
        if me in application:
            continue
        for name in _imports(path) + _relative_imports(path, relative):
            parts = name.split(".")
            if parts[0] == "ovmlr" and len(parts) > 1 and parts[1] not in application and parts[1] != me:
                graph.setdefault(me, set()).add(parts[1])
    return graph


def _relative_imports(path: Path, relative: Path) -> list[str]:
    """``from ..x import y`` as absolute module names (``from .x`` stays inside the package)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level > 1:
            base = ["ovmlr", *relative.parts[: -node.level]]
            found.append(".".join(base + ([node.module] if node.module else [])))
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every package that reaches itself, with one path (depth-first search)."""
    found = []
    for start in sorted(graph):
        stack = [(start, [start])]
        seen = set()
        while stack:
            node, path = stack.pop()
            for target in sorted(graph.get(node, ())):
                if target == start:
                    found.append([*path, start])
                    stack.clear()
                    break
                if target not in seen:
                    seen.add(target)
                    stack.append((target, [*path, target]))
    return found


def test_no_package_imports_a_package_that_imports_it_back() -> None:
    assert _cycles(package_graph()) == []


def test_training_imports_no_pipeline_evaluation_trained_or_selection() -> None:
    assert package_graph()["training"] & {"pipelines", "evaluation", "trained", "selection"} == set()


def test_core_sits_below_every_other_package() -> None:
    assert package_graph()["core"] <= {"models"}


def test_the_cycle_check_sees_a_cycle(tmp_path) -> None:
    fake = tmp_path / "ovmlr"
    for name in ("a", "b"):
        (fake / name).mkdir(parents=True)
    (fake / "a" / "x.py").write_text("def f():\n    from ovmlr.b.y import g\n")
    (fake / "b" / "y.py").write_text("from ovmlr.a.x import f\n")
    assert _cycles(package_graph(fake)) == [["a", "b", "a"], ["b", "a", "b"]]
