"""The 2015 manager REST API, exchanged as its documentation shows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from manager.core.staged_jobs import ONE_GO_TASKS
from manager.db.protocol_models import Rest2015Task
from tests.conftest import FakeWorker, Manager
from tests.protocols.conftest import between_steps, job_status, stored_jobs
from tests.protocols.test_farm_nodes import png

METRICS = {
    "update_frequent": {
        "load_average": {"15min": 2.18, "1min": 2.18, "5min": 2.11},
        "worker_cpu_percent": 7.0,
    },
    "update_less_frequent": {
        "worker_architecture": "x86_64",
        "worker_disk_percent": 90.7,
        "worker_mem_percent": 56.7,
        "worker_num_cpus": 16,
    },
}


def new_task(manager: Manager, **overrides: Any) -> Any:
    body = {
        "priority": 10,
        "settings": json.dumps(
            {"frame_start": 5, "frame_end": 10, "filepath": "/shots/a.blend", "format": "PNG"}
        ),
        "task_id": 12,
        "type": "blender_simple",
        "parser": "blender_render",
    }
    body.update(overrides)
    return manager.post("/tasks", json=body)


def register(manager: Manager, hostname: str = "fsiddi-macpro.local") -> dict[str, Any]:
    response = manager.post(
        "/workers",
        json={
            "hostname": hostname,
            "system": "Darwin 14.1.0",
            "mac_address": 158929712651,
            "port": 5000,
        },
    )
    assert response.status_code == 200, response.text
    return dict(response.json()[hostname])


def test_worker_renders_a_task_to_completion(manager: Manager) -> None:
    response = new_task(manager)
    assert response.status_code == 202, response.text
    task = response.json()
    assert task == {
        "id": 12,
        "worker_id": None,
        "priority": 10,
        "frame_start": 5,
        "frame_end": 10,
        "frame_current": 5,
        "status": "ready",
        "format": "PNG",
    }

    worker = register(manager)
    assert (worker["hostname"], worker["connection"], worker["status"]) == (
        "fsiddi-macpro.local",
        "online",
        "enabled",
    )
    assert manager.api(
        "PATCH", f"/workers/{worker['id']}", json={"status": "available", **METRICS}
    ).json() == {"task_id": 12}
    info = manager.get(f"/workers/{worker['id']}").json()
    assert info == {
        "hostname": "fsiddi-macpro.local",
        "mac_address": 158929712651,
        "system": "Darwin 14.1.0",
        **METRICS,
    }

    progress = manager.api(
        "PATCH",
        "/tasks/12",
        json={"worker_id": worker["id"], "status": "rendering", "frame_current": 8},
    )
    assert progress.status_code == 204, progress.text
    shown = manager.get("/tasks/12").json()
    assert (shown["status"], shown["frame_current"], shown["worker_id"]) == (
        "rendering",
        8,
        worker["id"],
    )
    listed = manager.get("/workers").json()
    assert listed["fsiddi-macpro.local"]["current_task"] == 12

    done = manager.api(
        "PATCH",
        "/tasks/12",
        json={"worker_id": worker["id"], "status": "completed", "frame_current": 10},
    )
    assert done.status_code == 204, done.text
    with manager.farm.db.read() as session:
        job_id = session.get(Rest2015Task, 12).job_id  # type: ignore[union-attr]
    assert job_status(manager, job_id) == "completed"
    assert manager.api(
        "PATCH", f"/workers/{worker['id']}", json={"status": "available"}
    ).json() == {"task_id": None}


def test_frames_a_2015_worker_writes_on_shared_storage_are_the_jobs_outputs(
    manager: Manager, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    manager.settings.shared_storage = str(shared)
    settings = {
        "frame_start": 5,
        "frame_end": 6,
        "filepath": str(shared / "a.blend"),
        "render_output_path": str(shared / "renders" / "a_####"),
    }
    assert new_task(manager, settings=json.dumps(settings)).status_code == 202
    worker = register(manager)
    assert manager.api(
        "PATCH", f"/workers/{worker['id']}", json={"status": "available"}
    ).json() == {"task_id": 12}
    # What the file's scene does when the worker renders it: a frame per image.
    (shared / "renders").mkdir(parents=True)
    written = {f"a_{frame:04d}.png": png(frame) for frame in (5, 6)}
    for name, content in written.items():
        (shared / "renders" / name).write_bytes(content)
    done = manager.api(
        "PATCH",
        "/tasks/12",
        json={"worker_id": worker["id"], "status": "completed", "frame_current": 6},
    )
    assert done.status_code == 204, done.text
    assert manager.farm.frame_collections.wait_idle()
    with manager.farm.db.read() as session:
        job_id = session.get(Rest2015Task, 12).job_id  # type: ignore[union-attr]
    listing = manager.get(f"/api/farmhand/jobs/{job_id}/outputs").json()["files"]
    assert {item["name"]: manager.get(item["url"]).content for item in listing} == written


def test_metrics_show_in_the_worker_record(manager: Manager) -> None:
    worker = register(manager)
    manager.api("PATCH", f"/workers/{worker['id']}", json={"status": "rendering", **METRICS})
    workers = manager.get("/api/v3/worker-mgt/workers").json()["workers"]
    assert workers[0]["name"] == "fsiddi-macpro.local"
    from manager.db.models import Worker

    with manager.farm.db.read() as session:
        extra = session.get(Worker, workers[0]["id"]).extra  # type: ignore[union-attr]
    assert extra["update_less_frequent"]["worker_disk_percent"] == 90.7


def test_user_pauses_reprioritises_and_deletes_a_task(manager: Manager) -> None:
    new_task(manager)
    assert manager.api("PATCH", "/tasks/12", json={"priority": 70}).status_code == 204
    assert manager.api("PATCH", "/tasks/12", json={"status": "paused"}).status_code == 204
    assert manager.get("/tasks/12").json()["status"] == "paused"
    assert manager.get("/tasks/12").json()["priority"] == 70
    assert manager.api("DELETE", "/tasks/12").status_code == 202
    assert manager.get("/tasks/12").status_code == 404
    assert manager.get("/api/v3/jobs").json()["jobs"] == []


def test_a_2015_delete_removes_the_jobs_files_like_a_v3_delete(manager: Manager) -> None:
    new_task(manager)
    job_id = manager.get("/api/v3/jobs").json()["jobs"][0]["id"]
    task_id = manager.get(f"/api/v3/jobs/{job_id}/tasks").json()["tasks"][0]["id"]
    farm = manager.farm
    farm.logs.append(job_id, task_id, "rendering\n")
    farm.last_rendered.store(job_id, _PNG)
    outputs = manager.settings.data_dir / "outputs" / job_id
    outputs.mkdir(parents=True)
    (outputs / "000005.png").write_bytes(_PNG)
    assert _paths_naming(manager, job_id)

    assert manager.api("DELETE", "/tasks/12").status_code == 202
    assert _paths_naming(manager, job_id) == []


# A 1x1 PNG.
_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c4944415408d763"
    "f8cfc0000003010100c9fe92ef0000000049454e44ae426082"
)


def _paths_naming(manager: Manager, job_id: str) -> list[str]:
    return [str(p) for p in manager.settings.data_dir.rglob("*") if job_id in p.name]


def test_task_without_task_id_gets_the_next_number(manager: Manager) -> None:
    first = new_task(manager, task_id=None).json()
    second = new_task(manager, task_id=None).json()
    assert second["id"] == first["id"] + 1


# Bad input: Error{code, message}, nothing changed -------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"settings": "{not json"}, "settings"),
        ({"settings": json.dumps({"frame_start": 1})}, "frame_end"),
        ({"priority": "high"}, "priority"),
        ({"type": "no_such_compiler"}, "type"),
    ],
)
def test_bad_task_is_refused(manager: Manager, overrides: dict[str, Any], needle: str) -> None:
    response = new_task(manager, **overrides)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == 400 and needle in response.json()["message"]
    assert manager.get("/api/v3/jobs").json()["jobs"] == []


def test_duplicate_task_id_is_409(manager: Manager) -> None:
    new_task(manager)
    response = new_task(manager)
    assert response.status_code == 409
    assert len(manager.get("/api/v3/jobs").json()["jobs"]) == 1


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PATCH", "/tasks/99", {"priority": 1}),
        ("DELETE", "/tasks/99", None),
        ("GET", "/workers/99", None),
        ("PATCH", "/workers/99", {"status": "available"}),
    ],
)
def test_unknown_ids_are_404(manager: Manager, method: str, path: str, body: Any) -> None:
    response = manager.api(method, path, json=body)
    assert response.status_code == 404
    assert "not found" in response.json()["message"]


def test_bad_worker_input_is_refused(manager: Manager) -> None:
    worker = register(manager)
    response = manager.api(
        "PATCH",
        f"/workers/{worker['id']}",
        json={"status": "available", "update_frequent": {"worker_cpu_percent": 250}},
    )
    assert response.status_code == 400
    assert "worker_cpu_percent" in response.json()["message"]
    assert manager.post("/workers", json={"system": "Linux"}).status_code == 400
    malformed = manager.post("/workers", data=b"{", headers={"Content-Type": "application/json"})
    assert malformed.status_code == 400 and "JSON" in malformed.json()["message"]


# Big tasks: stored in steps, like any big submission -------------------------------------------


def big_task(manager: Manager, task_id: int | None = 12) -> Any:
    """A 2015 task of a job type that compiles it to more tasks than go in in one transaction
    (types other than the 2015 compilers take their settings as given)."""
    settings = {"frames": f"1-{ONE_GO_TASKS + 500}"}
    return new_task(manager, type="frames-noop", settings=json.dumps(settings), task_id=task_id)


def test_a_big_task_is_hidden_while_stored_and_workers_are_answered_meanwhile(
    manager: Manager, awake_worker: FakeWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[list[tuple[str, int]], int, dict[str, Any] | None]] = []

    def look() -> None:
        seen.append(
            (stored_jobs(manager), manager.get("/tasks/12").status_code, awake_worker.next_task())
        )

    between_steps(monkeypatch, look)
    response = big_task(manager)

    assert response.status_code == 202, response.text
    total = ONE_GO_TASKS + 500
    stored = []
    for jobs, number, answer in seen:
        ((status, count),) = jobs
        assert (status, number, answer) == ("under-construction", 404, None)
        stored.append(count)
    assert len(stored) >= 2 and 0 < stored[0] < total and stored[-1] == total
    assert (response.json()["id"], response.json()["status"]) == (12, "ready")
    assert stored_jobs(manager) == [("queued", total)]
    assert manager.get("/tasks/12").json()["status"] == "ready"
    assert awake_worker.next_task() is not None


def test_a_number_taken_while_a_big_task_is_stored_refuses_the_big_task(
    manager: Manager, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken: list[int] = []

    def look() -> None:
        if not taken:
            taken.append(new_task(manager, task_id=12).status_code)

    between_steps(monkeypatch, look)
    response = big_task(manager, task_id=12)

    assert taken == [202]
    assert response.status_code == 409, response.text
    assert stored_jobs(manager) == [("queued", 1)]
    assert manager.get("/tasks/12").json()["frame_end"] == 10
