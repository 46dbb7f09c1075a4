"""The layout rules docs/architecture.md states, checked on the source: each module's real
dependencies at its top, and no module reaching into another's private names."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("app", "jobs", "models", "process", "rules", "views")
# Packages held to these rules so far (app/scope.py, views/ and process/ are other work's).
TOP_IMPORTS_ONLY = ("app", "jobs", "models")
EXEMPT = {"app/scope.py"}


def _modules(packages):
    for package in packages:
        for path in sorted((ROOT / package).rglob("*.py")):
            yield path.relative_to(ROOT).as_posix(), path


def _local_imports(tree: ast.Module):
    for func in ast.walk(tree):
        if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(func):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    yield node


def _names_a_cycle(lines: list[str], lineno: int) -> bool:
    """The import, or the comment heading its block of imports, says which cycle."""
    index = lineno - 1
    while index >= 0:
        text = lines[index].strip()
        if "cycle" in text.lower():
            return True
        if not (text.startswith(("#", "import ", "from ")) or text.endswith(",")
                or text.startswith(")")):
            return False
        index -= 1
    return False


def test_local_imports_name_the_cycle_that_forces_them():
    bad = []
    for name, path in _modules(TOP_IMPORTS_ONLY):
        if name in EXEMPT:
            continue
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        for node in _local_imports(ast.parse(source)):
            if not _names_a_cycle(lines, node.lineno):
                bad.append(f"{name}:{node.lineno}: {lines[node.lineno - 1].strip()}")
    assert not bad, "imports inside functions with no cycle named:\n" + "\n".join(bad)


def test_no_module_imports_another_modules_private_names():
    bad = []
    for name, path in _modules(TOP_IMPORTS_ONLY):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom) or not node.module:
                continue
            if node.module.split(".")[0] not in PACKAGES:
                continue
            private = [a.name for a in node.names if a.name.startswith("_")]
            if private:
                bad.append(f"{name}:{node.lineno}: from {node.module} import "
                           + ", ".join(private))
    assert not bad, "\n".join(bad)
