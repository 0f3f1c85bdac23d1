"""The /farm protocol, exchanged as its documentation shows."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from manager.core.farm import utcnow
from manager.core.health import run_health_checks
from manager.protocols.farm_json import HeartbeatPolicy, NodeCensus
from tests.conftest import Manager, database_backends, register_worker, submit
from tests.protocols import conftest as protocol_helpers
from tests.protocols.conftest import app_of, job_status

FEATURES = ["blender-frame", "blender-video"]
#: The protocol's file convention: a share name, then the path inside it.
SHOT = "projects::shot.blend"


def submit_frames(manager: Manager, frames: str = "1-2", **overrides: Any) -> dict[str, Any]:
    overrides.setdefault("blendfile", SHOT)
    return protocol_helpers.submit_frames(manager, frames, **overrides)


# The core behind the protocol runs on both databases.
pytestmark = pytest.mark.parametrize("backend", database_backends(), indirect=True)


def identity(name: str = "node-1", provides: list[str] | None = None) -> dict[str, Any]:
    return {"id": "identity", "name": name, "provides": provides or FEATURES, "version": "1.4.2"}


def task_request(
    count: int = 1, paths: list[str] | None = None, provides: list[str] | None = None
) -> dict[str, Any]:
    return {
        "id": "task",
        "paths": paths if paths is not None else ["projects"],
        "provides": provides or FEATURES,
        "count": count,
    }


def farm(manager: Manager, *requests: Any, status: int = 200) -> Any:
    response = manager.post("/farm", json=list(requests))
    assert response.status_code == status, response.text
    return response.json()


def test_node_renders_a_job_to_completion(manager: Manager) -> None:
    job = submit_frames(manager, "1-2")
    answers = farm(manager, identity(), {"id": "info"}, task_request(count=5))
    info = answers[0]
    assert info["id"] == "info"
    assert {"heartbeat", "arrhythmia", "error_scale", "hibernation", "memory"} <= set(info)
    tasks = [a for a in answers if a["id"] == "task"]
    assert len(tasks) == 2  # partial fulfilment: five asked for, two exist
    assert {t["frame"] for t in tasks} == {1, 2}
    for task in tasks:
        assert task["file"] == SHOT
        assert task["requires"] == []  # a plain job needs no special feature
        assert task["prmanCommands"] is None and task["issued"] > 1.7e9

    first, second = tasks
    assert (
        farm(
            manager,
            identity(),
            {"id": "report", "uuid": first["uuid"], "frame": first["frame"], "done": 0, "total": 1},
        )
        == []
    )
    assert job_status(manager, job["id"]) == "active"
    for task in tasks:
        farm(
            manager,
            identity(),
            {"id": "done", "uuid": task["uuid"], "frame": task["frame"], "time": 12.5},
        )
    assert job_status(manager, job["id"]) == "completed"
    assert second["uuid"] != first["uuid"]


def test_node_name_and_version_show_in_the_worker_list(manager: Manager) -> None:
    farm(manager, identity("render-07"))
    workers = manager.get("/api/v3/worker-mgt/workers").json()["workers"]
    assert [(w["name"], w["version"], w["status"]) for w in workers] == [
        ("render-07", "1.4.2", "awake")
    ]


def test_video_render_goes_to_one_node_as_one_task(manager: Manager) -> None:
    job = submit_frames(manager, "10-40", job_type="video-render")
    answers = farm(manager, identity(), task_request(count=3))
    assert [(a["frame"], a["requires"]) for a in answers] == [([10, 40], [])]
    uuid = answers[0]["uuid"]
    farm(
        manager,
        identity(),
        {"id": "report", "uuid": uuid, "frame": [10, 40], "done": 15, "total": 31},
    )
    task = manager.get(f"/api/v3/tasks/{uuid}").json()
    assert task["steps_completed"] == 15
    assert farm(manager, identity("node-2"), task_request()) == []
    farm(manager, identity(), {"id": "done", "uuid": uuid, "frame": [10, 40], "time": 300.0})
    assert job_status(manager, job["id"]) == "completed"


def test_node_lacking_a_jobs_special_feature_gets_nothing(manager: Manager) -> None:
    tag = manager.post("/api/v3/worker-mgt/tags", json={"name": "gpu"}).json()
    submit_frames(manager, "1", worker_tag=tag["id"])
    assert farm(manager, identity(), task_request(provides=["ffmpeg"])) == []
    (task,) = farm(manager, identity(), task_request(provides=["gpu"]))
    assert task["requires"] == ["gpu"]


def test_node_naming_task_types_gets_only_those(manager: Manager) -> None:
    submit_frames(manager, "1-9", job_type="video-render")
    assert farm(manager, identity(), task_request(provides=["blender-frame"])) == []


def test_paused_node_gets_nothing(manager: Manager) -> None:
    submit_frames(manager, "1")
    farm(manager, identity())
    worker = manager.get("/api/v3/worker-mgt/workers").json()["workers"][0]
    response = manager.post(
        f"/api/v3/worker-mgt/workers/{worker['id']}/setstatus",
        json={"status": "asleep", "is_lazy": False},
    )
    assert response.status_code == 204
    assert farm(manager, identity(), task_request()) == []
    manager.post(
        f"/api/v3/worker-mgt/workers/{worker['id']}/setstatus",
        json={"status": "awake", "is_lazy": False},
    )
    assert len(farm(manager, identity(), task_request())) == 1


def test_paths_restrict_a_node_to_jobs_on_shares_it_reaches(manager: Manager) -> None:
    job = submit_frames(manager, "1", blendfile="nas2::shot.blend")
    assert farm(manager, identity(), task_request(paths=["projects"])) == []
    answers = farm(manager, identity(), task_request(paths=["projects", "nas2"]))
    assert [(a["file"], a["requires"]) for a in answers] == [("nas2::shot.blend", [])]
    assert job_status(manager, job["id"]) == "active"


def test_a_file_without_a_share_goes_to_no_node(manager: Manager) -> None:
    job = submit_frames(manager, "1", blendfile="projects/shot.blend")
    assert farm(manager, identity(), task_request(paths=["projects"])) == []
    assert job_status(manager, job["id"]) == "queued"


def test_report_on_a_canceled_task_is_answered_kill(manager: Manager) -> None:
    job = submit_frames(manager, "7")
    (task,) = farm(manager, identity(), task_request())
    response = manager.post(
        f"/api/v3/jobs/{job['id']}/setstatus", json={"status": "canceled", "reason": "not needed"}
    )
    assert response.status_code == 204
    report = {"id": "report", "uuid": task["uuid"], "frame": 7, "done": 0, "total": 1}
    assert farm(manager, identity(), report) == [{"id": "kill", "uuid": task["uuid"], "frame": 7}]


def test_heartbeat_grows_with_live_nodes_to_cap_the_rate(manager: Manager) -> None:
    policy = HeartbeatPolicy(max_heartbeats_per_second=4.0, min_heartbeat=1.0)
    app_of(manager).state.farm_census = NodeCensus(policy)
    (small,) = farm(manager, identity("n0"), {"id": "info"})
    assert small["heartbeat"] == 1.0
    for i in range(1, 20):
        farm(manager, identity(f"n{i}"))
    app_of(manager).state.farm_census = NodeCensus(policy)  # forget the cached count
    (big,) = farm(manager, identity("n0"), {"id": "info"})
    assert 20 / big["heartbeat"] <= 4.0
    assert big["arrhythmia"] > 0 and big["hibernation"] >= big["heartbeat"]


def test_health_check_lets_a_node_stay_silent_for_its_heartbeats_and_a_worker_for_its_timeout(
    manager: Manager,
) -> None:
    submit_frames(manager, "1")
    # The node was last heard at this time or later, however slowly the rest goes.
    node_seen = utcnow()
    (node_task,) = farm(manager, identity("sleepy"), task_request())
    submit(manager, settings={"frames": "1", "chunk_size": 1})
    worker = register_worker(manager)
    worker.wake()
    worker_task = worker.next_task()
    assert worker_task is not None
    census: NodeCensus = app_of(manager).state.farm_census
    node_deadline = census.policy.dead_after(1)
    assert node_deadline.total_seconds() < manager.settings.worker_timeout

    def status(path: str) -> str:
        return str(manager.get(path).json()["status"])

    run_health_checks(manager.farm, now=node_seen + node_deadline - timedelta(seconds=1))
    assert status(f"/api/v3/tasks/{node_task['uuid']}") == "active"

    run_health_checks(manager.farm, now=utcnow() + node_deadline + timedelta(seconds=1))
    assert status(f"/api/v3/tasks/{node_task['uuid']}") == "queued"
    nodes = manager.get("/api/v3/worker-mgt/workers").json()["workers"]
    assert {w["name"]: w["status"] for w in nodes}["sleepy"] == "error"
    assert status(f"/api/v3/tasks/{worker_task['uuid']}") == "active"
    assert status(f"/api/v3/worker-mgt/workers/{worker.id}") == "awake"
    (again,) = farm(manager, identity("other"), task_request())
    assert again["uuid"] == node_task["uuid"]

    timeout = timedelta(seconds=manager.settings.worker_timeout)
    run_health_checks(manager.farm, now=utcnow() + timeout + timedelta(seconds=1))
    assert status(f"/api/v3/worker-mgt/workers/{worker.id}") == "error"
    assert status(f"/api/v3/tasks/{worker_task['uuid']}") == "queued"


# Bad input: the JSON Error form, nothing changed --------------------------------------------


def assert_nothing_registered(manager: Manager) -> None:
    assert manager.get("/api/v3/worker-mgt/workers").json()["workers"] == []


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b'[{"id": "identity"', "malformed JSON"),
        (b'{"id": "identity"}', "list"),
        (b'[{"id": "info"}]', "identity"),
        (b'[{"id": "identity", "provides": []}]', "name"),
        (
            b'[{"id": "identity", "name": "n", "provides": []}, '
            b'{"id": "task", "paths": [], "provides": [], "count": "3"}]',
            "count",
        ),
        (b'[{"id": "identity", "name": "n", "provides": []}, {"id": "dance"}]', "id"),
    ],
)
def test_bad_requests_are_refused_and_change_nothing(
    manager: Manager, body: bytes, needle: str
) -> None:
    response = manager.post("/farm", data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert needle in response.json()["message"]
    assert response.json()["code"] == 400
    assert_nothing_registered(manager)


def test_report_on_a_task_that_is_gone_is_answered_kill_and_its_done_let_go(
    manager: Manager,
) -> None:
    job = submit_frames(manager, "1-2")
    first, second = farm(manager, identity(), task_request(count=2))
    assert manager.api("DELETE", f"/api/v3/jobs/{job['id']}").status_code == 204
    report = {"id": "report", "uuid": first["uuid"], "frame": 1, "done": 0, "total": 1}
    done = {"id": "done", "uuid": second["uuid"], "frame": 2, "time": 3.0}
    assert farm(manager, done, identity(), report) == [
        {"id": "kill", "uuid": first["uuid"], "frame": 1}
    ]


def test_done_with_the_wrong_frame_is_refused(manager: Manager) -> None:
    job = submit_frames(manager, "3")
    (task,) = farm(manager, identity(), task_request())
    done = {"id": "done", "uuid": task["uuid"], "frame": 4, "time": 1.0}
    response = manager.post("/farm", json=[identity(), done])
    assert response.status_code == 400
    assert "renders 3" in response.json()["message"]
    assert job_status(manager, job["id"]) == "active"


def test_oversize_request_is_refused(manager: Manager) -> None:
    body = b"[" + b" " * (manager.settings.max_request_bytes + 1) + b"]"
    response = manager.post("/farm", data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert_nothing_registered(manager)
