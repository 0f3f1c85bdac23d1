"""Hostile input to the protocol adapters: a 4xx (or the protocol's own error code) in that
protocol's form, never a 500, and nothing changed."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from sqlalchemy import update

from manager.db.models import Job
from tests.conftest import Manager, database_backends
from tests.protocols.conftest import submit_frames
from tests.protocols.sheepit_farm import ready_for_sheepit
from tests.protocols.test_farm_json import identity, task_request
from tests.protocols.test_rest2015 import METRICS, new_task, register
from tests.protocols.test_sheepit import Client, logged_in, png

pytestmark = pytest.mark.parametrize("backend", database_backends(), indirect=True)

HUGE_IDS = [2**31, 2**63, 2**64, 10**30]
DEEP = 100_000


def assert_json_error(response: Any, status: int, *needles: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()
    assert set(error) == {"code", "message"} and error["code"] == status
    for needle in needles:
        assert needle in error["message"], error["message"]


# The 2015 REST API ---------------------------------------------------------------------------


@pytest.mark.parametrize("number", HUGE_IDS)
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/tasks/{n}", None),
        ("PATCH", "/tasks/{n}", {"priority": 1}),
        ("DELETE", "/tasks/{n}", None),
        ("GET", "/workers/{n}", None),
        ("PATCH", "/workers/{n}", {"status": "available"}),
    ],
)
def test_2015_ids_outside_the_column_range_are_a_4xx(
    manager: Manager, method: str, path: str, body: Any, number: int
) -> None:
    response = manager.api(method, path.format(n=number), json=body)
    assert response.status_code in (400, 404), response.text
    assert set(response.json()) == {"code", "message"}


@pytest.mark.parametrize(
    "overrides",
    [{"task_id": 2**31}, {"task_id": 2**63}],
)
def test_2015_task_numbers_outside_the_column_range_are_refused(
    manager: Manager, overrides: dict[str, Any]
) -> None:
    field = next(iter(overrides))
    assert_json_error(new_task(manager, **overrides), 400, field)
    assert manager.get("/api/v3/jobs").json()["jobs"] == []


def test_2015_task_patch_numbers_outside_the_column_range_are_refused(manager: Manager) -> None:
    assert new_task(manager).status_code == 202
    for body, field in (
        ({"priority": 2**63}, "priority"),
        ({"frame_current": 2**63, "worker_id": 1}, "frame_current"),
        ({"worker_id": 2**63}, "worker_id"),
    ):
        assert_json_error(manager.api("PATCH", "/tasks/12", json=body), 400, field)


def test_2015_frame_settings_are_bounded(manager: Manager) -> None:
    settings = json.dumps({"frame_start": 1, "frame_end": 10**30, "filepath": "/a.blend"})
    assert_json_error(new_task(manager, settings=settings), 400, "frame_end")
    deep = 40_000  # the settings text is at most 100,000 characters
    nested = '{"frame_start": 1, "x": ' + "[" * deep + "]" * deep + "}"
    assert_json_error(new_task(manager, settings=nested), 400, "settings", "nested")


@pytest.mark.parametrize("number", ["1e999", "-1e999", "NaN", "Infinity"])
def test_2015_metrics_that_are_not_finite_are_refused_and_the_worker_stays_readable(
    manager: Manager, number: str
) -> None:
    worker = register(manager)
    raw = (
        '{"status": "available", "update_frequent": {"load_average": '
        f'{{"1min": {number}, "5min": 1.0, "15min": 1.0}}}}}}'
    )
    response = manager.api(
        "PATCH",
        f"/workers/{worker['id']}",
        data=raw.encode(),
        headers={"Content-Type": "application/json"},
    )
    assert_json_error(response, 400, "finite")
    assert manager.get(f"/workers/{worker['id']}").status_code == 200
    body = {"status": "available", **METRICS}
    assert manager.api("PATCH", f"/workers/{worker['id']}", json=body).status_code == 200
    assert manager.get(f"/workers/{worker['id']}").status_code == 200


def test_2015_worker_numbers_are_bounded(manager: Manager) -> None:
    for body, field in (
        ({"hostname": "h", "system": "Linux", "mac_address": 2**64}, "mac_address"),
        (
            {
                "hostname": "h",
                "system": "Linux",
                "update_less_frequent": {"worker_num_cpus": 2**63},
            },
            "worker_num_cpus",
        ),
        ({"hostname": "h\u0000", "system": "Linux"}, ""),
        ({"hostname": "tab\there", "system": "Linux"}, "hostname"),
    ):
        response = manager.post("/workers", json=body)
        assert response.status_code == 400, response.text
        assert field in response.json()["message"]
    assert manager.get("/workers").json() == {}


# /farm ----------------------------------------------------------------------------------------


def test_farm_body_nested_a_hundred_thousand_levels_is_refused(manager: Manager) -> None:
    raw = "[" * DEEP + "]" * DEEP
    headers = {"Content-Type": "application/json"}
    response = manager.post("/farm", data=raw.encode(), headers=headers)
    assert_json_error(response, 400, "nested")
    response = manager.post("/farm", data=raw.encode())
    assert_json_error(response, 400, "nested")


@pytest.mark.parametrize(
    "request_",
    [
        {"id": "report", "uuid": "x", "frame": 1, "done": 2**1100, "total": 2**1100},
        {"id": "report", "uuid": "x", "frame": 2**63, "done": 0, "total": 1},
        {"id": "done", "uuid": "x", "frame": [1, 2**70], "time": 1.0},
        {"id": "task", "paths": [], "provides": ["blender-frame"], "count": 2**64},
    ],
)
def test_farm_numbers_outside_their_range_are_refused(
    manager: Manager, request_: dict[str, Any]
) -> None:
    response = manager.post("/farm", json=[identity(), request_])
    assert_json_error(response, 400)
    assert manager.get("/api/v3/worker-mgt/workers").json()["workers"] == []


def test_farm_time_that_is_not_finite_is_refused(manager: Manager) -> None:
    done = '{"id": "done", "uuid": "x", "frame": 1, "time": 1e999}'
    raw = json.dumps([identity()])[:-1] + ", " + done + "]"
    response = manager.post("/farm", data=raw.encode())
    assert_json_error(response, 400, "finite")


def test_farm_node_names_with_control_characters_are_refused(manager: Manager) -> None:
    response = manager.post("/farm", json=[identity(name="node\u0000"), task_request()])
    assert_json_error(response, 400, "name")
    assert manager.get("/api/v3/worker-mgt/workers").json()["workers"] == []


def test_potential_cluster_names_with_control_characters_are_refused(manager: Manager) -> None:
    response = manager.post("/potential", data=json.dumps("studio\u0000b").encode())
    assert_json_error(response, 400, "cluster name")


# SheepIt ------------------------------------------------------------------------------------


@pytest.fixture
def sheepit(manager: Manager) -> Manager:
    """A manager with a SheepIt user, a Linux renderer and a blend file in its storage."""
    return ready_for_sheepit(manager)


def xml_of(response: Any) -> ElementTree.Element:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/xml"), response.text
    return ElementTree.fromstring(response.content)


@pytest.mark.parametrize(
    "overrides",
    [
        {"cpu_cores": "\u00b2"},
        {"cpu_cores": "\u0663"},
        {"ram": "9" * 5000},
        {"ram_max": "1" * 40},
    ],
)
def test_sheepit_login_with_unreadable_numbers_is_answered_104_in_xml(
    sheepit: Manager, overrides: dict[str, str]
) -> None:
    client = Client(sheepit)
    config = client.login(**overrides)
    assert config.get("status") == "104"
    assert next(iter(overrides)) in config.get("message", "")
    assert sheepit.get("/api/v3/worker-mgt/workers").json()["workers"] == []


def test_sheepit_login_with_a_nul_is_an_xml_error(sheepit: Manager) -> None:
    for field in ("login", "hostname", "password"):
        config = Client(sheepit).login(**{field: "alice\u0000"})
        assert config.tag == "config" and config.get("status") == "104", config.attrib
        assert field in config.get("message", "")
    assert sheepit.get("/api/v3/worker-mgt/workers").json()["workers"] == []


def test_sheepit_job_request_with_unreadable_numbers_is_an_xml_error(sheepit: Manager) -> None:
    client = logged_in(sheepit)
    for params in ({"cpu_cores": "\u00b2"}, {"gpu_ram": "9" * 5000}):
        root = client.xml("request-job", params=params)
        assert root.tag == "jobrequest" and root.get("status") == "999"
        assert next(iter(params)) in root.get("message", "")


@pytest.mark.parametrize("value", ["1e999", "inf", "9" * 5000])
def test_sheepit_frame_validation_with_unreadable_numbers_is_an_xml_error(
    sheepit: Manager, value: str
) -> None:
    submit_frames(sheepit, "1")
    client = logged_in(sheepit)
    element = client.xml("request-job").find("job")
    assert element is not None
    for field in ("frame", "rendertime"):
        data = {"job": element.get("id"), "frame": element.get("frame"), "rendertime": "3"}
        data[field] = value
        response = client.call(
            "validate-job",
            "POST",
            data=data,
            files={"file": ("f.png", png((200, 120, 40)), "image/png")},
        )
        root = xml_of(response)
        assert root.tag == "jobvalidate" and root.get("status") == "300", root.attrib
        assert field in root.get("message", "")


def _archive_names(sheepit: Manager, client: Client) -> list[str]:
    element = client.xml("request-job").find("job")
    assert element is not None
    archive = client.call("download-archive", params={"type": "job", "job": element.get("id")})
    assert archive.status_code == 200
    return zipfile.ZipFile(io.BytesIO(archive.content)).namelist()


@pytest.mark.parametrize(
    "blendfile",
    [
        "{secret}",
        "../../../{name}",
        "projects/../../../../{name}",
        "C:\\{name}",
        "projects\\..\\..\\{name}",
        "{{jobs}}/co/../../{name}",
    ],
)
def test_sheepit_refuses_a_blend_file_outside_the_storage_folder_at_submission(
    sheepit: Manager, blendfile: str, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.blend"
    secret.write_text("the host's secrets")
    value = blendfile.format(secret=secret, name=secret.name)
    response = sheepit.post(
        "/api/v3/jobs",
        json={
            "name": "j",
            "type": "single-frame-render",
            "priority": 50,
            "submitter_platform": "linux",
            "settings": {"blendfile": value, "frames": "1"},
        },
    )
    assert_json_error(response, 400, "settings.blendfile")
    assert sheepit.get("/api/v3/jobs").json()["jobs"] == []


@pytest.mark.parametrize("kind", ["absolute", "dotdot", "symlink"])
def test_sheepit_archive_never_holds_a_file_outside_the_storage_folder(
    sheepit: Manager, kind: str, tmp_path: Path
) -> None:
    # However such a job came to be (an older manager, a database edit), the archive is built
    # only from files inside the storage folder.
    secret = tmp_path / "secret.blend"
    secret.write_text("the host's secrets")
    storage = sheepit.settings.storage_dir
    if kind == "absolute":
        blendfile = str(secret)
    elif kind == "dotdot":
        blendfile = "/".join([".."] * (len(storage.resolve().parts) + 2)) + str(secret)
    else:
        (storage / "projects" / "link.blend").symlink_to(secret)
        blendfile = "projects/link.blend"
    job = submit_frames(sheepit, "1")
    with sheepit.farm.db.write() as session:
        session.execute(
            update(Job)
            .where(Job.id == job["id"])
            .values(settings={"blendfile": blendfile, "frames": "1"})
        )
    assert _archive_names(sheepit, logged_in(sheepit)) == []
