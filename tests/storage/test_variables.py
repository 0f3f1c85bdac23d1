"""Shared-storage mode: two-way variables map paths between the submitter's platform and each
worker's, so one job renders on Linux, Windows and macOS workers alike."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests

from manager.config import Variable, VariableValue
from tests.conftest import FakeWorker, Manager

RENDER = Variable(
    values=[
        VariableValue(platform="linux", value="/mnt/render"),
        VariableValue(platform="windows", value="R:\\"),
        VariableValue(platform="darwin", value="/Volumes/render"),
    ],
    is_twoway=True,
)


def worker_on(manager: Manager, platform: str) -> FakeWorker:
    secret = uuid.uuid4().hex
    response = manager.post(
        "/api/v3/worker/register-worker",
        json={
            "name": f"w-{platform}",
            "secret": secret,
            "platform": platform,
            "supported_task_types": ["blender"],
        },
    )
    worker = FakeWorker(manager, response.json()["uuid"], secret, f"w-{platform}")
    worker.wake(["blender"])
    return worker


def render_job(manager: Manager, platform: str, root: str, sep: str) -> dict[str, Any]:
    settings = {
        "frames": "1-3",
        "chunk_size": 1,
        "render_output_root": f"{root}{sep}shots{sep}010",
        "add_path_components": 0,
        "render_output_path": f"{root}{sep}shots{sep}010{sep}######",
        "blendfile": f"{root}{sep}shots{sep}010{sep}shot.blend",
        "format": "PNG",
        "image_file_extension": ".png",
        "scene": "Scene",
        "fps": 24,
    }
    response = manager.post(
        "/api/v3/jobs",
        json={
            "name": "shared",
            "type": "simple-blender-render",
            "priority": 50,
            "submitter_platform": platform,
            "settings": settings,
        },
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.mark.parametrize(
    ("submitter", "root", "sep"),
    [("windows", "R:", "\\"), ("linux", "/mnt/render", "/"), ("darwin", "/Volumes/render", "/")],
)
def test_paths_are_stored_with_variables_and_expanded_per_worker(
    manager: Manager, submitter: str, root: str, sep: str
) -> None:
    manager.settings.variables = {**manager.settings.variables, "render": RENDER}
    manager.settings.shared_storage = "/mnt/render"
    job = render_job(manager, submitter, root, sep)
    assert job["settings"]["blendfile"] == "{render}/shots/010/shot.blend"
    assert job["settings"]["render_output_path"] == "{render}/shots/010/######"

    expected = {
        "linux": ("/mnt/render/shots/010/shot.blend", "/mnt/render/shots/010/"),
        "windows": ("R:\\shots\\010\\shot.blend", "R:\\shots\\010\\"),
        "darwin": ("/Volumes/render/shots/010/shot.blend", "/Volumes/render/shots/010/"),
    }
    for platform, (blendfile, output_dir) in expected.items():
        task = worker_on(manager, platform).next_task()
        assert task is not None
        params = task["commands"][0]["parameters"]
        assert params["blendfile"] == blendfile
        output = params["args"][params["args"].index("--render-output") + 1]
        assert output.startswith(output_dir) and output.endswith("######"), output
        assert params["exe"] == "blender"  # one-way variables are expanded too


def test_paths_outside_any_variable_and_lookalike_prefixes_stay(manager: Manager) -> None:
    manager.settings.variables = {**manager.settings.variables, "render": RENDER}
    job = render_job(manager, "linux", "/mnt/renderfarm", "/")
    assert job["settings"]["blendfile"] == "/mnt/renderfarm/shots/010/shot.blend"
    task = worker_on(manager, "windows").next_task()
    assert task is not None
    assert task["commands"][0]["parameters"]["blendfile"] == "/mnt/renderfarm/shots/010/shot.blend"


def test_checkout_paths_are_left_for_the_worker(manager: Manager) -> None:
    manager.settings.variables = {**manager.settings.variables, "render": RENDER}
    response = manager.post(
        "/api/v3/jobs",
        json={
            "name": "packed",
            "type": "simple-blender-render",
            "priority": 50,
            "submitter_platform": "linux",
            "settings": {
                "frames": "1",
                "chunk_size": 1,
                "render_output_root": "/tmp/out",
                "add_path_components": 0,
                "render_output_path": "/tmp/out/######",
                "blendfile": "{jobs}/shot-1/shot.blend",
                "format": "PNG",
                "image_file_extension": ".png",
                "scene": "Scene",
            },
        },
    )
    assert response.status_code == 200, response.text
    task = worker_on(manager, "windows").next_task()
    assert task is not None
    assert task["commands"][0]["parameters"]["blendfile"] == "{jobs}/shot-1/shot.blend"


def test_a_2022_worker_gets_the_same_expanded_commands_as_a_v3_worker(manager: Manager) -> None:
    manager.settings.variables = {**manager.settings.variables, "render": RENDER}
    manager.settings.shared_storage = "/mnt/render"
    render_job(manager, "linux", "/mnt/render", "/")
    v3_task = worker_on(manager, "windows").next_task()
    assert v3_task is not None

    secret = uuid.uuid4().hex
    url = manager.url + "/api/worker"
    registered = requests.post(url + "/register-worker", json={
        "nickname": "old-timer", "secret": secret, "platform": "windows",
        "supported_task_types": ["blender"],
    }).json()
    auth = (registered["uuid"], secret)
    requests.post(url + "/sign-on", auth=auth, json={
        "nickname": "old-timer", "supported_task_types": ["blender"], "software_version": "2022",
    })
    requests.post(url + "/state-changed", auth=auth, json={"status": "awake"})
    old_task = requests.post(url + "/task", auth=auth).json()
    params = old_task["commands"][0]["parameters"]
    assert params["exe"] == "blender"
    assert params["blendfile"] == "R:\\shots\\010\\shot.blend"
    assert params["exe"] == v3_task["commands"][0]["parameters"]["exe"]
