"""A job always ends or says why it waits: failed tasks that no worker is left to run fail
their job, and a job whose next tasks no worker runs says so in its activity."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from manager.core.farm import utcnow
from manager.core.health import run_health_checks
from tests.conftest import FakeWorker, Manager, database_backends, register_worker, submit

pytestmark = pytest.mark.parametrize("backend", database_backends(), indirect=True)

NO_WORKER_LEFT = "no worker left that can run it"


def job_of(manager: Manager, job: dict[str, Any]) -> dict[str, Any]:
    return dict(manager.get(f"/api/v3/jobs/{job['id']}").json())


def task_of(manager: Manager, task: dict[str, Any]) -> dict[str, Any]:
    return dict(manager.get(f"/api/v3/tasks/{task['uuid']}").json())


def awake(manager: Manager, name: str, task_types: list[str] | None = None) -> FakeWorker:
    worker = register_worker(manager, name)
    worker.wake(task_types)
    return worker


def take_and_fail(worker: FakeWorker, reason: str = "scene 'Nope' not found") -> dict[str, Any]:
    task = worker.next_task()
    assert task is not None
    worker.fail(task["uuid"], reason)
    return task


# No worker left -----------------------------------------------------------------------------


def test_the_only_worker_failing_a_task_fails_the_job_and_says_why(manager: Manager) -> None:
    job = submit(manager, settings={"frames": "1-9", "chunk_size": 1})
    worker = awake(manager, "solo")
    task = take_and_fail(worker)

    failed = task_of(manager, task)
    assert failed["status"] == "failed"
    assert failed["activity"].startswith("failed on worker solo: scene 'Nope' not found; ")
    assert NO_WORKER_LEFT in failed["activity"]
    info = job_of(manager, job)
    assert info["status"] == "failed"
    assert "scene 'Nope' not found" in info["activity"] and NO_WORKER_LEFT in info["activity"]
    statuses = {t["status"] for t in manager.get(f"/api/v3/jobs/{job['id']}/tasks").json()["tasks"]}
    assert statuses == {"failed", "canceled"}
    assert worker.next_task() is None


def test_two_workers_failing_the_same_task_fail_the_job(manager: Manager) -> None:
    job = submit(manager, settings={"frames": "1-9", "chunk_size": 1})
    first, second = awake(manager, "first"), awake(manager, "second")
    task = take_and_fail(first)
    assert task_of(manager, task)["status"] == "soft-failed"
    assert job_of(manager, job)["status"] == "active"

    again = take_and_fail(second)
    assert again["uuid"] == task["uuid"]  # a soft-failed task goes out first
    failed = task_of(manager, task)
    assert failed["status"] == "failed" and len(failed["failed_by_workers"]) == 2
    assert failed["activity"].startswith("failed on worker second: ")
    info = job_of(manager, job)
    assert info["status"] == "failed" and NO_WORKER_LEFT in info["activity"]


def test_failure_while_another_capable_worker_is_awake_stays_soft_failed(
    manager: Manager,
) -> None:
    job = submit(manager, settings={"frames": "1-9", "chunk_size": 1})
    failing, _idle = awake(manager, "failing"), awake(manager, "idle")
    task = take_and_fail(failing)
    assert task_of(manager, task)["status"] == "soft-failed"
    info = job_of(manager, job)
    assert info["status"] == "active" and NO_WORKER_LEFT not in info["activity"]


def test_a_sleeping_worker_still_counts_as_one_that_can_run_the_task(manager: Manager) -> None:
    submit(manager, settings={"frames": "1-3", "chunk_size": 1})
    sleeper = awake(manager, "sleeper")
    assert sleeper.call("POST", "/state-changed", json={"status": "asleep"}).status_code == 204
    task = take_and_fail(awake(manager, "failing"))
    assert task_of(manager, task)["status"] == "soft-failed"


def test_offline_workers_and_workers_of_other_task_types_do_not_count(manager: Manager) -> None:
    job = submit(manager, settings={"frames": "1-3", "chunk_size": 1})
    gone = awake(manager, "gone")
    assert gone.call("POST", "/sign-off").status_code == 204
    awake(manager, "blender-only", ["blender"])
    task = take_and_fail(awake(manager, "failing"))
    assert task_of(manager, task)["status"] == "failed"
    assert job_of(manager, job)["status"] == "failed"


def test_workers_without_the_jobs_tag_do_not_count(manager: Manager) -> None:
    tag = manager.post("/api/v3/worker-mgt/tags", json={"name": "gpu"}).json()
    job = submit(manager, settings={"frames": "1-3", "chunk_size": 1}, worker_tag=tag["id"])
    awake(manager, "untagged")
    tagged = awake(manager, "tagged")
    path = f"/api/v3/worker-mgt/workers/{tagged.id}/settags"
    assert manager.post(path, json={"tag_ids": [tag["id"]]}).status_code == 204
    take_and_fail(tagged)
    assert job_of(manager, job)["status"] == "failed"


def test_blocking_a_worker_fails_the_tasks_only_it_could_still_run(manager: Manager) -> None:
    manager.settings.blocklist_threshold = 2
    job = submit(manager, settings={"frames": "1-9", "chunk_size": 1})
    a, b = awake(manager, "a"), awake(manager, "b")
    first = take_and_fail(a)
    retried = b.next_task()
    assert retried is not None and retried["uuid"] == first["uuid"]
    b.complete(retried["uuid"])
    held_by_a = a.next_task()
    assert held_by_a is not None
    only_a_left = take_and_fail(b)
    assert task_of(manager, only_a_left)["status"] == "soft-failed"

    a.fail(held_by_a["uuid"])  # a's second failure blocks it from the job's misc tasks
    assert [e["worker_id"] for e in manager.get(f"/api/v3/jobs/{job['id']}/blocklist").json()] == [
        a.id
    ]
    stranded = task_of(manager, only_a_left)
    assert stranded["status"] == "failed"
    assert stranded["activity"].startswith("failed before: ")
    assert NO_WORKER_LEFT in stranded["activity"]
    info = job_of(manager, job)
    assert info["status"] == "failed" and NO_WORKER_LEFT in info["activity"]


def test_a_task_that_times_out_on_the_only_worker_fails_the_job(manager: Manager) -> None:
    manager.settings.worker_timeout = 10_000  # the worker stays alive, only its task hangs
    job = submit(manager, settings={"frames": "1-3", "chunk_size": 1})
    worker = awake(manager, "hung")
    task = worker.next_task()
    assert task is not None
    run_health_checks(
        manager.farm, now=utcnow() + timedelta(seconds=manager.settings.task_timeout + 1)
    )
    failed = task_of(manager, task)
    assert failed["status"] == "failed" and "timed out" in failed["activity"]
    info = job_of(manager, job)
    assert info["status"] == "failed" and NO_WORKER_LEFT in info["activity"]


def test_never_tried_tasks_wait_for_workers_to_come_online(manager: Manager) -> None:
    job = submit(manager, settings={"frames": "1-3", "chunk_size": 1})
    worker = awake(manager, "night-owl")
    assert worker.call("POST", "/sign-off").status_code == 204
    run_health_checks(manager.farm, now=utcnow() + timedelta(hours=12))
    assert job_of(manager, job)["status"] == "queued"
    worker.wake()
    assert worker.next_task() is not None


# Task types no worker runs ------------------------------------------------------------------

TWO_STAGE = """
name: two-stage
settings:
  - key: frames
    type: string
    required: true
compile:
  tasks:
    - id: render
      name: "render-{chunk}"
      type: misc
      chunks: {frames: frames, size: 1}
      commands:
        - name: sleep
          parameters: {duration_in_seconds: 0}
    - id: pack
      type: packing
      after: [render]
      commands:
        - name: sleep
          parameters: {duration_in_seconds: 0}
"""


def test_job_of_a_task_type_no_worker_runs_says_so_until_one_signs_on(
    manager: Manager,
) -> None:
    worker = register_worker(manager, "blender-box")
    worker.sign_on(["blender"])
    job = submit(manager, settings={"frames": "1-2", "chunk_size": 1})
    assert job["activity"] == "waiting: no worker runs task type 'misc'"
    assert job_of(manager, job)["activity"] == job["activity"]

    worker.sign_on(["blender", "misc"])
    info = job_of(manager, job)
    assert info["status"] == "queued" and not info["activity"].startswith("waiting")


def test_a_worker_registering_with_the_task_type_ends_the_wait(manager: Manager) -> None:
    job = submit(manager, settings={"frames": "1-2", "chunk_size": 1})
    assert job_of(manager, job)["activity"] == "waiting: no worker runs task type 'misc'"
    register_worker(manager, "any-type")
    assert not job_of(manager, job)["activity"].startswith("waiting")


def test_health_check_notes_the_next_task_type_no_worker_runs(manager: Manager) -> None:
    assert manager.settings.job_types is not None
    (manager.settings.job_types / "two-stage.yaml").write_text(TWO_STAGE)
    manager.farm.job_types.refresh()
    worker = awake(manager, "misc-only", ["misc"])
    job = submit(manager, "two-stage", settings={"frames": "1-2"})
    assert not job["activity"].startswith("waiting")  # its render tasks can run
    while (task := worker.next_task()) is not None:
        worker.complete(task["uuid"])

    run_health_checks(manager.farm)
    info = job_of(manager, job)
    assert info["status"] == "active"
    assert info["activity"] == "waiting: no worker runs task type 'packing'"

    worker.wake(["misc", "packing"])
    assert not job_of(manager, job)["activity"].startswith("waiting")
    task = worker.next_task()
    assert task is not None and task["task_type"] == "packing"
    worker.complete(task["uuid"])
    assert job_of(manager, job)["status"] == "completed"


def test_waiting_for_a_task_type_names_the_jobs_worker_tag(manager: Manager) -> None:
    tag = manager.post("/api/v3/worker-mgt/tags", json={"name": "gpu"}).json()
    awake(manager, "untagged")
    job = submit(manager, settings={"frames": "1-2", "chunk_size": 1}, worker_tag=tag["id"])
    assert job["activity"] == (
        "waiting: no worker runs task type 'misc' among the workers tagged 'gpu'"
    )
