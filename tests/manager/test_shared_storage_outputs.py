"""Frames that workers leave on shared storage instead of uploading them (stock Flamenco
workers of the v3 and 2022 APIs) are kept with the job's outputs, as uploaded ones are."""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from PIL import Image

from manager.config import Settings, Variable, VariableValue
from manager.core.share_outputs import output_folder
from manager.core.variables import manager_platform
from tests.conftest import FakeWorker, Manager, job_body, register_worker, submit
from worker_mode.outputs import OutputUploader


def png(shade: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (shade, 60, 120)).save(buffer, "PNG")
    return buffer.getvalue()


def render_job(manager: Manager, render_output_path: str, **settings: Any) -> dict[str, Any]:
    """Four frames in chunks of two, no preview video."""
    return submit(
        manager,
        "simple-blender-render",
        settings={
            "frames": "1-4",
            "chunk_size": 2,
            "render_output_root": render_output_path.rsplit("/", 2)[0],
            "add_path_components": 0,
            "render_output_path": render_output_path,
            "blendfile": "/projects/shot.blend",
            "format": "PNG",
            "image_file_extension": ".png",
            "scene": "Scene",
            **settings,
        },
    )


def render_variable(manager: Manager, folder: Path) -> None:
    """A two-way variable ``render`` whose folder the manager reads on its own platform."""
    value = VariableValue(platform=manager_platform(), value=str(folder))
    manager.settings.variables["render"] = Variable(values=[value], is_twoway=True)


def write_frames_as_blender(task: dict[str, Any]) -> list[str]:
    """What Blender does with the task's command: write each frame where --render-output says;
    the names written."""
    args = task["commands"][0]["parameters"]["args"]
    output = args[args.index("--render-output") + 1]
    first, _, last = args[args.index("--render-frame") + 1].partition("..")
    written = []
    for frame in range(int(first), int(last or first) + 1):
        run = re.findall("#+", output)[-1]
        path = Path(output.replace(run, str(frame).zfill(len(run))) + ".png")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png(frame * 10))
        written.append(path.name)
    return written


def listed(manager: Manager, job_id: str) -> list[dict[str, Any]]:
    assert manager.farm.frame_collections.wait_idle()
    response = manager.get(f"/api/farmhand/jobs/{job_id}/outputs")
    assert response.status_code == 200, response.text
    return list(response.json()["files"])


def job_info(manager: Manager, job_id: str) -> dict[str, Any]:
    assert manager.farm.frame_collections.wait_idle()
    return dict(manager.get(f"/api/v3/jobs/{job_id}").json())


def task_logs(manager: Manager, job_id: str) -> str:
    assert manager.farm.frame_collections.wait_idle()
    tasks = manager.get(f"/api/v3/jobs/{job_id}/tasks").json()["tasks"]
    return "\n".join(manager.get(f"/api/v3/tasks/{t['id']}/logtail").text for t in tasks)


# A worker that renders onto shared storage: the v3 API and the 2022 API ----------------------


def v3_worker(manager: Manager) -> Iterator[tuple[dict[str, Any], Callable[[str], None]]]:
    worker = register_worker(manager)
    worker.wake(["blender"])
    while (task := worker.next_task()) is not None:
        yield task, worker.complete


def worker_2022(manager: Manager) -> Iterator[tuple[dict[str, Any], Callable[[str], None]]]:
    api, secret = manager.url + "/api", uuid.uuid4().hex
    http = requests.Session()
    registered = http.post(
        api + "/worker/register-worker",
        json={
            "nickname": "old-timer",
            "secret": secret,
            "platform": "linux",
            "supported_task_types": ["blender"],
        },
        timeout=30,
    ).json()
    auth = (registered["uuid"], secret)
    sign_on = {
        "nickname": "old-timer",
        "supported_task_types": ["blender"],
        "software_version": "3",
    }
    assert http.post(api + "/worker/sign-on", auth=auth, json=sign_on, timeout=30).ok
    awake = http.post(
        api + "/worker/state-changed", auth=auth, json={"status": "awake"}, timeout=30
    )
    assert awake.status_code == 204

    def complete(task_id: str) -> None:
        done = http.post(
            api + f"/worker/task/{task_id}",
            auth=auth,
            json={"taskStatus": "completed", "log": "rendered"},
            timeout=30,
        )
        assert done.status_code == 204, done.text

    while (response := http.post(api + "/worker/task", auth=auth, timeout=30)).status_code == 200:
        task = response.json()
        yield task, complete
    assert response.status_code == 204
    http.close()


WORKERS = {"v3": v3_worker, "2022": worker_2022}


@pytest.mark.parametrize("protocol", WORKERS)
def test_frames_a_worker_leaves_under_a_variable_are_listed_and_downloaded(
    manager: Manager, tmp_path: Path, protocol: str
) -> None:
    render_variable(manager, tmp_path / "render")
    (tmp_path / "render").mkdir()
    job = render_job(manager, "{render}/shot/######")
    written = []
    for task, complete in WORKERS[protocol](manager):
        written += write_frames_as_blender(task)
        complete(task["uuid"])
    assert job_info(manager, job["id"])["status"] == "completed"

    files = listed(manager, job["id"])
    assert [f["name"] for f in files] == written == [f"{n:06d}.png" for n in range(1, 5)]
    for frame, item in enumerate(files, start=1):
        download = manager.get(item["url"])
        assert download.status_code == 200
        assert download.content == png(frame * 10)
    assert "not listed" not in job_info(manager, job["id"])["activity"]


def test_frames_written_inside_the_managers_shared_storage_are_listed(
    manager: Manager, tmp_path: Path
) -> None:
    storage = tmp_path / "nas"
    storage.mkdir()
    manager.settings.shared_storage = str(storage)
    job = render_job(manager, f"{storage}/renders/shot/frame_####")
    for task, complete in v3_worker(manager):
        write_frames_as_blender(task)
        complete(task["uuid"])
    names = [f["name"] for f in listed(manager, job["id"])]
    assert names == [f"frame_{n:04d}.png" for n in range(1, 5)]


def test_a_path_the_manager_cannot_read_is_said_on_the_job(
    manager: Manager, tmp_path: Path
) -> None:
    job = render_job(manager, str(tmp_path / "elsewhere" / "shot" / "######"))
    for task, complete in v3_worker(manager):
        write_frames_as_blender(task)
        complete(task["uuid"])
    info = job_info(manager, job["id"])
    assert info["status"] == "completed"
    assert "cannot read" in info["activity"]
    assert listed(manager, job["id"]) == []


def test_an_output_path_that_climbs_out_of_its_variable_is_refused_on_submission(
    manager: Manager, tmp_path: Path
) -> None:
    render_variable(manager, tmp_path / "render")
    (tmp_path / "render").mkdir()
    body = job_body(
        "simple-blender-render",
        settings={
            "frames": "1-2",
            "render_output_root": "{render}",
            "add_path_components": 0,
            "render_output_path": "{render}/../../etc/x_####",
            "blendfile": "/projects/shot.blend",
            "format": "PNG",
            "image_file_extension": ".png",
            "scene": "Scene",
        },
    )
    response = manager.post("/api/v3/jobs", json=body)
    assert response.status_code == 400
    assert "'..'" in response.json()["message"]


@pytest.mark.parametrize(
    "pattern",
    ["{render}/../../etc/x_####", "{render}/shot/../../x_####", "NAS/../etc/x_####"],
)
def test_the_manager_never_looks_outside_the_folder_a_path_resolves_to(
    tmp_path: Path, pattern: str
) -> None:
    (tmp_path / "render" / "shot").mkdir(parents=True)
    (tmp_path / "nas").mkdir()
    value = VariableValue(platform=manager_platform(), value=str(tmp_path / "render"))
    settings = Settings(
        data_dir=tmp_path / "data",
        shared_storage=str(tmp_path / "nas"),
        variables={"render": Variable(values=[value], is_twoway=True)},
    )
    folder, why = output_folder(settings, pattern.replace("NAS", str(tmp_path / "nas")))
    assert folder is None
    assert "not listed" in why


def test_the_folder_of_each_form_of_output_path(tmp_path: Path) -> None:
    (tmp_path / "render" / "shot").mkdir(parents=True)
    (tmp_path / "nas" / "projects" / "renders").mkdir(parents=True)
    value = VariableValue(platform=manager_platform(), value=str(tmp_path / "render"))
    settings = Settings(
        data_dir=tmp_path / "data",
        shared_storage=str(tmp_path / "nas"),
        variables={"render": Variable(values=[value], is_twoway=True)},
    )
    nas = tmp_path / "nas"
    assert output_folder(settings, "{render}/shot/######")[0] == tmp_path / "render" / "shot"
    assert output_folder(settings, f"{nas}/projects/renders/f_##")[0] == nas / "projects/renders"
    assert output_folder(settings, "projects::renders/f_##")[0] == nas / "projects/renders"
    assert output_folder(settings, "{other}/shot/######")[0] is None
    assert output_folder(settings, "/elsewhere/shot/######")[0] is None


def test_a_link_out_of_the_variables_folder_is_not_followed(
    manager: Manager, tmp_path: Path
) -> None:
    outside = tmp_path / "private"
    outside.mkdir()
    (outside / "000001.png").write_bytes(png(1))
    (outside / "000002.png").write_bytes(png(2))
    (tmp_path / "render").mkdir()
    (tmp_path / "render" / "shot").symlink_to(outside)
    render_variable(manager, tmp_path / "render")
    job = render_job(manager, "{render}/shot/######", frames="1-2")
    for task, complete in v3_worker(manager):
        complete(task["uuid"])
    assert listed(manager, job["id"]) == []
    assert "leads outside" in job_info(manager, job["id"])["activity"]


# Farmhand's own worker uploads: nothing is collected for it ---------------------------------


def upload_everything(worker: FakeWorker, tmp_path: Path) -> dict[str, bytes]:
    """Play Farmhand's worker on a job from the file store: upload each frame, then complete."""
    uploader = OutputUploader(worker.manager.url, (worker.id, worker.secret))
    sent = {}
    while (task := worker.next_task()) is not None:
        first, last = (int(n) for n in task["name"].removeprefix("render-").split("-"))
        for frame in range(first, last + 1):
            path = tmp_path / f"{frame:06d}.png"
            path.write_bytes(png(200 + frame))
            sent[path.name] = path.read_bytes()
            uploader.upload(task["uuid"], path)
        worker.complete(task["uuid"])
    return sent


def test_an_uploading_workers_frames_are_kept_once_and_nothing_is_said(
    manager: Manager, tmp_path: Path
) -> None:
    # The share holds other files of the same names (the submitter's own test renders).
    render_variable(manager, tmp_path / "render")
    (tmp_path / "render" / "shot").mkdir(parents=True)
    for frame in range(1, 5):
        (tmp_path / "render" / "shot" / f"{frame:06d}.png").write_bytes(png(frame))
    readable = render_job(manager, "{render}/shot/######", blendfile="{jobs}/checkout-1/shot.blend")
    unreadable = render_job(
        manager, "/home/artist/renders/######", blendfile="{jobs}/checkout-1/shot.blend"
    )
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    worker = register_worker(manager)
    worker.wake(["blender"])
    sent = upload_everything(worker, uploads)

    for job in (readable, unreadable):
        files = listed(manager, job["id"])
        assert sorted(f["name"] for f in files) == sorted(sent)
        for item in files:
            assert manager.get(item["url"]).content == sent[item["name"]]
        info = job_info(manager, job["id"])
        assert info["status"] == "completed"
        assert "not listed" not in info["activity"] and "cannot read" not in info["activity"]
        assert "manager:" not in task_logs(manager, job["id"])
