"""*Start worker mode*: this Blender becomes a farm worker (the worker of ``worker_mode/``).

With a UI, the worker's loop runs in a background thread (it never touches bpy: it talks HTTP
and renders in its own Blender render process, as the command-line worker does) and the panel
shows what it does, with a button to stop it. In background mode
(``blender -b --python-expr "import bpy; bpy.ops.farmhand.worker_mode()"``) the operator runs
the command-line worker itself, on the main thread, until Ctrl+C or the manager stops it.
"""

from __future__ import annotations

import logging
import os
import socket
import threading

import bpy

from .. import farm_state
from ..preferences import get_preferences
from .connection import online_or_report
from .ui_types import OperatorResult

log = logging.getLogger(__name__)


class _LastLine(logging.Handler):
    """Keeps the worker's latest log line for the panel (a plain str; no bpy)."""

    def emit(self, record: logging.LogRecord) -> None:
        farm_state.STATE.worker_message = self.format(record)


class WorkerMode:
    """The worker running in a thread of this Blender."""

    def __init__(self, manager_url: str, name: str, registration_token: str = "") -> None:
        self.manager_url = manager_url.rstrip("/")
        self.name = name
        self.registration_token = registration_token
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
        from ..worker_mode import assembly
        from ..worker_mode.credentials import default_data_dir
        from ..worker_mode.render_process import RenderProcessError

        config = assembly.WorkerConfig(
            manager_url=self.manager_url,
            name=self.name,
            data_dir=default_data_dir(),
            registration_token=assembly.token_from(self.registration_token, dict(os.environ)),
            can_restart=False,
        )
        try:
            worker = assembly.run_worker(config, self.stop)
            farm_state.STATE.worker_message = f"Worker mode stopped after {worker.tasks_run} tasks"
        except RenderProcessError as exc:
            farm_state.STATE.worker_message = f"Worker mode could not start Blender: {exc}"
        except Exception as exc:  # the thread must say why it ended, whatever happened
            log.exception("worker mode ended")
            farm_state.STATE.worker_message = f"Worker mode failed: {exc}"
        finally:
            _worker_logger().removeHandler(self._handler)


def _worker_logger() -> logging.Logger:
    """The logger of the worker package, whatever name the extension gave it."""
    from .. import worker_mode

    return logging.getLogger(worker_mode.__name__)


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
        prefs = get_preferences(context)
        url = prefs.manager_url
        if bpy.app.background:
            from ..worker_mode.cli import main

            token = ["--registration-token", prefs.registration_token] if (
                prefs.registration_token
            ) else []
            code = main(["--manager", url, *token])
            return {"FINISHED"} if code == 0 else {"CANCELLED"}
        _worker = WorkerMode(url, socket.gethostname(), prefs.registration_token)
        _worker.start()
        farm_state.STATE.worker_message = f"Worker mode: connecting to {url}"
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
        farm_state.STATE.worker_message = "Worker mode: stopping"
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
