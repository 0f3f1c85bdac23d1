"""The one place a worker is put together: renderer, manager client, file cache, task runner.

``python -m worker_mode``, ``blender -b --python worker_mode/blender_worker.py`` and the
add-on's *Start Worker Mode* all call ``run_worker``, so each of them gets the same worker:
the job's file cache, the registration token, the same options.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

from .credentials import CredentialStore
from .defaults import IDLE_POLL_MAX_S, SUPPORTED_TASK_TYPES
from .job_files import JobFiles
from .manager_api import ManagerClient, RequestsTransport
from .renderer import Renderer
from .task_runner import TaskRunner
from .worker import Worker, WorkerOptions

log = logging.getLogger(__name__)


@dataclass
class WorkerConfig:
    """Everything a user can choose about a worker, whichever way it was started."""

    manager_url: str
    name: str
    data_dir: Path
    device: str | None = None
    """``GPU``, ``CPU`` or None for what each file says."""
    tags: list[str] = field(default_factory=list)
    once: bool = False
    poll_max_s: float = IDLE_POLL_MAX_S
    registration_token: str | None = None
    can_restart: bool = True


def build_worker(config: WorkerConfig, renderer: Renderer, stop: threading.Event) -> Worker:
    """A worker ready to ``run()``, rendering with ``renderer`` (already started)."""
    manager_url = config.manager_url.rstrip("/")
    client = ManagerClient(
        RequestsTransport(manager_url), registration_token=config.registration_token
    )
    previews = config.data_dir / "previews"
    previews.mkdir(parents=True, exist_ok=True)

    def reporter_client() -> ManagerClient:
        return ManagerClient(RequestsTransport(manager_url), client.credentials)

    def credentials() -> tuple[str, str]:
        if client.credentials is None:
            raise RuntimeError("the worker has no credentials yet: tasks come after sign-on")
        return client.credentials.worker_id, client.credentials.secret

    job_files = JobFiles(manager_url, config.data_dir, credentials)
    runner = TaskRunner(reporter_client, renderer, stop, str(previews), job_files=job_files)
    options = WorkerOptions(
        manager_url=manager_url,
        name=config.name,
        software_version=str(renderer.hello.get("blender", "unknown")),
        task_types=list(SUPPORTED_TASK_TYPES),
        once=config.once,
        idle_poll_max_s=config.poll_max_s,
        can_restart=config.can_restart,
        tags=list(config.tags),
    )
    return Worker(options, client, CredentialStore(config.data_dir), runner.run, stop,
                  status_change_requested=lambda: runner.status_change_requested)


def run_worker(config: WorkerConfig, stop: threading.Event) -> Worker:
    """Start Blender for rendering, run the worker until it stops, and return it.

    Raises RenderProcessError when Blender cannot be started for rendering.
    """
    renderer = Renderer(config.device)
    try:
        renderer.ensure_started()
        hello = renderer.hello
        gpu = hello.get("gpu")
        log.info("Blender %s ready (%s)", hello.get("blender"),
                 f"GPU: {gpu[0]} {', '.join(gpu[1])}" if gpu
                 else (config.device or "device from file"))
        worker = build_worker(config, renderer, stop)
        worker.run()
        return worker
    finally:
        renderer.shutdown()


def token_from(value: str | None, environ: dict[str, str]) -> str | None:
    """The registration token from an option, else ``FARMHAND_REGISTRATION_TOKEN``."""
    return value or environ.get("FARMHAND_REGISTRATION_TOKEN") or None

