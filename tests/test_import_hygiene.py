"""The package's import structure: the core (everything but kstep.tui) never imports Textual, so the headless path
stays light and testable, and kstep's import graph has no cycle, counting imports inside functions too."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "kstep"
HEADLESS = ["kstep", "kstep.cli", "kstep.io.load", "kstep.engine.executor", "kstep.engine.registry",
            "kstep.describe", "kstep.io.inputs"]
UI_LIBRARIES = ("textual", "rich")


def module_name(path: Path) -> str:
    """kstep/compare/analyze.py -> kstep.compare.analyze; kstep/io/__init__.py -> kstep.io."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    """Every module of the package, by dotted name."""
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imported_names(path: Path, name: str) -> set[str]:
    """Every dotted name `path` (module `name`) imports, at any depth (functions included), except under
    `if TYPE_CHECKING:`; `from A import b` yields A.b (the submodule or attribute b; see `import_graph`)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    is_package = path.name == "__init__.py"
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[:len(base) - node.level + (1 if is_package else 0)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            found.add(prefix)
            found.update(f"{prefix}.{alias.name}" for alias in node.names if alias.name != "*")
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def import_graph() -> dict[str, set[str]]:
    """Module -> the kstep modules importing it runs: the module named (for `from A import b`, A.b when it is a
    module, else A) and the packages above it whose __init__ runs first (not the importer's own packages, which
    are already importing)."""
    mods = modules()
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        own = set(_ancestors(name))
        edges: set[str] = set()
        for target in imported_names(path, name):
            while target and target not in mods:  # `from A import attr` -> A
                target = target.rpartition(".")[0]
            if not target:
                continue
            edges.update(t for t in [*_ancestors(target), target] if t in mods and t not in own and t != name)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (first module repeated at the end) per strongly connected group of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def connect(v: str) -> None:  # Tarjan's algorithm; the package is small enough for recursion
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(group)

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return [_one_cycle(graph, group) for group in groups]


def _one_cycle(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    """The shortest cycle through the group's first module (by name), found breadth-first inside the group."""
    start = min(group)
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & group):
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [*reversed(path), start]
                if w not in previous:
                    previous[w] = v
                    nxt.append(w)
        frontier = nxt
    raise AssertionError(f"no cycle through {start}")  # unreachable for a strongly connected group


def test_the_cycle_finder_sees_cycles():
    """The finder itself: a cycle is reported as a path back to its start; a DAG has none."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


def test_the_graph_sees_imports_inside_functions():
    """Imports inside functions are edges (cli imports the app's launch only inside cmd_app)."""
    graph = import_graph()
    assert "kstep.tui.launch" in graph["kstep.cli"]
    assert "kstep.errors" in graph["kstep.cli"]


def test_no_import_cycle():
    """kstep's import graph, imports inside functions included (TYPE_CHECKING ones excluded), has no cycle."""
    found = cycles(import_graph())
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(c) for c in found)


def test_core_never_imports_textual_or_rich():
    """No module outside kstep.tui imports Textual or rich, anywhere in it; of the core, only the CLI reaches into
    kstep.tui (inside cmd_app, to open the app)."""
    offenders = []
    for name, path in modules().items():
        if name == "kstep.tui" or name.startswith("kstep.tui."):
            continue
        for target in imported_names(path, name):
            top = target.split(".")[0]
            reaches_tui = target == "kstep.tui" or target.startswith("kstep.tui.")
            if top in UI_LIBRARIES or (reaches_tui and name != "kstep.cli"):
                offenders.append(f"{name} imports {target}")
    assert not offenders, offenders


def test_importing_the_whole_core_leaves_textual_out():
    """Every core module imported in one fresh interpreter: textual and rich stay out of sys.modules."""
    core = [m for m in modules() if m != "kstep.__main__" and not (m == "kstep.tui" or m.startswith("kstep.tui."))]
    code = (f"import importlib, sys\nfor m in {core!r}:\n    importlib.import_module(m)\n"
            f"print(sorted(m for m in {UI_LIBRARIES!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("module", HEADLESS)
def test_headless_module_does_not_import_textual(module):
    """Importing a headless module in a fresh interpreter leaves textual out of sys.modules."""
    code = f"import sys, {module}; print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
