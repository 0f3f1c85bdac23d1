"""Big submissions go in in steps: hidden from the scheduler and the listings until whole,
and never left half-stored."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from manager.config import Settings
from manager.core import compiler, jobs
from manager.core.errors import BadInput
from manager.core.farm import Farm, utcnow
from manager.core.job_types import SettingError, validate_settings
from manager.core.staged_jobs import (
    ABANDONED_AFTER,
    ONE_GO_TASKS,
    remove_abandoned_jobs,
    submit_in_steps,
)
from manager.core.statuses import JobStatus
from manager.db.models import Job, Task, TaskDependency
from tests.conftest import FakeWorker, Manager, register_worker, start_manager, stop_manager
from tests.spec_check import SpecChecker

STEP = 1000


def echo_then_sleeps(count: int) -> jobs.JobSubmission:
    """One echo task, then ``count`` sleep tasks that each wait for it."""
    return jobs.JobSubmission(
        name="big",
        type="echo-sleep-test",
        settings={"sleep_repeats": count, "sleep_duration_seconds": 0},
    )


def noop_frames(count: int, chunk_size: int) -> jobs.JobSubmission:
    return jobs.JobSubmission(
        name="frames",
        type="frames-noop",
        settings={"frames": f"1-{count}", "chunk_size": chunk_size},
    )


def half_store(farm: Farm, now: datetime) -> str:
    """What a submission stored in steps leaves when its manager stops after the first step."""
    sub = echo_then_sleeps(2 * STEP)
    with farm.db.read() as session:
        compiled = jobs.compile_submission(session, farm.job_types, sub, now)
    task_ids = jobs.random_uuids(compiled.tasks.count)
    with farm.db.write() as session:
        jobs.add_job(session, compiled, sub, now, JobStatus.UNDER_CONSTRUCTION)
    with farm.db.write() as session:
        jobs.insert_tasks(session, compiled, task_ids, range(STEP), now)
    return compiled.job_id


def stored_rows(farm: Farm) -> tuple[int, int, int]:
    with farm.db.read() as session:
        return (
            session.scalar(select(func.count()).select_from(Job)) or 0,
            session.scalar(select(func.count()).select_from(Task)) or 0,
            session.scalar(select(func.count()).select_from(TaskDependency)) or 0,
        )


def test_a_job_bigger_than_a_step_shows_only_when_whole(manager: Manager) -> None:
    farm = manager.farm
    seen: list[tuple[list[str], int, int]] = []

    def clock() -> datetime:
        # Each step asks the time just before it commits: what does the farm show meanwhile?
        with farm.db.read() as session:
            building = list(
                session.scalars(select(Job.id).where(Job.status == JobStatus.UNDER_CONSTRUCTION))
            )
        v3 = manager.get("/api/v3/jobs").json()["jobs"]
        dashboard = manager.get("/api/farmhand/jobs").json()["jobs"]
        seen.append((building, len(v3), len(dashboard)))
        return utcnow()

    job_id = submit_in_steps(farm.db, farm.job_types, echo_then_sleeps(2500), utcnow(), clock, STEP)

    assert [(b, v3, d) for b, v3, d in seen] == [([job_id], 0, 0)] * 3
    job = manager.get(f"/api/v3/jobs/{job_id}").json()
    assert job["status"] == "queued"
    assert [j["id"] for j in manager.get("/api/v3/jobs").json()["jobs"]] == [job_id]
    assert stored_rows(farm) == (1, 2501, 2500)
    tasks = manager.get(f"/api/v3/jobs/{job_id}/tasks").json()["tasks"]
    assert [t["index_in_job"] for t in tasks] == list(range(2501))

    # Dependencies crossing steps hold: nothing but the echo runs until the echo is done.
    first, second = register_worker(manager), register_worker(manager)
    first.wake()
    second.wake()
    echo = first.next_task()
    assert echo is not None and echo["name"] == "echo"
    assert second.next_task() is None
    first.complete(echo["uuid"])
    sleep = second.next_task()
    assert sleep is not None and sleep["name"].startswith("sleep-")


def test_a_half_stored_job_is_never_handed_out_nor_listed(
    manager: Manager, awake_worker: FakeWorker
) -> None:
    job_id = half_store(manager.farm, utcnow())
    assert awake_worker.next_task() is None
    assert manager.get("/api/v3/jobs").json()["jobs"] == []
    listed = manager.get("/api/farmhand/jobs").json()
    assert listed["jobs"] == [] and listed["total"] == 0
    assert JobStatus.UNDER_CONSTRUCTION not in manager.get("/api/farmhand/summary").json()["jobs"]
    assert stored_rows(manager.farm)[1] == STEP, job_id


def test_a_submission_that_fails_half_way_leaves_nothing_behind(manager: Manager) -> None:
    farm = manager.farm
    steps = 0

    def clock() -> datetime:
        nonlocal steps
        steps += 1
        if steps == 2:
            raise OSError("disk full")
        return utcnow()

    with pytest.raises(OSError, match="disk full"):
        submit_in_steps(farm.db, farm.job_types, echo_then_sleeps(2500), utcnow(), clock, STEP)
    assert stored_rows(farm) == (0, 0, 0)


def test_an_abandoned_job_goes_once_nobody_has_touched_it_for_a_while(manager: Manager) -> None:
    farm = manager.farm
    started = utcnow()
    job_id = half_store(farm, started)
    assert remove_abandoned_jobs(farm.db, started + timedelta(seconds=5), step=300) == []
    assert stored_rows(farm) == (1, STEP, 0)
    later = started + ABANDONED_AFTER + timedelta(seconds=1)
    assert remove_abandoned_jobs(farm.db, later, step=300) == [job_id]
    assert stored_rows(farm) == (0, 0, 0)


def test_a_job_left_half_stored_by_the_last_run_is_gone_after_a_restart(
    manager_settings: Settings, spec_checker: SpecChecker
) -> None:
    farm = Farm(manager_settings)
    try:
        half_store(farm, utcnow() - ABANDONED_AFTER - timedelta(minutes=1))
        assert stored_rows(farm) == (1, STEP, 0)
    finally:
        farm.close()
    manager = start_manager(manager_settings, spec_checker)
    try:
        assert stored_rows(manager.farm) == (0, 0, 0)
        assert manager.get("/api/v3/jobs").json()["jobs"] == []
    finally:
        stop_manager(manager)


def test_a_big_submission_over_http_is_answered_once_whole(
    manager: Manager, awake_worker: FakeWorker
) -> None:
    count = ONE_GO_TASKS + 500
    job = manager.post(
        "/api/v3/jobs",
        json={
            "name": "big",
            "type": "frames-noop",
            "priority": 50,
            "submitter_platform": "linux",
            "settings": {"frames": f"1-{count}", "chunk_size": 1},
        },
    ).json()
    assert job["status"] == "queued"
    assert stored_rows(manager.farm) == (1, count, 0)
    assert awake_worker.next_task() is not None


def stored_tasks(farm: Farm, job_id: str) -> tuple[list[tuple[Any, ...]], list[tuple[int, int]]]:
    """A job's task rows by their number in the job, and what each waits for, as numbers."""
    with farm.db.read() as session:
        tasks = session.execute(
            select(
                Task.index_in_job, Task.name, Task.task_type, Task.priority, Task.status,
                Task.commands, Task.steps_total, Task.frame_count, Task.dispatch_rank,
                Task.dependency_count, Task.id,
            ).where(Task.job_id == job_id).order_by(Task.index_in_job)
        ).all()
        number = {row.id: row.index_in_job for row in tasks}
        links = session.execute(
            select(TaskDependency.task_id, TaskDependency.depends_on_id).where(
                TaskDependency.task_id.in_(number)
            )
        ).all()
    return (
        [tuple(row)[:-1] for row in tasks],
        sorted((number[task], number[dependency]) for task, dependency in links),
    )


@pytest.mark.parametrize(
    "sub", [echo_then_sleeps(2500), noop_frames(7000, 3)], ids=["dependencies", "chunks"]
)
def test_a_job_stored_in_steps_has_the_rows_it_compiles_to(
    manager: Manager, sub: jobs.JobSubmission
) -> None:
    farm = manager.farm
    now = utcnow()
    job_id = submit_in_steps(farm.db, farm.job_types, sub, now, utcnow, STEP)

    job_type = farm.job_types.get(sub.type)
    assert job_type is not None
    whole = compiler.compile_job(
        job_type,
        validate_settings(job_type, sub.settings),
        job_id=job_id,
        job_name=sub.name,
        priority=sub.priority,
        created=now,
    )
    tasks, links = stored_tasks(farm, job_id)
    assert len(tasks) == len(whole) > 2 * STEP
    assert tasks == [
        (
            index, spec.name, spec.task_type, spec.priority, "queued", spec.commands,
            spec.steps_total, len(spec.frames), spec.dispatch_rank, len(spec.depends_on),
        )
        for index, spec in enumerate(whole)
    ]
    assert links == [(index, d) for index, spec in enumerate(whole) for d in spec.depends_on]

    # The same as the rows of the same job stored in one transaction.
    with farm.db.write() as session:
        at_once = jobs.submit_job(session, farm.job_types, sub, now).id
    assert stored_tasks(farm, at_once) == (tasks, links)


def test_a_compile_error_in_the_last_task_stores_nothing(
    manager: Manager, monkeypatch: pytest.MonkeyPatch
) -> None:
    farm = manager.farm
    count = 3 * STEP
    make_context = compiler._chunk_context

    def failing_on_the_last_frame(chunk: list[int]) -> dict[str, Any]:
        if chunk[-1] == count:
            raise SettingError("frames", f"frame {count} cannot be rendered")
        return make_context(chunk)

    monkeypatch.setattr(compiler, "_chunk_context", failing_on_the_last_frame)
    writes = 0
    write = farm.db.write

    @contextmanager
    def counted_write() -> Iterator[Any]:
        nonlocal writes
        writes += 1
        with write() as session:
            yield session

    monkeypatch.setattr(farm.db, "write", counted_write)
    with pytest.raises(BadInput, match=f"settings.frames: frame {count} cannot be rendered"):
        submit_in_steps(farm.db, farm.job_types, noop_frames(count, 1), utcnow(), utcnow, STEP)
    assert writes == 0
    assert stored_rows(farm) == (0, 0, 0)
