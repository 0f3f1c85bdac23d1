"""The 2022 Flamenco manager API (/api/... with `nickname`), checked against its own spec."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import requests

from tests.conftest import REPO, Manager
from tests.spec_check import SpecChecker


@pytest.fixture(scope="module")
def checker_2022() -> SpecChecker:
    return SpecChecker(REPO / "manager" / "api" / "openapi" / "flamenco-2022.yaml", "/api/")


@pytest.fixture
def old(manager: Manager, checker_2022: SpecChecker) -> Iterator[requests.Session]:
    http = requests.Session()
    http.hooks["response"].append(checker_2022.hook)
    yield http
    http.close()


def test_a_2022_worker_renders_a_2022_job(manager: Manager, old: requests.Session) -> None:
    url = manager.url + "/api"
    assert old.get(url + "/version").json()["name"] == "Farmhand"
    types = old.get(url + "/jobs/types").json()["job_types"]
    assert all(isinstance(s.get("visible", True), bool) for t in types for s in t["settings"])
    job = old.post(
        url + "/jobs",
        json={
            "name": "old job",
            "type": "frames-noop",
            "priority": 50,
            "settings": {"frames": "1-2", "chunk_size": 1},
        },
    ).json()
    assert job["status"] == "queued"

    secret = uuid.uuid4().hex
    registered = old.post(
        url + "/worker/register-worker",
        json={
            "nickname": "old-timer",
            "secret": secret,
            "platform": "linux",
            "supported_task_types": ["misc"],
        },
    ).json()
    assert registered["nickname"] == "old-timer"
    auth = (registered["uuid"], secret)
    signed_on = old.post(
        url + "/worker/sign-on",
        auth=auth,
        json={
            "nickname": "old-timer",
            "supported_task_types": ["misc"],
            "software_version": "2022",
        },
    )
    assert signed_on.json() == {"status_requested": "awake"}
    assert (
        old.post(url + "/worker/state-changed", auth=auth, json={"status": "awake"}).status_code
        == 204
    )
    while (response := old.post(url + "/worker/task", auth=auth)).status_code == 200:
        task = response.json()
        assert "steps_total" not in task
        update = old.post(
            url + f"/worker/task/{task['uuid']}",
            auth=auth,
            json={"taskStatus": "completed", "log": "done"},
        )
        assert update.status_code == 204
    assert response.status_code == 204
    assert old.get(url + f"/jobs/{job['id']}").json()["status"] == "completed"
    # The same job, seen through the v3 API.
    assert manager.get(f"/api/v3/jobs/{job['id']}").json()["steps_completed"] == 2
    assert old.post(url + "/worker/sign-off", auth=auth).status_code == 204


def test_2022_shutdown_request_maps_to_offline(manager: Manager, old: requests.Session) -> None:
    url = manager.url + "/api"
    secret = uuid.uuid4().hex
    worker = old.post(
        url + "/worker/register-worker",
        json={
            "nickname": "w",
            "secret": secret,
            "platform": "linux",
            "supported_task_types": ["misc"],
        },
    ).json()
    auth = (worker["uuid"], secret)
    old.post(
        url + "/worker/sign-on",
        auth=auth,
        json={"nickname": "w", "supported_task_types": ["misc"], "software_version": "2022"},
    )
    assert (
        old.post(url + "/worker/state-changed", auth=auth, json={"status": "shutdown"}).status_code
        == 204
    )
    assert manager.get(f"/api/v3/worker-mgt/workers/{worker['uuid']}").json()["status"] == "offline"


def test_2022_bad_input_gets_the_error_form(manager: Manager, old: requests.Session) -> None:
    url = manager.url + "/api"
    missing = old.post(
        url + "/worker/register-worker",
        json={
            "name": "v3-style",
            "secret": "x" * 10,
            "platform": "linux",
            "supported_task_types": [],
        },
    )
    assert missing.status_code == 400 and "nickname" in missing.json()["message"]
    bad_job = old.post(
        url + "/jobs",
        json={"name": "j", "type": "frames-noop", "priority": 50, "settings": {"frames": "9-1"}},
    )
    assert bad_job.status_code == 400 and "frames" in bad_job.json()["message"]
