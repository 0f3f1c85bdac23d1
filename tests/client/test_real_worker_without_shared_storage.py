"""The real worker (``python -m worker_mode``) on a job packed into the manager's file store:
it fetches the files into its cache, renders, uploads each frame, makes the preview video from
the frames the manager holds, uploads it, and completes the tasks; on an open manager and on
one locked with both tokens, where a worker reads only the jobs it holds a task of."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from client.submission import submit
from tests.client.conftest import BLUE, RED, near, pixel, render_request
from tests.client.test_packer import api_for
from tests.conftest import REPO, Manager


@pytest.mark.parametrize("locked", [False, True], ids=["open", "locked"])
def test_worker_process_renders_a_packed_job_and_uploads_its_frames(
    manager: Manager, submitter_dir: Path, tmp_path: Path, locked: bool
) -> None:
    api = api_for(manager)
    request = render_request(api, submitter_dir, "packed", "1-2")
    job = submit(api, request, submitter_dir / "project" / "shot.blend")
    shutil.rmtree(submitter_dir)
    token_flags: list[str] = []
    if locked:
        manager.settings.access_token = "studio-access"
        manager.settings.registration_token = "studio-registration"
        manager.http.headers["Authorization"] = "Bearer studio-access"
        token_flags = ["--registration-token", "studio-registration"]

    worker_dir = tmp_path / "worker"
    log_path = tmp_path / "worker.log"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "worker_mode", "--manager", manager.url, "--name", "w",
             "--data-dir", str(worker_dir), "--poll-max", "0.5", "--cpu", "--once",
             *token_flags],
            cwd=REPO, stdout=log_file, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                status = manager.get(f"/api/v3/jobs/{job['id']}").json()["status"]
                if status in ("completed", "failed"):
                    break
                time.sleep(0.5)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    log = log_path.read_text(errors="replace")
    assert status == "completed", log[-4000:]
    # The second task found the file still open: laying the checkout out again changes nothing.
    assert "reusing open file shot.blend" in log, log[-4000:]

    listing = manager.get(f"/api/farmhand/jobs/{job['id']}/outputs").json()
    names = [f["name"] for f in listing["files"]]
    assert names == ["000001.png", "000002.png", "packed-1-2.mp4"], log[-2000:]
    archive = manager.get(f"/api/farmhand/jobs/{job['id']}/outputs.zip")
    with zipfile.ZipFile(io.BytesIO(archive.content)) as zipped:
        video = zipped.read("packed-1-2.mp4")
        assert video[4:8] == b"ftyp"  # an MP4 container
        for name in ["000001.png", "000002.png"]:
            frame = tmp_path / name
            frame.write_bytes(zipped.read(name))
            assert near(pixel(frame, 8, 16), RED) and near(pixel(frame, 24, 16), BLUE)
    tasks = manager.get(f"/api/v3/jobs/{job['id']}/tasks").json()["tasks"]
    task_logs = "".join(manager.get(f"/api/v3/tasks/{t['id']}/logtail").text for t in tasks)
    assert "uploaded 000001.png to the manager" in task_logs
    assert "uploaded packed-1-2.mp4 to the manager" in task_logs
    # Fetched once into the cache, laid out per checkout, nothing in the artist's folder.
    assert (worker_dir / "file-cache" / "checkouts" / "packed" / "shot.blend").is_file()
    assert not submitter_dir.exists()
