"""The worker against a real manager on loopback, rendering real frames with bpy."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import requests

from .helpers import bright_center_x, read_png, wait_for


def _done(api, job_id: str) -> bool:
    status = api.job_status(job_id)
    assert status not in ("failed", "canceled"), f"job {status}: {api.tasks(job_id)}"
    return status == "completed"


def test_four_frame_job_renders_four_correct_images(manager, start_worker, tiny_blend, tmp_path):
    out = tmp_path / "out"
    job = manager.api.submit_render(tiny_blend, str(out), "1-4", chunk_size=2, name="four")
    worker = start_worker("w1")
    wait_for(lambda: _done(manager.api, job), 90, "the job to complete")

    frames = sorted(out.glob("*.png"))
    assert [f.name for f in frames] == [f"{n:06d}.png" for n in (1, 2, 3, 4)]
    for frame in frames:
        width, height, _ = read_png(str(frame))
        assert (width, height) == (32, 32)
    xs = [bright_center_x(str(f)) for f in frames]
    assert xs == sorted(xs) and xs[0] < xs[-1] - 10, f"cube positions out of order: {xs}"
    video = next(out.glob("*.mp4"))
    assert video.stat().st_size > 500

    tasks = manager.api.tasks(job)
    render = [t for t in tasks if t["name"].startswith("render")]
    assert all(t["status"] == "completed" for t in tasks)
    log = manager.api.task_log(render[0]["id"])
    assert "frame 1 (1/2) rendered" in log or "Saved:" in log
    assert manager.api.last_rendered(job).status_code == 200
    assert "signed on" in worker.output


def test_file_is_opened_once_for_two_tasks_of_a_job(manager, start_worker, tiny_blend, tmp_path):
    job = manager.api.submit_render(tiny_blend, str(tmp_path / "out"), "1-4", chunk_size=2)
    worker = start_worker("w1")
    wait_for(lambda: _done(manager.api, job), 90, "the job to complete")
    output = worker.output
    assert output.count("opened tiny.blend") == 1, output
    assert output.count("reusing open file tiny.blend") == 1, output


def test_two_workers_split_a_job_without_rendering_a_frame_twice(
    manager, start_worker, medium_blend, tmp_path
):
    out = tmp_path / "out"
    job = manager.api.submit_render(medium_blend, str(out), "1-6", chunk_size=1)
    first, second = start_worker("w1"), start_worker("w2")
    wait_for(lambda: _done(manager.api, job), 120, "the job to complete")

    frame_lines = re.compile(r"frame (\d+) \(\d+/\d+\) rendered")
    by_first = frame_lines.findall(first.output)
    by_second = frame_lines.findall(second.output)
    assert by_first and by_second, "both workers should have rendered frames"
    assert sorted(by_first + by_second, key=int) == [str(n) for n in range(1, 7)]
    assert len(list(out.glob("*.png"))) == 6


def test_cancelling_a_job_abandons_the_frame_being_rendered(
    manager, start_worker, slow_blend, tiny_blend, tmp_path
):
    slow = manager.api.submit_render(slow_blend, str(tmp_path / "slow"), "1", chunk_size=1)
    worker = start_worker("w1")
    wait_for(lambda: "rendering 1 frames" in worker.output or "opened slow.blend" in worker.output,
             60, "the slow frame to start")
    time.sleep(1.0)  # Well inside the frame (it takes minutes).
    cancelled_at = time.monotonic()
    manager.api.set_job_status(slow, "cancel-requested")
    wait_for(lambda: "abandon" in worker.output, 15, "the worker to abandon the task")
    assert time.monotonic() - cancelled_at < 10
    assert not list((tmp_path / "slow").glob("*.png"))

    # The worker carries on with the next job (a fresh render process).
    after = manager.api.submit_render(tiny_blend, str(tmp_path / "after"), "1-2", chunk_size=2)
    wait_for(lambda: _done(manager.api, after), 60, "the next job to complete")
    assert worker.proc.poll() is None


def test_worker_goes_asleep_and_wakes_up(manager, start_worker, tiny_blend, tmp_path):
    worker = start_worker("w1")
    wait_for(lambda: "signed on" in worker.output, 60, "the worker to sign on")
    worker_id = worker.worker_id()
    manager.api.set_worker_status(worker_id, "asleep")
    wait_for(lambda: "asleep:" in worker.output, 15, "the worker to fall asleep")
    status = {w["id"]: w["status"] for w in manager.api.workers()}[worker_id]
    assert status == "asleep"

    job = manager.api.submit_render(tiny_blend, str(tmp_path / "out"), "1-2", chunk_size=2)
    time.sleep(3)
    assert manager.api.job_status(job) == "queued", "an asleep worker must not take tasks"

    manager.api.set_worker_status(worker_id, "awake")
    wait_for(lambda: _done(manager.api, job), 60, "the job to complete after waking up")
    assert "awake: taking tasks again" in worker.output


def test_manager_restart_mid_job(manager, start_worker, medium_blend, tmp_path):
    out = tmp_path / "out"
    job = manager.api.submit_render(medium_blend, str(out), "1-4", chunk_size=1)
    worker = start_worker("w1")
    wait_for(lambda: "frame 1 (1/1) rendered" in worker.output, 60, "the first frame")
    manager.stop()
    wait_for(lambda: "unreachable" in worker.output, 30, "the worker to notice")
    assert "Traceback" not in worker.output
    time.sleep(2)
    manager.start()
    wait_for(lambda: _done(manager.api, job), 120, "the job to complete after the restart")
    assert len(list(out.glob("*.png"))) == 4
    assert worker.proc.poll() is None
    assert "Traceback" not in worker.output


def test_missing_blend_file_fails_the_task_and_the_worker_carries_on(
    manager, start_worker, tiny_blend, tmp_path
):
    missing = str(tmp_path / "nowhere.blend")
    bad = manager.api.submit_render(missing, str(tmp_path / "bad"), "1", chunk_size=1)
    worker = start_worker("w1")
    wait_for(lambda: "failed" in worker.output, 60, "the task to fail")
    task = manager.api.tasks(bad)[0]
    # The worker says so at once; its last log lines reach the manager with the failure.
    wait_for(lambda: "blend file not found" in manager.api.task_log(task["id"]), 30,
             "the failure's log to reach the manager")
    good = manager.api.submit_render(tiny_blend, str(tmp_path / "good"), "1", chunk_size=1)
    wait_for(lambda: _done(manager.api, good), 60, "the next job to complete")


def test_sigterm_signs_off(manager, start_worker):
    worker = start_worker("w1", "--tags", "gpu, studio-b")
    wait_for(lambda: "idle" in worker.output, 60, "the worker to be idle")
    assert worker.stop() == 0
    assert "signed off" in worker.output
    worker_id = worker.worker_id()
    status = {w["id"]: w["status"] for w in manager.api.workers()}[worker_id]
    assert status == "offline"
    one = requests.get(f"{manager.url}/api/v3/worker-mgt/workers/{worker_id}", timeout=10).json()
    # Its own tags, and "cpu" from its hardware (it renders with --cpu).
    assert sorted(t["name"] for t in one["tags"]) == ["cpu", "gpu", "studio-b"]
    assert oct(os.stat(Path(worker.data_dir) / "credentials.json").st_mode & 0o777) == "0o600"
