"""The one place a worker is put together: renderer, manager client, file cache, task runner.

``python -m worker_mode``, ``blender -b --python worker_mode/blender_worker.py`` and the
add-on's *Start Worker Mode* all call ``run_worker``, so each of them gets the same worker:
the job's file cache, the registration token, the same options.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path

from . import devices
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
    pins: list[int] | None = None
    """``--devices``: the GPUs (as Cycles numbers those of its best backend); None for all."""
    per_gpu: bool = False
    """``--slots per-gpu``: one worker per GPU, named ``<name>-gpu<n>``."""
    cpu_slot: bool = False
    """With ``per_gpu``: one more worker, ``<name>-cpu``, rendering on the CPU."""
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
        blender_version=str(renderer.hello.get("blender") or "") or None,
        hardware=devices.hardware_report(renderer.hello, config.device),
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
    renderer = Renderer(config.device, pins=config.pins)
    try:
        renderer.ensure_started()
        hello = renderer.hello
        log.info("Blender %s ready; %s", hello.get("blender"), describe_devices(hello, config))
        worker = build_worker(config, renderer, stop)
        worker.run()
        return worker
    finally:
        renderer.shutdown()


def describe_devices(hello: dict[str, object], config: WorkerConfig) -> str:
    """One line for the log: what this worker renders on."""
    report = devices.hardware_report(hello, config.device)
    if report["gpus"]:
        gpus = ", ".join(devices.RenderDevice.from_json(d).describe() for d in report["gpus"])
        line = f"rendering on {gpus}"
        if config.device is None:
            line += " for files that ask for the GPU"
        if not report["gpus_enabled"]:
            line += " (Cycles could not enable them: jobs that ask for the GPU fail here)"
    else:
        where = "the CPU" if config.device == "CPU" else "the device each file says"
        line = f"rendering on {where}"
    return line + (f"; hardware tags {', '.join(report['tags'])}" if report["tags"] else "")


def list_devices() -> list[devices.RenderDevice]:
    """The devices Cycles lists on this machine, from a render process started for that."""
    renderer = Renderer(None)
    try:
        renderer.ensure_started()
        return devices.devices_from_json(renderer.hello.get("devices"))
    finally:
        renderer.shutdown()


def slot_configs(config: WorkerConfig, listed: list[devices.RenderDevice]) -> list[WorkerConfig]:
    """The workers of ``--slots per-gpu``: each with its own name, data folder (credentials,
    file cache) and render process on its own device. Raises DeviceError."""
    slots = devices.plan_slots(listed, pins=config.pins, cpu_slot=config.cpu_slot)
    return [
        replace(
            config,
            name=f"{config.name}-{slot.suffix}",
            data_dir=config.data_dir / "slots" / slot.suffix,
            device=slot.device,
            pins=slot.pins,
            per_gpu=False,
            cpu_slot=False,
            # One slot restarting would take the others' renders down with the process.
            can_restart=False,
        )
        for slot in slots
    ]


def run_slots(config: WorkerConfig, stop: threading.Event) -> list[Worker]:
    """``--slots per-gpu``: run one worker per GPU (and the CPU slot) until stopped.

    Raises DeviceError when the GPUs asked for are not there, RenderProcessError when
    Blender cannot be started to list them. A slot whose Blender cannot start is logged and
    left out; the others run.
    """
    configs = slot_configs(config, list_devices())
    workers: list[Worker] = []
    lock = threading.Lock()

    def run_one(slot: WorkerConfig) -> None:
        from .render_process import RenderProcessError

        try:
            worker = run_worker(slot, stop)
        except RenderProcessError as exc:
            log.error("%s: cannot start Blender for rendering: %s", slot.name, exc)
            return
        with lock:
            workers.append(worker)

    threads = [threading.Thread(target=run_one, args=(slot,), name=slot.name, daemon=True)
               for slot in configs]
    log.info("--slots per-gpu: %s", ", ".join(slot.name for slot in configs))
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            thread.join(0.5)  # the main thread keeps taking signals
    return workers


def token_from(value: str | None, environ: dict[str, str]) -> str | None:
    """The registration token from an option, else ``FARMHAND_REGISTRATION_TOKEN``."""
    return value or environ.get("FARMHAND_REGISTRATION_TOKEN") or None

