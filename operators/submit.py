"""*Submit to Farm*: save, evaluate the job settings, pack/upload and submit in a thread.

The thread never touches bpy. It posts small messages on a ``queue.SimpleQueue``; the modal
operator applies them on the main thread four times a second (the status bar, the panel and,
at the end, the report). Run without a UI (``bpy.ops.farmhand.submit_job()`` in a script or in
background mode) the operator pumps the same queue itself until the thread is done.

*Abort* (the panel's button next to the progress bar, or Esc) stops packing or uploading at
its next step; nothing is submitted. Once the job itself is on its way it cannot be taken
back: the artist cancels it in the job list.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bpy

from .. import farm_state
from ..client.api import JobTypeChanged, ManagerError, ManagerUnreachable
from ..client.job_settings import SettingEvalError, missing_required
from ..client.submission import (
    JobRequest,
    SubmissionAborted,
    SubmissionError,
    describe_submitted,
    submit,
)
from ..preferences import get_preferences
from . import job_type_props, jobs, worker_tags
from .connection import online_or_report
from .ui_types import OperatorResult

log = logging.getLogger(__name__)

#: How often the modal operator applies the thread's messages, in seconds.
PUMP_INTERVAL_S = 0.25


@dataclass
class Progress:
    step: str
    fraction: float


@dataclass
class Submitted:
    job: dict[str, Any]


@dataclass
class Failed:
    message: str
    job_type_changed: bool = False


Message = Progress | Submitted | Failed

#: Set by *Abort*; the submitting thread checks it at every progress step.
_abort = threading.Event()
ABORTED_MESSAGE = "Submission aborted: nothing was submitted"


def request_abort() -> None:
    """Stop the running submission at its next step (any thread may call it)."""
    _abort.set()


def _submit_in_thread(
    url: str, token: str, request: JobRequest, blendfile: Path, out: queue.SimpleQueue[Message]
) -> None:
    """The background part: no bpy here, only the client and the queue."""
    from ..client.api import ManagerAPI

    api = ManagerAPI(url, token)

    def progress(step: str, fraction: float) -> None:
        # At 1.0 the job is on the manager: too late to abort, and its answer must not be lost.
        if _abort.is_set() and fraction < 1.0:
            raise SubmissionAborted
        out.put(Progress(step, fraction))

    try:
        job = submit(api, request, blendfile, progress)
        out.put(Submitted(job))
    except SubmissionAborted:
        out.put(Failed(ABORTED_MESSAGE))
    except JobTypeChanged:
        out.put(
            Failed(
                "Job type changed on the manager since it was fetched: refresh job types, "
                "check the settings and submit again",
                job_type_changed=True,
            )
        )
    except ManagerUnreachable as exc:
        out.put(Failed(str(exc)))
    except (ManagerError, SubmissionError) as exc:
        out.put(Failed(str(exc)))
    except Exception as exc:  # the packer's own errors: name them, never lose the thread
        log.exception("submission failed")
        out.put(Failed(f"Packing or uploading failed: {exc}"))
    finally:
        api.close()


class FARMHAND_OT_submit_job(bpy.types.Operator):
    bl_idname = "farmhand.submit_job"
    bl_label = "Submit to Farm"
    bl_description = "Save the file, send it to the farm and submit the job"

    _timer: Any = None
    _thread: threading.Thread | None = None
    _queue: queue.SimpleQueue[Message] | None = None
    _result: set[OperatorResult] | None = None

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return farm_state.STATE.submit is None

    # Entry points -----------------------------------------------------------------------------

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[OperatorResult]:
        if not self._start(context):
            return {"CANCELLED"}
        wm = context.window_manager
        assert wm is not None
        self._timer = wm.event_timer_add(PUMP_INTERVAL_S, window=context.window)
        wm.progress_begin(0, 100)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> set[OperatorResult]:
        if event.type == "ESC" and event.value == "PRESS":
            request_abort()
            return {"RUNNING_MODAL"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        self._apply_messages(context)
        if self._result is None:
            return {"PASS_THROUGH"}
        wm = context.window_manager
        assert wm is not None
        wm.event_timer_remove(self._timer)
        wm.progress_end()
        if context.workspace is not None:
            context.workspace.status_text_set(None)
        return self._result

    def execute(self, context: bpy.types.Context) -> set[OperatorResult]:
        if not self._start(context):
            return {"CANCELLED"}
        while self._result is None:
            time.sleep(0.05)
            self._apply_messages(context)
        return self._result

    # Main thread ------------------------------------------------------------------------------

    def _start(self, context: bpy.types.Context) -> bool:
        """Check, save and evaluate on the main thread; then start the thread."""
        if not online_or_report(self):
            return False
        request = self._job_request(context)
        if request is None:
            return False
        prefs = get_preferences(context)
        if not prefs.manager_url.strip():
            self.report({"ERROR"}, "No manager URL is set: set it in the add-on preferences")
            return False
        self._queue = queue.SimpleQueue()
        self._result = None
        _abort.clear()
        farm_state.STATE.submit = farm_state.SubmitProgress("Starting", 0.0)
        farm_state.STATE.last_submit_message = ""
        self._thread = threading.Thread(
            target=_submit_in_thread,
            args=(
                prefs.manager_url,
                prefs.access_token,
                request,
                Path(bpy.data.filepath),
                self._queue,
            ),
            name="farmhand-submit",
            daemon=True,
        )
        self._thread.start()
        return True

    def _job_request(self, context: bpy.types.Context) -> JobRequest | None:
        scene: Any = job_type_props.scene_of(context)  # has the add-on's own properties
        if not bpy.data.filepath:
            self.report({"ERROR"}, "Save the file first: the farm renders the saved .blend")
            return None
        group = job_type_props.settings_group(context)
        job_type = group.job_type if group is not None else None
        if job_type is None or job_type.name not in farm_state.STATE.job_types:
            chosen = job_type_props.chosen_name(scene)
            self.report({"ERROR"}, job_type_props.unavailable_reason(chosen)
                        or "No job type chosen: refresh job types and pick one")
            return None
        try:
            values = job_type_props.evaluate_into(context, group)
        except SettingEvalError as exc:
            self.report({"ERROR"}, f"Cannot compute the job settings: {exc}")
            return None
        values.pop("blendfile", None)  # filled in with where the file ends up
        missing = [k for k in missing_required(job_type, values) if k != "blendfile"]
        if missing:
            self.report({"ERROR"}, f"Fill in the required settings: {', '.join(missing)}")
            return None
        if bpy.data.is_dirty:
            result = bpy.ops.wm.save_mainfile()
            if "FINISHED" not in result:
                self.report({"ERROR"}, "Could not save the file; the farm renders the saved file")
                return None
        return JobRequest(
            name=job_type_props.job_name(scene),
            type=job_type.name,
            type_etag=job_type.etag,
            settings=values,
            priority=scene.farmhand_priority,
            worker_tag=worker_tags.chosen_tag(scene),
            paused=scene.farmhand_submit_paused,
        )

    def _apply_messages(self, context: bpy.types.Context) -> None:
        assert self._queue is not None
        while True:
            try:
                message = self._queue.get_nowait()
            except queue.Empty:
                break
            self._apply(context, message)
        for area in getattr(context.screen, "areas", ()):
            if area.type == "PROPERTIES":
                area.tag_redraw()

    def _apply(self, context: bpy.types.Context, message: Message) -> None:
        if isinstance(message, Progress):
            farm_state.STATE.submit = farm_state.SubmitProgress(message.step, message.fraction)
            wm = context.window_manager
            if context.workspace is not None and wm is not None and not bpy.app.background:
                context.workspace.status_text_set(
                    f"Farmhand: {message.step} ({message.fraction:.0%})"
                )
                wm.progress_update(int(message.fraction * 100))
            return
        farm_state.STATE.submit = None
        if isinstance(message, Submitted):
            text = describe_submitted(message.job)
            farm_state.STATE.last_submit_message = text
            farm_state.STATE.jobs.insert(0, message.job)
            jobs.start_polling()  # the panel follows the new job without a click on refresh
            self.report({"INFO"}, text)
            self._result = {"FINISHED"}
        else:
            farm_state.STATE.last_submit_message = message.message
            if message.job_type_changed:
                farm_state.STATE.job_types_error = message.message
            self.report({"ERROR"}, message.message)
            self._result = {"CANCELLED"}


class FARMHAND_OT_abort_submit(bpy.types.Operator):
    bl_idname = "farmhand.abort_submit"
    bl_label = "Abort Submission"
    bl_description = "Stop packing and uploading; the job is not submitted"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return farm_state.STATE.submit is not None

    def execute(self, context: bpy.types.Context) -> set[OperatorResult]:
        request_abort()
        running = farm_state.STATE.submit
        farm_state.STATE.submit = farm_state.SubmitProgress(
            "Aborting", running.fraction if running else 0.0
        )
        return {"FINISHED"}


classes = (FARMHAND_OT_submit_job, FARMHAND_OT_abort_submit)
register, unregister = bpy.utils.register_classes_factory(classes)
