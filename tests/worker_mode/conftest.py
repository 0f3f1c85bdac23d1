"""Fixtures of the worker tests: test .blend files, a real manager, real worker processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from .helpers import Api

REPO = Path(__file__).resolve().parents[2]
MAKE_BLEND = Path(__file__).with_name("make_blend.py")


def _make_blend(path: Path, *args: str) -> str:
    subprocess.run([sys.executable, str(MAKE_BLEND), str(path), *args], check=True,
                   capture_output=True, timeout=120)
    return str(path)


@pytest.fixture(scope="session")
def blend_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("blends")


@pytest.fixture(scope="session")
def tiny_blend(blend_dir: Path) -> str:
    """4 frames, 32x32, 4 Cycles samples: an emissive cube moving left to right."""
    return _make_blend(blend_dir / "tiny.blend")


@pytest.fixture(scope="session")
def slow_blend(blend_dir: Path) -> str:
    """Same scene, but each frame takes minutes: for cancelling mid-frame."""
    return _make_blend(blend_dir / "slow.blend", "--size", "256", "--samples", "1000000")


@pytest.fixture(scope="session")
def medium_blend(blend_dir: Path) -> str:
    """Same scene, frames of about a second: long enough to act in the middle of a job."""
    return _make_blend(blend_dir / "medium.blend", "--size", "96", "--samples", "128")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ManagerProcess:
    """``python -m manager`` on loopback; stop/start keep the port and the data dir."""

    def __init__(self, data_dir: Path, log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.api = Api(self.url)

    def start(self) -> None:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "manager", "--host", "127.0.0.1", "--port", str(self.port),
             "--data-dir", str(self.data_dir)],
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"manager exited: {self.log_path.read_text()[-2000:]}")
            try:
                if requests.get(f"{self.url}/api/v3/version", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError("manager did not start in 30 s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[ManagerProcess]:
    if not (REPO / "manager" / "__main__.py").exists():
        pytest.skip("the manager is not there yet")
    mgr = ManagerProcess(tmp_path / "manager-data", tmp_path / "manager.log")
    mgr.start()
    yield mgr
    mgr.stop()


class WorkerProcess:
    """``python -m worker_mode`` against the test manager; output kept in a file."""

    def __init__(self, manager_url: str, tmp: Path, name: str, *extra: str) -> None:
        self.name = name
        self.data_dir = tmp / f"worker-{name}"
        self.log_path = tmp / f"worker-{name}.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "worker_mode", "--manager", manager_url, "--name", name,
             "--data-dir", str(self.data_dir), "--poll-max", "0.5", "--cpu", *extra],
            cwd=REPO, stdout=open(self.log_path, "wb"), stderr=subprocess.STDOUT,
        )

    @property
    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def worker_id(self) -> str:
        import json

        creds = json.loads((self.data_dir / "credentials.json").read_text())
        return str(next(iter(creds.values()))["worker_id"])

    def stop(self, timeout: float = 20) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


@pytest.fixture
def start_worker(tmp_path: Path, manager: ManagerProcess) -> Iterator[object]:
    workers: list[WorkerProcess] = []

    def start(name: str = "w1", *extra: str) -> WorkerProcess:
        worker = WorkerProcess(manager.url, tmp_path, name, *extra)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()
        if os.environ.get("FARMHAND_TEST_VERBOSE"):
            print(f"--- worker {worker.name}\n{worker.output}")
