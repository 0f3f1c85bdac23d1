"""A worker that only a kill can stop: unexpected errors, refusals, outages and lost state."""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from worker_mode import commands
from worker_mode.credentials import Credentials, CredentialStore
from worker_mode.file_cache import FileCache, Manifest
from worker_mode.manager_api import ManagerClient
from worker_mode.reporter import ReporterTiming
from worker_mode.task_runner import TaskOutcome, TaskRunner
from worker_mode.worker import Worker, WorkerOptions, WorkerState

from .conftest import REPO
from .fake_manager import FakeTransport, reply
from .helpers import wait_for

URL = "http://farm:8080"
TASK = "/api/v3/worker/task"
FAST = ReporterTiming(update_interval=0.05, heartbeat_interval=0.5, may_i_run_interval=60,
                      retry_first=0.05, retry_max=0.1)


# -- file cache clean-up --------------------------------------------------------------------


class _Store:
    def __init__(self, files: list[bytes]) -> None:
        self.files = {(hashlib.sha256(d).hexdigest(), len(d)): d for d in files}

    def fetch(self, sha256: str, size: int, offset: int, out: Any) -> None:
        out.write(self.files[(sha256, size)][offset:])

    def checkout_of_job(self, job_id: str) -> dict[str, Any]:
        raise AssertionError("not used")


def _manifest(checkout: str, files: dict[str, bytes]) -> Manifest:
    return Manifest.from_json({
        "checkoutPath": checkout,
        "files": [{"path": p, "sha": hashlib.sha256(d).hexdigest(), "size": len(d)}
                  for p, d in files.items()],
    })


def test_old_checkouts_with_subfolders_are_removed_without_breaking_the_walk(tmp_path: Path):
    blend, tex = b"blend" * 50, b"texture" * 50
    project = {"shot.blend": blend, "textures/wood/a.png": tex, "textures/b.png": tex,
               "maps/deep/er/c.png": tex}
    cache = FileCache(tmp_path, _Store([blend, tex]))
    first = cache.materialise(_manifest("first", project))
    nested = cache.materialise(_manifest("first-b/inner", project))
    outer = cache.materialise(_manifest("first-b", project))
    second = cache.materialise(_manifest("second", project))

    cache.remove_checkouts_except([second])
    assert not first.exists() and not nested.exists() and not outer.exists()
    assert (second / "textures/wood/a.png").read_bytes() == tex

    # A checkout inside another one that is kept: the outer one stays too.
    inner = cache.materialise(_manifest("second/inner", project))
    cache.remove_checkouts_except([inner])
    assert (inner / "shot.blend").is_file()


# -- one task's exception -------------------------------------------------------------------


def _runner_transport() -> FakeTransport:
    t = FakeTransport()
    t.default("POST", f"{TASK}/t1", reply(204))
    t.default("GET", f"{TASK}/t1/may-i-run", reply(200, {"mayKeepRunning": True}))
    return t


def test_an_unexpected_exception_in_a_command_fails_only_that_task(monkeypatch, tmp_path):
    def explode(ctx: Any, params: dict[str, Any]) -> None:
        raise RuntimeError("walked into a folder that was gone")

    monkeypatch.setitem(commands.COMMANDS, "explode", explode)
    transport = _runner_transport()
    creds = Credentials(worker_id="wid", secret="s" * 16)
    runner = TaskRunner(lambda: ManagerClient(transport, creds), None,  # type: ignore[arg-type]
                        threading.Event(), str(tmp_path), timing=FAST)
    task = {"uuid": "t1", "commands": [{"name": "explode", "parameters": {}}]}
    assert runner.run(task) is TaskOutcome.FAILED

    updates = [body for method, path, body in transport.calls if path == f"{TASK}/t1"]
    final = updates[-1]
    assert final["taskStatus"] == "failed"
    assert "RuntimeError: walked into a folder that was gone" in final["activity"]
    sent_log = "".join(u.get("log", "") for u in updates)
    assert "Traceback" in sent_log and "explode" in sent_log

    # The same runner takes the next task.
    monkeypatch.setitem(commands.COMMANDS, "explode", lambda ctx, params: None)
    assert runner.run(task) is TaskOutcome.COMPLETED


def _signed_on_transport() -> FakeTransport:
    t = FakeTransport()
    t.script("POST", "/api/v3/worker/register-worker", reply(200, {"uuid": "wid"}))
    t.default("POST", "/api/v3/worker/sign-on", reply(200, {"status_requested": None}))
    t.default("POST", "/api/v3/worker/state-changed", reply(204))
    t.default("POST", "/api/v3/worker/sign-off", reply(204))
    return t


def _worker(tmp_path: Path, transport: FakeTransport, run_task: Any = None,
            token: str | None = None) -> Worker:
    options = WorkerOptions(manager_url=URL, name="w", software_version="5.0.1")
    client = ManagerClient(transport, registration_token=token)
    return Worker(options, client, CredentialStore(tmp_path), run_task or (lambda task: None),
                  threading.Event())


def test_the_worker_loop_survives_an_error_that_escapes_a_task(tmp_path):
    t = _signed_on_transport()
    t.script("POST", TASK, reply(200, {"uuid": "t1", "commands": []}),
             reply(200, {"uuid": "t2", "commands": []}))
    ran: list[str] = []

    def run_task(task: dict[str, Any]) -> None:
        ran.append(task["uuid"])
        if task["uuid"] == "t1":
            raise FileNotFoundError("file-cache/checkouts/first")

    worker = _worker(tmp_path, t, run_task)
    worker.loop_once()  # sign on
    assert worker.loop_once() > 0  # t1 blew up: wait a little, then go on
    assert not worker.done
    worker.loop_once()
    assert ran == ["t1", "t2"]


# -- state agreement after an outage -------------------------------------------------------


def test_a_worker_marked_error_signs_on_and_says_it_is_awake_again(tmp_path):
    t = _signed_on_transport()
    # The manager marked the worker 'error' while it was out of touch: every poll is 409
    # until the worker has signed on and acknowledged a state.
    t.script("POST", TASK, reply(409), reply(200, {"uuid": "t1", "commands": []}))
    worker = _worker(tmp_path, t)
    worker.loop_once()
    assert worker.state is WorkerState.AWAKE
    changes_before = t.paths().count("POST /api/v3/worker/state-changed")
    worker.loop_once()  # 409: sign on again
    worker.loop_once()
    assert t.paths().count("POST /api/v3/worker/state-changed") == changes_before + 1
    assert t.calls[-1] == ("POST", "/api/v3/worker/state-changed", {"status": "awake"})
    worker.loop_once()
    assert worker.tasks_run == 1


# -- registration token ---------------------------------------------------------------------


def test_a_refused_registration_backs_off_and_says_how_to_fix_it(tmp_path, caplog):
    t = FakeTransport()
    t.default("POST", "/api/v3/worker/register-worker",
              reply(403, {"code": 403, "message": "this manager needs a registration token"}))
    worker = _worker(tmp_path, t)
    caplog.set_level(logging.ERROR)
    delays = [worker.loop_once() for _ in range(6)]
    assert all(d > 0 for d in delays)
    assert delays[-1] > 4 * delays[0]  # growing, not a tight loop
    assert "--registration-token" in caplog.text and "FARMHAND_REGISTRATION_TOKEN" in caplog.text


def test_the_registration_token_is_sent(tmp_path):
    sent: list[dict[str, str] | None] = []
    t = _signed_on_transport()
    original = t.request

    def request(method: str, path: str, **kwargs: Any) -> Any:
        if path.endswith("register-worker"):
            sent.append(kwargs.get("headers"))
        return original(method, path, **kwargs)

    t.request = request  # type: ignore[method-assign]
    worker = _worker(tmp_path, t, token="only-our-machines")
    worker.loop_once()
    assert worker.signed_on
    assert sent == [{"X-Farmhand-Registration-Token": "only-our-machines"}]


def test_the_command_line_takes_the_token_from_the_environment():
    from worker_mode.assembly import token_from

    assert token_from(None, {"FARMHAND_REGISTRATION_TOKEN": "t"}) == "t"
    assert token_from("given", {"FARMHAND_REGISTRATION_TOKEN": "t"}) == "given"
    assert token_from(None, {}) is None


# -- the render process dies with its worker ------------------------------------------------

_PARENT = """
import sys, threading, time
sys.path.insert(0, sys.argv[1])
from worker_mode.blender_args import parse_blender_args
from worker_mode.files import local_blendfile
from worker_mode.renderer import Renderer
renderer = Renderer("CPU")
renderer.ensure_started()
path, key = local_blendfile(sys.argv[2])
settings = parse_blender_args(["--render-output", sys.argv[3] + "/######", "--render-frame", "1"])
request = {"op": "render", "blendfile": path, "key": key, "settings": settings.to_json()}
def started(event):
    if event.get("ev") == "frames":
        print("RENDERING", renderer.process.pid, flush=True)
threading.Thread(target=renderer.run, args=(request, started, lambda line: None, lambda: None),
                 daemon=True).start()
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_render_process_dies_mid_frame_when_its_worker_is_killed(slow_blend, tmp_path):
    parent = subprocess.Popen([sys.executable, "-c", _PARENT, str(REPO), slow_blend,
                               str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        line = ""
        while not line.startswith("RENDERING"):
            line = parent.stdout.readline()  # type: ignore[union-attr]
            assert line, "the parent exited before rendering"
        child = int(line.split()[1])
        time.sleep(1.0)  # well inside the minutes-long frame
        assert _alive(child)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        wait_for(lambda: not _alive(child), 5, "the render process to end with its worker")
    finally:
        if parent.poll() is None:
            parent.kill()
