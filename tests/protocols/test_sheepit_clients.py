"""SheepIt-style clients as they are written elsewhere, played from their observed behaviour
(not their code): a Python client that reads every ``<job>`` attribute it needs by name,
sends no hostname, posts frames to the job's ``validation_url``; and a typed client that
parses the job id and frame as integers."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from typing import Any
from urllib.parse import unquote
from xml.etree import ElementTree

import pytest
import requests
from PIL import Image

from manager.protocols.sheepit import RENDER_SCRIPT
from tests.conftest import Manager
from tests.protocols.conftest import job_status, submit_frames
from tests.protocols.sheepit_farm import PASSWORD, ready_for_sheepit


class IncompleteData(Exception):
    """What the Python client raises when an answer lacks an attribute it reads."""


class PythonClient:
    """Logs in with its machine's facts (no hostname), keeps the server's paths as
    ``base + path``, reads ``<job>`` attributes by name, and after each login keeps the
    config's ``publickey`` as its password (none when the answer has none)."""

    def __init__(
        self, manager: Manager, cpu: str = "AMD Ryzen 9 5900X", login: str = "alice"
    ) -> None:
        self.base = manager.url + "/sheepit"
        self.http = requests.Session()
        self.cpu = cpu
        self.user = login
        self.password: str | None = PASSWORD
        self.ops: dict[str, str] = {}
        #: The ``<stats>`` of the last job given, which the client shows without checking.
        self.stats: dict[str, str] = {}

    def login(self) -> None:
        params: dict[str, str | int | None] = {
            "os": "linux",
            "cpu_family": 25,
            "cpu_model": 33,
            "cpu_model_name": self.cpu,
            "cpu_cores": 12,
            "bits": "64bit",
            "ram_max": 32000000,
            "headless": 0,
            "version": "6.21055.0",
            "login": self.user,
            "password": self.password,
            "ram": 16000000,
        }
        answer = self.http.get(self.base + "/server/config.php", params=params, timeout=30)
        config = ElementTree.fromstring(answer.content)
        assert config.get("status") == "0", config.get("message")
        self.ops = {r.attrib["type"]: self.base + r.attrib["path"] for r in config.iter("request")}
        self.password = config.get("publickey")

    def get_job(self) -> dict[str, Any] | None:
        answer = self.http.get(self.ops["request-job"], params={"computemethod": 1}, timeout=30)
        root = ElementTree.fromstring(answer.content)
        if root.get("status") == "202":
            self.login()
            return self.get_job()
        if root.get("status") != "0":
            return None
        job, stats = root.find("job"), root.find("stats")
        assert job is not None
        if stats is None:
            raise IncompleteData("<jobrequest> lacks <stats>")
        self.stats = dict(stats.attrib)
        try:
            renderer = job.find("renderer")
            script = job.find("script")
            assert renderer is not None and script is not None
            return {
                "name": job.attrib["name"],
                "id": job.attrib["id"],
                "path": job.attrib["path"],
                "frame": job.attrib["frame"],
                "validation_url": job.attrib["validation_url"],
                "password": job.attrib["password"] or None,
                "commandline": renderer.attrib["commandline"],
                "script": script.text,
            }
        except KeyError as missing:
            raise IncompleteData(f"<job> lacks {missing}") from None

    def render(self, job: dict[str, Any]) -> None:
        binary = self.http.get(
            self.ops["download-archive"] + f"?type=binary&job={job['id']}", timeout=30
        )
        assert binary.status_code == 200
        blend = self.http.get(self.ops["download-archive"] + f"?type=job&job={job['id']}")
        assert blend.status_code == 200
        with zipfile.ZipFile(io.BytesIO(blend.content)) as archive:
            assert job["path"] in archive.namelist()
        alive = self.http.post(
            self.ops["keepmealive"], params={"job": job["id"], "frame": job["frame"], "extras": ""}
        )
        assert ElementTree.fromstring(alive.content).get("status") == "0"

    def upload(self, job: dict[str, Any], colour: tuple[int, int, int] = (200, 80, 20)) -> str:
        buffer = io.BytesIO()
        Image.new("RGB", (16, 9), colour).save(buffer, "PNG")
        params: dict[str, str | int] = {
            "rendertime": 3,
            "frame": job["frame"],
            "cores": 12,
            "extras": "",
            "memoryused": 1,
        }
        answer = self.http.post(
            unquote(job["validation_url"]),
            params=params,
            files={"file": (f"{int(job['frame']):08d}_out.png", buffer.getvalue())},
        )
        return str(ElementTree.fromstring(answer.content).get("status"))


@pytest.fixture
def farm(manager: Manager) -> Manager:
    return ready_for_sheepit(manager)


def test_python_client_renders_a_job_whose_frames_are_outputs(farm: Manager) -> None:
    job = submit_frames(farm, "1-2", blendfile="projects::shot.blend")
    client = PythonClient(farm)
    client.login()
    for _ in range(2):
        given = client.get_job()
        assert given is not None and given["password"] is None
        client.render(given)
        assert client.upload(given) == "0"
    assert job_status(farm, job["id"]) == "completed"
    listed = farm.get(f"/api/farmhand/jobs/{job['id']}/outputs").json()
    assert [f["name"] for f in listed["files"]] == ["0001.png", "0002.png"]
    for output in listed["files"]:
        assert farm.get(output["url"]).status_code == 200
    bundle = farm.get(f"/api/farmhand/jobs/{job['id']}/outputs.zip")
    assert sorted(zipfile.ZipFile(io.BytesIO(bundle.content)).namelist()) == [
        "0001.png",
        "0002.png",
    ]


def test_each_job_given_carries_the_credits_of_the_session_and_of_the_login(
    farm: Manager,
) -> None:
    submit_frames(farm, "1-3")
    first = PythonClient(farm)
    first.login()
    given = first.get_job()
    assert given is not None
    assert (first.stats["credits_session"], first.stats["credits_total"]) == ("0", "0")
    assert first.upload(given) == "0"
    given = first.get_job()
    assert given is not None
    assert (first.stats["credits_session"], first.stats["credits_total"]) == ("1", "1")
    second = PythonClient(farm)  # the same login on another machine: a new session
    second.login()
    assert second.get_job() is not None
    assert (second.stats["credits_session"], second.stats["credits_total"]) == ("0", "1")
    # A typed client reads every attribute as a required integer.
    assert {name: int(value) for name, value in second.stats.items()} == {
        "credits_session": 0,
        "credits_total": 1,
        "frame_remaining": 0,
        "waiting_project": 1,
        "renderable_project": 1,
        "connected_machine": 2,
    }


def test_job_ids_are_integers_alike_for_the_frames_of_one_job(farm: Manager) -> None:
    submit_frames(farm, "1-2")
    other = submit_frames(farm, "1", priority=10)
    seen = []
    for _ in range(3):
        client = PythonClient(farm)
        client.login()
        given = client.get_job()
        assert given is not None
        seen.append((int(given["id"]), int(given["frame"])))  # as a typed client parses them
    (first, one), (second, two), (third, _) = seen
    assert first == second and {one, two} == {1, 2}
    assert third != first
    assert job_status(farm, other["id"]) == "active"


def test_clients_of_one_login_on_alike_machines_are_separate(farm: Manager) -> None:
    job = submit_frames(farm, "1-2")
    a, b = PythonClient(farm), PythonClient(farm)  # same login, same CPU, no hostname
    a.login()
    b.login()
    job_a, job_b = a.get_job(), b.get_job()
    assert job_a is not None and job_b is not None
    assert job_a["frame"] != job_b["frame"]
    assert a.upload(job_a) == "0" and b.upload(job_b) == "0"
    assert job_status(farm, job["id"]) == "completed"
    workers = farm.get("/api/v3/worker-mgt/workers").json()["workers"]
    assert len(workers) == 2 and all(w["status"] == "awake" for w in workers)
    # Logging in again with its cookie, a client is the same worker, not a third one.
    a.login()
    assert len(farm.get("/api/v3/worker-mgt/workers").json()["workers"]) == 2


@pytest.mark.parametrize("movie", [False, True])
def test_render_script_keeps_the_clients_output_path_for_images(movie: bool) -> None:
    """The script as the client runs it: after ``-o <path>``, then its own call."""
    setup = "import bpy\nscene = bpy.context.scene\nscene.render.filepath = '/w/####_out.png'\n"
    if movie:
        setup += (
            "scene.render.image_settings.media_type = 'VIDEO'\n"
            "scene.render.image_settings.file_format = 'FFMPEG'\n"
        )
    check = (
        '\nsheepit_set_compute_device("NONE", "CPU", "CPU")\n'
        "print('RESULT', scene.render.image_settings.file_format, repr(scene.render.filepath))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", setup + RENDER_SCRIPT + check],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (result,) = [line for line in done.stdout.splitlines() if line.startswith("RESULT")]
    assert result == ("RESULT PNG ''" if movie else "RESULT PNG '/w/####_out.png'")
