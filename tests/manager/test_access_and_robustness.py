"""Access token, and no request of any shape makes the manager answer 500."""

from __future__ import annotations

import itertools
from typing import Any

import yaml

from tests.conftest import REPO, Manager, register_worker, submit


def test_access_token_guards_users_but_not_workers(manager: Manager) -> None:
    worker = register_worker(manager)
    manager.settings.access_token = "studio-secret"
    refused = manager.get("/api/v3/jobs")
    assert refused.status_code == 401 and "access token" in refused.json()["message"]
    assert manager.get("/api/v3/jobs", headers={"Authorization": "Bearer wrong"}).status_code == 401
    allowed = manager.get("/api/v3/jobs", headers={"Authorization": "Bearer studio-secret"})
    assert allowed.status_code == 200
    assert manager.get("/api/v3/version").status_code == 200
    worker.sign_on()  # workers authenticate with their own secret


def test_a_refused_user_is_not_asked_for_a_password_but_a_worker_is(manager: Manager) -> None:
    manager.settings.access_token = "studio-secret"
    for path in ("/api/v3/jobs", "/api/v3/worker-mgt/workers", "/api/farmhand/job-type-errors"):
        refused = manager.get(path)
        assert refused.status_code == 401, path
        # A Basic challenge would make a browser pop up a password box.
        assert "basic" not in refused.headers.get("WWW-Authenticate", "").lower(), path
    worker = manager.post("/api/v3/worker/task")
    assert worker.status_code == 401
    assert worker.headers["WWW-Authenticate"].startswith("Basic")


GARBAGE_BODIES: list[Any] = [
    None,
    "not json",
    [],
    {},
    {"name": 1, "status": [], "priority": {}},
    12,
]


def _operations() -> list[tuple[str, str]]:
    spec = yaml.safe_load((REPO / "manager/api/openapi/flamenco-v3.9.yaml").read_text())
    ops = []
    for path, item in spec["paths"].items():
        for method in item:
            if method in ("get", "post", "put", "delete"):
                ops.append((method.upper(), path))
    return ops


def test_no_operation_answers_500_to_garbage(manager: Manager) -> None:
    job = submit(manager)
    worker = register_worker(manager)
    worker.wake()
    task = worker.next_task()
    assert task is not None
    ids = {
        "job_id": job["id"],
        "task_id": task["uuid"],
        "worker_id": worker.id,
        "tag_id": "x",
        "typeName": "frames-noop",
        "audience": "users",
        "platform": "linux",
        "checksum": "ab" * 32,
        "filesize": "5",
    }
    fake_ids = {key: "00000000-0000-0000-0000-000000000000" for key in ids}
    fake_ids["filesize"] = "-1"
    manager.checker.enabled = False  # garbage in may legitimately be refused in many ways
    try:
        for (method, path), body, id_set in itertools.product(
            _operations(), GARBAGE_BODIES, (ids, fake_ids)
        ):
            url = path.format(**id_set)
            kwargs: dict[str, Any] = {"auth": (worker.id, worker.secret)}
            if body == "not json":
                kwargs["data"] = b"{nope"
                kwargs["headers"] = {"Content-Type": "application/json"}
            elif body is not None:
                kwargs["json"] = body
            response = manager.api(method, url, **kwargs)
            assert response.status_code < 500, (method, url, body, response.text)
            if response.status_code >= 400 and response.headers.get("content-type", "").startswith(
                "application/json"
            ):
                error = response.json()
                assert set(error) == {"code", "message"} and error["code"] == response.status_code
    finally:
        manager.checker.enabled = True
