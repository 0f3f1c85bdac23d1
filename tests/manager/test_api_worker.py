"""The v3 worker API over HTTP: registration to completion, state requests, auth."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.conftest import FakeWorker, Manager, register_worker, submit


def test_register_returns_the_registered_worker(manager: Manager) -> None:
    response = manager.post(
        "/api/v3/worker/register-worker",
        json={
            "name": "w1",
            "secret": "s3cret-long",
            "platform": "linux",
            "supported_task_types": ["misc"],
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "w1" and body["status"] == "starting" and body["platform"] == "linux"


def test_secret_is_stored_hashed(manager: Manager) -> None:
    worker = register_worker(manager)
    from manager.db.models import Worker

    with manager.farm.db.read() as session:
        stored = session.get(Worker, worker.id)
        assert stored is not None
        assert worker.secret not in stored.secret_hash


def test_worker_endpoints_need_credentials(manager: Manager) -> None:
    worker = register_worker(manager)
    assert manager.post("/api/v3/worker/task").status_code == 401
    wrong = manager.post("/api/v3/worker/task", auth=(worker.id, "wrong-secret"))
    assert wrong.status_code == 401
    assert wrong.json()["code"] == 401
    unknown = manager.post("/api/v3/worker/task", auth=("not-a-uuid", "x"))
    assert unknown.status_code == 401


def test_registration_token_is_required_when_configured(manager: Manager) -> None:
    manager.settings.registration_token = "let-me-in"
    body = {
        "name": "w",
        "secret": "long-secret",
        "platform": "linux",
        "supported_task_types": ["misc"],
    }
    refused = manager.post("/api/v3/worker/register-worker", json=body)
    assert refused.status_code == 403
    accepted = manager.post(
        "/api/v3/worker/register-worker",
        json=body,
        headers={"X-Farmhand-Registration-Token": "let-me-in"},
    )
    assert accepted.status_code == 200


def test_sign_on_asks_the_worker_to_wake_up(manager: Manager) -> None:
    worker = register_worker(manager)
    assert worker.sign_on().json() == {"status_requested": "awake"}


def test_worker_that_is_not_awake_gets_409(manager: Manager) -> None:
    worker = register_worker(manager)
    worker.sign_on()
    assert worker.call("POST", "/task").status_code == 409


def test_full_lifecycle_completes_the_job(manager: Manager, awake_worker: FakeWorker) -> None:
    job = submit(manager, settings={"frames": "1-3", "chunk_size": 1})
    seen = []
    while (task := awake_worker.next_task()) is not None:
        assert task["job"] == job["id"]
        assert task["status"] == "active"
        seen.append(task["name"])
        response = awake_worker.update(
            task["uuid"], activity="rendering", log="line one\nline two", steps_completed=1
        )
        assert response.status_code == 204
        may = awake_worker.call("GET", f"/task/{task['uuid']}/may-i-run").json()
        assert may["mayKeepRunning"] is True
        awake_worker.complete(task["uuid"])
    assert len(seen) == 3
    final = manager.get(f"/api/v3/jobs/{job['id']}").json()
    assert final["status"] == "completed"
    assert final["steps_completed"] == final["steps_total"] == 3


def test_active_task_is_handed_out_again_to_the_same_worker(
    manager: Manager, awake_worker: FakeWorker
) -> None:
    submit(manager, settings={"frames": "1-3", "chunk_size": 1})
    first = awake_worker.next_task()
    again = awake_worker.next_task()
    assert first is not None and again is not None
    assert first["uuid"] == again["uuid"]


def test_update_of_a_task_of_another_worker_is_409(
    manager: Manager, awake_worker: FakeWorker
) -> None:
    submit(manager, settings={"frames": "1", "chunk_size": 1})
    task = awake_worker.next_task()
    assert task is not None
    other = register_worker(manager, "other")
    other.wake()
    assert other.update(task["uuid"], activity="hi").status_code == 409
    may = other.call("GET", f"/task/{task['uuid']}/may-i-run").json()
    assert may == {
        "mayKeepRunning": False,
        "reason": "task is assigned to another worker",
        "statusChangeRequested": False,
    }


def test_state_change_request_is_delivered_and_acknowledged(
    manager: Manager, awake_worker: FakeWorker
) -> None:
    response = manager.post(
        f"/api/v3/worker-mgt/workers/{awake_worker.id}/setstatus",
        json={"status": "asleep", "is_lazy": False},
    )
    assert response.status_code == 204
    state = awake_worker.call("GET", "/state")
    assert state.status_code == 200 and state.json() == {"status_requested": "asleep"}
    blocked = awake_worker.call("POST", "/task")
    assert blocked.status_code == 423 and blocked.json() == {"status_requested": "asleep"}
    assert awake_worker.call("POST", "/state-changed", json={"status": "asleep"}).status_code == 204
    assert awake_worker.call("GET", "/state").status_code == 204
    info = manager.get(f"/api/v3/worker-mgt/workers/{awake_worker.id}").json()
    assert info["status"] == "asleep" and "status_change" not in info


def test_lazy_state_change_waits_for_the_current_task(
    manager: Manager, awake_worker: FakeWorker
) -> None:
    submit(manager, settings={"frames": "1-2", "chunk_size": 1})
    task = awake_worker.next_task()
    assert task is not None
    manager.post(
        f"/api/v3/worker-mgt/workers/{awake_worker.id}/setstatus",
        json={"status": "offline", "is_lazy": True},
    )
    may = awake_worker.call("GET", f"/task/{task['uuid']}/may-i-run").json()
    assert may["mayKeepRunning"] is True
    awake_worker.complete(task["uuid"])
    assert awake_worker.call("POST", "/task").status_code == 423


def test_immediate_state_change_stops_the_running_task(
    manager: Manager, awake_worker: FakeWorker
) -> None:
    submit(manager, settings={"frames": "1-2", "chunk_size": 1})
    task = awake_worker.next_task()
    assert task is not None
    manager.post(
        f"/api/v3/worker-mgt/workers/{awake_worker.id}/setstatus",
        json={"status": "asleep", "is_lazy": False},
    )
    may = awake_worker.call("GET", f"/task/{task['uuid']}/may-i-run").json()
    assert may["mayKeepRunning"] is False and may["statusChangeRequested"] is True


def test_sign_off_requeues_the_active_task(manager: Manager, awake_worker: FakeWorker) -> None:
    job = submit(manager, settings={"frames": "1", "chunk_size": 1})
    task = awake_worker.next_task()
    assert task is not None
    assert awake_worker.call("POST", "/sign-off").status_code == 204
    fetched = manager.get(f"/api/v3/tasks/{task['uuid']}").json()
    assert fetched["status"] == "queued"
    assert manager.get(f"/api/v3/jobs/{job['id']}").json()["status"] == "queued"
    info = manager.get(f"/api/v3/worker-mgt/workers/{awake_worker.id}").json()
    assert info["status"] == "offline"


def test_failed_task_is_retried_by_another_worker(
    manager: Manager, awake_worker: FakeWorker
) -> None:
    submit(manager, settings={"frames": "1", "chunk_size": 1})
    other = register_worker(manager, "other")
    task = awake_worker.next_task()
    assert task is not None
    awake_worker.fail(task["uuid"])
    assert manager.get(f"/api/v3/tasks/{task['uuid']}").json()["status"] == "soft-failed"
    assert awake_worker.next_task() is None, "a worker never gets a task it failed"
    other.wake()
    retried = other.next_task()
    assert retried is not None and retried["uuid"] == task["uuid"]


def test_task_fails_after_three_distinct_workers_failed_it(manager: Manager) -> None:
    job = submit(manager, settings={"frames": "1-2", "chunk_size": 1})
    failing = None
    workers = [register_worker(manager, f"w{i}") for i in range(3)]
    for i, worker in enumerate(workers):
        worker.wake()
        task = worker.next_task()
        assert task is not None
        if failing is None:
            failing = task["uuid"]
        assert task["uuid"] == failing or i > 0
        worker.fail(task["uuid"])
    task_info = manager.get(f"/api/v3/tasks/{failing}").json()
    assert task_info["status"] == "failed"
    assert len(task_info["failed_by_workers"]) == 3
    assert manager.get(f"/api/v3/jobs/{job['id']}").json()["status"] == "failed"


def test_steps_completed_beyond_total_is_refused(
    manager: Manager, awake_worker: FakeWorker
) -> None:
    submit(manager, settings={"frames": "1", "chunk_size": 1})
    task = awake_worker.next_task()
    assert task is not None
    response = awake_worker.update(task["uuid"], steps_completed=99)
    assert response.status_code == 400
    assert "steps_completed" in response.json()["message"]


def _png(width: int = 64, height: int = 32) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 80, 10)).save(buffer, "PNG")
    return buffer.getvalue()


def test_output_produced_becomes_the_jobs_last_rendered_image(
    manager: Manager, awake_worker: FakeWorker
) -> None:
    job = submit(manager, settings={"frames": "1", "chunk_size": 1})
    assert manager.get(f"/api/v3/jobs/{job['id']}/last-rendered").status_code == 204
    task = awake_worker.next_task()
    assert task is not None
    response = awake_worker.call(
        "POST",
        f"/task/{task['uuid']}/output-produced",
        data=_png(),
        headers={"Content-Type": "image/png"},
    )
    assert response.status_code == 202
    info = manager.get(f"/api/v3/jobs/{job['id']}/last-rendered").json()
    assert info["suffixes"][0] == "last-rendered.jpg"
    image = manager.get(f"{info['base']}/last-rendered-tiny.jpg")
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(image.content)).size[0] <= 200
    assert manager.get("/api/v3/jobs/last-rendered").json()["base"] == info["base"]


@pytest.mark.parametrize(
    "note",
    [b'{"job_id": "../../etc"}', b"[]", b"null", b'{"job_id": 5}', b'{"job_id"', b"\xff\xfe",
     b"[" * 100_000, b""],
)
def test_a_damaged_last_job_note_means_nothing_rendered_yet_until_the_next_frame(
    manager: Manager, awake_worker: FakeWorker, note: bytes
) -> None:
    submit(manager, settings={"frames": "1-2", "chunk_size": 1})
    task = awake_worker.next_task()
    assert task is not None

    def produce() -> None:
        response = awake_worker.call(
            "POST", f"/task/{task['uuid']}/output-produced", data=_png(),
            headers={"Content-Type": "image/png"},
        )
        assert response.status_code == 202

    produce()
    (manager.settings.data_dir / "last-rendered" / "last-job.json").write_bytes(note)
    assert manager.get("/api/v3/jobs/last-rendered").status_code == 204
    produce()
    assert manager.get("/api/v3/jobs/last-rendered").status_code == 200


def test_output_produced_refuses_what_is_not_an_image(
    manager: Manager, awake_worker: FakeWorker
) -> None:
    submit(manager, settings={"frames": "1", "chunk_size": 1})
    task = awake_worker.next_task()
    assert task is not None
    path = f"/task/{task['uuid']}/output-produced"
    wrong_type = awake_worker.call(
        "POST", path, data=b"hello", headers={"Content-Type": "text/plain"}
    )
    assert wrong_type.status_code == 415
    not_image = awake_worker.call(
        "POST", path, data=b"hello", headers={"Content-Type": "image/png"}
    )
    assert not_image.status_code == 400
    assert "image" in not_image.json()["message"]
