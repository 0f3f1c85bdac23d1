"""Health rules with time as a parameter: silent workers, hung tasks, sleep schedules."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from manager.core.farm import utcnow
from manager.core.health import run_health_checks
from tests.conftest import Manager, database_backends, register_worker, submit

pytestmark = pytest.mark.parametrize("backend", database_backends(), indirect=True)


def test_silent_worker_goes_to_error_and_its_task_is_requeued(manager: Manager) -> None:
    submit(manager, settings={"frames": "1", "chunk_size": 1})
    worker = register_worker(manager)
    worker.wake()
    task = worker.next_task()
    assert task is not None
    run_health_checks(manager.farm, now=utcnow() + timedelta(seconds=30))
    assert manager.get(f"/api/v3/tasks/{task['uuid']}").json()["status"] == "active"
    run_health_checks(
        manager.farm, now=utcnow() + timedelta(seconds=manager.settings.worker_timeout + 1)
    )
    assert manager.get(f"/api/v3/worker-mgt/workers/{worker.id}").json()["status"] == "error"
    assert manager.get(f"/api/v3/tasks/{task['uuid']}").json()["status"] == "queued"


def test_hung_task_fails_on_its_worker_and_goes_elsewhere(manager: Manager) -> None:
    manager.settings.worker_timeout = 10_000  # the worker stays alive, only the task hangs
    submit(manager, settings={"frames": "1", "chunk_size": 1})
    worker = register_worker(manager)
    worker.wake()
    task = worker.next_task()
    assert task is not None
    other = register_worker(manager)  # a worker that can still take the task
    run_health_checks(
        manager.farm, now=utcnow() + timedelta(seconds=manager.settings.task_timeout + 1)
    )
    info = manager.get(f"/api/v3/tasks/{task['uuid']}").json()
    assert info["status"] == "soft-failed" and "timed out" in info["activity"]
    assert worker.next_task() is None
    other.wake()
    assert (retry := other.next_task()) is not None and retry["uuid"] == task["uuid"]


def test_sleep_schedule_puts_the_worker_to_sleep_and_wakes_it(manager: Manager) -> None:
    worker = register_worker(manager)
    worker.wake()
    schedule = {"is_active": True, "days_of_week": "", "start_time": "22:00", "end_time": "06:00"}
    manager.post(f"/api/v3/worker-mgt/workers/{worker.id}/sleep-schedule", json=schedule)
    night = datetime(2026, 11, 23, 23, 30)
    run_health_checks(manager.farm, local_now=night)
    assert worker.call("GET", "/state").json() == {"status_requested": "asleep"}
    worker.call("POST", "/state-changed", json={"status": "asleep"})
    morning = datetime(2026, 11, 24, 8, 0)
    run_health_checks(manager.farm, local_now=morning)
    assert worker.call("GET", "/state").json() == {"status_requested": "awake"}


def test_task_updates_keep_the_lease(manager: Manager) -> None:
    submit(manager, settings={"frames": "1", "chunk_size": 1})
    worker = register_worker(manager)
    worker.wake()
    task = worker.next_task()
    assert task is not None
    # The worker reported progress just now, so a check "now" must not fail the task.
    worker.update(task["uuid"], activity="still rendering")
    run_health_checks(manager.farm, now=utcnow() + timedelta(seconds=5))
    assert manager.get(f"/api/v3/tasks/{task['uuid']}").json()["status"] == "active"
