"""Big jobs are canceled, requeued, paused and resumed in steps: the request is answered at
once, no task of a job being canceled, requeued or paused is handed out meanwhile, workers
are answered between the steps, and a change left half-way is finished by the health
checks."""

from __future__ import annotations

import json
import threading
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select

from manager.core import events, jobs, write_steps
from manager.core.farm import Farm, utcnow
from manager.core.health import run_health_checks
from manager.core.job_status_steps import move_in_steps
from manager.core.statuses import JobStatus, TaskStatus
from manager.core.task_states import bulk_set_task_status
from manager.db.models import Job
from manager.db.queries.job_counters import COUNTER
from tests.conftest import FakeWorker, Manager, database_backends, register_worker, submit
from tests.protocols.test_rest2015 import new_task

pytestmark = pytest.mark.parametrize("backend", database_backends(), indirect=True)

TASKS = 1500
STEP = 200


@pytest.fixture(autouse=True)
def small_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    """A few hundred tasks count as a big job here, moved a couple of hundred at a time."""
    monkeypatch.setattr(write_steps, "ONE_GO_TASKS", 100)
    monkeypatch.setattr(write_steps, "FIRST_STEP", STEP)
    monkeypatch.setattr(write_steps, "MAX_STEP", STEP)


def between_steps(monkeypatch: pytest.MonkeyPatch, look: Any) -> None:
    monkeypatch.setattr(write_steps, "time", SimpleNamespace(sleep=lambda _: look()))


Seen = list[tuple[dict[str, Any], str | None]]


def worker_polls_between_steps(
    monkeypatch: pytest.MonkeyPatch, manager: Manager, worker: FakeWorker, job_id: str
) -> Seen:
    """Between two steps the worker asks for a task and completes what it gets: the job's
    row at that moment and the job of the task it got, one entry per step."""
    seen: Seen = []

    def look() -> None:
        task = worker.next_task()
        if task is not None:
            worker.complete(task["uuid"])
        seen.append((job_row(manager.farm, job_id), task["job"] if task else None))

    between_steps(monkeypatch, look)
    return seen


def big_job(manager: Manager, **overrides: Any) -> str:
    job = submit(manager, settings={"frames": f"1-{TASKS}", "chunk_size": 1}, **overrides)
    return str(job["id"])


def job_row(farm: Farm, job_id: str) -> dict[str, Any]:
    """The job's status and counters as stored, next to the counts of its tasks."""
    with farm.db.read() as session:
        job = session.get(Job, job_id)
        assert job is not None
        counted = {attribute: getattr(job, attribute) for attribute in COUNTER.values()}
        return {"status": job.status, "total": job.tasks_total, **counted}


def task_counts(manager: Manager, job_id: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for task in manager.get(f"/api/v3/jobs/{job_id}/tasks").json()["tasks"]:
        counts[task["status"]] = counts.get(task["status"], 0) + 1
    return counts


def steps_done(farm: Farm, job_id: str) -> dict[str, Any]:
    """Wait for the steps' thread; the job's row once it is done."""
    assert farm.status_steps.wait(timeout=60), "the steps never ended"
    return job_row(farm, job_id)


def set_status(manager: Manager, job_id: str, status: str) -> None:
    response = manager.post(
        f"/api/v3/jobs/{job_id}/setstatus", json={"status": status, "reason": "test"}
    )
    assert response.status_code == 204, response.text


def counters_match_tasks(manager: Manager, job_id: str) -> None:
    row = job_row(manager.farm, job_id)
    counts = task_counts(manager, job_id)
    for status, attribute in COUNTER.items():
        assert row[attribute] == counts.get(status, 0), (status, row, counts)
    assert row["total"] == sum(counts.values())


def test_a_big_cancel_answers_at_once_and_workers_are_answered_between_its_steps(
    manager: Manager, awake_worker: FakeWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = big_job(manager, priority=90)
    other = submit(manager, settings={"frames": "1-50", "chunk_size": 1}, priority=10)
    running = awake_worker.next_task()
    assert running is not None and running["job"] == job_id

    other_worker = register_worker(manager)
    other_worker.wake()
    # A worker's poll between two steps: answered, and never with the canceled job.
    seen = worker_polls_between_steps(monkeypatch, manager, other_worker, job_id)
    set_status(manager, job_id, "cancel-requested")
    assert steps_done(manager.farm, job_id)["status"] == "canceled"

    assert len(seen) >= 3, "the cancel went in several steps"
    assert {status for row, _ in seen for status in [row["status"]]} == {"cancel-requested"}
    assert {job for _, job in seen} == {other["id"]}
    canceled_so_far = [row["tasks_canceled"] for row, _ in seen]
    assert canceled_so_far == sorted(canceled_so_far) and canceled_so_far[0] < TASKS
    assert all(row["tasks_active"] == 0 for row, _ in seen), "active tasks go at once"

    assert task_counts(manager, job_id) == {"canceled": TASKS}
    counters_match_tasks(manager, job_id)
    may = awake_worker.call("GET", f"/task/{running['uuid']}/may-i-run").json()
    assert may["mayKeepRunning"] is False
    assert awake_worker.update(running["uuid"], taskStatus="completed").status_code == 409
    refused = manager.post(
        f"/api/v3/jobs/{job_id}/setstatus", json={"status": "paused", "reason": ""}
    )
    assert refused.status_code == 422


def test_a_big_job_being_canceled_is_passed_over_by_the_scheduler(
    manager: Manager, awake_worker: FakeWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = big_job(manager)
    monkeypatch.setattr(manager.farm.status_steps, "start", lambda job_id: None)
    set_status(manager, job_id, "cancel-requested")
    row = job_row(manager.farm, job_id)
    assert (row["status"], row["tasks_queued"]) == ("cancel-requested", TASKS)
    assert awake_worker.next_task() is None


def half_way(farm: Farm, job_id: str, status: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a status change leaves when its manager stops after the change's first step."""
    with farm.db.write() as session:
        jobs.set_job_status(session, job_id, status, "test", utcnow())
        # Its thread never started: what was committed is all there is.
        events.take_recorded(session)
    stop = threading.Event()

    def clock() -> datetime:
        if stop.is_set():
            raise AssertionError("only one step")
        stop.set()
        return utcnow()

    monkeypatch.setattr(write_steps, "time", SimpleNamespace(sleep=lambda _: None))
    assert move_in_steps(farm.db, job_id, clock, step=STEP, stop=stop) is False


def test_a_cancel_left_half_way_is_finished_by_the_health_checks(
    manager: Manager, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = big_job(manager)
    half_way(manager.farm, job_id, "canceled", monkeypatch)
    row = job_row(manager.farm, job_id)
    assert (row["status"], row["tasks_canceled"]) == ("cancel-requested", STEP)

    run_health_checks(manager.farm)
    steps_done(manager.farm, job_id)
    assert task_counts(manager, job_id) == {"canceled": TASKS}
    counters_match_tasks(manager, job_id)
    assert job_row(manager.farm, job_id)["status"] == "canceled"


def test_a_big_requeue_of_a_canceled_job_queues_all_but_the_completed_tasks(
    manager: Manager, awake_worker: FakeWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = big_job(manager)
    completed = awake_worker.complete_next(3)
    set_status(manager, job_id, "cancel-requested")
    assert steps_done(manager.farm, job_id)["status"] == "canceled"
    statuses: list[str] = []
    between_steps(monkeypatch, lambda: statuses.append(job_row(manager.farm, job_id)["status"]))

    set_status(manager, job_id, "requeueing")
    assert steps_done(manager.farm, job_id)["status"] == "active"  # it has completed tasks

    assert len(statuses) >= 3 and set(statuses) == {"requeueing"}
    assert task_counts(manager, job_id) == {"completed": 3, "queued": TASKS - 3}
    counters_match_tasks(manager, job_id)
    task = awake_worker.next_task()
    assert task is not None and task["job"] == job_id and task["uuid"] not in completed


def test_a_requeue_left_half_way_is_finished_by_the_health_checks(
    manager: Manager, awake_worker: FakeWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = big_job(manager)
    awake_worker.complete_next(2)
    set_status(manager, job_id, "cancel-requested")
    assert steps_done(manager.farm, job_id)["status"] == "canceled"

    half_way(manager.farm, job_id, "requeueing", monkeypatch)
    row = job_row(manager.farm, job_id)
    assert (row["status"], row["tasks_queued"]) == ("requeueing", STEP)
    assert awake_worker.next_task() is None, "a requeueing job hands out nothing yet"

    run_health_checks(manager.farm)
    steps_done(manager.farm, job_id)
    assert task_counts(manager, job_id) == {"completed": 2, "queued": TASKS - 2}
    counters_match_tasks(manager, job_id)
    assert job_row(manager.farm, job_id)["status"] == JobStatus.ACTIVE


def test_a_completed_job_requeued_half_way_runs_everything_again(
    manager: Manager, awake_worker: FakeWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = big_job(manager)
    with manager.farm.db.write() as session:
        # Completing 1500 tasks one poll at a time would take the test's time for nothing.
        job = session.get(Job, job_id)
        assert job is not None
        bulk_set_task_status(
            session, job, (TaskStatus.QUEUED,), TaskStatus.COMPLETED, utcnow(), "done"
        )
        job.status = JobStatus.COMPLETED
    half_way(manager.farm, job_id, "requeueing", monkeypatch)
    run_health_checks(manager.farm)
    steps_done(manager.farm, job_id)
    assert task_counts(manager, job_id) == {"queued": TASKS}
    counters_match_tasks(manager, job_id)
    assert job_row(manager.farm, job_id)["status"] == JobStatus.QUEUED
    again = manager.get(f"/api/v3/jobs/{job_id}").json()
    assert again["steps_completed"] == 0


def test_a_big_2015_task_is_canceled_in_steps_like_a_v3_job(
    manager: Manager, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = json.dumps({"frames": f"1-{TASKS}"})
    assert new_task(manager, type="frames-noop", settings=settings).status_code == 202
    with manager.farm.db.read() as session:
        (job_id,) = session.scalars(select(Job.id)).all()
    statuses: list[str] = []
    between_steps(monkeypatch, lambda: statuses.append(job_row(manager.farm, job_id)["status"]))

    assert manager.api("PATCH", "/tasks/12", json={"status": "canceled"}).status_code == 204
    assert steps_done(manager.farm, job_id)["status"] == "canceled"

    assert len(statuses) >= 3 and set(statuses) == {"cancel-requested"}
    assert manager.get("/tasks/12").json()["status"] == "canceled"
    assert task_counts(manager, job_id) == {"canceled": TASKS}
    counters_match_tasks(manager, job_id)


def test_a_big_pause_hands_out_nothing_and_its_resume_hands_out_tasks_as_they_come(
    manager: Manager, awake_worker: FakeWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = big_job(manager)
    running = awake_worker.next_task()
    assert running is not None
    other_worker = register_worker(manager)
    other_worker.wake()
    seen = worker_polls_between_steps(monkeypatch, manager, other_worker, job_id)
    set_status(manager, job_id, "paused")
    row = steps_done(manager.farm, job_id)
    assert (row["status"], row["tasks_paused"]) == ("pause-requested", TASKS - 1), (
        "its active task runs on"
    )
    assert len(seen) >= 3
    assert {(row["status"], job) for row, job in seen} == {("pause-requested", None)}
    awake_worker.complete(running["uuid"])
    assert job_row(manager.farm, job_id)["status"] == "paused"
    counters_match_tasks(manager, job_id)

    seen.clear()
    set_status(manager, job_id, "queued")
    assert steps_done(manager.farm, job_id)["status"] == "active"
    assert len(seen) >= 3 and {job for _, job in seen} == {job_id}, "handed out as they come"
    assert {row["status"] for row, _ in seen} == {"active"}
    completed = 1 + len(seen)
    assert task_counts(manager, job_id) == {"completed": completed, "queued": TASKS - completed}
    counters_match_tasks(manager, job_id)


def test_a_pause_and_a_resume_left_half_way_are_finished_by_the_health_checks(
    manager: Manager, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = big_job(manager)
    half_way(manager.farm, job_id, "paused", monkeypatch)
    row = job_row(manager.farm, job_id)
    assert (row["status"], row["tasks_paused"]) == ("pause-requested", STEP)
    run_health_checks(manager.farm)
    steps_done(manager.farm, job_id)
    assert task_counts(manager, job_id) == {"paused": TASKS}
    assert job_row(manager.farm, job_id)["status"] == "paused"

    half_way(manager.farm, job_id, "queued", monkeypatch)
    row = job_row(manager.farm, job_id)
    assert (row["status"], row["tasks_queued"]) == ("queued", STEP)
    run_health_checks(manager.farm)
    steps_done(manager.farm, job_id)
    assert task_counts(manager, job_id) == {"queued": TASKS}
    counters_match_tasks(manager, job_id)
    assert job_row(manager.farm, job_id)["status"] == "queued"


def test_a_big_job_whose_task_fails_for_good_cancels_the_rest_in_steps(
    manager: Manager, awake_worker: FakeWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The failure comes in a worker's report: that report moves only the active tasks, and
    the rest of the job is canceled in steps, with workers answered between them."""
    manager.settings.task_fail_after_softfail_count = 1
    job_id = big_job(manager, priority=90)
    other = submit(manager, settings={"frames": "1-50", "chunk_size": 1}, priority=10)
    other_worker = register_worker(manager)
    other_worker.wake()
    failing = awake_worker.next_task()
    also_running = other_worker.next_task()
    assert failing is not None and also_running is not None
    assert failing["job"] == also_running["job"] == job_id

    seen = worker_polls_between_steps(monkeypatch, manager, awake_worker, job_id)
    steps_at_report: list[int] = []
    real_start = manager.farm.status_steps.start

    def start(started_job: str) -> None:
        # What the report itself committed, before any step ran.
        steps_at_report.append(job_row(manager.farm, started_job)["tasks_canceled"])
        real_start(started_job)

    monkeypatch.setattr(manager.farm.status_steps, "start", start)
    awake_worker.fail(failing["uuid"])
    assert steps_done(manager.farm, job_id)["status"] == "failed"

    assert steps_at_report == [1], "the report canceled only the other worker's active task"
    assert len(seen) >= 3, "the rest went in several steps"
    assert {row["status"] for row, _ in seen} == {"failed"}
    assert {job for _, job in seen} == {other["id"]}, "nothing of the failed job handed out"
    assert task_counts(manager, job_id) == {"failed": 1, "canceled": TASKS - 1}
    counters_match_tasks(manager, job_id)
    may = other_worker.call("GET", f"/task/{also_running['uuid']}/may-i-run").json()
    assert may["mayKeepRunning"] is False


def test_a_failed_job_left_half_way_is_finished_by_the_health_checks(
    manager: Manager, awake_worker: FakeWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    manager.settings.task_fail_after_softfail_count = 1
    job_id = big_job(manager)
    real_start = manager.farm.status_steps.start
    monkeypatch.setattr(manager.farm.status_steps, "start", lambda job_id: None)
    task = awake_worker.next_task()
    assert task is not None
    awake_worker.fail(task["uuid"])
    row = job_row(manager.farm, job_id)
    assert (row["status"], row["tasks_queued"]) == ("failed", TASKS - 1)
    assert awake_worker.next_task() is None
    monkeypatch.setattr(manager.farm.status_steps, "start", real_start)

    run_health_checks(manager.farm)
    steps_done(manager.farm, job_id)
    assert task_counts(manager, job_id) == {"failed": 1, "canceled": TASKS - 1}
    counters_match_tasks(manager, job_id)


def test_a_big_job_is_deleted_in_steps_and_its_files_go_with_it(
    manager: Manager, awake_worker: FakeWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = big_job(manager, priority=90)
    other = submit(manager, settings={"frames": "1-50", "chunk_size": 1}, priority=10)
    running = awake_worker.next_task()
    assert running is not None and running["job"] == job_id
    awake_worker.complete(running["uuid"])
    running = awake_worker.next_task()
    assert running is not None and running["job"] == job_id
    manager.farm.logs.append(job_id, running["uuid"], "rendering")
    log_dir = manager.farm.logs.root / job_id
    assert log_dir.exists()

    other_worker = register_worker(manager)
    other_worker.wake()
    seen: list[tuple[int, str | None]] = []
    may_run: list[bool] = []

    def look() -> None:
        task = other_worker.next_task()
        if task is not None:
            other_worker.complete(task["uuid"])
        left = sum(task_counts(manager, job_id).values())
        seen.append((left, task["job"] if task else None))
        answer = awake_worker.call("GET", f"/task/{running['uuid']}/may-i-run")
        # Canceled, or already deleted: either way its worker stops.
        may_run.append(answer.status_code == 404 or answer.json()["mayKeepRunning"] is False)

    between_steps(monkeypatch, look)
    deleted = threading.Event()
    manager.farm.events.on("job", lambda e: e.get("was_deleted") and deleted.set())
    assert manager.api("DELETE", f"/api/v3/jobs/{job_id}").status_code == 204
    assert manager.farm.status_steps.wait(timeout=60), "the steps never ended"

    assert manager.get(f"/api/v3/jobs/{job_id}").status_code == 404
    assert deleted.is_set() and not log_dir.exists()
    assert len(seen) >= 3, "the tasks went in several steps"
    left = [count for count, _ in seen]
    assert left == sorted(left, reverse=True) and 0 < left[0] < TASKS
    assert {job for _, job in seen} == {other["id"]}, "nothing of the deleted job handed out"
    assert all(may_run), "its worker learns it at once"
    assert awake_worker.call("GET", f"/task/{running['uuid']}/may-i-run").status_code == 404


def test_a_job_being_deleted_refuses_changes_and_shows_when_it_was_asked(
    manager: Manager, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = big_job(manager)
    real_start = manager.farm.status_steps.start
    monkeypatch.setattr(manager.farm.status_steps, "start", lambda job_id: None)
    assert manager.api("DELETE", f"/api/v3/jobs/{job_id}").status_code == 204
    job = manager.get(f"/api/v3/jobs/{job_id}").json()
    assert job["delete_requested_at"] and job["activity"] == "being deleted"
    for status in ("paused", "canceled"):
        refused = manager.post(
            f"/api/v3/jobs/{job_id}/setstatus", json={"status": status, "reason": ""}
        )
        assert refused.status_code == 409 and "being deleted" in refused.json()["message"]
    refused = manager.post(f"/api/v3/jobs/{job_id}/setpriority", json={"priority": 3})
    assert refused.status_code == 409
    again = manager.api("DELETE", f"/api/v3/jobs/{job_id}")
    assert again.status_code == 204, "asking again is fine"

    # The manager stopped here: the health checks finish the deletion.
    monkeypatch.setattr(manager.farm.status_steps, "start", real_start)
    run_health_checks(manager.farm)
    assert manager.farm.status_steps.wait(timeout=60), "the steps never ended"
    assert manager.get(f"/api/v3/jobs/{job_id}").status_code == 404


def test_missing_frames_of_a_big_failed_job_are_requeued_in_steps_failed_task_first(
    manager: Manager, awake_worker: FakeWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    manager.settings.task_fail_after_softfail_count = 1
    job_id = big_job(manager)
    done = awake_worker.next_task()
    assert done is not None
    awake_worker.complete(done["uuid"])
    failing = awake_worker.next_task()
    assert failing is not None
    awake_worker.fail(failing["uuid"])
    assert steps_done(manager.farm, job_id)["status"] == "failed"

    # Between two steps the job is queued or active, never failed again, and its requeued
    # tasks are handed out as they come.
    seen = worker_polls_between_steps(monkeypatch, manager, awake_worker, job_id)
    answer = manager.post(f"/api/farmhand/jobs/{job_id}/requeue-missing", json=None)
    assert answer.status_code == 200, answer.text
    body = answer.json()

    assert len(seen) >= 3, "the tasks went back in several steps"
    assert {row["status"] for row, _ in seen} <= {"queued", "active"}
    assert seen[0][0]["tasks_failed"] == 0, "the failed task went back in the first step"
    assert {job for _, job in seen} == {job_id}
    requeued = {task["name"]: task["reason"] for task in body["requeued"]}
    assert len(requeued) == TASKS - 1 and requeued[failing["name"]] == "was failed"
    assert done["name"] not in requeued
    completed_between = len(seen)
    counts = task_counts(manager, job_id)
    assert counts == {"completed": 1 + completed_between, "queued": TASKS - 1 - completed_between}
    counters_match_tasks(manager, job_id)
    assert manager.get(f"/api/v3/jobs/{job_id}").json()["status"] == "active"
