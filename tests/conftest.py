"""Shared fixtures: a real manager on a loopback port over a real SQLite file (and PostgreSQL
when FARMHAND_TEST_POSTGRES_URL is set), and an HTTP client that checks every v3 response
against the Flamenco v3.9 OpenAPI spec."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import uvicorn
from sqlalchemy import create_engine, text

from manager.app import create_app
from manager.config import Settings
from manager.core.farm import Farm
from tests.spec_check import SpecChecker

POSTGRES_ENV = "FARMHAND_TEST_POSTGRES_URL"
REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def database_backends() -> list[Any]:
    backends: list[Any] = ["sqlite"]
    if os.environ.get(POSTGRES_ENV):
        backends.append("postgresql")
    else:
        backends.append(
            pytest.param(
                "postgresql",
                marks=pytest.mark.skip(reason=f"PostgreSQL not configured: set {POSTGRES_ENV}"),
            )
        )
    return backends


def reset_postgres(url: str) -> None:
    """Empty the test database so each test starts from a fresh schema."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def database_url(backend: str, data_dir: Path) -> str:
    if backend == "postgresql":
        url = os.environ[POSTGRES_ENV]
        reset_postgres(url)
        return url
    return f"sqlite:///{data_dir / 'farmhand.sqlite'}"


@dataclass
class Manager:
    """A running manager: its URL, its core (for time-travel checks) and an API client."""

    url: str
    farm: Farm
    settings: Settings
    http: requests.Session
    checker: SpecChecker
    _server: Any = field(repr=False)
    _thread: threading.Thread = field(repr=False)

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.http.request(method, self.url + path, timeout=30, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.api("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.api("POST", path, **kwargs)


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the test thread is not the main thread
        pass


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def manager_settings(tmp_path: Path, backend: str) -> Settings:
    data_dir = tmp_path / "farm-data"
    job_types = tmp_path / "job-types"
    job_types.mkdir()
    return Settings(
        job_types=job_types,
        data_dir=data_dir,
        database=database_url(backend, data_dir),
        host="127.0.0.1",
        port=free_port(),
    )


@pytest.fixture(scope="session")
def spec_checker() -> SpecChecker:
    return SpecChecker(REPO / "manager" / "api" / "openapi" / "flamenco-v3.9.yaml", "/api/v3/")


def start_manager(settings: Settings, checker: SpecChecker) -> Manager:
    app = create_app(settings, run_health_checks=False)
    server = _Server(
        uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_level="warning",
            timeout_graceful_shutdown=3,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://{settings.host}:{settings.port}"
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("manager did not start")
        time.sleep(0.02)
    http = requests.Session()
    http.hooks["response"].append(checker.hook)
    return Manager(url, app.state.farm, settings, http, checker, server, thread)


def stop_manager(manager: Manager) -> None:
    manager._server.should_exit = True
    manager._thread.join(timeout=15)
    manager.http.close()


@pytest.fixture
def manager(manager_settings: Settings, spec_checker: SpecChecker) -> Iterator[Manager]:
    running = start_manager(manager_settings, spec_checker)
    yield running
    stop_manager(running)


# Workers --------------------------------------------------------------------------------------

ALL_TASK_TYPES = ["blender", "ffmpeg", "file-management", "misc"]


@dataclass
class FakeWorker:
    """A worker speaking the v3 worker API over HTTP, driven step by step by a test."""

    manager: Manager
    id: str
    secret: str
    name: str

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.manager.api(
            method, "/api/v3/worker" + path, auth=(self.id, self.secret), **kwargs
        )

    def sign_on(self, task_types: list[str] | None = None) -> requests.Response:
        body = {
            "name": self.name,
            "supported_task_types": task_types or ALL_TASK_TYPES,
            "software_version": "test-1.0",
        }
        response = self.call("POST", "/sign-on", json=body)
        assert response.status_code == 200, response.text
        return response

    def wake(self, task_types: list[str] | None = None) -> None:
        self.sign_on(task_types)
        assert self.call("POST", "/state-changed", json={"status": "awake"}).status_code == 204

    def next_task(self) -> dict[str, Any] | None:
        response = self.call("POST", "/task")
        if response.status_code == 204:
            return None
        assert response.status_code == 200, (response.status_code, response.text)
        return dict(response.json())

    def update(self, task_id: str, **body: Any) -> requests.Response:
        return self.call("POST", f"/task/{task_id}", json=body)

    def complete(self, task_id: str) -> None:
        response = self.update(task_id, taskStatus="completed")
        assert response.status_code == 204, response.text

    def complete_next(self, count: int) -> list[str]:
        """Take and complete ``count`` tasks one after the other; their ids."""
        done = []
        for _ in range(count):
            task = self.next_task()
            assert task is not None
            self.complete(task["uuid"])
            done.append(task["uuid"])
        return done

    def fail(self, task_id: str, reason: str = "it broke") -> None:
        response = self.update(task_id, taskStatus="failed", activity=reason)
        assert response.status_code == 204, response.text


def register_worker(manager: Manager, name: str | None = None) -> FakeWorker:
    name = name or f"worker-{uuid.uuid4().hex[:6]}"
    secret = uuid.uuid4().hex
    response = manager.post(
        "/api/v3/worker/register-worker",
        json={
            "name": name,
            "secret": secret,
            "platform": "linux",
            "supported_task_types": ALL_TASK_TYPES,
        },
    )
    assert response.status_code == 200, response.text
    return FakeWorker(manager, response.json()["uuid"], secret, name)


@pytest.fixture
def awake_worker(manager: Manager) -> FakeWorker:
    worker = register_worker(manager, "alpha")
    worker.wake()
    return worker


def job_body(job_type: str = "frames-noop", **overrides: Any) -> dict[str, Any]:
    """A SubmittedJob body; keyword arguments replace or add its fields."""
    body: dict[str, Any] = {
        "name": overrides.pop("name", "test job"),
        "type": job_type,
        "priority": overrides.pop("priority", 50),
        "submitter_platform": "linux",
        "settings": overrides.pop("settings", {"frames": "1-10", "chunk_size": 1}),
    }
    body.update(overrides)
    return body


def submit(manager: Manager, job_type: str = "frames-noop", **overrides: Any) -> dict[str, Any]:
    response = manager.post("/api/v3/jobs", json=job_body(job_type, **overrides))
    assert response.status_code == 200, response.text
    return dict(response.json())
