"""End to end without shared storage: the artist submits (packing through the real submission
path), a worker that cannot see the artist's folder fetches the files, renders with Blender,
uploads the frame, and completes the task; the artist downloads the frame from the manager."""

from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path

from client.submission import submit
from tests.client.conftest import BLUE, RED, near, pixel, render_request, run_bpy
from tests.client.test_packer import api_for
from tests.conftest import Manager, register_worker
from worker_mode.file_cache import FileCache, HttpFetcher
from worker_mode.outputs import OutputUploader, local_render_output


def test_submit_render_upload_download(
    manager: Manager, submitter_dir: Path, tmp_path: Path
) -> None:
    api = api_for(manager)
    request = render_request(api, submitter_dir, "shot 010", "1")
    job = submit(api, request, submitter_dir / "project" / "shot.blend")
    assert job["settings"]["blendfile"] == "{jobs}/shot_010/shot.blend"
    assert job["storage"] == {"shaman_checkout_id": "shot_010"}
    shutil.rmtree(submitter_dir)  # the worker never sees the artist's disk

    worker = register_worker(manager)
    worker.wake()
    task = worker.next_task()
    assert task is not None and task["job"] == job["id"]
    params = task["commands"][0]["parameters"]
    cache = FileCache(tmp_path / "worker", HttpFetcher(manager.url, (worker.id, worker.secret)))
    cache.prepare_job(task["job"])
    blendfile = cache.resolve(params["blendfile"])
    render_output = params["args"][params["args"].index("--render-output") + 1]
    frames_dir = tmp_path / "worker" / "outputs" / task["job"]
    pattern = local_render_output(render_output, frames_dir)
    frame = Path(pattern.replace("######", "000001") + ".png")
    frame.parent.mkdir(parents=True)
    run_bpy("render", blendfile, str(frame))

    OutputUploader(manager.url, (worker.id, worker.secret)).upload(task["uuid"], frame)
    worker.complete(task["uuid"])

    listing = manager.get(f"/api/farmhand/jobs/{job['id']}/outputs").json()
    assert [f["name"] for f in listing["files"]] == ["000001.png"]
    archive = manager.get(f"/api/farmhand/jobs/{job['id']}/outputs.zip")
    downloaded = tmp_path / "artist" / "000001.png"
    downloaded.parent.mkdir()
    with zipfile.ZipFile(io.BytesIO(archive.content)) as zipped:
        downloaded.write_bytes(zipped.read("000001.png"))
    assert near(pixel(downloaded, 8, 16), RED) and near(pixel(downloaded, 24, 16), BLUE)
    assert manager.get(f"/api/v3/tasks/{task['uuid']}").json()["status"] == "completed"
