"""A running task's lease is renewed by progress (log, steps, activity), never by pings."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from manager.core.farm import utcnow
from manager.core.health import run_health_checks
from tests.conftest import Manager, register_worker, submit

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def test_pings_do_not_keep_a_hung_task_alive_but_log_lines_do(manager: Manager) -> None:
    manager.settings.task_timeout = 1.0
    manager.settings.worker_timeout = 10_000  # the worker is alive; only its render hangs
    submit(manager, settings={"frames": "1", "chunk_size": 1})
    worker = register_worker(manager)
    worker.wake()
    task = worker.next_task()
    assert task is not None
    task_id = task["uuid"]

    time.sleep(1.2)
    assert worker.update(task_id, log="Fra:1 | Sample 3/16\n").status_code == 204
    run_health_checks(manager.farm, now=utcnow())
    assert manager.get(f"/api/v3/tasks/{task_id}").json()["status"] == "active"

    for _ in range(4):  # a live worker whose render child is stuck: heartbeats, may-i-run
        time.sleep(0.3)
        assert worker.update(task_id).status_code == 204
        may = worker.call("GET", f"/task/{task_id}/may-i-run").json()
        assert may["mayKeepRunning"] is True
    run_health_checks(manager.farm, now=utcnow())

    info = manager.get(f"/api/v3/tasks/{task_id}").json()
    assert info["status"] in ("soft-failed", "failed")
    assert "no progress for 1 s" in info["activity"]
    may = worker.call("GET", f"/task/{task_id}/may-i-run").json()
    assert may["mayKeepRunning"] is False  # the worker learns it and kills its render
    log = manager.get(f"/api/v3/tasks/{task_id}/logtail").text
    assert "no progress for 1 s" in log


def test_a_frame_far_slower_than_the_jobs_median_is_flagged_once(manager: Manager) -> None:
    manager.settings.worker_timeout = manager.settings.task_timeout = 10_000
    submit(manager, settings={"frames": "1-5", "chunk_size": 1})
    worker = register_worker(manager)
    worker.wake()
    for _ in range(3):  # three frames of well under a second each
        task = worker.next_task()
        assert task is not None
        worker.complete(task["uuid"])
    slow = worker.next_task()
    assert slow is not None
    run_health_checks(manager.farm, now=utcnow())
    assert "slow" not in manager.get(f"/api/v3/tasks/{slow['uuid']}").json()["activity"]

    later = utcnow() + timedelta(seconds=600)
    run_health_checks(manager.farm, now=later)
    run_health_checks(manager.farm, now=later + timedelta(seconds=5))
    info = manager.get(f"/api/v3/tasks/{slow['uuid']}").json()
    assert info["status"] == "active"  # flagged, not failed: no max_frame_seconds was set
    assert info["activity"].startswith("slow: running for")
    log = manager.get(f"/api/v3/tasks/{slow['uuid']}/logtail").text
    assert log.count("over 10x this job's median") == 1


def test_after_a_restart_workers_get_their_full_timeout_to_come_back(manager: Manager) -> None:
    submit(manager, settings={"frames": "1", "chunk_size": 1})
    worker = register_worker(manager)
    worker.wake()
    task = worker.next_task()
    assert task is not None
    # The manager was down for 100 s and has just started again.
    manager.farm.started = utcnow() + timedelta(seconds=100)
    soon = manager.farm.started + timedelta(seconds=manager.settings.worker_timeout / 2)
    run_health_checks(manager.farm, now=soon)
    workers = manager.get("/api/v3/worker-mgt/workers").json()["workers"]
    assert [w["status"] for w in workers] == ["awake"]
    assert manager.get(f"/api/v3/tasks/{task['uuid']}").json()["status"] == "active"

    late = manager.farm.started + timedelta(seconds=manager.settings.worker_timeout + 1)
    run_health_checks(manager.farm, now=late)
    workers = manager.get("/api/v3/worker-mgt/workers").json()["workers"]
    assert [w["status"] for w in workers] == ["error"]
