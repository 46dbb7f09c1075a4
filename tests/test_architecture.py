"""The layering of docs/architecture.md, read from the source: views -> process -> models ->
rules, nothing below views/ imports views/, no import cycle between modules, and a module's
real dependencies at its top (a function-local import only where a cycle forces it, named in
a `# cycle: <module> imports this module` comment on the line)."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("app", "documents", "jobs", "models", "process", "rules", "views")
CYCLE_MARKER = "# cycle:"
# What each package must never import, whether at the top or inside a function.
FORBIDDEN = {
    "rules": {"flask", "flask_appbuilder", "sqlalchemy", "app", "jobs", "models", "process",
              "views"},
    "models": {"jobs", "process", "views"},
    "process": {"jobs", "views"},
    "jobs": {"views"},
    # Pure rendering: plain values in, PDF out; the product calls it, never the reverse.
    "documents": {"flask", "flask_appbuilder", "sqlalchemy", "app", "jobs", "models",
                  "process", "views"},
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _sources(*packages: str) -> dict[str, tuple[Path, ast.Module]]:
    return {_module_name(p): (p, ast.parse(p.read_text(encoding="utf-8")))
            for package in packages for p in sorted((ROOT / package).rglob("*.py"))}


def _imported(node, modules=()) -> list[str]:
    """Absolute module names a statement imports: `from pkg import submodule` names the
    submodule when `modules` knows it, the package otherwise."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom) and not node.level and node.module:
        subs = [f"{node.module}.{alias.name}" for alias in node.names]
        known = [m for m in subs if m in modules]
        return known if len(known) == len(subs) else [node.module, *known]
    return []


def _local_imports(tree: ast.Module) -> list[ast.stmt]:
    """Import statements inside a function or a class body."""
    found = {}
    for outer in ast.walk(tree):
        if isinstance(outer, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            for node in ast.walk(outer):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    found[node.lineno] = node
    return [found[line] for line in sorted(found)]


def _top_imports(tree: ast.Module) -> list[ast.stmt]:
    """Import statements run when the module is imported (under `if` and `try` too)."""
    local = {id(node) for node in _local_imports(tree)}
    return [node for node in ast.walk(tree)
            if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in local]


def test_no_function_local_import_without_a_named_cycle():
    unexplained = []
    for name, (path, tree) in _sources("views", "process", "rules").items():
        lines = path.read_text(encoding="utf-8").splitlines()
        for node in _local_imports(tree):
            if CYCLE_MARKER not in lines[node.lineno - 1]:
                unexplained.append(f"{name}:{node.lineno}: {lines[node.lineno - 1].strip()}")
    assert not unexplained, ("move these imports to the module's top, or name the cycle that "
                             f"forces them ({CYCLE_MARKER} ...):\n" + "\n".join(unexplained))


def test_imports_point_down():
    wrong = []
    for name, (_path, tree) in _sources(*FORBIDDEN).items():
        forbidden = FORBIDDEN[name.split(".")[0]]
        for node in ast.walk(tree):
            for module in _imported(node):
                if module.split(".")[0] in forbidden:
                    wrong.append(f"{name} imports {module}")
    assert not wrong, "\n".join(sorted(set(wrong)))


def test_no_import_cycle_between_modules():
    """Top-level imports only; a package's __init__ re-exporting its own modules is not a
    cycle (`import process.guard` runs process/__init__ first, and Python handles that)."""
    sources = _sources(*PACKAGES)
    graph = {name: {m for node in _top_imports(tree) for m in _imported(node, sources)
                    if m in sources and m != name}
             for name, (_path, tree) in sources.items()}
    on_path: list[str] = []
    done: set[str] = set()

    def cycle_from(name: str) -> list[str] | None:
        if name in on_path:
            return on_path[on_path.index(name):] + [name]
        if name in done:
            return None
        on_path.append(name)
        for dep in sorted(graph[name]):
            found = cycle_from(dep)
            if found:
                return found
        on_path.pop()
        done.add(name)
        return None

    for name in sorted(graph):
        cycle = cycle_from(name)
        assert cycle is None, "import cycle: " + " -> ".join(cycle)


# --- app/, jobs/ and models/: a local import names its cycle; no private names across modules
PACKAGES = ("app", "documents", "jobs", "models", "process", "rules", "views")
TOP_IMPORTS_ONLY = ("app", "documents", "jobs", "models")
EXEMPT: set[str] = set()


def _modules_of(packages):
    for package in packages:
        for path in sorted((ROOT / package).rglob("*.py")):
            yield path.relative_to(ROOT).as_posix(), path


def _imports_in_functions(tree: ast.Module):
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
    for name, path in _modules_of(TOP_IMPORTS_ONLY):
        if name in EXEMPT:
            continue
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        for node in _imports_in_functions(ast.parse(source)):
            if not _names_a_cycle(lines, node.lineno):
                bad.append(f"{name}:{node.lineno}: {lines[node.lineno - 1].strip()}")
    assert not bad, "imports inside functions with no cycle named:\n" + "\n".join(bad)


def test_no_module_imports_another_modules_private_names():
    bad = []
    for name, path in _modules_of(TOP_IMPORTS_ONLY):
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
