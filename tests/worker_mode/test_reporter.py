"""Task updates from the reporter thread: buffering through outages, stopping on 409/no."""

from __future__ import annotations

import threading

from worker_mode.credentials import Credentials
from worker_mode.manager_api import ManagerClient
from worker_mode.reporter import ReporterTiming, TaskReporter

from .fake_manager import FakeTransport, reply
from .helpers import wait_for

FAST = ReporterTiming(update_interval=0.05, heartbeat_interval=0.5, may_i_run_interval=0.1,
                      retry_first=0.05, retry_max=0.1)
UPDATE = "/api/v3/worker/task/t1"
MAY = "/api/v3/worker/task/t1/may-i-run"


def make(transport: FakeTransport) -> TaskReporter:
    client = ManagerClient(transport, Credentials("w", "s"))
    reporter = TaskReporter(client, "t1", FAST)
    reporter.start()
    return reporter


def updates(t: FakeTransport) -> list[dict]:
    return [body for method, path, body in t.calls if path == UPDATE]


def test_updates_are_buffered_while_the_manager_is_down_and_sent_in_order():
    t = FakeTransport()
    t.default("POST", UPDATE, reply(204))
    t.default("GET", MAY, reply(200, {"mayKeepRunning": True, "reason": "",
                                      "statusChangeRequested": False}))
    reporter = make(t)
    t.down = True
    for n in range(5):
        reporter.log(f"line {n}")
        reporter.set_steps(n)
    wait_for(lambda: t.refused >= 2, 5, "attempts while the manager is down")
    t.down = False
    assert reporter.finish("completed", "done", threading.Event(), timeout=5)
    sent = updates(t)
    log = "".join(u.get("log", "") for u in sent)
    assert log == "".join(f"line {n}\n" for n in range(5))
    assert sent[-1]["taskStatus"] == "completed"
    assert sent[-1]["steps_completed"] == 4


def test_409_on_an_update_means_the_task_is_no_longer_ours():
    t = FakeTransport()
    t.default("POST", UPDATE, reply(409))
    t.default("GET", MAY, reply(200, {"mayKeepRunning": True, "reason": "",
                                      "statusChangeRequested": False}))
    reporter = make(t)
    reporter.log("hello")
    wait_for(lambda: reporter.cancelled, 5, "the reporter to notice the 409")
    reporter.close()


def test_may_i_run_no_cancels_and_notes_a_requested_state_change():
    t = FakeTransport()
    t.default("POST", UPDATE, reply(204))
    t.default("GET", MAY, reply(200, {"mayKeepRunning": False, "reason": "asleep",
                                      "statusChangeRequested": True}))
    reporter = make(t)
    wait_for(lambda: reporter.cancelled, 5, "may-i-run to say no")
    assert reporter.status_change_requested
    reporter.close()


def test_previews_are_sent_as_raw_jpeg(tmp_path):
    t = FakeTransport()
    t.default("POST", UPDATE, reply(204))
    t.default("POST", "/api/v3/worker/task/t1/output-produced", reply(202))
    t.default("GET", MAY, reply(200, {"mayKeepRunning": True, "reason": "",
                                      "statusChangeRequested": False}))
    preview = tmp_path / "p.jpg"
    preview.write_bytes(b"\xff\xd8jpeg")
    reporter = make(t)
    reporter.add_preview(str(preview))
    wait_for(lambda: any(p.endswith("output-produced") for _, p, _ in t.calls), 5, "the preview")
    reporter.close()
    body = next(b for _, p, b in t.calls if p.endswith("output-produced"))
    assert body == b"\xff\xd8jpeg"
    assert not preview.exists()
