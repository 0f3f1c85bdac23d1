"""Version-aware routing: a job goes to workers whose Blender opens its file; a job that no
connected worker can open says so; workers' hardware becomes tags jobs can ask for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import zstandard

from manager.core.waiting import BLENDER_ON_FARM_AGAIN
from tests.conftest import ALL_TASK_TYPES, FakeWorker, Manager, database_backends, submit
from tests.conftest import register_worker as register

pytestmark = pytest.mark.parametrize("backend", database_backends(), indirect=True)


def sign_on(worker: FakeWorker, blender: str | None, **extra: Any) -> None:
    body: dict[str, Any] = {
        "name": worker.name,
        "supported_task_types": ALL_TASK_TYPES,
        "software_version": blender or "flamenco-3.6",
        **extra,
    }
    if blender:
        body["blender_version"] = blender
    assert worker.call("POST", "/sign-on", json=body).status_code == 200
    assert worker.call("POST", "/state-changed", json={"status": "awake"}).status_code == 204


def worker_with(manager: Manager, name: str, blender: str | None) -> FakeWorker:
    worker = register(manager, name)
    sign_on(worker, blender)
    return worker


def render_settings(blendfile: str, **more: Any) -> dict[str, Any]:
    return {
        "frames": "1", "chunk_size": 1, "render_output_root": "/tmp/out",
        "add_path_components": 0, "render_output_path": "/tmp/out/job/######",
        "blendfile": blendfile, "fps": 24.0, "format": "PNG", "image_file_extension": ".png",
        "has_previews": False, "scene": "Scene", **more,
    }


def job_of(manager: Manager, job_id: str) -> dict[str, Any]:
    return dict(manager.get(f"/api/v3/jobs/{job_id}").json())


def test_a_job_goes_only_to_workers_with_the_same_or_a_newer_blender(manager: Manager) -> None:
    new = submit(manager, name="saved by 5.0", blender_version="5.0.1",
                 settings={"frames": "1", "chunk_size": 1})
    old = submit(manager, name="saved by 4.2", blender_version="4.2.3",
                 settings={"frames": "1", "chunk_size": 1})
    assert job_of(manager, new["id"])["blender_version"] == "5.0"
    lts = worker_with(manager, "lts", "4.2.3")
    task = lts.next_task()
    assert task is not None and task["job"] == old["id"]
    lts.complete(task["uuid"])
    assert lts.next_task() is None  # the 5.0 file is not for Blender 4.2
    current = worker_with(manager, "current", "5.0.1")
    task = current.next_task()
    assert task is not None and task["job"] == new["id"]


def test_a_pinned_job_goes_only_to_its_exact_major_minor(manager: Manager) -> None:
    pinned = submit(manager, "simple-blender-render", blender_version="4.2",
                    settings=render_settings("/tmp/shot.blend", blender_version_match="exact"))
    assert job_of(manager, pinned["id"])["blender_exact"] is True
    newer = worker_with(manager, "newer", "4.5.0")
    assert newer.next_task() is None
    same = worker_with(manager, "same", "4.2.9")
    task = same.next_task()
    assert task is not None and task["job"] == pinned["id"]


def test_a_worker_that_does_not_say_its_blender_takes_any_job(manager: Manager) -> None:
    job = submit(manager, blender_version="5.0", settings={"frames": "1", "chunk_size": 1})
    flamenco = worker_with(manager, "flamenco", None)
    task = flamenco.next_task()
    assert task is not None and task["job"] == job["id"]


def test_a_job_no_connected_worker_can_open_says_what_it_needs(manager: Manager) -> None:
    worker_with(manager, "lts", "4.2.3")
    worker_with(manager, "lts-2", "4.5.1")
    job = submit(manager, blender_version="5.0", settings={"frames": "1", "chunk_size": 1})
    assert job_of(manager, job["id"])["activity"] == (
        "waiting: needs Blender ≥ 5.0; workers have 4.2, 4.5"
    )
    worker_with(manager, "current", "5.0.1")
    assert job_of(manager, job["id"])["activity"] == BLENDER_ON_FARM_AGAIN


def test_a_bad_blender_version_is_refused(manager: Manager) -> None:
    response = manager.post("/api/v3/jobs", json={
        "name": "x", "type": "frames-noop", "priority": 50, "submitter_platform": "linux",
        "settings": {"frames": "1"}, "blender_version": "five",
    })
    assert response.status_code == 400 and "blender_version" in response.json()["message"]


@pytest.mark.parametrize("header, compress, expected", [
    (b"BLENDER-v402REND", None, "4.2"),
    (b"BLENDER17-01v0500REND", zstandard.ZstdCompressor().compress, "5.0"),
    (b"BLENDER_V293REND", __import__("gzip").compress, "2.93"),
])
def test_the_manager_reads_the_blend_header_when_the_client_does_not_say(
    manager: Manager, tmp_path: Path, header: bytes, compress: Any, expected: str
) -> None:
    blend = tmp_path / "shot.blend"
    data = header + bytes(4096)
    blend.write_bytes(compress(data) if compress else data)
    job = submit(manager, "simple-blender-render", settings=render_settings(str(blend)))
    assert job_of(manager, job["id"])["blender_version"] == expected


def test_hardware_tags_come_and_go_with_the_hardware(manager: Manager) -> None:
    worker = register(manager, "gpu-box")
    hardware = {
        "devices": [{"type": "OPTIX", "name": "RTX 4090", "id": "OPTIX_0", "memory_mb": 24564}],
        "render_device": "GPU",
        "gpus": [{"type": "OPTIX", "name": "RTX 4090", "id": "OPTIX_0", "memory_mb": 24564}],
        "gpus_enabled": True,
        "tags": ["gpu", "optix", "cuda", "vram>=24g"],
    }
    tag = manager.post("/api/v3/worker-mgt/tags", json={"name": "studio-b"}).json()
    manager.post(f"/api/v3/worker-mgt/workers/{worker.id}/settags", json={"tag_ids": [tag["id"]]})
    sign_on(worker, "4.5.0", hardware=hardware)

    def tags() -> list[str]:
        one = manager.get(f"/api/v3/worker-mgt/workers/{worker.id}").json()
        return sorted(t["name"] for t in one["tags"])

    assert tags() == ["cuda", "gpu", "optix", "studio-b", "vram>=24g"]
    shown = manager.get(f"/api/v3/worker-mgt/workers/{worker.id}").json()
    assert shown["blender_version"] == "4.5"
    assert shown["hardware"]["gpus"][0]["name"] == "RTX 4090"
    # A job that asks for one of them goes there.
    job = submit(manager, worker_tag="vram>=24g", settings={"frames": "1", "chunk_size": 1})
    task = worker.next_task()
    assert task is not None and task["job"] == job["id"]
    worker.complete(task["uuid"])
    # Started again on the CPU: the GPU tags go, the tag given on the manager stays.
    sign_on(worker, "4.5.0", hardware={"devices": [], "render_device": "CPU", "gpus": [],
                                       "gpus_enabled": False, "tags": ["cpu"]})
    assert tags() == ["cpu", "studio-b"]
