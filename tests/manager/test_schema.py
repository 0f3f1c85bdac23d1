"""The migrations build exactly the schema the models describe: on the database of a manager
that has just started (and so migrated it), Alembic's autogenerate proposes nothing. And they
keep what a farm holds: a database at any earlier revision upgrades with its rows intact."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Integer, MetaData, bindparam, create_engine, text

from manager.db.migrate import alembic_config
from manager.db.models import UTCDateTime
from manager.db.schema import metadata
from manager.db.session import Database
from tests.conftest import Manager, database_backends, database_url

pytestmark = pytest.mark.parametrize("backend", database_backends(), indirect=True)


def _proposed(manager: Manager, target: MetaData) -> list[Any]:
    with manager.farm.db.write_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, target))


def test_autogenerate_proposes_nothing_on_a_fresh_database(manager: Manager) -> None:
    assert _proposed(manager, metadata) == []


def test_every_table_is_in_the_one_metadata(manager: Manager) -> None:
    # The protocols' and the file store's tables too, not only the core's.
    assert {"jobs", "tasks", "workers", "sheepit_users", "shaman_checkouts"} <= set(metadata.tables)


def test_a_column_the_migrations_lack_is_proposed(manager: Manager) -> None:
    drifted = MetaData()
    for table in metadata.tables.values():
        table.to_metadata(drifted)
    drifted.tables["jobs"].append_column(Column("not_migrated", Integer, nullable=True))
    [(kind, _schema, table, column)] = _proposed(manager, drifted)
    assert (kind, table, column.name) == ("add_column", "jobs", "not_migrated")


def _revisions() -> list[str]:
    """Every revision but the newest, oldest first."""
    script = ScriptDirectory.from_config(alembic_config(create_engine("sqlite://")))
    newest_first = [revision.revision for revision in script.walk_revisions()]
    return list(reversed(newest_first[1:]))


_JOB = """INSERT INTO jobs (id, name, job_type, type_etag, priority, status, activity, settings,
    metadata, submitter_platform, created, updated, tasks_total, tasks_queued, tasks_active,
    tasks_completed, tasks_failed, tasks_soft_failed, tasks_canceled, tasks_paused)
    VALUES ('job', 'a job', 'frames-noop', '', 50, 'queued', '', '{}', '{}', '', :now, :now,
    1, 1, 0, 0, 0, 0, 0, 0)"""
_TASK = """INSERT INTO tasks (id, job_id, index_in_job, name, task_type, priority, status,
    activity, commands, steps_completed, steps_total, dispatch_rank, dependency_count, created,
    updated) VALUES ('task', 'job', 0, 'a task', 'misc', 50, 'queued', '', '[]', 0, 1, 0, 0,
    :now, :now)"""


@pytest.mark.parametrize("start", _revisions())
def test_upgrading_a_farm_keeps_its_jobs_and_tasks(
    backend: str, tmp_path: Path, start: str
) -> None:
    # A migration that copies a table (Alembic's batch mode on SQLite) drops the old one,
    # and with foreign keys on, dropping jobs deletes every task through the cascade.
    db = Database(database_url(backend, tmp_path))
    try:
        config = alembic_config(db.write_engine)
        command.upgrade(config, start)
        with db.write_engine.begin() as connection:
            now = datetime(2026, 1, 1, tzinfo=UTC)
            connection.execute(
                text(_JOB).bindparams(bindparam("now", type_=UTCDateTime)), {"now": now}
            )
            connection.execute(
                text(_TASK).bindparams(bindparam("now", type_=UTCDateTime)), {"now": now}
            )
        command.upgrade(config, "head")
        with db.write_engine.connect() as connection:
            jobs = connection.execute(text("SELECT id FROM jobs")).scalars().all()
            tasks = connection.execute(text("SELECT id FROM tasks")).scalars().all()
        assert (jobs, tasks) == (["job"], ["task"])
    finally:
        db.dispose()


_WORKER = """INSERT INTO workers (id, name, secret_hash, platform, software, address,
    supported_task_types, status, lazy_status_request, can_restart, created, updated, extra)
    VALUES ('worker', 'render-01', '', 'linux', '', '', '[]', 'awake', FALSE, FALSE, :now,
    :now, '{}')"""


def test_upgrading_a_farm_counts_what_each_worker_did_before(backend: str, tmp_path: Path) -> None:
    """The worker list shows counters since 0012; a farm's workers keep what they did."""
    db = Database(database_url(backend, tmp_path))
    try:
        config = alembic_config(db.write_engine)
        command.upgrade(config, "0011")
        now = {"now": datetime(2026, 1, 1, tzinfo=UTC)}
        with db.write_engine.begin() as connection:
            for insert in (_JOB, _TASK, _WORKER):
                statement = text(insert).bindparams(bindparam("now", type_=UTCDateTime))
                connection.execute(statement, now)
            connection.execute(
                text(
                    "UPDATE tasks SET status = 'completed', worker_id = 'worker', frame_count = 3"
                )
            )
        command.upgrade(config, "head")
        with db.write_engine.connect() as connection:
            counted = connection.execute(
                text("SELECT tasks_completed, frames_rendered FROM workers")
            ).all()
        assert [tuple(row) for row in counted] == [(1, 3)]
    finally:
        db.dispose()
