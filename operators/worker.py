"""*Start worker mode*: this Blender becomes a farm worker (the worker of ``worker_mode/``).

With a UI, the worker's loop runs in a background thread (it never touches bpy: it talks HTTP
and renders in its own Blender render process, as the command-line worker does) and the panel
shows what it does, with a button to stop it. In background mode
(``blender -b --python-expr "import bpy; bpy.ops.farmhand.worker_mode()"``) the operator runs
the command-line worker itself, on the main thread, until Ctrl+C or the manager stops it.
"""

from __future__ import annotations

import logging
import socket
import threading

import bpy

from ..preferences import get_preferences
from . import state
from .connection import online_or_report
from .ui_types import OperatorResult

log = logging.getLogger(__name__)


class _LastLine(logging.Handler):
    """Keeps the worker's latest log line for the panel (a plain str; no bpy)."""

    def emit(self, record: logging.LogRecord) -> None:
        state.STATE.worker_message = self.format(record)


class WorkerMode:
    """The worker running in a thread of this Blender."""

    def __init__(self, manager_url: str, name: str) -> None:
        self.manager_url = manager_url.rstrip("/")
        self.name = name
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="farmhand-worker", daemon=True)
        self._handler = _LastLine()
        self._handler.setFormatter(logging.Formatter("%(message)s"))

    def start(self) -> None:
        _worker_logger().addHandler(self._handler)
        _worker_logger().setLevel(logging.INFO)
        self.thread.start()

    @property
    def running(self) -> bool:
        return self.thread.is_alive()

    def request_stop(self) -> None:
        self.stop.set()

    def _run(self) -> None:
        from ..worker_mode.credentials import CredentialStore, default_data_dir
        from ..worker_mode.defaults import SUPPORTED_TASK_TYPES
        from ..worker_mode.manager_api import ManagerClient, RequestsTransport
        from ..worker_mode.render_process import RenderProcessError
        from ..worker_mode.renderer import Renderer
        from ..worker_mode.task_runner import TaskRunner
        from ..worker_mode.worker import Worker, WorkerOptions

        renderer = Renderer(None)
        try:
            renderer.ensure_started()
            data_dir = default_data_dir()
            previews = data_dir / "previews"
            previews.mkdir(parents=True, exist_ok=True)
            client = ManagerClient(RequestsTransport(self.manager_url))

            def reporter_client() -> ManagerClient:
                return ManagerClient(RequestsTransport(self.manager_url), client.credentials)

            runner = TaskRunner(reporter_client, renderer, self.stop, str(previews))
            options = WorkerOptions(
                manager_url=self.manager_url,
                name=self.name,
                software_version=str(renderer.hello.get("blender", bpy_version())),
                task_types=list(SUPPORTED_TASK_TYPES),
                can_restart=False,
            )
            worker = Worker(
                options,
                client,
                CredentialStore(data_dir),
                runner.run,
                self.stop,
                status_change_requested=lambda: runner.status_change_requested,
            )
            worker.run()
            state.STATE.worker_message = f"Worker mode stopped after {worker.tasks_run} tasks"
        except RenderProcessError as exc:
            state.STATE.worker_message = f"Worker mode could not start Blender: {exc}"
        except Exception as exc:  # the thread must say why it ended, whatever happened
            log.exception("worker mode ended")
            state.STATE.worker_message = f"Worker mode failed: {exc}"
        finally:
            renderer.shutdown()
            _worker_logger().removeHandler(self._handler)


def _worker_logger() -> logging.Logger:
    """The logger of the worker package, whatever name the extension gave it."""
    from .. import worker_mode

    return logging.getLogger(worker_mode.__name__)


def bpy_version() -> str:
    return ".".join(str(v) for v in bpy.app.version)


_worker: WorkerMode | None = None


def worker_running() -> bool:
    return _worker is not None and _worker.running


class FARMHAND_OT_worker_mode(bpy.types.Operator):
    bl_idname = "farmhand.worker_mode"
    bl_label = "Start Worker Mode"
    bl_description = (
        "Make this Blender a farm worker: it takes tasks from the manager and renders them"
    )

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return not worker_running()

    def execute(self, context: bpy.types.Context) -> set[OperatorResult]:
        global _worker
        if not online_or_report(self):
            return {"CANCELLED"}
        url = get_preferences(context).manager_url
        if bpy.app.background:
            from ..worker_mode.cli import main

            code = main(["--manager", url])
            return {"FINISHED"} if code == 0 else {"CANCELLED"}
        _worker = WorkerMode(url, socket.gethostname())
        _worker.start()
        state.STATE.worker_message = f"Worker mode: connecting to {url}"
        bpy.app.timers.register(_redraw_while_running, first_interval=1.0)
        self.report({"INFO"}, f"Worker mode started; taking tasks from {url}")
        return {"FINISHED"}


class FARMHAND_OT_stop_worker_mode(bpy.types.Operator):
    bl_idname = "farmhand.stop_worker_mode"
    bl_label = "Stop Worker Mode"
    bl_description = "Stop taking tasks; a task being rendered is handed back to the manager"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return worker_running()

    def execute(self, context: bpy.types.Context) -> set[OperatorResult]:
        if _worker is not None:
            _worker.request_stop()
        state.STATE.worker_message = "Worker mode: stopping"
        return {"FINISHED"}


def _redraw_while_running() -> float | None:
    for window in getattr(bpy.context.window_manager, "windows", ()):
        for area in window.screen.areas:
            if area.type == "PROPERTIES":
                area.tag_redraw()
    return 1.0 if worker_running() else None


def stop_worker(timeout: float = 10.0) -> None:
    """Stop worker mode and wait for its thread (on unregister)."""
    global _worker
    if _worker is not None:
        _worker.request_stop()
        _worker.thread.join(timeout)
        _worker = None


classes = (FARMHAND_OT_worker_mode, FARMHAND_OT_stop_worker_mode)
_register, _unregister = bpy.utils.register_classes_factory(classes)


def register() -> None:
    _register()


def unregister() -> None:
    stop_worker()
    if bpy.app.timers.is_registered(_redraw_while_running):
        bpy.app.timers.unregister(_redraw_while_running)
    _unregister()
