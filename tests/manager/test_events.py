"""Farm events come from the core, so every protocol that makes a change tells the dashboard
the same thing, and a request that fails tells nothing."""

from __future__ import annotations

import queue
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

from manager.core.errors import FarmError
from manager.core.events import Event
from manager.protocols.cluster_puller import ClusterPuller
from tests.conftest import REPO, Manager, register_worker, submit


@contextmanager
def published(manager: Manager) -> Iterator[list[Event]]:
    """The events the farm publishes inside the block (the core publishes a request's events
    before it answers, so they are all there when the block ends)."""
    seen: list[Event] = []
    with manager.farm.events.subscribe() as q:
        yield seen
        while True:
            try:
                seen.append(q.get_nowait())
            except queue.Empty:
                break


def _2022_worker(manager: Manager) -> tuple[str, tuple[str, str]]:
    secret = uuid.uuid4().hex
    response = manager.post(
        "/api/worker/register-worker",
        json={
            "nickname": "old-timer",
            "secret": secret,
            "platform": "linux",
            "supported_task_types": ["misc"],
        },
    )
    assert response.status_code == 200, response.text
    worker_id = response.json()["uuid"]
    return worker_id, (worker_id, secret)


def _sign_on_body(protocol: str) -> dict[str, Any]:
    name = "nickname" if protocol == "2022" else "name"
    return {name: "old-timer", "supported_task_types": ["misc"], "software_version": "1"}


def _worker(manager: Manager, protocol: str) -> tuple[str, tuple[str, str], str]:
    """A registered worker's id, credentials and the prefix of its protocol's worker API."""
    if protocol == "2022":
        worker_id, auth = _2022_worker(manager)
        return worker_id, auth, "/api/worker"
    worker = register_worker(manager, "old-timer")
    return worker.id, (worker.id, worker.secret), "/api/v3/worker"


@pytest.mark.parametrize("protocol", ["v3", "2022"])
def test_sign_on_state_change_and_sign_off_tell_of_the_worker_whichever_api(
    manager: Manager, protocol: str
) -> None:
    worker_id, auth, prefix = _worker(manager, protocol)
    calls = [
        ("/sign-on", _sign_on_body(protocol)),
        ("/state-changed", {"status": "awake"}),
        ("/sign-off", None),
    ]
    for path, body in calls:
        with published(manager) as events:
            response = manager.post(prefix + path, auth=auth, json=body)
            assert response.status_code in (200, 204), response.text
        assert {"type": "worker", "id": worker_id} in events, path


@pytest.mark.parametrize("protocol", ["v3", "2022"])
def test_task_progress_and_its_log_are_told_whichever_api_reported_them(
    manager: Manager, protocol: str
) -> None:
    job = submit(manager, settings={"frames": "1", "chunk_size": 1})
    worker_id, auth, prefix = _worker(manager, protocol)
    assert manager.post(prefix + "/sign-on", auth=auth, json=_sign_on_body(protocol)).ok
    assert manager.post(prefix + "/state-changed", auth=auth, json={"status": "awake"}).ok
    with published(manager) as claimed:
        task = manager.post(prefix + "/task", auth=auth).json()
    told = {"type": "task", "id": task["uuid"], "job_id": job["id"], "worker_id": worker_id}
    assert told in claimed

    with published(manager) as events:
        update = {"activity": "rendering", "log": "frame 1 of 1\n"}
        response = manager.post(f"{prefix}/task/{task['uuid']}", auth=auth, json=update)
        assert response.status_code == 204, response.text
    assert told in events
    log = {"type": "tasklog", "task_id": task["uuid"], "job_id": job["id"], "log": "frame 1 of 1\n"}
    assert log in events


def _submit_2015(manager: Manager) -> tuple[str, str]:
    response = manager.post(
        "/tasks",
        json={
            "priority": 10,
            "settings": '{"frame_start": 1, "frame_end": 2, "filepath": "/a.blend"}',
            "task_id": 12,
            "type": "blender_simple",
            "parser": "blender_render",
        },
    )
    assert response.status_code == 202, response.text
    (job,) = manager.get("/api/v3/jobs").json()["jobs"]
    return job["id"], "/tasks/12"


@pytest.mark.parametrize("how", ["v3", "mass-delete", "2015"])
def test_a_deleted_job_is_told_once_whichever_api_deleted_it(manager: Manager, how: str) -> None:
    if how == "2015":
        job_id, path = _submit_2015(manager)
    else:
        job_id = submit(manager)["id"]
        path = f"/api/v3/jobs/{job_id}"
    with published(manager) as events:
        if how == "mass-delete":
            response = manager.api(
                "DELETE",
                "/api/v3/jobs/mass-delete",
                json={"last_updated_max": "2999-01-01T00:00:00Z"},
            )
        else:
            response = manager.api("DELETE", path)
        assert response.status_code in (202, 204), response.text
    told = [e for e in events if e["type"] == "job" and e.get("id") == job_id]
    assert told == [{"type": "job", "id": job_id, "was_deleted": True}]


def _failing_2015_patch(manager: Manager) -> Callable[[], requests.Response]:
    _submit_2015(manager)
    # The priority is set before the status is found wrong: that change must not be told.
    return lambda: manager.api("PATCH", "/tasks/12", json={"priority": 70, "status": "bogus"})


def _failing_farm_exchange(manager: Manager) -> Callable[[], requests.Response]:
    job = submit(manager, "single-frame-render", settings={"blendfile": "a.blend", "frames": "1"})
    (task,) = manager.get(f"/api/v3/jobs/{job['id']}/tasks").json()["tasks"]
    identity = {"id": "identity", "name": "node-1", "provides": ["blender-frame"], "version": "1"}
    claim = {"id": "task", "paths": [], "provides": ["blender-frame"], "count": 1}
    wrong_frame = {"id": "done", "uuid": task["id"], "frame": 2, "time": 1.0}
    # The node is registered before the last request is found wrong.
    return lambda: manager.post("/farm", json=[identity, claim, wrong_frame])


def _failing_v3_sign_on(manager: Manager) -> Callable[[], requests.Response]:
    worker = register_worker(manager)
    # The first tag is made before the second is found wrong.
    body = {**_sign_on_body("v3"), "name": worker.name, "tags": ["new-tag", " "]}
    return lambda: worker.call("POST", "/sign-on", json=body)


@pytest.mark.parametrize(
    "prepare", [_failing_2015_patch, _failing_farm_exchange, _failing_v3_sign_on]
)
def test_a_failing_request_tells_nothing(
    manager: Manager, prepare: Callable[[Manager], Callable[[], requests.Response]]
) -> None:
    send = prepare(manager)
    with published(manager) as events:
        response = send()
    assert 400 <= response.status_code < 500, response.text
    assert events == []


class _Upstream:
    """Stands in for the upstream manager's HTTP API: a round that hands out two tasks, the
    second of which no job can be made of."""

    def post(self, url: str, json: Any, timeout: float) -> Any:
        answer: Any = []
        if url.endswith("/farm"):
            answer = [
                {"id": "task", "uuid": str(uuid.uuid4()), "file": "a.blend", "frame": 1},
                {"id": "task", "uuid": str(uuid.uuid4()), "file": "a.blend", "frame": "x"},
            ]
        return _Answer(answer)


class _Answer:
    status_code = 200
    text = ""

    def __init__(self, body: Any) -> None:
        self._body = body

    def json(self) -> Any:
        return self._body


def test_a_cluster_task_no_job_can_be_made_of_tells_only_of_the_jobs_made(
    manager: Manager,
) -> None:
    upstream: Any = _Upstream()
    puller = ClusterPuller(manager.farm, "http://upstream.invalid", "cluster-b", upstream)
    with published(manager) as events, pytest.raises(FarmError, match="no job can be made"):
        puller.loop()
    stored = manager.get("/api/v3/jobs").json()["jobs"]
    assert [job["settings"]["frames"] for job in stored] == ["1"]
    assert events, "the job made of the good task is announced"
    assert {event.get("id") for event in events if event["type"] == "job"} == {stored[0]["id"]}


ADAPTERS = ["manager/api", "manager/protocols", "manager/dashboard/routes.py"]


def test_no_adapter_publishes_events_itself() -> None:
    files: list[Path] = []
    for adapter in ADAPTERS:
        path = REPO / adapter
        files += [path] if path.suffix == ".py" else sorted(path.rglob("*.py"))
    found = [str(p.relative_to(REPO)) for p in files if ".publish(" in p.read_text()]
    assert found == [], "adapters call the core, whose commits publish what it recorded"
