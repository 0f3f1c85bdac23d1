"""The ``farmhand`` command as a pipeline leans on it: defaults, names, errors and exit codes,
and frames brought home by ``download`` and ``watch``, against a live manager on loopback."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from client.api import ManagerAPI
from client.cli import ProgressRate, eta_text, main
from client.downloads import PART_SUFFIX, RECORD_NAME, FrameSync
from tests.conftest import FakeWorker, Manager, register_worker, start_manager, stop_manager, submit
from tests.manager.test_missing_frames import png, render_everything, render_job
from worker_mode.outputs import OutputUploader

SCENE_SETTINGS = [
    "--set", "render_output_root=/render", "--set", "format=PNG",
    "--set", "image_file_extension=.png", "--set", "scene=Scene",
    "--set", "render_output_path=/render/plain/######",
]


def farmhand(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def blend(tmp_path: Path) -> Path:
    path = tmp_path / "plain.blend"
    path.write_bytes(b"BLENDER-v500")  # never opened: --no-blender
    return path


def test_manager_is_taken_after_the_command_and_with_its_api_path(
    manager: Manager, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = farmhand("jobs", "--manager", manager.url + "/api/v3/", capsys=capsys)
    assert code == 0, err
    assert "no jobs" in out
    code, out, _ = farmhand("--manager", "http://127.0.0.1:1", "jobs", "--manager", manager.url,
                            capsys=capsys)
    assert code == 0 and "no jobs" in out


def test_version_is_printed(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith("farmhand ")


def test_submit_without_type_uses_the_managers_render_type(
    manager: Manager, blend: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manager.settings.shared_storage = str(blend.parent)  # sent by path, so never read
    code, out, err = farmhand("--manager", manager.url, "submit", str(blend), "--no-blender",
                              "--frames", "1-3", *SCENE_SETTINGS, capsys=capsys)
    assert code == 0, err
    job_id = next(line.split()[1] for line in out.splitlines() if line.startswith("id: "))
    assert manager.get(f"/api/v3/jobs/{job_id}").json()["type"] == "simple-blender-render"


def test_broken_render_type_is_said_not_swapped_for_another(
    manager: Manager, blend: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = manager.settings.job_types
    assert folder is not None
    (folder / "simple-blender-render.yaml").write_text("name: simple-blender-render\nsettings: 1\n")
    manager.farm.job_types.refresh()
    code, _, err = farmhand("--manager", manager.url, "submit", str(blend), "--no-blender",
                            "--frames", "1-3", capsys=capsys)
    assert code == 1
    assert "job type 'simple-blender-render' is broken on the manager: settings:" in err
    assert "--type" in err


def test_bad_frames_exit_2_naming_the_flag_before_blender_runs(
    manager: Manager, blend: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for frames, reason in (
        ("10-1", "runs backwards"),
        ("1-2000000", "outside"),
        ("-1000000-1000000", "more than 1,000,000 frames"),
        ("1-3,x", "not a frame or a range"),
    ):
        # A Blender that cannot run: reaching it would fail differently, with exit 1.
        code, _, err = farmhand("--manager", manager.url, "submit", str(blend),
                                "--blender", "/nonexistent/blender", f"--frames={frames}",
                                capsys=capsys)
        assert code == 2, (frames, err)
        assert f"--frames {frames}: " in err and reason in err, err


def test_types_lists_artist_types_unless_all_marks_unrun_and_shows_broken(
    manager: Manager, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = manager.settings.job_types
    assert folder is not None
    (folder / "lookdev.yaml").write_text("name: lookdev\nsettings: [\n")
    manager.farm.job_types.refresh()
    register_worker(manager, "renders-only").wake(["blender", "ffmpeg"])

    code, out, _ = farmhand("--manager", manager.url, "types", capsys=capsys)
    assert code == 0
    assert "simple-blender-render: Render a sequence of frames" in out
    assert "[default]" in out
    assert "frames-noop" not in out and "echo-sleep-test" not in out
    assert "(5 more types not offered to artists: farmhand types --all)" in out
    assert "BROKEN lookdev.yaml" in out and "not valid YAML" in out

    code, out, _ = farmhand("--manager", manager.url, "types", "--all", capsys=capsys)
    assert code == 0
    assert "echo-sleep-test: Echo a message on a worker, then sleep a while; for testing the " \
           "farm [test; no connected worker runs misc tasks]" in out
    assert "single-frame-render" in out and "[protocol; no connected worker runs blender-frame" \
           in out
    assert out.index("simple-blender-render:") < out.index("echo-sleep-test:")


def test_jobs_are_found_by_name_and_ambiguity_is_named(
    manager: Manager, capsys: pytest.CaptureFixture[str]
) -> None:
    night = submit(manager, name="night run", settings={"frames": "1-2"})
    first = submit(manager, name="shot", settings={"frames": "1-2"})
    second = submit(manager, name="shot", settings={"frames": "1-2"})

    code, out, _ = farmhand("--manager", manager.url, "status", "night run", capsys=capsys)
    assert code == 0 and f"night run ({night['id']})" in out
    code, _, err = farmhand("--manager", manager.url, "cancel", "shot", capsys=capsys)
    assert code == 2
    assert "'shot' matches 2 jobs" in err
    assert first["id"][:8] in err and second["id"][:8] in err and "give the id" in err
    code, out, _ = farmhand("--manager", manager.url, "pause", second["id"][:10], capsys=capsys)
    assert code == 0 and "is paused" in out


def test_resume_says_in_plain_words_when_there_is_nothing_to_resume(
    manager: Manager, awake_worker: FakeWorker, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    queued = submit(manager, name="waiting", settings={"frames": "1-2"})
    code, out, _ = farmhand("--manager", manager.url, "resume", "waiting", capsys=capsys)
    assert code == 0
    assert f"Job 'waiting' ({queued['id'][:8]}) is queued, not paused: there is nothing to " \
           "resume" in out

    render_job(manager, frames="1-2")
    render_everything(awake_worker, tmp_path)
    done = manager.get("/api/v3/jobs").json()["jobs"]
    finished = next(j for j in done if j["status"] == "completed")
    code, _, err = farmhand("--manager", manager.url, "resume", finished["id"], capsys=capsys)
    assert code == 1
    assert "is completed, not paused: 'farmhand requeue' renders it again" in err
    assert "a completed job" not in err


def test_access_token_missing_and_wrong_are_told_apart(
    manager_settings: Any, spec_checker: Any, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FARMHAND_ACCESS_TOKEN", raising=False)
    monkeypatch.delenv("FARMHAND_TOKEN", raising=False)
    guarded = start_manager(
        manager_settings.model_copy(update={"access_token": "sesame"}), spec_checker
    )
    try:
        code, _, err = farmhand("--manager", guarded.url, "jobs", capsys=capsys)
        assert code == 1
        assert "needs its access token (401): give it with --token TOKEN or " \
               "$FARMHAND_ACCESS_TOKEN" in err
        assert "preferences" not in err
        code, _, err = farmhand("--manager", guarded.url, "jobs", "--token", "open", capsys=capsys)
        assert code == 1 and "refused the access token given (401)" in err
        monkeypatch.setenv("FARMHAND_ACCESS_TOKEN", "sesame")
        code, out, _ = farmhand("--manager", guarded.url, "jobs", capsys=capsys)
        assert code == 0 and "no jobs" in out
    finally:
        stop_manager(guarded)


def test_download_to_a_file_is_a_clear_error(
    manager: Manager, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job = submit(manager, settings={"frames": "1-2"})
    a_file = tmp_path / "frames.txt"
    a_file.write_text("not a folder")
    for target in (a_file, a_file / "inside"):
        code, out, err = farmhand("--manager", manager.url, "download", job["id"],
                                  "--to", str(target), capsys=capsys)
        assert code == 2, err
        assert err.startswith(f"farmhand download: --to {target}: ")
        assert "cannot hold downloads" in err and "Traceback" not in err + out


def test_download_fetches_each_frame_once_and_again_when_it_changed_here(
    manager: Manager, awake_worker: FakeWorker, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    job = render_job(manager, frames="1-4")
    render_everything(awake_worker, tmp_path)
    out_dir = tmp_path / "home"
    code, out, err = farmhand("--manager", manager.url, "download", job["id"], "--to",
                              str(out_dir), capsys=capsys)
    assert code == 0, err
    folder = out_dir / f"test_job-{job['id'][:8]}"
    frames = sorted(p.name for p in folder.glob("*.png"))
    assert frames == ["000001.png", "000002.png", "000003.png", "000004.png"]
    assert "100%" in err

    (folder / "000002.png").write_bytes(b"scribbled over")
    untouched = (folder / "000001.png").stat().st_mtime_ns
    code, out, err = farmhand("--manager", manager.url, "download", "test job", "--to",
                              str(out_dir),
                              capsys=capsys)
    assert code == 0, err
    assert "4 already here" in out  # three frames and the video
    assert (folder / "000002.png").read_bytes()[:4] == b"\x89PNG"
    assert (folder / "000001.png").stat().st_mtime_ns == untouched


def test_a_cut_download_goes_on_from_the_bytes_it_has(
    manager: Manager, awake_worker: FakeWorker, tmp_path: Path
) -> None:
    job = render_job(manager, frames="1-2")
    render_everything(awake_worker, tmp_path)
    folder = tmp_path / "home"
    api = ManagerAPI(manager.url)
    try:
        listing = {o["name"]: o for o in api.job_outputs(job["id"])}
        whole = b"".join(api.stream(str(listing["000001.png"]["url"])))
        folder.mkdir()
        # What a run cut short after 10 bytes of frame 1 leaves behind.
        (folder / f"000001.png{PART_SUFFIX}").write_bytes(whole[:10])
        version = {k: listing["000001.png"][k] for k in ("size", "modified")}
        (folder / RECORD_NAME).write_text(json.dumps(
            {"job_id": job["id"], "files": {"000001.png": {**version, "sha256": ""}}}
        ))
        result = FrameSync(api, job["id"], folder).sync()
    finally:
        api.close()
    assert (folder / "000001.png").read_bytes() == whole
    sizes = sum(int(o["size"]) for o in listing.values())
    assert result.bytes == sizes - 10  # the 10 bytes it had were not fetched again
    assert not list(folder.glob(f"*{PART_SUFFIX}"))


def test_watch_downloads_frames_as_they_finish_with_progress_and_eta(
    manager: Manager, awake_worker: FakeWorker, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    job = render_job(manager, frames="1-4", fps=None)  # two render tasks, no video
    folder = tmp_path / "home" / f"test_job-{job['id'][:8]}"
    result: dict[str, int] = {}
    watcher = threading.Thread(target=lambda: result.update(code=main([
        "watch", "test job", "--manager", manager.url, "--to", str(tmp_path / "home"),
        "--interval", "0.05",
    ])))
    watcher.start()
    uploader = OutputUploader(manager.url, (awake_worker.id, awake_worker.secret))
    rendered = tmp_path / "rendered"
    rendered.mkdir()
    for first in (1, 3):
        task = awake_worker.next_task()
        assert task is not None
        for frame in (first, first + 1):
            uploader.upload(task["uuid"], png(rendered / f"{frame:06d}.png"))
        awake_worker.complete(task["uuid"])
        if first == 1:
            # The first chunk's frames come home while the job still runs.
            deadline = time.monotonic() + 20
            while not (folder / "000002.png").exists():
                assert time.monotonic() < deadline, "frame 2 never came home"
                time.sleep(0.02)
            assert manager.get(f"/api/v3/jobs/{job['id']}").json()["status"] == "active"
    watcher.join(timeout=30)
    assert not watcher.is_alive()
    out, err = capsys.readouterr()
    assert result["code"] == 0, err
    assert sorted(p.name for p in folder.glob("*.png")) == [f"00000{n}.png" for n in range(1, 5)]
    assert "2/4 frames, 1/2 tasks active, ETA" in err and "4/4 frames, 2/2 tasks completed" in err
    assert f"completed; 4 frame(s) downloaded to {folder}" in out


def test_jobs_and_watch_count_the_frames_rendered_not_the_video_task(
    manager: Manager, awake_worker: FakeWorker, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    job = render_job(manager, frames="1-4")  # two render tasks of two frames, and the video

    def listed() -> list[str]:
        code, out, err = farmhand("jobs", "--manager", manager.url, capsys=capsys)
        assert code == 0, err
        assert out.splitlines()[0].split()[:4] == ["ID", "STATUS", "TASKS", "FRAMES"]
        return next(line for line in out.splitlines() if line.startswith(job["id"][:8])).split()

    assert listed()[2:4] == ["0/3", "0/4"]
    render_everything(awake_worker, tmp_path)
    assert listed()[1:4] == ["completed", "3/3", "4/4"]
    code, _, err = farmhand("watch", job["id"], "--manager", manager.url, "--no-download",
                            capsys=capsys)
    assert code == 0, err
    assert "4/4 frames, 3/3 tasks completed" in err


def test_eta_follows_the_rate_seen_while_watching() -> None:
    rate = ProgressRate(done=10, now=100.0)
    assert rate.eta(10, 50, 110.0) is None  # nothing finished yet while watching
    assert rate.eta(20, 50, 120.0) == pytest.approx(60.0)  # 10 in 20 s, 30 left
    assert eta_text(None) == "ETA --" and eta_text(61) == "ETA 1m01s"
    assert eta_text(3 * 3600 + 120) == "ETA 3h02m" and eta_text(9.4) == "ETA 9s"


def test_workers_and_logs(
    manager: Manager, awake_worker: FakeWorker, capsys: pytest.CaptureFixture[str]
) -> None:
    job = submit(manager, name="echo", settings={"frames": "1-2"})
    task = awake_worker.next_task()
    assert task is not None
    assert awake_worker.update(task["uuid"], log="line one\nline two\n").status_code == 204

    code, out, _ = farmhand("--manager", manager.url, "workers", capsys=capsys)
    assert code == 0
    (row,) = [line for line in out.splitlines() if line.startswith("alpha")]
    assert "awake" in row and "blender,ffmpeg,file-management,misc" in row
    assert f"of job {job['id'][:8]}" in row

    code, out, _ = farmhand("--manager", manager.url, "logs", "echo", capsys=capsys)
    assert code == 0
    assert f"==> {task['name']} (active) <==" in out and "line one\nline two\n" in out

    follow: dict[str, int] = {}
    follower = threading.Thread(target=lambda: follow.update(
        code=main(["--manager", manager.url, "logs", "echo", "--follow"])
    ))
    follower.start()
    assert awake_worker.update(task["uuid"], log="line three\n").status_code == 204
    awake_worker.complete(task["uuid"])
    second = awake_worker.next_task()
    assert second is not None
    assert awake_worker.update(second["uuid"], log="last words\n").status_code == 204
    awake_worker.complete(second["uuid"])
    follower.join(timeout=30)
    assert not follower.is_alive() and follow["code"] == 0
    out = capsys.readouterr().out
    assert out.count("line one") == 1 and "line three" in out and "last words" in out
