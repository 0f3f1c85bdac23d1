"""Statements compiled once per database dialect and run straight on the driver's cursor.

SQLAlchemy spends about a hundred microseconds around each statement it runs (execution
context, result objects), SQLite about ten in it. A worker's poll and its task report are a
dozen short statements each and come hundreds of times a second, so they run through here.
The SQL text, the parameter conversions and the result conversions all still come from
SQLAlchemy's compiler and column types, so one statement serves SQLite and PostgreSQL;
only the per-call machinery is skipped. It runs on the session's own connection, inside
its transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

Converter = Callable[[Any], Any]


@dataclass(slots=True)
class _Compiled:
    sql: str
    defaults: dict[str, Any]
    #: Parameter names in the order of the placeholders; None for drivers taking a dict.
    order: tuple[str, ...] | None
    bind: dict[str, Converter]
    result: tuple[Converter | None, ...]


class Prepared:
    def __init__(self, statement: ClauseElement) -> None:
        self._statement = statement
        self._compiled: dict[str, _Compiled] = {}

    def _for(self, dialect: Dialect) -> _Compiled:
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            compiled = self._compiled[dialect.name] = self._compile(dialect)
        return compiled

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled = cast(SQLCompiler, self._statement.compile(dialect=dialect))
        bind: dict[str, Converter] = {}
        defaults: dict[str, Any] = {}
        for name, param in compiled.binds.items():
            processor = param.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                bind[name] = processor
            if not param.required:  # a literal in the statement, such as the 1 of ``n + 1``
                defaults[name] = param.effective_value
        columns = getattr(self._statement, "exported_columns", ())
        result = tuple(
            column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
        )
        positional = compiled.positiontup
        return _Compiled(
            sql=compiled.string,
            defaults=defaults,
            order=tuple(positional) if positional is not None else None,
            bind=bind,
            result=result,
        )

    def _run(self, session: Session, params: Mapping[str, Any]) -> Any:
        connection = session.connection()
        compiled = self._for(connection.dialect)
        values = {**compiled.defaults, **params}
        for name, convert in compiled.bind.items():
            value = values[name]
            if value is not None:
                values[name] = convert(value)
        driver_params: Sequence[Any] | Mapping[str, Any] = (
            [values[name] for name in compiled.order] if compiled.order is not None else values
        )
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        cursor.execute(compiled.sql, driver_params)
        return cursor, compiled

    def rows(self, session: Session, **params: Any) -> list[tuple[Any, ...]]:
        cursor, compiled = self._run(session, params)
        try:
            fetched = cursor.fetchall()
        finally:
            cursor.close()
        if not any(compiled.result):
            return [tuple(row) for row in fetched]
        return [
            tuple(
                convert(value) if convert is not None and value is not None else value
                for convert, value in zip(compiled.result, row, strict=True)
            )
            for row in fetched
        ]

    def first(self, session: Session, **params: Any) -> tuple[Any, ...] | None:
        found = self.rows(session, **params)
        return found[0] if found else None

    def scalar(self, session: Session, **params: Any) -> Any:
        row = self.first(session, **params)
        return row[0] if row is not None else None

    def execute(self, session: Session, **params: Any) -> int:
        """Run a statement without results; the number of rows it changed."""
        cursor, _ = self._run(session, params)
        try:
            return int(cursor.rowcount)
        finally:
            cursor.close()
