"""Inserting many rows at driver speed.

A 100,000-frame job is 100,000 task rows; through the ORM's bulk path the per-row Python
work cost more than SQLite's own inserting. Here rows are plain tuples handed to the DB
driver's ``executemany``, with values already in the form the column types would produce.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Table
from sqlalchemy.orm import Session

from manager.db.models import UTCDateTime

# One encoder for all rows, without the spaces json.dumps puts after separators: both cost
# time and bytes over 100,000 tasks' commands.
_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"), check_circular=False)


def _converter(column_type: Any, dialect: Any) -> Any:
    if isinstance(column_type, UTCDateTime):
        to_db = column_type.process_bind_param
        driver = column_type.impl.bind_processor(dialect)

        def convert_time(value: datetime | None) -> Any:
            stored = to_db(value, dialect)
            return driver(stored) if driver is not None and stored is not None else stored

        return convert_time
    if isinstance(column_type, JSON):
        return _COMPACT_JSON.encode
    return None


def insert_rows(
    session: Session, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    """INSERT the rows (tuples in ``columns`` order) in one driver-level executemany."""
    if rows:
        dialect = session.connection().dialect
        insert_converted(session, table, columns, convert_rows(dialect, table, columns, rows))


def convert_rows(
    dialect: Any, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> list[tuple[Any, ...]]:
    """The rows with their values in the driver's form; needs no connection, so a caller can
    do this part before it takes the write lock."""
    converters = [(i, _converter(table.c[name].type, dialect)) for i, name in enumerate(columns)]
    converters = [(i, conv) for i, conv in converters if conv is not None]
    if not converters:
        return rows
    # Identical values (the job's timestamps) are converted once, not once per row.
    cache: dict[tuple[int, Any], Any] = {}
    converted = []
    for row in rows:
        values = list(row)
        for i, conv in converters:
            value = values[i]
            if isinstance(value, datetime):
                key = (i, value)
                if key not in cache:
                    cache[key] = conv(value)
                values[i] = cache[key]
            else:
                values[i] = conv(value)
        converted.append(tuple(values))
    return converted


def insert_converted(
    session: Session, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    """INSERT rows that ``convert_rows`` made ready, in one executemany."""
    if not rows:
        return
    connection = session.connection()
    marker = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    sql = (
        f"INSERT INTO {table.name} ({', '.join(columns)}) "
        f"VALUES ({', '.join(marker for _ in columns)})"
    )
    connection.exec_driver_sql(sql, rows)
