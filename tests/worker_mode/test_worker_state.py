"""The worker's state machine, driven step by step against a scripted manager."""

from __future__ import annotations

import threading

from worker_mode.credentials import Credentials, CredentialStore
from worker_mode.manager_api import ManagerClient, TransportError
from worker_mode.worker import Worker, WorkerOptions, WorkerState

from .fake_manager import FakeTransport, reply

URL = "http://farm:8080"
TASK = "/api/v3/worker/task"


def make_worker(tmp_path, transport, once=False, clock=None, ran=None):
    ran = [] if ran is None else ran
    store = CredentialStore(tmp_path)
    options = WorkerOptions(manager_url=URL, name="w", software_version="5.0.1", once=once,
                            once_idle_s=5.0)
    worker = Worker(options, ManagerClient(transport), store, ran.append, threading.Event(),
                    clock=clock)
    return worker, store, ran


def signed_on_transport() -> FakeTransport:
    t = FakeTransport()
    t.script("POST", "/api/v3/worker/register-worker", reply(200, {"uuid": "wid"}))
    t.script("POST", "/api/v3/worker/sign-on", reply(200, {"status_requested": "awake"}))
    t.default("POST", "/api/v3/worker/state-changed", reply(204))
    t.default("POST", "/api/v3/worker/sign-off", reply(204))
    return t


def test_registers_once_then_signs_on_with_the_stored_secret(tmp_path):
    t = signed_on_transport()
    worker, store, _ = make_worker(tmp_path, t)
    worker.loop_once()
    assert worker.signed_on and worker.state is WorkerState.AWAKE
    creds = store.load(URL)
    assert creds is not None and creds.worker_id == "wid"
    register_body = t.calls[0][2]
    assert register_body["secret"] == creds.secret
    assert set(register_body["supported_task_types"]) == {"blender", "ffmpeg", "file-management",
                                                           "misc"}

    t2 = FakeTransport()
    t2.script("POST", "/api/v3/worker/sign-on", reply(200, {"status_requested": "awake"}))
    t2.default("POST", "/api/v3/worker/state-changed", reply(204))
    again, _, _ = make_worker(tmp_path, t2)
    again.loop_once()
    assert "POST /api/v3/worker/register-worker" not in t2.paths()


def test_task_is_run_and_the_next_is_asked_for_at_once(tmp_path):
    t = signed_on_transport()
    task = {"uuid": "t1", "commands": []}
    t.script("POST", TASK, reply(200, task), reply(204), reply(204))
    worker, _, ran = make_worker(tmp_path, t)
    worker.loop_once()
    assert worker.loop_once() == 0.0
    assert ran == [task]
    first_idle, second_idle = worker.loop_once(), worker.loop_once()
    assert 0 < first_idle < second_idle  # Idle: slower and slower.


def test_asleep_request_is_acknowledged_and_state_polled_until_awake(tmp_path):
    t = signed_on_transport()
    t.script("POST", TASK, reply(423, {"status_requested": "asleep"}))
    t.script("GET", "/api/v3/worker/state", reply(204), reply(200, {"status_requested": "awake"}))
    worker, _, _ = make_worker(tmp_path, t)
    worker.loop_once()  # sign on
    worker.loop_once()  # 423 -> asleep
    assert worker.state is WorkerState.ASLEEP
    assert t.calls[-1] == ("POST", "/api/v3/worker/state-changed", {"status": "asleep"})
    assert worker.loop_once() > 0  # still asleep
    worker.loop_once()
    assert worker.state is WorkerState.AWAKE
    assert t.calls[-1] == ("POST", "/api/v3/worker/state-changed", {"status": "awake"})
    assert sum(1 for p in t.paths() if p == f"POST {TASK}") == 1  # No task asked while asleep.


def test_offline_request_is_acknowledged_then_the_worker_signs_off(tmp_path):
    t = signed_on_transport()
    t.script("POST", TASK, reply(423, {"status_requested": "offline"}))
    worker, _, _ = make_worker(tmp_path, t)
    worker.run()
    assert worker.done and not worker.restart
    assert ("POST", "/api/v3/worker/state-changed", {"status": "offline"}) in t.calls
    assert t.paths()[-1] == "POST /api/v3/worker/sign-off"


def test_restart_request_ends_the_loop_asking_for_a_restart(tmp_path):
    t = signed_on_transport()
    t.script("POST", TASK, reply(423, {"status_requested": "restart"}))
    worker, _, _ = make_worker(tmp_path, t)
    worker.run()
    assert worker.restart


def test_manager_down_means_retrying_with_growing_delays_not_failing(tmp_path):
    t = signed_on_transport()
    t.down = True
    worker, _, _ = make_worker(tmp_path, t)
    delays = [worker.loop_once() for _ in range(4)]
    assert delays[0] < delays[-1]
    assert not worker.signed_on
    t.down = False
    worker.loop_once()
    assert worker.signed_on
    assert worker.retry.attempts == 0


def test_rejected_credentials_lead_to_registering_again(tmp_path):
    CredentialStore(tmp_path).save(URL, Credentials("forgotten", "s"))
    t = signed_on_transport()
    t.replies[("POST", "/api/v3/worker/sign-on")].insert(0, reply(401, {"message": "who?"}))
    worker, store, _ = make_worker(tmp_path, t)
    worker.loop_once()  # 401
    worker.loop_once()  # register + sign on
    assert worker.signed_on
    assert store.load(URL).worker_id == "wid"


def test_not_awake_answer_means_signing_on_again(tmp_path):
    t = signed_on_transport()
    t.script("POST", TASK, reply(409))
    t.script("POST", "/api/v3/worker/sign-on", reply(200, {"status_requested": "awake"}))
    worker, _, _ = make_worker(tmp_path, t)
    worker.loop_once()
    worker.loop_once()
    assert not worker.signed_on
    worker.loop_once()
    assert worker.signed_on


def test_once_exits_after_the_manager_had_nothing_for_a_while(tmp_path):
    now = [100.0]
    t = signed_on_transport()
    t.default("POST", TASK, reply(204))
    worker, _, _ = make_worker(tmp_path, t, once=True, clock=lambda: now[0])
    worker.loop_once()
    worker.loop_once()
    assert not worker.done
    now[0] += 6
    worker.loop_once()
    assert worker.done


def test_transport_errors_never_escape_the_loop(tmp_path):
    t = signed_on_transport()
    t.script("POST", TASK, TransportError("reset"))
    worker, _, _ = make_worker(tmp_path, t)
    worker.loop_once()
    assert worker.loop_once() > 0
