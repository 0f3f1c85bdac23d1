"""Fixtures of the scenario tests: a studio project made with real Blender, and a whole farm of
processes (``python -m manager``, several ``python -m worker_mode``, the ``farmhand`` CLI and the
add-on in a bpy session) that a test drives through a day of work and faults.

Every wait has a deadline; every failure message ends with the tails of the manager's and the
workers' logs. A worker process that exits without the test killing it fails the test at the
next wait.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests

from tests.addon.conftest import extension_zip, run_blender_session  # noqa: F401 (fixture)
from tests.client.conftest import BLUE, RED, write_texture
from tests.conftest import REPO
from tests.worker_mode.conftest import ManagerProcess, WorkerProcess
from tests.worker_mode.helpers import wait_for

T = TypeVar("T")

MAKE_PROJECT = Path(__file__).with_name("make_project.py")
ADDON_SESSION = Path(__file__).with_name("addon_session.py")

#: Job statuses that a job never leaves by itself.
FINAL_JOB_STATUSES = ("completed", "failed", "canceled")
#: Lines of each log quoted in a failure message.
LOG_TAIL_LINES = 40


# The project ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def project_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The studio's files, made once (see make_project.py for what is in it)."""
    root = tmp_path_factory.mktemp("studio-template")
    write_texture(root / "project" / "textures" / "red.png", RED)
    write_texture(root / "library" / "tex" / "blue.png", BLUE)
    done = subprocess.run(
        [sys.executable, str(MAKE_PROJECT), str(root)], capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, f"make_project failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    return root


@pytest.fixture
def studio(project_template: Path, tmp_path: Path) -> Path:
    """A fresh copy of the project on the artists' machine."""
    target = tmp_path / "studio"
    shutil.copytree(project_template, target)
    return target


# Processes --------------------------------------------------------------------------------------


def process_state(pid: int) -> str | None:
    """The one-letter state of a process (R, S, T, Z...), or None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def is_running(pid: int) -> bool:
    return process_state(pid) not in (None, "Z", "X")


def children_of(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (the render child of a worker)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            after_name = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if int(after_name[1]) == pid and after_name[0] not in ("Z", "X"):
            found.append(int(entry.name))
    return found


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return b""


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


# The farm ---------------------------------------------------------------------------------------


class ProcessEnded(AssertionError):
    """A worker or the manager ended without the test ending it."""


class WaitTimedOut(AssertionError):
    """A wait passed its deadline."""


@dataclass
class FarmWorker:
    """A worker by name: its current process and the processes it had before (killed)."""

    name: str
    process: WorkerProcess
    old_logs: list[Path] = field(default_factory=list)
    killed: bool = False
    """Killed by the test and not started again yet."""

    @property
    def pid(self) -> int:
        return self.process.proc.pid

    def render_children(self) -> list[int]:
        """The worker's render processes (not, say, an ffmpeg it runs)."""
        return [pid for pid in children_of(self.pid) if b"--render-child" in cmdline(pid)]

    @property
    def output(self) -> str:
        """Everything this worker logged, over all its processes."""
        before = "".join(p.read_text(errors="replace") for p in self.old_logs)
        return before + self.process.output


class Farm:
    """A manager and named workers, all real processes, with the helpers a day needs."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root = root
        self.env = env
        self.manager = ManagerProcess(root / "manager-data", root / "manager.log")
        self.url = self.manager.url
        self.workers: dict[str, FarmWorker] = {}
        self.http = requests.Session()
        self.cli_log = root / "cli.log"
        self.manager_down = False
        """Stopped by the test and not started again yet."""

    # -- processes ------------------------------------------------------------------------

    def start_manager(self) -> None:
        # ManagerProcess passes this process's environment on; the settings go in there.
        saved = {key: os.environ.get(key) for key in self.env}
        os.environ.update(self.env)
        try:
            self.manager.start()
            self.manager_down = False
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def stop_manager(self) -> int | None:
        """SIGTERM, as an operator's ``systemctl stop``; returns the exit code."""
        self.manager_down = True
        self.manager.stop()
        assert self.manager.proc is not None
        return self.manager.proc.returncode

    def start_worker(self, name: str) -> FarmWorker:
        """Start ``name``; a worker of that name started before keeps its data dir (and so
        its credentials and file cache), its old log is kept beside."""
        existing = self.workers.get(name)
        if existing is not None:
            assert existing.killed, f"worker {name} is still running"
            old = existing.process.log_path.with_suffix(f".{len(existing.old_logs)}.log")
            existing.process.log_path.rename(old)
            existing.old_logs.append(old)
        process = WorkerProcess(self.url, self.root, name)
        if existing is None:
            self.workers[name] = FarmWorker(name, process)
        else:
            existing.process, existing.killed = process, False
        return self.workers[name]

    def kill_worker(self, name: str) -> None:
        """SIGKILL the worker process alone (not its process group): a power cut, an OOM kill."""
        worker = self.workers[name]
        os.kill(worker.pid, signal.SIGKILL)
        worker.process.proc.wait(10)
        worker.killed = True

    def stop(self) -> None:
        for worker in self.workers.values():
            if worker.killed:
                continue
            children = worker.render_children()
            for pid in [worker.pid, *children]:
                if process_state(pid) == "T":
                    os.kill(pid, signal.SIGCONT)
            worker.process.stop()
            for pid in children:  # a worker that had to be killed may leave its render behind
                if is_running(pid):
                    os.kill(pid, signal.SIGKILL)
        self.manager.stop()
        self.http.close()

    def check_processes(self) -> None:
        """Fail when a worker process ended that the test did not end itself."""
        ended = [
            f"{w.name} (pid {w.pid}, exit code {w.process.proc.returncode})"
            for w in self.workers.values()
            if not w.killed and w.process.proc.poll() is not None
        ]
        if ended:
            raise ProcessEnded(f"worker process(es) exited: {', '.join(ended)}")
        if not self.manager_down and self.manager.proc and self.manager.proc.poll() is not None:
            raise ProcessEnded(f"manager exited with {self.manager.proc.returncode}")

    # -- reporting and waiting -------------------------------------------------------------

    def logs(self) -> str:
        parts = [f"--- manager log (tail)\n{tail(self.manager.log_path)}"]
        for worker in self.workers.values():
            for old in worker.old_logs:
                parts.append(f"--- {worker.name}, earlier process (tail)\n{tail(old, 15)}")
            parts.append(f"--- {worker.name} (tail)\n{tail(worker.process.log_path)}")
        parts.append(f"--- farmhand CLI (tail)\n{tail(self.cli_log, 20)}")
        return "\n".join(parts)

    def fail(self, message: str) -> AssertionError:
        return AssertionError(f"{message}\n{self.logs()}")

    def check(self, condition: object, message: str | Callable[[], str]) -> None:
        """``assert`` with the logs' tails in the message."""
        if not condition:
            raise self.fail(message() if callable(message) else message)

    def wait(self, check: Callable[[], T], timeout: float, what: str, interval: float = 0.5) -> T:
        def checked() -> T:
            self.check_processes()
            return check()

        try:
            return wait_for(checked, timeout, what, interval)
        except ProcessEnded as exc:
            raise ProcessEnded(f"{exc}\n{self.logs()}") from None
        except AssertionError as exc:
            raise WaitTimedOut(f"{exc}\n{self.describe_jobs()}\n{self.logs()}") from None

    # -- the manager's API -----------------------------------------------------------------

    def get(self, path: str) -> Any:
        response = self.http.get(self.url + path, timeout=10)
        self.check(response.status_code == 200, lambda: f"GET {path}: {response.text[:500]}")
        return response.json()

    def try_get(self, path: str) -> Any | None:
        """The JSON at ``path``, or None while the manager is down or busy."""
        try:
            response = self.http.get(self.url + path, timeout=5)
        except requests.RequestException:
            return None
        return response.json() if response.status_code == 200 else None

    def job(self, job_id: str) -> dict[str, Any]:
        return dict(self.get(f"/api/v3/jobs/{job_id}"))

    def tasks(self, job_id: str) -> list[dict[str, Any]]:
        return list(self.get(f"/api/v3/jobs/{job_id}/tasks")["tasks"])

    def task(self, task_id: str) -> dict[str, Any]:
        return dict(self.get(f"/api/v3/tasks/{task_id}"))

    def workers_on_manager(self) -> dict[str, dict[str, Any]]:
        return {w["name"]: w for w in self.get("/api/v3/worker-mgt/workers")["workers"]}

    def describe_jobs(self) -> str:
        jobs = self.try_get("/api/v3/jobs")
        if jobs is None:
            return "(manager not answering)"
        lines = ["--- jobs"]
        for job in jobs["jobs"]:
            lines.append(f"{job['name']}: {job['status']} ({job.get('activity', '')})")
            tasks = self.try_get(f"/api/v3/jobs/{job['id']}/tasks") or {"tasks": []}
            for task in tasks["tasks"]:
                if task["status"] != "completed":
                    lines.append(f"    {task['name']}: {task['status']}")
        return "\n".join(lines)

    # -- the farmhand CLI ------------------------------------------------------------------

    def cli(self, *args: str, timeout: float = 180) -> str:
        """Run ``farmhand --manager URL ARGS``; its output, after checking it succeeded."""
        # ``python -m client`` is the ``farmhand`` script, run from this tree as the manager
        # and the workers are.
        done = subprocess.run(
            [sys.executable, "-m", "client", "--manager", self.url, *args],
            capture_output=True, text=True, timeout=timeout, cwd=REPO,
        )  # fmt: skip
        with self.cli_log.open("a") as log:
            log.write(f"$ farmhand {' '.join(args)}\n{done.stdout}{done.stderr}")
            log.write(f"(exit {done.returncode})\n")
        self.check(
            done.returncode == 0,
            lambda: f"farmhand {' '.join(args)} exited {done.returncode}:\n{done.stderr[-3000:]}",
        )
        return done.stdout

    def submit(
        self, blendfile: Path, name: str, *options: str, job_type: str = "simple-blender-render"
    ) -> str:
        """``farmhand submit`` (packs and uploads the file); the new job's id."""
        out = self.cli(
            "submit", str(blendfile), "--type", job_type, "--name", name, *options, "--json"
        )
        return str(json.loads(out)["id"])


@pytest.fixture
def make_farm(tmp_path: Path) -> Iterator[Callable[..., Farm]]:
    """``make_farm(workers=3, **settings)``: a started manager (settings as FARMHAND_*
    environment) and that many started workers, named w1, w2..."""
    farms: list[Farm] = []

    def make(workers: int = 3, **settings: object) -> Farm:
        env = {f"FARMHAND_{key.upper()}": str(value) for key, value in settings.items()}
        farm = Farm(tmp_path / "farm", env)
        farm.root.mkdir()
        farms.append(farm)
        farm.start_manager()
        for n in range(1, workers + 1):
            farm.start_worker(f"w{n}")
        return farm

    yield make
    for farm in farms:
        farm.stop()
        if os.environ.get("FARMHAND_TEST_VERBOSE"):
            print(farm.logs())


# The add-on -------------------------------------------------------------------------------------


def submit_from_addon(
    zip_path: Path, workdir: Path, manager_url: str, blendfile: Path, frames: tuple[int, int]
) -> dict[str, Any]:
    """Open ``blendfile`` in a bpy session with the extension installed and press *Submit to
    Farm* (see addon_session.py); what the scenario returned."""
    import tests.addon.conftest as addon_conftest

    saved = addon_conftest.SESSION_SCRIPT
    addon_conftest.SESSION_SCRIPT = ADDON_SESSION  # the add-on tests' session, plus our scenario
    try:
        results = run_blender_session(
            zip_path,
            workdir,
            [("submit_project", {"blend": str(blendfile), "frames": list(frames)})],
            manager=manager_url,
        )
    finally:
        addon_conftest.SESSION_SCRIPT = saved
    return dict(results["submit_project"])


# Watching the farm ------------------------------------------------------------------------------


class StatusWatch:
    """Polls every job and its tasks in a thread, and records anything that went backwards:
    a job leaving a final status, a completed task no longer completed, fewer completed tasks
    than seen before. The manager may be down meanwhile; those rounds are skipped."""

    def __init__(self, farm: Farm, interval: float = 1.0) -> None:
        self.farm = farm
        self.interval = interval
        self.job_status: dict[str, str] = {}
        self.history: dict[str, list[str]] = {}
        self.completed_tasks: dict[str, set[str]] = {}
        self.problems: list[str] = []
        self.polls = 0
        """Rounds in which the manager answered."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="status-watch", daemon=True)
        self._http = requests.Session()

    def __enter__(self) -> StatusWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self._http.close()

    def _get(self, path: str) -> Any | None:
        try:
            response = self._http.get(self.farm.url + path, timeout=5)
        except requests.RequestException:
            return None
        return response.json() if response.status_code == 200 else None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.poll_once()

    def poll_once(self) -> None:
        listing = self._get("/api/v3/jobs")
        if listing is None:
            return
        self.polls += 1
        for job in listing["jobs"]:
            self._see_job(job)

    def _see_job(self, job: dict[str, Any]) -> None:
        job_id, status, name = job["id"], job["status"], job["name"]
        before = self.job_status.get(job_id)
        if before != status:
            self.history.setdefault(job_id, []).append(status)
            if before in FINAL_JOB_STATUSES:
                self.problems.append(f"job {name} went from {before} to {status}")
            self.job_status[job_id] = status
        if before in FINAL_JOB_STATUSES and status == before:
            return  # nothing changes any more
        tasks = self._get(f"/api/v3/jobs/{job_id}/tasks")
        if tasks is None:
            return
        now_done = {t["id"] for t in tasks["tasks"] if t["status"] == "completed"}
        seen = self.completed_tasks.setdefault(job_id, set())
        lost = seen - now_done
        if lost:
            names = sorted(t["name"] for t in tasks["tasks"] if t["id"] in lost)
            self.problems.append(f"job {name}: completed task(s) {names} are no longer completed")
        seen |= now_done
