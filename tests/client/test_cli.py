"""The ``farmhand`` command against a live manager on loopback (the real app, temp SQLite).

Scene settings are evaluated by opening the .blend in a bpy subprocess, as the command does
wherever the bpy module is installed; pytest's own process never imports bpy.
"""

from __future__ import annotations

import importlib.util
import io
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from client.api import JobCounts, ManagerAPI
from client.cli import main
from tests.conftest import Manager, register_worker, submit
from worker_mode.outputs import OutputUploader

HAS_BPY = importlib.util.find_spec("bpy") is not None
needs_bpy = pytest.mark.skipif(not HAS_BPY, reason="the bpy wheel is not installed")

MAKE_BLEND = """
import sys, bpy
bpy.ops.wm.read_homefile(use_empty=True)
scene = bpy.context.scene
scene.name = "Main"
scene.frame_start, scene.frame_end = 1, 250
scene.render.fps, scene.render.fps_base = 30, 1.0
scene.render.image_settings.file_format = "JPEG"
scene.render.filepath = "//frames/"
bpy.ops.wm.save_as_mainfile(filepath=sys.argv[1])
"""


@pytest.fixture(scope="module")
def shot_blend(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not HAS_BPY:
        pytest.skip("the bpy wheel is not installed")
    path = tmp_path_factory.mktemp("shots") / "shot.blend"
    subprocess.run(
        [sys.executable, "-c", MAKE_BLEND, str(path)], check=True, capture_output=True, timeout=120
    )
    return path


def farmhand(
    manager: Manager, *args: str, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    code = main(["--manager", manager.url, *args])
    out, err = capsys.readouterr()
    return code, out, err


def job_settings(manager: Manager, job_id: str) -> dict[str, Any]:
    return dict(manager.get(f"/api/v3/jobs/{job_id}").json()["settings"])


def submitted_id(out: str) -> str:
    return next(line.split()[1] for line in out.splitlines() if line.startswith("id: "))


@needs_bpy
def test_submit_evaluates_the_scene_and_applies_options(
    manager: Manager, shot_blend: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = farmhand(
        manager,
        "submit",
        str(shot_blend),
        "--type",
        "simple-blender-render",
        "--frames",
        "1-250",
        "--set",
        "chunk_size=5",
        capsys=capsys,
    )
    assert code == 0, err
    assert "Job 'shot' submitted: 250 frames in 51 tasks" in out  # 50 renders and a video
    assert "100% Submitted" in err  # the progress bar
    settings = job_settings(manager, submitted_id(out))
    assert settings["frames"] == "1-250"
    assert settings["chunk_size"] == 5
    assert settings["fps"] == 30.0
    assert settings["format"] == "JPEG"
    assert settings["image_file_extension"] == ".jpg"
    assert settings["scene"] == "Main"
    assert settings["render_output_root"] == str(shot_blend.parent / "frames")
    assert settings["render_output_path"] == str(
        shot_blend.parent / "frames" / "shot" / "{timestamp}" / "######"
    )
    # The manager keeps the farm's files, so the .blend went up as checkout "shot".
    assert settings["blendfile"] == "{jobs}/shot/shot.blend"
    job = manager.get(f"/api/v3/jobs/{submitted_id(out)}").json()
    assert job["storage"] == {"shaman_checkout_id": "shot"}


@needs_bpy
def test_submit_on_shared_storage_names_the_file_in_place(
    manager: Manager, shot_blend: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manager.settings.shared_storage = str(shot_blend.parent)
    code, out, err = farmhand(
        manager, "submit", str(shot_blend), "--type", "frames-noop", "--frames", "1-2",
        capsys=capsys,
    )
    assert code == 0, err
    job = manager.get(f"/api/v3/jobs/{submitted_id(out)}").json()
    assert job["settings"]["blendfile"] == str(shot_blend)
    assert "storage" not in job


@needs_bpy
def test_submit_frames_from_the_scene_name_priority_and_paused(
    manager: Manager, shot_blend: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = farmhand(
        manager,
        "submit",
        str(shot_blend),
        "--type",
        "frames-noop",
        "--name",
        "night run",
        "--priority",
        "80",
        "--paused",
        "--set",
        "chunk_size=50",
        capsys=capsys,
    )
    assert code == 0, err
    job = manager.get(f"/api/v3/jobs/{submitted_id(out)}").json()
    assert job["name"] == "night run"
    assert job["priority"] == 80
    assert job["status"] == "paused"
    assert job["settings"]["frames"] == "1-250"  # the scene's range
    assert job["steps_total"] == 5


def test_submit_without_blender_needs_scene_settings_by_hand(
    manager: Manager, shot_blend: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blend = tmp_path / "plain.blend"
    shutil.copyfile(shot_blend, blend)  # never opened here (--no-blender), only packed
    code, _, err = farmhand(
        manager,
        "submit",
        str(blend),
        "--type",
        "simple-blender-render",
        "--frames",
        "1-3",
        "--no-blender",
        capsys=capsys,
    )
    assert code == 2
    assert "needs render_output_root, format, image_file_extension, scene" in err
    code, out, err = farmhand(
        manager,
        "submit",
        str(blend),
        "--type",
        "simple-blender-render",
        "--frames",
        "1-3",
        "--no-blender",
        "--set",
        "render_output_root=/render",
        "--set",
        "format=PNG",
        "--set",
        "image_file_extension=.png",
        "--set",
        "scene=Scene",
        "--set",
        "render_output_path=/render/plain/######",
        capsys=capsys,
    )
    assert code == 0, err
    assert "3 frames in 3 tasks" in out  # no fps given: no preview video


def test_bad_input_names_the_option(
    manager: Manager, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blend = tmp_path / "x.blend"
    blend.write_bytes(b"BLENDER-v500")
    cases = [
        (["--type", "nope"], "--type nope: the manager has no job type 'nope' (offered: simple"),
        (["--type", "frames-noop", "--set", "chunk_size=many"], "chunk_size=many: must be a whole"),
        (["--type", "frames-noop", "--set", "colour=red"], "--set colour: frames-noop has no such"),
        (["--type", "frames-noop", "--set", "oops"], "write KEY=VALUE"),
    ]
    for extra, expected in cases:
        code, _, err = farmhand(
            manager, "submit", str(blend), "--no-blender", *extra, capsys=capsys
        )
        assert code == 2 and expected in err, (extra, err)
    code, _, err = farmhand(
        manager, "submit", str(tmp_path / "missing.blend"), "--type", "frames-noop", capsys=capsys
    )
    assert code == 2 and "no such file" in err
    # The manager's own refusal (chunk_size below its minimum) comes back in words.
    code, _, err = farmhand(
        manager,
        "submit",
        str(blend),
        "--no-blender",
        "--type",
        "frames-noop",
        "--frames",
        "1-3",
        "--set",
        "chunk_size=0",
        capsys=capsys,
    )
    assert code == 1 and "settings.chunk_size" in err


def test_manager_down_is_said(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.conftest import free_port

    code = main(["--manager", f"http://127.0.0.1:{free_port()}", "jobs"])
    err = capsys.readouterr().err
    assert code == 1
    assert "is unreachable" in err and "Connection refused" in err


def test_jobs_status_cancel_and_download(
    manager: Manager, shot_blend: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blend = tmp_path / "anim.blend"
    shutil.copyfile(shot_blend, blend)  # a real .blend: the manager stores files, so it is packed
    code, out, err = farmhand(
        manager,
        "submit",
        str(blend),
        "--no-blender",
        "--type",
        "frames-noop",
        "--frames",
        "1-4",
        "--set",
        "chunk_size=2",
        capsys=capsys,
    )
    assert code == 0, err
    job_id = submitted_id(out)

    code, out, _ = farmhand(manager, "jobs", capsys=capsys)
    assert code == 0
    assert job_id[:8] in out and "queued" in out and "0/2" in out and "anim" in out

    # A worker renders one chunk: a log and a frame for the job.
    worker = register_worker(manager)
    worker.wake()
    task = worker.next_task()
    assert task is not None
    assert worker.update(task["uuid"], log="rendering frame 1\n").status_code == 204
    image = io.BytesIO()
    Image.new("RGB", (64, 32), (10, 200, 30)).save(image, "PNG")
    produced = worker.call(
        "POST",
        f"/task/{task['uuid']}/output-produced",
        data=image.getvalue(),
        headers={"Content-Type": "image/png"},
    )
    assert produced.status_code == 202
    frame = tmp_path / "000001.png"
    frame.write_bytes(image.getvalue())
    OutputUploader(manager.url, (worker.id, worker.secret)).upload(task["uuid"], frame)
    worker.complete(task["uuid"])

    code, out, _ = farmhand(manager, "status", job_id[:8], capsys=capsys)
    assert code == 0
    assert "1/2 completed (1 completed, 1 queued)" in out

    code, out, err = farmhand(
        manager, "download", job_id[:6], "--to", str(tmp_path / "dl"), capsys=capsys
    )
    assert code == 0, err
    folder = tmp_path / "dl" / f"anim-{job_id[:8]}"
    assert (folder / "000001.png").read_bytes() == image.getvalue()  # the frame itself
    assert (folder / "last-rendered.jpg").read_bytes()[:2] == b"\xff\xd8"
    (log,) = (folder / "logs").iterdir()
    assert "rendering frame 1" in log.read_text()
    assert "100%" in err and "Downloaded 3 files" in out

    code, out, _ = farmhand(manager, "cancel", job_id, capsys=capsys)
    assert code == 0 and "is canceled" in out or "cancel-requested" in out
    assert manager.get(f"/api/v3/jobs/{job_id}").json()["status"] in (
        "canceled",
        "cancel-requested",
    )
    code, _, err = farmhand(manager, "status", "zzzz", capsys=capsys)
    assert code == 2 and "no job with an id starting with 'zzzz'" in err


def test_python_dash_m_client_runs_the_same_command(manager: Manager) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "client", "--manager", manager.url, "types"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).parents[2],
    )
    assert proc.returncode == 0, proc.stderr
    assert "simple-blender-render: Render a sequence of frames" in proc.stdout
    assert "  chunk_size (int32, default 1)" in proc.stdout


def test_access_token_is_sent_as_bearer(
    manager_settings: Any, spec_checker: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.conftest import start_manager, stop_manager

    guarded = start_manager(
        manager_settings.model_copy(update={"access_token": "sesame"}), spec_checker
    )
    try:
        code = main(["--manager", guarded.url, "jobs"])
        err = capsys.readouterr().err
        assert code == 1 and "needs its access token (401)" in err and "--token" in err
        assert main(["--manager", guarded.url, "--token", "sesame", "jobs"]) == 0
        assert "no jobs" in capsys.readouterr().out
    finally:
        stop_manager(guarded)


def test_jobs_and_status_say_why_a_job_waits_and_whom_it_blocked(
    manager: Manager, capsys: pytest.CaptureFixture[str]
) -> None:
    waiting = submit(manager, name="nobody runs misc", settings={"frames": "1-2"})
    code, out, _ = farmhand(manager, "jobs", capsys=capsys)
    assert code == 0
    assert "waiting: no worker runs task type 'misc'" in out

    manager.farm.settings.blocklist_threshold = 1
    register_worker(manager, "spare")  # can still run what "flaky" fails
    flaky = register_worker(manager, "flaky")
    flaky.wake()
    task = flaky.next_task()
    assert task is not None and task["job"] == waiting["id"]
    flaky.fail(task["uuid"])
    code, out, _ = farmhand(manager, "status", waiting["id"][:8], capsys=capsys)
    assert code == 0
    assert "blocked   flaky (misc tasks)" in out and "1 soft-failed" in out

    api = ManagerAPI(manager.url)
    try:
        counts = api.job_counts([waiting["id"]])
    finally:
        api.close()
    # Its two frames, none rendered; no estimate while no task completed.
    assert counts == {waiting["id"]: JobCounts(failed=0, soft_failed=1, blocked_workers=1,
                                               frames_done=0, frames_total=2)}
    assert counts[waiting["id"]].describe() == "1 soft-failed · 1 worker blocked"
