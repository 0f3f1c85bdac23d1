"""The floor plan holds: no import circles, and no arrow pointing from an inner room to an
outer one (core, persistence and storage never reach for a door; the worker and the
command-line client never reach into the manager or the add-on's UI)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("manager", "worker_mode", "client", "operators", "panels")

#: Rooms (module prefixes) and the rooms they must never import.
FORBIDDEN = {
    "manager.core": ("manager.api", "manager.web", "manager.protocols", "manager.dashboard",
                     "manager.app", "manager.lifespan"),
    "manager.db": ("manager.api", "manager.web", "manager.protocols", "manager.dashboard",
                   "manager.app", "manager.lifespan", "manager.storage"),
    "manager.storage": ("manager.api", "manager.web", "manager.protocols", "manager.dashboard",
                        "manager.app", "manager.lifespan"),
    "manager.web": ("manager.api", "manager.protocols", "manager.dashboard", "manager.app"),
    "worker_mode": ("manager", "client", "operators", "panels"),
    "client": ("manager", "worker_mode", "operators", "panels"),
    "preferences": ("operators", "panels"),
}


def _modules() -> dict[str, Path]:
    found = {"preferences": REPO / "preferences.py"}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The project's modules that ``name`` imports, at any depth of its code."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".") if package else []
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            for alias in node.names:
                submodule = f"{module}.{alias.name}"
                found.add(submodule if submodule in known else module)
    return {m for m in found if m in known and m != name}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    known = _modules()
    return {name: _imports(name, path, known) for name, path in known.items()}


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return circles


def test_no_import_circles(graph: dict[str, set[str]]) -> None:
    assert _circles(graph) == []


def test_circles_are_found() -> None:
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def _in(module: str, room: str) -> bool:
    return module == room or module.startswith(room + ".")


def test_no_arrow_points_outwards(graph: dict[str, set[str]]) -> None:
    wrong = sorted(
        f"{name} imports {imported}"
        for name, imports in graph.items()
        for room, outer in FORBIDDEN.items()
        if _in(name, room)
        for imported in imports
        if any(_in(imported, o) for o in outer)
    )
    assert wrong == []
