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
