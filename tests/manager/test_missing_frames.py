"""Requeue what is missing: failed or canceled tasks, and completed render tasks whose frames
are not among the job's stored outputs (and what was built on them), nothing else."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from manager.core.missing_frames import frame_file_name, uploaded_frame_files
from manager.storage import output_store
from tests.conftest import FakeWorker, Manager, submit
from worker_mode.outputs import OutputUploader


def render_job(manager: Manager, **settings: Any) -> dict[str, Any]:
    """Six frames in chunks of two from the manager's file store, and a preview video."""
    return submit(
        manager,
        "simple-blender-render",
        settings={
            "frames": "1-6",
            "chunk_size": 2,
            "render_output_root": "/render",
            "add_path_components": 0,
            "render_output_path": "/render/shot/######",
            "blendfile": "{jobs}/checkout-1/shot.blend",
            "fps": 24.0,
            "format": "PNG",
            "image_file_extension": ".png",
            "has_previews": False,
            "scene": "Scene",
            **settings,
        },
    )


def png(path: Path) -> Path:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 100, 50)).save(buffer, "PNG")
    path.write_bytes(buffer.getvalue())
    return path


def render_everything(worker: FakeWorker, tmp_path: Path) -> None:
    """Play the worker: upload each render task's frames, then the video, and complete."""
    uploader = OutputUploader(worker.manager.url, (worker.id, worker.secret))
    while (task := worker.next_task()) is not None:
        if task["name"].startswith("render-"):
            first, last = (int(n) for n in task["name"].removeprefix("render-").split("-"))
            for frame in range(first, last + 1):
                uploader.upload(task["uuid"], png(tmp_path / f"{frame:06d}.png"))
        else:
            video = tmp_path / "job-1-6.mp4"
            video.write_bytes(b"not really a video")
            uploader.upload(task["uuid"], video)
        worker.complete(task["uuid"])


def statuses(manager: Manager, job_id: str) -> dict[str, str]:
    tasks = manager.get(f"/api/v3/jobs/{job_id}/tasks").json()["tasks"]
    return {t["name"]: t["status"] for t in tasks}


def requeue_missing(manager: Manager, job_id: str, **body: Any) -> Any:
    return manager.post(f"/api/farmhand/jobs/{job_id}/requeue-missing", json=body or None)


def test_a_deleted_frame_requeues_its_render_task_and_the_video_only(
    manager: Manager, awake_worker: FakeWorker, tmp_path: Path
) -> None:
    job = render_job(manager)
    render_everything(awake_worker, tmp_path)
    assert manager.get(f"/api/v3/jobs/{job['id']}").json()["status"] == "completed"
    stored = output_store(manager.settings).file(job["id"], "000003.png")
    assert stored is not None
    stored.unlink()

    response = requeue_missing(manager, job["id"], reason="frame 3 lost")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["frames_checked"] is True
    assert body["missing_frames"] == [3]
    assert [(t["name"], t["reason"]) for t in body["requeued"]] == [
        ("render-3-4", "frames 3 missing from the outputs"),
        ("preview-video", "depends on a requeued task"),
    ]
    assert statuses(manager, job["id"]) == {
        "render-1-2": "completed",
        "render-3-4": "queued",
        "render-5-6": "completed",
        "preview-video": "queued",
    }
    job_now = manager.get(f"/api/v3/jobs/{job['id']}").json()
    assert job_now["status"] == body["job_status"] == "active"

    # The worker renders them again; then nothing is missing and nothing is requeued.
    render_everything(awake_worker, tmp_path)
    assert manager.get(f"/api/v3/jobs/{job['id']}").json()["status"] == "completed"
    again = requeue_missing(manager, job["id"]).json()
    assert again["requeued"] == [] and again["missing_frames"] == []
    assert manager.get(f"/api/v3/jobs/{job['id']}").json()["status"] == "completed"


def test_a_failed_job_is_queued_again_with_exactly_its_unfinished_tasks(
    manager: Manager, awake_worker: FakeWorker, tmp_path: Path
) -> None:
    manager.settings.task_fail_after_softfail_count = 1
    job = render_job(manager)
    uploader = OutputUploader(manager.url, (awake_worker.id, awake_worker.secret))
    first = awake_worker.next_task()
    assert first is not None and first["name"] == "render-1-2"
    for frame in (1, 2):
        uploader.upload(first["uuid"], png(tmp_path / f"{frame:06d}.png"))
    awake_worker.complete(first["uuid"])
    second = awake_worker.next_task()
    assert second is not None
    awake_worker.fail(second["uuid"], "out of memory")
    assert manager.get(f"/api/v3/jobs/{job['id']}").json()["status"] == "failed"
    before = statuses(manager, job["id"])

    body = requeue_missing(manager, job["id"]).json()
    requeued = {t["name"] for t in body["requeued"]}
    assert requeued == {name for name, status in before.items() if status != "completed"}
    assert second["name"] in requeued and "render-1-2" not in requeued
    assert body["missing_frames"] == []
    after = statuses(manager, job["id"])
    assert after["render-1-2"] == "completed"
    assert {name for name, status in after.items() if status == "queued"} == requeued
    assert manager.get(f"/api/v3/jobs/{job['id']}").json()["status"] == "active"
    # The task failed on this worker before; requeued, it may run here again.
    assert awake_worker.next_task() is not None


def test_without_uploaded_frames_only_failed_and_canceled_tasks_come_back(
    manager: Manager, awake_worker: FakeWorker
) -> None:
    job = submit(manager, settings={"frames": "1-4", "chunk_size": 1})
    for finish in (awake_worker.complete, awake_worker.fail):
        task = awake_worker.next_task()
        assert task is not None
        finish(task["uuid"])
    for task in manager.get(f"/api/v3/jobs/{job['id']}/tasks").json()["tasks"]:
        if task["status"] == "queued":
            cancel = manager.post(f"/api/v3/tasks/{task['id']}/setstatus",
                                  json={"status": "canceled", "reason": "not needed"})
            assert cancel.status_code == 204
    before = statuses(manager, job["id"])
    assert sorted(before.values()).count("completed") == 1

    body = requeue_missing(manager, job["id"]).json()
    assert body["frames_checked"] is False
    assert {t["name"]: t["reason"] for t in body["requeued"]} == {
        name: f"was {status}" for name, status in before.items() if status != "completed"
    }
    assert sorted(statuses(manager, job["id"]).values()) == ["completed"] + ["queued"] * 3


def test_unknown_job_is_404(manager: Manager) -> None:
    response = requeue_missing(manager, "00000000-0000-4000-8000-000000000000")
    assert response.status_code == 404
    assert response.json()["code"] == 404
    response = requeue_missing(manager, "not-a-job")
    assert response.status_code == 404


@pytest.mark.parametrize(
    "pattern, frame, name",
    [
        ("######", 3, "000003"),
        ("frame_####.png", 12, "frame_0012.png"),
        ("a##_b###", 7, "a##_b007"),
        ("shot_", 3, "shot_0003"),
        ("##", 123, "123"),
        ("####", -5, "-0005"),
    ],
)
def test_frame_file_names_are_blenders(pattern: str, frame: int, name: str) -> None:
    assert frame_file_name(pattern, frame) == name


def _render(blendfile: str, *args: str) -> list[dict[str, Any]]:
    return [{"name": "blender-render",
             "parameters": {"blendfile": blendfile, "args": ["--render-output", *args]}}]


def test_frames_a_task_uploads_are_read_from_its_command() -> None:
    assert uploaded_frame_files(_render("{jobs}/c/s.blend", "R:\\out\\f_##", "-f", "1..3,9")) == {
        1: "f_01", 2: "f_02", 3: "f_03", 9: "f_09"
    }
    assert uploaded_frame_files(
        _render("{jobs}/c/s.blend", "/o/####", "-s", "2", "-e", "6", "-j", "2", "-a")
    ) == {2: "0002", 4: "0004", 6: "0006"}
    # Frames counted from the scene's end, frames on shared storage, no render at all:
    assert uploaded_frame_files(_render("{jobs}/c/s.blend", "/o/####", "-f", "-1")) is None
    assert uploaded_frame_files(_render("/share/s.blend", "/o/####", "-f", "1")) is None
    assert uploaded_frame_files([{"name": "echo", "parameters": {}}]) is None
