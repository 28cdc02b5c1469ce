"""No import cycle runs through kstep.engine, counting every import statement (those inside functions too)."""

from __future__ import annotations

import ast
from pathlib import Path

import kstep

ROOT = Path(kstep.__file__).parent


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph() -> dict[str, set[str]]:
    """kstep module -> the kstep modules its source imports anywhere (from-imports of names count as the module)."""
    modules = {_module(p): p for p in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                targets = [f"{node.module}.{a.name}" for a in node.names] + [node.module]
            else:
                continue
            deps |= {t for t in targets if t in modules}
        graph[name] = deps - {name}
    return graph


def _reaches(graph: dict[str, set[str]], start: str, goal: str) -> bool:
    seen, todo = set(), [start]
    while todo:
        node = todo.pop()
        if node == goal:
            return True
        if node not in seen:
            seen.add(node)
            todo.extend(graph.get(node, ()))
    return False


def test_no_import_cycle_through_the_engine():
    graph = _graph()
    engine = [m for m in graph if m == "kstep.engine" or m.startswith("kstep.engine.")]
    assert "kstep.engine.registry" in engine
    cycles = sorted(f"{m} -> {d}" for m in engine for d in graph[m] if _reaches(graph, d, m))
    assert not cycles, f"import edges that close a cycle: {cycles}"
