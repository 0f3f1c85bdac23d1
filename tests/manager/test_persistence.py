"""Restarting the manager loses nothing that was acknowledged."""

from __future__ import annotations

import pytest

from manager.config import Settings
from tests.conftest import (
    database_backends,
    register_worker,
    start_manager,
    stop_manager,
    submit,
)
from tests.spec_check import SpecChecker

pytestmark = pytest.mark.parametrize("backend", database_backends(), indirect=True)


def test_jobs_tasks_workers_and_logs_survive_a_restart(
    manager_settings: Settings, spec_checker: SpecChecker
) -> None:
    first = start_manager(manager_settings, spec_checker)
    job = submit(first, settings={"frames": "1-3", "chunk_size": 1})
    worker = register_worker(first, "survivor")
    worker.wake()
    done = worker.next_task()
    assert done is not None
    worker.update(done["uuid"], log="rendered frame 1")
    worker.complete(done["uuid"])
    running = worker.next_task()
    assert running is not None
    stop_manager(first)

    second = start_manager(manager_settings, spec_checker)
    try:
        worker.manager = second
        fetched = second.get(f"/api/v3/jobs/{job['id']}").json()
        assert fetched["status"] == "active" and fetched["steps_completed"] == 1
        assert second.get(f"/api/v3/tasks/{done['uuid']}").json()["status"] == "completed"
        assert "rendered frame 1" in second.get(f"/api/v3/tasks/{done['uuid']}/logtail").text
        # The worker's credentials and its running task are still valid after the restart.
        again = worker.next_task()
        assert again is not None and again["uuid"] == running["uuid"]
        worker.complete(running["uuid"])
        while (task := worker.next_task()) is not None:
            worker.complete(task["uuid"])
        assert second.get(f"/api/v3/jobs/{job['id']}").json()["status"] == "completed"
    finally:
        stop_manager(second)
