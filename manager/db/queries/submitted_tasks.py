"""Storing a submitted job's tasks and what they wait for, as plain rows handed to the driver
(``db/bulk.py``). Rows are tuples in the order of the columns the caller names."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.orm import Session

from manager.db.bulk import convert_rows, insert_converted, insert_rows
from manager.db.models import Task, TaskDependency

_TASKS = cast(Table, Task.__table__)
_DEPENDENCIES = cast(Table, TaskDependency.__table__)


def insert_tasks(session: Session, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
    insert_rows(session, _TASKS, columns, rows)


def insert_dependencies(
    session: Session, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    insert_rows(session, _DEPENDENCIES, columns, rows)


def task_rows_for_driver(
    dialect: Any, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> list[tuple[Any, ...]]:
    """Task rows with their values in the driver's form, for ``insert_ready_tasks``; needs no
    connection, so a caller can do this before it takes the write lock."""
    return convert_rows(dialect, _TASKS, columns, rows)


def insert_ready_tasks(
    session: Session, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    """Insert task rows that ``task_rows_for_driver`` made ready."""
    insert_converted(session, _TASKS, columns, rows)


def insert_ready_dependencies(
    session: Session, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    """Insert dependency rows, which hold only ids and so need no conversion."""
    insert_converted(session, _DEPENDENCIES, columns, rows)
