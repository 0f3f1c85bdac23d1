"""Scheduler rules, over HTTP on SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

import pytest

from tests.conftest import Manager, database_backends, register_worker, submit

pytestmark = pytest.mark.parametrize("backend", database_backends(), indirect=True)


def _frames(task: dict[str, object]) -> str:
    return str(task["name"])


def test_higher_priority_job_goes_first(manager: Manager) -> None:
    low = submit(manager, name="low", priority=10)
    high = submit(manager, name="high", priority=90)
    worker = register_worker(manager)
    worker.wake()
    task = worker.next_task()
    assert task is not None and task["job"] == high["id"] and task["job_priority"] == 90
    assert low["id"] != high["id"]


def test_first_last_and_middle_chunks_go_out_first(manager: Manager) -> None:
    job = submit(manager, settings={"frames": "1-9", "chunk_size": 1})
    worker = register_worker(manager)
    worker.wake()
    order = []
    for _ in range(3):
        task = worker.next_task()
        assert task is not None and task["job"] == job["id"]
        order.append(task["name"])
        worker.complete(task["uuid"])
    names = [t["name"] for t in manager.get(f"/api/v3/jobs/{job['id']}/tasks").json()["tasks"]]
    assert order == [names[0], names[-1], names[4]]


def test_equal_priority_jobs_share_the_workers(manager: Manager) -> None:
    a = submit(manager, name="a", settings={"frames": "1-10", "chunk_size": 1})
    b = submit(manager, name="b", settings={"frames": "1-10", "chunk_size": 1})
    jobs = []
    for i in range(4):
        worker = register_worker(manager, f"w{i}")
        worker.wake()
        task = worker.next_task()
        assert task is not None
        jobs.append(task["job"])
    assert jobs.count(a["id"]) == 2 and jobs.count(b["id"]) == 2


def test_only_supported_task_types_are_handed_out(manager: Manager) -> None:
    submit(manager)  # frames-noop tasks are of type "misc"
    worker = register_worker(manager)
    worker.wake(task_types=["blender"])
    assert worker.next_task() is None


def test_tagged_job_goes_only_to_workers_with_that_tag(manager: Manager) -> None:
    tag = manager.post("/api/v3/worker-mgt/tags", json={"name": "gpu"}).json()
    job = submit(manager, worker_tag=tag["id"])
    plain = register_worker(manager, "plain")
    plain.wake()
    assert plain.next_task() is None
    tagged = register_worker(manager, "tagged")
    tagged.wake()
    manager.post(f"/api/v3/worker-mgt/workers/{tagged.id}/settags", json={"tag_ids": [tag["id"]]})
    task = tagged.next_task()
    assert task is not None and task["job"] == job["id"]


def test_dependent_task_waits_for_its_dependencies(manager: Manager) -> None:
    job = submit(
        manager,
        "simple-blender-render",
        settings={
            "frames": "1-2",
            "chunk_size": 1,
            "render_output_root": "/tmp/out",
            "add_path_components": 0,
            "render_output_path": "/tmp/out/job/######",
            "blendfile": "/tmp/scene.blend",
            "fps": 24.0,
            "format": "PNG",
            "image_file_extension": ".png",
            "has_previews": False,
            "scene": "Scene",
        },
    )
    worker = register_worker(manager)
    worker.wake()
    types = []
    while (task := worker.next_task()) is not None:
        types.append(task["task_type"])
        if task["task_type"] == "blender":
            # While a render task is unfinished, the video task must not be handed out.
            other = register_worker(manager)
            other.wake()
            extra = other.next_task()
            assert extra is None or extra["task_type"] == "blender"
            if extra is not None:
                other.complete(extra["uuid"])
                types.append(extra["task_type"])
        worker.complete(task["uuid"])
    assert types[-1] == "ffmpeg" and types.count("blender") == 2
    assert manager.get(f"/api/v3/jobs/{job['id']}").json()["status"] == "completed"


def test_worker_failing_many_tasks_is_blocklisted(manager: Manager) -> None:
    job = submit(manager, settings={"frames": "1-6", "chunk_size": 1})
    register_worker(manager, "spare")  # can still run what "bad" fails
    bad = register_worker(manager, "bad")
    bad.wake()
    for _ in range(3):
        task = bad.next_task()
        assert task is not None
        bad.fail(task["uuid"])
    assert bad.next_task() is None
    blocklist = manager.get(f"/api/v3/jobs/{job['id']}/blocklist").json()
    assert blocklist == [{"worker_id": bad.id, "task_type": "misc", "worker_name": "bad"}]
    other_job = submit(manager, name="other")
    assert (t := bad.next_task()) is not None and t["job"] == other_job["id"]
    bad.complete(t["uuid"])
    removed = manager.api(
        "DELETE",
        f"/api/v3/jobs/{job['id']}/blocklist",
        json=[{"worker_id": bad.id, "task_type": "misc"}],
    )
    assert removed.status_code == 204
    assert manager.get(f"/api/v3/jobs/{job['id']}/blocklist").json() == []
