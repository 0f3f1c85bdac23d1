"""The v3 worker management API: listing, status requests, tags, sleep schedules, delete."""

from __future__ import annotations

from tests.conftest import FakeWorker, Manager, register_worker, submit


def test_workers_are_listed_and_fetched(manager: Manager, awake_worker: FakeWorker) -> None:
    listed = manager.get("/api/v3/worker-mgt/workers").json()["workers"]
    assert [w["name"] for w in listed] == ["alpha"]
    one = manager.get(f"/api/v3/worker-mgt/workers/{awake_worker.id}").json()
    assert one["status"] == "awake" and one["version"] == "test-1.0" and one["platform"] == "linux"
    assert (
        manager.get("/api/v3/worker-mgt/workers/00000000-0000-0000-0000-000000000000").status_code
        == 404
    )


def test_worker_shows_its_current_task(manager: Manager, awake_worker: FakeWorker) -> None:
    submit(manager, settings={"frames": "1", "chunk_size": 1})
    task = awake_worker.next_task()
    assert task is not None
    one = manager.get(f"/api/v3/worker-mgt/workers/{awake_worker.id}").json()
    assert one["task"]["id"] == task["uuid"] and one["task"]["job_id"] == task["job"]


def test_status_request_validation(manager: Manager, awake_worker: FakeWorker) -> None:
    path = f"/api/v3/worker-mgt/workers/{awake_worker.id}/setstatus"
    assert manager.post(path, json={"status": "testing", "is_lazy": False}).status_code == 400
    assert manager.post(path, json={"status": "sleepy", "is_lazy": False}).status_code == 400
    assert manager.post(path, json={"status": "asleep"}).status_code == 400
    restart = manager.post(path, json={"status": "restart", "is_lazy": False})
    assert restart.status_code == 409 and "restart" in restart.json()["message"]


def test_tags_crud_and_assignment(manager: Manager, awake_worker: FakeWorker) -> None:
    created = manager.post(
        "/api/v3/worker-mgt/tags", json={"name": "gpu", "description": "GPU boxes"}
    )
    assert created.status_code == 200
    tag = created.json()
    assert manager.post("/api/v3/worker-mgt/tags", json={"name": "gpu"}).status_code == 409
    assert manager.get(f"/api/v3/worker-mgt/tag/{tag['id']}").json()["name"] == "gpu"
    assert (
        manager.api("PUT", f"/api/v3/worker-mgt/tag/{tag['id']}", json={"name": "cuda"}).status_code
        == 204
    )
    assert [t["name"] for t in manager.get("/api/v3/worker-mgt/tags").json()["tags"]] == ["cuda"]
    path = f"/api/v3/worker-mgt/workers/{awake_worker.id}/settags"
    assert manager.post(path, json={"tag_ids": [tag["id"]]}).status_code == 204
    assert manager.post(path, json={"tag_ids": ["nope"]}).status_code == 400
    worker = manager.get(f"/api/v3/worker-mgt/workers/{awake_worker.id}").json()
    assert [t["name"] for t in worker["tags"]] == ["cuda"]
    assert manager.api("DELETE", f"/api/v3/worker-mgt/tag/{tag['id']}").status_code == 204
    assert manager.get(f"/api/v3/worker-mgt/tag/{tag['id']}").status_code == 404
    assert manager.get(f"/api/v3/worker-mgt/workers/{awake_worker.id}").json()["tags"] == []


def test_sleep_schedule_roundtrip_and_validation(
    manager: Manager, awake_worker: FakeWorker
) -> None:
    path = f"/api/v3/worker-mgt/workers/{awake_worker.id}/sleep-schedule"
    assert manager.get(path).status_code == 204
    schedule = {
        "is_active": True,
        "days_of_week": "mo tu",
        "start_time": "09:00",
        "end_time": "18:00",
    }
    assert manager.post(path, json=schedule).status_code == 204
    assert manager.get(path).json() == schedule
    bad_day = manager.post(path, json={**schedule, "days_of_week": "monday"})
    assert bad_day.status_code == 400 and "days_of_week" in bad_day.json()["message"]
    bad_time = manager.post(path, json={**schedule, "end_time": "25:00"})
    assert bad_time.status_code == 400 and "end_time" in bad_time.json()["message"]


def test_deleting_a_worker_requeues_its_task(manager: Manager, awake_worker: FakeWorker) -> None:
    submit(manager, settings={"frames": "1", "chunk_size": 1})
    task = awake_worker.next_task()
    assert task is not None
    assert manager.api("DELETE", f"/api/v3/worker-mgt/workers/{awake_worker.id}").status_code == 204
    assert manager.get(f"/api/v3/tasks/{task['uuid']}").json()["status"] == "queued"
    assert awake_worker.call("POST", "/task").status_code == 401
    other = register_worker(manager, "beta")
    other.wake()
    assert other.next_task() is not None


def test_worker_names_its_own_tags_at_sign_on(manager: Manager) -> None:
    worker = register_worker(manager, "gpu-box")
    body = {"name": "gpu-box", "supported_task_types": ["misc"], "software_version": "1"}
    signed = worker.call("POST", "/sign-on", json={**body, "tags": ["gpu", " studio-b ", "gpu"]})
    assert signed.status_code == 200, signed.text
    tags = manager.get(f"/api/v3/worker-mgt/workers/{worker.id}").json()["tags"]
    assert sorted(t["name"] for t in tags) == ["gpu", "studio-b"]
    # Signing on without tags keeps what the worker (or an admin) set before.
    assert worker.call("POST", "/sign-on", json=body).status_code == 200
    assert len(manager.get(f"/api/v3/worker-mgt/workers/{worker.id}").json()["tags"]) == 2
    # A second worker with the same tag joins the existing tag instead of making another.
    other = register_worker(manager, "other")
    assert other.call("POST", "/sign-on", json={**body, "tags": ["gpu"]}).status_code == 200
    listed = manager.get("/api/v3/worker-mgt/tags").json()["tags"]
    assert sorted(t["name"] for t in listed) == ["gpu", "studio-b"]
    bad = worker.call("POST", "/sign-on", json={**body, "tags": ["   "]})
    assert bad.status_code == 400 and "tags" in bad.json()["message"]
