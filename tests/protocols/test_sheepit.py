"""The SheepIt-style XML protocol, exchanged as the SheepIt client does."""

from __future__ import annotations

import hashlib
import io
import zipfile
from typing import Any
from xml.etree import ElementTree

import pytest
import requests
from PIL import Image

from manager.protocols import sheepit_store
from tests.conftest import Manager
from tests.protocols.conftest import app_of, job_status, submit_frames
from tests.protocols.sheepit_farm import PASSWORD, ready_for_sheepit


class Client:
    """A SheepIt client: one cookie session against ``<manager>/sheepit``."""

    def __init__(self, manager: Manager) -> None:
        self.base = manager.url + "/sheepit"
        self.http = requests.Session()
        self.paths: dict[str, str] = {}

    def call(self, kind: str, method: str = "GET", **kwargs: Any) -> requests.Response:
        return self.http.request(method, self.base + self.paths[kind], timeout=30, **kwargs)

    def xml(self, kind: str, method: str = "GET", **kwargs: Any) -> ElementTree.Element:
        response = self.call(kind, method, **kwargs)
        assert response.status_code == 200, response.text
        return ElementTree.fromstring(response.content)

    def login(self, **overrides: Any) -> ElementTree.Element:
        params = {
            "login": "alice",
            "password": PASSWORD,
            "version": "6.2.0",
            "os": "linux",
            "bits": "64bit",
            "cpu_family": "6",
            "cpu_model": "158",
            "cpu_model_name": "Intel(R) Core(TM) i7",
            "cpu_cores": "8",
            "ram": "16000000",
            "ram_max": "8000000",
            "hostname": "desk-1",
        }
        params.update(overrides)
        params = {k: v for k, v in params.items() if v is not None}
        response = self.http.get(self.base + "/server/config.php", params=params, timeout=30)
        assert response.status_code == 200, response.text
        config = ElementTree.fromstring(response.content)
        self.paths = {r.get("type", ""): r.get("path", "") for r in config.iter("request")}
        return config


def png(colour: tuple[int, int, int], mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (16, 9), colour if mode == "RGB" else (*colour, 255)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def farm(manager: Manager) -> Manager:
    """A manager with a SheepIt user, a Linux renderer and a blend file on its disk."""
    return ready_for_sheepit(manager)


def logged_in(manager: Manager, hostname: str = "desk-1") -> Client:
    client = Client(manager)
    assert client.login(hostname=hostname).get("status") == "0"
    return client


def test_client_renders_a_job_to_completion(farm: Manager) -> None:
    job = submit_frames(farm, "1-2")
    client = Client(farm)
    config = client.login()
    assert config.get("status") == "0"
    assert {
        "validate-job",
        "request-job",
        "download-archive",
        "error",
        "keepmealive",
        "logout",
        "last-render-frame",
        "credits-earned",
    } <= set(client.paths)
    assert int(next(r for r in config if r.get("type") == "keepmealive").get("max-period", 0)) > 0

    for _ in range(2):
        answer = client.xml("request-job", params={"computemethod": "1", "cpu_cores": "8"})
        assert answer.get("status") == "0"
        element = answer.find("job")
        assert element is not None
        task_id, frame = element.get("id", ""), element.get("frame", "")
        assert frame in ("0001", "0002") and element.get("path") == "shot.blend"
        archive = client.call("download-archive", params={"type": "job", "job": task_id})
        assert archive.status_code == 200
        assert hashlib.md5(archive.content).hexdigest() == element.get("archive_md5")
        assert zipfile.ZipFile(io.BytesIO(archive.content)).namelist() == ["shot.blend"]
        renderer = client.call("download-archive", params={"type": "binary", "job": task_id})
        assert renderer.status_code == 200
        renderer_element = element.find("renderer")
        assert renderer_element is not None
        assert hashlib.md5(renderer.content).hexdigest() == renderer_element.get("md5")
        alive = client.xml(
            "keepmealive",
            params={"job": task_id, "frame": frame, "rendertime": "3", "remainingtime": "9"},
        )
        assert alive.get("status") == "0"
        validated = client.xml(
            "validate-job",
            "POST",
            data={"job": task_id, "frame": frame, "rendertime": "12", "extras": ""},
            files={"file": (f"{frame}.png", png((200, 120, 40)), "image/png")},
        )
        assert validated.get("status") == "0", validated.get("message")
    assert job_status(farm, job["id"]) == "completed"
    assert client.call("credits-earned").text == "2"
    last = client.call("last-render-frame")
    assert last.status_code == 200 and last.content[:2] == b"\xff\xd8"
    # The frames are the job's outputs, listed and downloaded as every protocol's are.
    listed = farm.get(f"/api/farmhand/jobs/{job['id']}/outputs").json()
    assert sorted(f["name"] for f in listed["files"]) == ["0001.png", "0002.png"]
    download = farm.get(f"/api/farmhand/jobs/{job['id']}/outputs/0002.png")
    assert download.status_code == 200
    assert Image.open(io.BytesIO(download.content)).size == (16, 9)
    client.call("logout")
    workers = farm.get("/api/v3/worker-mgt/workers").json()["workers"]
    assert [w["status"] for w in workers] == ["offline"]
    assert client.xml("request-job").get("status") == "202"


# Session creation: 100-104 -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"version": None}, "100"),
        ({"version": "2.9"}, "101"),
        ({"password": "wrong password"}, "102"),
        ({"ram": None}, "104"),
        ({"os": "beos"}, "104"),
    ],
)
def test_session_creation_errors(farm: Manager, overrides: dict[str, Any], code: str) -> None:
    config = Client(farm).login(**overrides)
    assert config.get("status") == code
    assert config.get("message")
    assert farm.get("/api/v3/worker-mgt/workers").json()["workers"] == []


def test_expired_account_is_answered_103(farm: Manager) -> None:
    response = farm.api(
        "PATCH", "/api/farmhand/sheepit/users/alice", json={"expires_at": "2020-01-01T00:00:00Z"}
    )
    assert response.status_code == 200, response.text
    assert Client(farm).login().get("status") == "103"


# Job request: 200-207 --------------------------------------------------------------------------


def test_no_job_is_200(farm: Manager) -> None:
    assert logged_in(farm).xml("request-job", params={"computemethod": "1"}).get("status") == "200"


def test_revoked_rendering_right_is_201(farm: Manager) -> None:
    submit_frames(farm, "1")
    client = logged_in(farm)
    farm.api("PATCH", "/api/farmhand/sheepit/users/alice", json={"can_render": False})
    assert client.xml("request-job").get("status") == "201"


def test_request_without_session_is_202(farm: Manager) -> None:
    client = Client(farm)
    client.paths = {"request-job": "/server/request_job.php"}
    assert client.xml("request-job").get("status") == "202"


def test_black_frames_disable_the_session_203_and_304(farm: Manager) -> None:
    submit_frames(farm, "1-5")
    logged_in(farm, "desk-2")  # can still render what desk-1 spoils
    client = logged_in(farm)
    for _ in range(sheepit_store.BROKEN_FRAMES_BEFORE_DISABLE):
        element = client.xml("request-job").find("job")
        assert element is not None
        answer = client.xml(
            "validate-job",
            "POST",
            data={"job": element.get("id"), "frame": element.get("frame"), "rendertime": "1"},
            files={"file": ("f.png", png((0, 0, 0)), "image/png")},
        )
        assert answer.get("status") == "301"
    assert client.xml("request-job").get("status") == "203"
    answer = client.xml(
        "validate-job",
        "POST",
        data={"job": "x", "frame": "1", "rendertime": "1"},
        files={"file": ("f.png", png((9, 9, 9)), "image/png")},
    )
    assert answer.get("status") == "304"


def test_no_renderer_for_the_hardware_is_205(farm: Manager) -> None:
    submit_frames(farm, "1")
    client = Client(farm)
    assert client.login(os="mac", bits="32bit").get("status") == "0"
    assert client.xml("request-job").get("status") == "205"


def test_maintenance_is_206(farm: Manager) -> None:
    submit_frames(farm, "1")
    client = logged_in(farm)
    assert (
        farm.api("PUT", "/api/farmhand/sheepit/maintenance", json={"enabled": True}).status_code
        == 204
    )
    assert client.xml("request-job").get("status") == "206"


def test_busy_scheduler_is_207(farm: Manager) -> None:
    submit_frames(farm, "1")
    client = logged_in(farm)
    slots = app_of(farm).state.sheepit.scheduler_slots
    held = 0
    while slots.acquire(blocking=False):
        held += 1
    try:
        assert client.xml("request-job").get("status") == "207"
    finally:
        for _ in range(held):
            slots.release()
    assert client.xml("request-job").get("status") == "0"


# Job validation: 300-304 -----------------------------------------------------------------------


def only_task(farm: Manager) -> str:
    """The id of the one task of the one job (clients know it as job number and frame)."""
    (job,) = farm.get("/api/v3/jobs").json()["jobs"]
    (task,) = farm.get(f"/api/v3/jobs/{job['id']}/tasks").json()["tasks"]
    return str(task["id"])


@pytest.fixture
def rendering(farm: Manager) -> tuple[Client, str, str]:
    submit_frames(farm, "4")
    client = logged_in(farm)
    element = client.xml("request-job").find("job")
    assert element is not None
    return client, element.get("id", ""), element.get("frame", "")


def test_missing_parameter_is_300(rendering: tuple[Client, str, str]) -> None:
    client, task_id, _ = rendering
    answer = client.xml(
        "validate-job",
        "POST",
        data={"job": task_id, "rendertime": "1"},
        files={"file": ("f.png", png((1, 2, 3)), "image/png")},
    )
    assert answer.get("status") == "300" and "frame" in answer.get("message", "")


def test_not_an_image_is_302(farm: Manager, rendering: tuple[Client, str, str]) -> None:
    client, task_id, frame = rendering
    answer = client.xml(
        "validate-job",
        "POST",
        data={"job": task_id, "frame": frame, "rendertime": "1"},
        files={"file": ("f.png", b"Blender quit unexpectedly", "image/png")},
    )
    assert answer.get("status") == "302"
    assert farm.get(f"/api/v3/tasks/{only_task(farm)}").json()["status"] == "active"


def test_oversize_upload_is_303(
    monkeypatch: pytest.MonkeyPatch, farm: Manager, rendering: tuple[Client, str, str]
) -> None:
    monkeypatch.setattr(sheepit_store, "MAX_UPLOAD_BYTES", 1000)
    client, task_id, frame = rendering
    answer = client.xml(
        "validate-job",
        "POST",
        data={"job": task_id, "frame": frame, "rendertime": "1"},
        files={"file": ("f.png", b"\0" * 5000, "image/png")},
    )
    assert answer.get("status") == "303"
    assert farm.get(f"/api/v3/tasks/{only_task(farm)}").json()["status"] == "active"


def test_black_frame_is_301_and_goes_to_another_client(
    farm: Manager, rendering: tuple[Client, str, str]
) -> None:
    client, task_id, frame = rendering
    logged_in(farm, "desk-2")
    answer = client.xml(
        "validate-job",
        "POST",
        data={"job": task_id, "frame": frame, "rendertime": "1"},
        files={"file": ("f.png", png((0, 0, 0)), "image/png")},
    )
    assert answer.get("status") == "301"
    assert farm.get(f"/api/v3/tasks/{only_task(farm)}").json()["status"] == "soft-failed"


def test_dead_session_is_304(farm: Manager, rendering: tuple[Client, str, str]) -> None:
    client, task_id, frame = rendering
    client.call("logout")
    answer = client.xml(
        "validate-job",
        "POST",
        data={"job": task_id, "frame": frame, "rendertime": "1"},
        files={"file": ("f.png", png((1, 2, 3)), "image/png")},
    )
    assert answer.get("status") == "304"


# Heartbeat, errors, downloads --------------------------------------------------------------------


def test_keepmealive_on_a_canceled_job_is_400(
    farm: Manager, rendering: tuple[Client, str, str]
) -> None:
    client, task_id, frame = rendering
    job_id = farm.get(f"/api/v3/tasks/{only_task(farm)}").json()["job_id"]
    farm.post(f"/api/v3/jobs/{job_id}/setstatus", json={"status": "canceled", "reason": "no"})
    assert client.xml("keepmealive", params={"job": task_id, "frame": frame}).get("status") == "400"


def test_error_report_fails_the_task_and_keeps_the_log(
    farm: Manager, rendering: tuple[Client, str, str]
) -> None:
    client, task_id, frame = rendering
    logged_in(farm, "desk-2")  # can still render the frame
    answer = client.xml(
        "error",
        "POST",
        data={"job": task_id, "frame": frame},
        files={"file": ("log.txt", b"Error: out of GPU memory\n", "text/plain")},
    )
    assert answer.get("status") == "0"
    task = farm.get(f"/api/v3/tasks/{only_task(farm)}").json()
    assert task["status"] == "soft-failed" and "out of GPU memory" in task["activity"]
    log = farm.get(f"/api/v3/tasks/{only_task(farm)}/logtail")
    assert "out of GPU memory" in log.text


def test_archive_of_another_sessions_job_is_404(
    farm: Manager, rendering: tuple[Client, str, str]
) -> None:
    _, task_id, _ = rendering
    other = Client(farm)
    other.login(hostname="desk-2")
    response = other.call("download-archive", params={"type": "job", "job": task_id})
    assert response.status_code == 404


def test_revoked_user_can_be_managed_from_the_command_line(farm: Manager) -> None:
    from manager.protocols.sheepit_admin import main

    args = ["--data-dir", str(farm.settings.data_dir), "--database", farm.settings.database]
    assert main([*args, "revoke", "alice"]) == 0
    users = farm.get("/api/farmhand/sheepit/users").json()["users"]
    assert users == [
        {
            "login": "alice",
            "can_render": False,
            "expires_at": None,
            "frames_rendered": 0,
            "keys": 0,
        }
    ]
