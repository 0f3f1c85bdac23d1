"""Two managers on loopback: /potential lists new jobs per cluster, and a downstream manager
pulls upstream work, renders it on its own node and reports it back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from manager.config import Settings
from manager.core import staged_jobs
from manager.db.protocol_models import ClusterMirror
from manager.protocols.cluster_puller import ClusterPuller
from tests.conftest import Manager, database_backends, free_port, start_manager, stop_manager
from tests.protocols import conftest as protocol_helpers
from tests.protocols.conftest import between_steps, job_status, stored_jobs
from tests.spec_check import SpecChecker

# The core behind the protocol runs on both databases.
pytestmark = pytest.mark.parametrize("backend", database_backends(), indirect=True)


@pytest.fixture
def downstream(tmp_path: Path, spec_checker: SpecChecker) -> Iterator[Manager]:
    data_dir = tmp_path / "downstream"
    settings = Settings(
        data_dir=data_dir,
        database=f"sqlite:///{data_dir / 'farmhand.sqlite'}",
        host="127.0.0.1",
        port=free_port(),
    )
    running = start_manager(settings, spec_checker)
    yield running
    stop_manager(running)


SHOT = "projects::shot.blend"


def submit_frames(manager: Manager, frames: str, **overrides: Any) -> dict[str, Any]:
    return protocol_helpers.submit_frames(manager, frames, blendfile=SHOT, **overrides)


def task_request() -> dict[str, Any]:
    return {"id": "task", "paths": ["projects"], "provides": [], "count": 1}


def node(manager: Manager, *requests: Any) -> Any:
    identity = {
        "id": "identity",
        "name": "local-node",
        "provides": ["blender-frame"],
        "version": "1",
    }
    response = manager.post("/farm", json=[identity, *requests])
    assert response.status_code == 200, response.text
    return response.json()


def test_potential_lists_each_job_once_per_cluster(manager: Manager) -> None:
    job = submit_frames(manager, "1-3", priority=70)
    (listed,) = manager.post("/potential", json="render-cluster-b").json()
    assert listed["uuid"] == job["id"] and listed["name"] == "test job"
    assert listed["file"] == SHOT and listed["priority"] == 70
    assert listed["video"] is False and listed["requires"] == []
    assert listed["frames"] == 3 and listed["created"] > 1.7e9
    assert manager.post("/potential", json="render-cluster-b").json() == []
    assert len(manager.post("/potential", json="render-cluster-c").json()) == 1
    video = submit_frames(manager, "1-50", job_type="video-render")
    (again,) = manager.post("/potential", json="render-cluster-b").json()
    assert again["uuid"] == video["id"] and again["video"] is True and again["frames"] == 50


@pytest.mark.parametrize("body", [b"", b"42", b'""', b'["a"]', b"{"])
def test_potential_refuses_anything_but_a_name(manager: Manager, body: bytes) -> None:
    response = manager.post("/potential", data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert "cluster name" in response.json()["message"]


def test_cluster_pulls_renders_and_reports_back(manager: Manager, downstream: Manager) -> None:
    upstream_job = submit_frames(manager, "1-2")
    puller = ClusterPuller(downstream.farm, manager.url, "cluster-b")
    node(downstream, task_request())  # an idle node listing the share: room for one task

    assert len(puller.loop().pulled) == 1
    for round_ in range(2):
        (local,) = node(downstream, task_request())
        assert local["file"] == SHOT
        node(
            downstream, {"id": "done", "uuid": local["uuid"], "frame": local["frame"], "time": 1.0}
        )
        assert job_status(manager, upstream_job["id"]) == "active"
        result = puller.loop()  # reports this frame done and, with the node idle, pulls the next
        assert (len(result.finished), len(result.pulled)) == (1, 1 - round_)
    assert job_status(manager, upstream_job["id"]) == "completed"
    upstream_workers = manager.get("/api/v3/worker-mgt/workers").json()["workers"]
    assert [w["name"] for w in upstream_workers] == ["cluster-b"]


def test_upstream_cancel_cancels_the_local_job(manager: Manager, downstream: Manager) -> None:
    upstream_job = submit_frames(manager, "9")
    puller = ClusterPuller(downstream.farm, manager.url, "cluster-b")
    node(downstream, task_request())
    assert len(puller.loop().pulled) == 1
    manager.post(
        f"/api/v3/jobs/{upstream_job['id']}/setstatus",
        json={"status": "canceled", "reason": "changed my mind"},
    )
    assert len(puller.loop().killed) == 1
    (local,) = downstream.get("/api/v3/jobs").json()["jobs"]
    assert local["status"] == "canceled"


def test_cluster_on_a_locked_upstream_uses_its_node_url(
    manager: Manager, downstream: Manager
) -> None:
    manager.settings.registration_token = "only-ours"
    upstream_job = submit_frames(manager, "4")
    identity = {"id": "identity", "name": "cluster-b", "provides": []}
    response = manager.post("/farm/register/only-ours/farm", json=[identity])
    (registered,) = response.json()
    with pytest.raises(RuntimeError, match="401"):
        ClusterPuller(downstream.farm, manager.url, "cluster-b").loop()
    puller = ClusterPuller(downstream.farm, registered["server"], "cluster-b")
    node(downstream, task_request())
    result = puller.loop()
    assert [j["uuid"] for j in result.new_jobs] == [upstream_job["id"]]
    assert len(result.pulled) == 1
    assert job_status(manager, upstream_job["id"]) == "active"


def test_a_pulled_task_is_hidden_while_stored_and_local_nodes_are_answered_meanwhile(
    manager: Manager, downstream: Manager, monkeypatch: pytest.MonkeyPatch
) -> None:
    submit_frames(manager, "7")
    # A pulled task's job has one task: with no job going in in one transaction, it goes in
    # in steps like the biggest submission, and the round stores it the same way.
    monkeypatch.setattr(staged_jobs, "ONE_GO_TASKS", 0)
    seen: list[tuple[list[tuple[str, int]], int, list[Any]]] = []

    def look() -> None:
        with downstream.farm.db.read() as session:
            mirrors = len(session.scalars(select(ClusterMirror)).all())
        answers = node(downstream, task_request())
        seen.append((stored_jobs(downstream), mirrors, [a for a in answers if a["id"] == "task"]))

    between_steps(monkeypatch, look)
    puller = ClusterPuller(downstream.farm, manager.url, "cluster-b")
    node(downstream, task_request())

    assert len(puller.loop().pulled) == 1
    assert seen == [([("under-construction", 1)], 0, [])]
    assert stored_jobs(downstream) == [("queued", 1)]
    (local,) = node(downstream, task_request())
    assert (local["file"], local["frame"]) == (SHOT, 7)
