"""The migrations build exactly the schema the models describe: on the database of a manager
that has just started (and so migrated it), Alembic's autogenerate proposes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, Integer, MetaData

from manager.db.schema import metadata
from tests.conftest import Manager, database_backends

pytestmark = pytest.mark.parametrize("backend", database_backends(), indirect=True)


def _proposed(manager: Manager, target: MetaData) -> list[Any]:
    with manager.farm.db.write_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, target))


def test_autogenerate_proposes_nothing_on_a_fresh_database(manager: Manager) -> None:
    assert _proposed(manager, metadata) == []


def test_every_table_is_in_the_one_metadata(manager: Manager) -> None:
    # The protocols' and the file store's tables too, not only the core's.
    assert {"jobs", "tasks", "workers", "sheepit_users", "shaman_checkouts"} <= set(
        metadata.tables
    )


def test_a_column_the_migrations_lack_is_proposed(manager: Manager) -> None:
    drifted = MetaData()
    for table in metadata.tables.values():
        table.to_metadata(drifted)
    drifted.tables["jobs"].append_column(Column("not_migrated", Integer, nullable=True))
    [(kind, _schema, table, column)] = _proposed(manager, drifted)
    assert (kind, table, column.name) == ("add_column", "jobs", "not_migrated")
