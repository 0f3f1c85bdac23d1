"""The v3 jobs API: types, submission, listing, control, tasks, logs and bad input."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from manager.core.jobs import random_uuids
from tests.conftest import FakeWorker, Manager, register_worker, submit


def test_job_types_are_served_with_etags(manager: Manager) -> None:
    types = manager.get("/api/v3/jobs/types").json()["job_types"]
    names = {t["name"] for t in types}
    assert {"simple-blender-render", "echo-sleep-test"} <= names
    one = manager.get("/api/v3/jobs/type/simple-blender-render").json()
    assert one["etag"] and {s["key"] for s in one["settings"]} >= {
        "frames",
        "chunk_size",
        "blendfile",
    }
    assert manager.get("/api/v3/jobs/type/nope").status_code == 404


def test_submission_compiles_tasks_in_one_go(manager: Manager) -> None:
    job = submit(manager, settings={"frames": "1-10,20..25,40", "chunk_size": 4})
    assert job["status"] == "queued"
    assert job["steps_total"] == 5  # 17 frames in chunks of 4
    tasks = manager.get(f"/api/v3/jobs/{job['id']}/tasks").json()["tasks"]
    assert len(tasks) == 5
    assert [t["index_in_job"] for t in tasks] == list(range(5))


def test_stale_type_etag_is_412(manager: Manager) -> None:
    response = manager.post(
        "/api/v3/jobs",
        json={
            "name": "j",
            "type": "frames-noop",
            "type_etag": "stale",
            "priority": 50,
            "submitter_platform": "linux",
            "settings": {"frames": "1-3", "chunk_size": 1},
        },
    )
    assert response.status_code == 412
    assert "refresh" in response.json()["message"]


def test_current_type_etag_is_accepted(manager: Manager) -> None:
    etag = manager.get("/api/v3/jobs/type/frames-noop").json()["etag"]
    submit(manager, type_etag=etag)


def test_check_compiles_but_stores_nothing(manager: Manager) -> None:
    body = {
        "name": "j",
        "type": "frames-noop",
        "priority": 50,
        "submitter_platform": "linux",
        "settings": {"frames": "1-3", "chunk_size": 1},
    }
    assert manager.post("/api/v3/jobs/check", json=body).status_code == 204
    assert manager.get("/api/v3/jobs").json()["jobs"] == []
    body["settings"] = {"frames": "5-1", "chunk_size": 1}
    bad = manager.post("/api/v3/jobs/check", json=body)
    assert bad.status_code == 400 and "frames" in bad.json()["message"]


def test_check_does_not_wait_for_the_write_lock(manager: Manager) -> None:
    body = {"name": "j", "type": "frames-noop", "priority": 50, "submitter_platform": "linux",
            "settings": {"frames": "1-20000", "chunk_size": 1}}
    # While another transaction writes (a submission, a burst of worker reports), a check
    # is answered: it only reads.
    with manager.farm.db.write():
        checked = manager.post("/api/v3/jobs/check", json=body)
    assert checked.status_code == 204
    assert manager.get("/api/v3/jobs").json()["jobs"] == []


def test_check_refuses_a_checkout_that_was_never_uploaded(manager: Manager) -> None:
    body = {"name": "j", "type": "frames-noop", "priority": 50, "submitter_platform": "linux",
            "settings": {"frames": "1", "chunk_size": 1},
            "storage": {"shaman_checkout_id": "never-uploaded"}}
    for path in ("/api/v3/jobs/check", "/api/v3/jobs"):
        refused = manager.post(path, json=body)
        assert refused.status_code == 400 and "never-uploaded" in refused.json()["message"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"type": "no-such-type"}, "type"),
        ({"priority": "high"}, "priority"),
        ({"priority": 101}, "priority"),
        ({"settings": {"chunk_size": 1}}, "frames"),
        ({"settings": {"frames": "5-1", "chunk_size": 1}}, "frames"),
        ({"settings": {"frames": "a-b", "chunk_size": 1}}, "frames"),
        ({"settings": {"frames": "", "chunk_size": 1}}, "frames"),
        ({"settings": {"frames": "1-3", "chunk_size": "two"}}, "chunk_size"),
        ({"settings": {"frames": "1-3", "chunk_size": 0}}, "chunk_size"),
        ({"name": 7}, "name"),
        ({"initial_status": "completed"}, "initial_status"),
        ({"worker_tag": "no-such-tag"}, "worker_tag"),
        ({"metadata": {"a": 1}}, "metadata"),
    ],
)
def test_bad_submission_names_the_field_and_stores_nothing(
    manager: Manager, change: dict[str, object], field: str
) -> None:
    body: dict[str, object] = {
        "name": "j",
        "type": "frames-noop",
        "priority": 50,
        "submitter_platform": "linux",
        "settings": {"frames": "1-3", "chunk_size": 1},
    }
    body.update(change)
    response = manager.post("/api/v3/jobs", json=body)
    assert response.status_code == 400, response.text
    assert field in response.json()["message"]
    assert manager.get("/api/v3/jobs").json()["jobs"] == []


CHOICES_PRESET = """
name: quality-test
label: Quality test
settings:
  - key: quality
    type: string
    choices: [draft, final]
    default: draft
compile:
  tasks:
    - id: only
      name: "only-{quality}"
      type: misc
      commands:
        - name: echo
          parameters: {message: "{quality}"}
"""


def test_preset_dropped_into_the_folder_is_served_and_checked(manager: Manager) -> None:
    folder = manager.settings.job_types
    assert folder is not None
    (folder / "quality-test.yaml").write_text(CHOICES_PRESET)
    manager.farm.job_types.refresh()
    served = manager.get("/api/v3/jobs/type/quality-test").json()
    assert served["settings"][0]["choices"] == ["draft", "final"]
    body = {"name": "j", "type": "quality-test", "priority": 50, "submitter_platform": "linux"}
    bad = manager.post("/api/v3/jobs", json={**body, "settings": {"quality": "ultra"}})
    assert bad.status_code == 400 and "quality" in bad.json()["message"]
    good = manager.post("/api/v3/jobs", json={**body, "settings": {"quality": "final"}})
    assert good.status_code == 200


def test_broken_preset_is_listed_and_the_others_keep_working(manager: Manager) -> None:
    folder = manager.settings.job_types
    assert folder is not None
    (folder / "broken.yaml").write_text("name: broken\nsettings: [\n")
    manager.farm.job_types.refresh()
    errors = manager.get("/api/farmhand/job-type-errors").json()["errors"]
    assert [Path(e["path"]).name for e in errors] == ["broken.yaml"]
    assert errors[0]["message"]
    assert "frames-noop" in {
        t["name"] for t in manager.get("/api/v3/jobs/types").json()["job_types"]
    }


def test_malformed_json_is_400(manager: Manager) -> None:
    response = manager.post(
        "/api/v3/jobs", data=b'{"name": ', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert "JSON" in response.json()["message"]


def test_huge_body_is_413(manager: Manager) -> None:
    manager.checker.enabled = False  # the spec has no 413 for job submission; check by hand
    try:
        response = manager.post(
            "/api/v3/jobs",
            data=b"[" + b"1," * (9 * 1024 * 1024) + b"1]",
            headers={"Content-Type": "application/json"},
        )
    finally:
        manager.checker.enabled = True
    assert response.status_code == 413
    assert response.json()["code"] == 413


def test_unknown_ids_are_404(manager: Manager) -> None:
    missing = "00000000-0000-0000-0000-000000000000"
    for path in (
        f"/api/v3/jobs/{missing}",
        f"/api/v3/tasks/{missing}",
        f"/api/v3/jobs/{missing}/tasks",
        "/api/v3/jobs/not-even-a-uuid",
    ):
        response = manager.get(path)
        assert response.status_code == 404, path
        assert response.json()["code"] == 404


def test_pause_and_resume(manager: Manager, awake_worker: FakeWorker) -> None:
    job = submit(manager, settings={"frames": "1-4", "chunk_size": 1})
    task = awake_worker.next_task()
    assert task is not None
    status = manager.post(
        f"/api/v3/jobs/{job['id']}/setstatus", json={"status": "paused", "reason": "lunch"}
    )
    assert status.status_code == 204
    assert manager.get(f"/api/v3/jobs/{job['id']}").json()["status"] == "pause-requested"
    awake_worker.complete(task["uuid"])
    assert manager.get(f"/api/v3/jobs/{job['id']}").json()["status"] == "paused"
    assert awake_worker.next_task() is None
    manager.post(f"/api/v3/jobs/{job['id']}/setstatus", json={"status": "queued", "reason": "back"})
    assert manager.get(f"/api/v3/jobs/{job['id']}").json()["status"] == "active"  # it has progress
    assert awake_worker.next_task() is not None


def test_cancel_stops_active_tasks(manager: Manager, awake_worker: FakeWorker) -> None:
    job = submit(manager, settings={"frames": "1-4", "chunk_size": 1})
    task = awake_worker.next_task()
    assert task is not None
    manager.post(
        f"/api/v3/jobs/{job['id']}/setstatus", json={"status": "cancel-requested", "reason": "oops"}
    )
    assert manager.get(f"/api/v3/jobs/{job['id']}").json()["status"] == "canceled"
    may = awake_worker.call("GET", f"/task/{task['uuid']}/may-i-run").json()
    assert may["mayKeepRunning"] is False
    assert awake_worker.update(task["uuid"], taskStatus="completed").status_code == 409
    again = manager.post(
        f"/api/v3/jobs/{job['id']}/setstatus", json={"status": "paused", "reason": ""}
    )
    assert again.status_code == 422


def test_a_refused_status_change_names_the_jobs_status_in_plain_words(
    manager: Manager, awake_worker: FakeWorker
) -> None:
    job = submit(manager, settings={"frames": "1-4", "chunk_size": 1})
    assert awake_worker.next_task() is not None
    refused = manager.post(
        f"/api/v3/jobs/{job['id']}/setstatus", json={"status": "requeueing", "reason": ""}
    )
    assert refused.status_code == 422
    assert refused.json()["message"] == (
        "status: this job is active; only a finished or paused job can be requeued"
    )


def test_requeue_of_a_completed_job_runs_everything_again(
    manager: Manager, awake_worker: FakeWorker
) -> None:
    job = submit(manager, settings={"frames": "1-2", "chunk_size": 1})
    while (task := awake_worker.next_task()) is not None:
        awake_worker.complete(task["uuid"])
    assert manager.get(f"/api/v3/jobs/{job['id']}").json()["status"] == "completed"
    manager.post(
        f"/api/v3/jobs/{job['id']}/setstatus", json={"status": "requeueing", "reason": "again"}
    )
    again = manager.get(f"/api/v3/jobs/{job['id']}").json()
    assert again["status"] == "queued" and again["steps_completed"] == 0


def test_requeue_of_a_failed_job_keeps_completed_tasks(manager: Manager) -> None:
    job = submit(manager, settings={"frames": "1-2", "chunk_size": 1})
    workers = []
    for i in range(3):
        w = register_worker(manager, f"w{i}")
        w.wake()
        workers.append(w)
    first = workers[0].next_task()
    assert first is not None
    workers[0].complete(first["uuid"])
    for w in workers:
        t = w.next_task()
        assert t is not None
        w.fail(t["uuid"])
    assert manager.get(f"/api/v3/jobs/{job['id']}").json()["status"] == "failed"
    manager.post(
        f"/api/v3/jobs/{job['id']}/setstatus", json={"status": "requeueing", "reason": "fixed"}
    )
    tasks = {
        t["id"]: t["status"] for t in manager.get(f"/api/v3/jobs/{job['id']}/tasks").json()["tasks"]
    }
    assert tasks[first["uuid"]] == "completed"
    assert sorted(tasks.values()) == ["completed", "queued"]
    retry = workers[0].next_task()
    assert retry is not None, "requeueing clears the failure list"


def test_invalid_status_request_is_422(manager: Manager) -> None:
    job = submit(manager)
    response = manager.post(
        f"/api/v3/jobs/{job['id']}/setstatus", json={"status": "completed", "reason": ""}
    )
    assert response.status_code == 422


def test_priority_and_tag_changes(manager: Manager) -> None:
    job = submit(manager)
    assert (
        manager.post(f"/api/v3/jobs/{job['id']}/setpriority", json={"priority": 90}).status_code
        == 204
    )
    assert manager.get(f"/api/v3/jobs/{job['id']}").json()["priority"] == 90
    assert (
        manager.post(f"/api/v3/jobs/{job['id']}/setpriority", json={"priority": 900}).status_code
        == 400
    )
    tag = manager.post("/api/v3/worker-mgt/tags", json={"name": "gpu"}).json()
    assert manager.post(f"/api/v3/jobs/{job['id']}/settag", json={"name": "gpu"}).status_code == 204
    assert manager.get(f"/api/v3/jobs/{job['id']}").json()["worker_tag"] == tag["id"]
    assert manager.post(f"/api/v3/jobs/{job['id']}/settag", json={}).status_code == 204
    assert "worker_tag" not in manager.get(f"/api/v3/jobs/{job['id']}").json()


def test_task_logs_and_tail(manager: Manager, awake_worker: FakeWorker) -> None:
    submit(manager, settings={"frames": "1", "chunk_size": 1})
    task = awake_worker.next_task()
    assert task is not None
    assert manager.get(f"/api/v3/tasks/{task['uuid']}/logtail").status_code == 204
    assert manager.get(f"/api/v3/tasks/{task['uuid']}/log").status_code == 204
    awake_worker.update(task["uuid"], log="\n".join(f"line {i}" for i in range(50)))
    tail = manager.get(f"/api/v3/tasks/{task['uuid']}/logtail").text
    assert tail.splitlines()[-1] == "line 49" and "line 0\n" not in tail
    info = manager.get(f"/api/v3/tasks/{task['uuid']}/log").json()
    full = manager.get(info["url"]).text
    assert full.count("\n") == 50 and info["size"] == len(full.encode())


def test_task_requeue_and_cancel_by_user(manager: Manager, awake_worker: FakeWorker) -> None:
    job = submit(manager, settings={"frames": "1-2", "chunk_size": 1})
    task = awake_worker.next_task()
    assert task is not None
    awake_worker.complete(task["uuid"])
    path = f"/api/v3/tasks/{task['uuid']}/setstatus"
    assert manager.post(path, json={"status": "queued", "reason": "redo"}).status_code == 204
    assert manager.get(f"/api/v3/tasks/{task['uuid']}").json()["status"] == "queued"
    assert manager.post(path, json={"status": "canceled", "reason": "skip"}).status_code == 204
    assert manager.post(path, json={"status": "canceled", "reason": "skip"}).status_code == 422
    assert manager.post(path, json={"status": "completed", "reason": ""}).status_code == 422
    rest = awake_worker.next_task()
    assert rest is not None
    awake_worker.complete(rest["uuid"])
    assert manager.get(f"/api/v3/jobs/{job['id']}").json()["status"] == "completed"


def test_delete_job_and_mass_delete(manager: Manager) -> None:
    first = submit(manager)
    assert manager.get(f"/api/v3/jobs/{first['id']}/what-would-delete-do").json() == {
        "shaman_checkout": False
    }
    assert manager.api("DELETE", f"/api/v3/jobs/{first['id']}").status_code == 204
    assert manager.get(f"/api/v3/jobs/{first['id']}").status_code == 404
    second = submit(manager)
    none = manager.api(
        "DELETE", "/api/v3/jobs/mass-delete", json={"last_updated_max": "2000-01-01T00:00:00Z"}
    )
    assert none.status_code == 416
    cutoff = second["updated"]
    assert (
        manager.api(
            "DELETE", "/api/v3/jobs/mass-delete", json={"last_updated_max": cutoff}
        ).status_code
        == 204
    )
    assert manager.get("/api/v3/jobs").json()["jobs"] == []


def test_job_list_includes_submitted_jobs(manager: Manager) -> None:
    a = submit(manager, name="a")
    b = submit(manager, name="b")
    listed = {j["id"] for j in manager.get("/api/v3/jobs").json()["jobs"]}
    assert listed == {a["id"], b["id"]}


def test_paused_submission_waits(manager: Manager, awake_worker: FakeWorker) -> None:
    job = submit(manager, initial_status="paused")
    assert job["status"] == "paused"
    assert awake_worker.next_task() is None


def test_task_ids_are_distinct_version_4_uuids() -> None:
    ids = random_uuids(5000)
    assert len(set(ids)) == 5000
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text and parsed.version == 4 and parsed.variant == uuid.RFC_4122
    assert random_uuids(0) == []
