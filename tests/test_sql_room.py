"""All SQL lives in the persistence room (``manager/db``): every other module of the manager
calls a named query function and never builds or runs a statement itself, so a rule about
the database is found in one place and status literals come from one enum."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
MANAGER = REPO / "manager"
PERSISTENCE = MANAGER / "db"

#: What a module outside the persistence room may take from SQLAlchemy: the session's type for
#: its signatures, the session an object belongs to, the errors it reacts to and the parser of
#: database URLs. Everything else builds or runs statements.
ALLOWED_IMPORTS = {
    ("sqlalchemy.orm", "Session"),
    ("sqlalchemy.orm", "object_session"),
    ("sqlalchemy.exc", "*"),
    ("sqlalchemy.engine", "make_url"),
}

#: Session methods that run a statement; ``get``, ``add`` and ``delete`` of one object do not.
STATEMENT_RUNNERS = {"execute", "scalars", "scalar", "query", "exec_driver_sql"}


def _outside_modules() -> list[Path]:
    return sorted(path for path in MANAGER.rglob("*.py") if PERSISTENCE not in path.parents)


def _violations(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [
                f"line {node.lineno}: import {alias.name}"
                for alias in node.names
                if alias.name.split(".")[0] == "sqlalchemy"
            ]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sqlalchemy":
            found += [
                f"line {node.lineno}: from {node.module} import {alias.name}"
                for alias in node.names
                if (node.module, alias.name) not in ALLOWED_IMPORTS
                and (node.module, "*") not in ALLOWED_IMPORTS
            ]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in STATEMENT_RUNNERS
        ):
            found.append(f"line {node.lineno}: .{node.func.attr}(...)")
    return found


@pytest.mark.parametrize("path", _outside_modules(), ids=lambda p: str(p.relative_to(REPO)))
def test_no_sql_outside_the_persistence_room(path: Path) -> None:
    assert _violations(path) == [], f"{path.relative_to(REPO)} builds or runs SQL"
