"""One worker lane: whichever protocol a worker speaks (v3, 2022, /farm, SheepIt, 2015), its
requests mark it seen, a report or frame for a task that is not its own is refused by the same
rule, and what it asks for (work, reports, uploads) runs on the farm's batch writer."""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from manager.core import scheduler, tasks, worker_session
from manager.core.farm import utcnow
from manager.db.models import Task, Worker
from manager.db.protocol_models import ProtocolWorker
from manager.protocols.common import task_frame
from manager.protocols.sheepit_session import job_number
from tests.conftest import FakeWorker, Manager, database_backends, register_worker, submit
from tests.protocols.conftest import submit_frames
from tests.protocols.sheepit_farm import ready_for_sheepit
from tests.protocols.test_sheepit import Client, png
from worker_mode.outputs import OutputUploader, UploadRefused

# The one lane runs on both databases.
pytestmark = pytest.mark.parametrize("backend", database_backends(), indirect=True)

PROTOCOLS = ["v3", "2022", "farm", "sheepit", "2015"]
WRITER_THREAD = "farmhand-batch-writer"


# Clients of each protocol ----------------------------------------------------------------------


@dataclass
class Speaker:
    """A worker of one protocol: its core worker id, one request that asks for work, one that
    reports progress on a task, and the task it would be handed."""

    worker_id: str
    ask_for_work: Callable[[], Any]
    report_on: Callable[[str], Any]


class Worker2022:
    def __init__(self, manager: Manager, name: str) -> None:
        self.url = manager.url + "/api/worker"
        secret = uuid.uuid4().hex
        registered = requests.post(
            self.url + "/register-worker",
            json={
                "nickname": name,
                "secret": secret,
                "platform": "linux",
                "supported_task_types": ["misc"],
            },
            timeout=30,
        )
        assert registered.status_code == 200, registered.text
        self.id = registered.json()["uuid"]
        self.auth = (self.id, secret)
        body = {"nickname": name, "supported_task_types": ["misc"], "software_version": "2022"}
        assert self.post("/sign-on", json=body).status_code == 200
        assert self.post("/state-changed", json={"status": "awake"}).status_code == 204

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.post(self.url + path, auth=self.auth, timeout=30, **kwargs)


def farm_node(manager: Manager, name: str) -> Speaker:
    def exchange(*items: dict[str, Any]) -> Any:
        identity = {"id": "identity", "name": name, "provides": ["blender-frame"]}
        response = manager.post("/farm", json=[identity, *items])
        assert response.status_code == 200, response.text
        return response.json()

    exchange()
    task_request = {"id": "task", "paths": ["projects"], "provides": ["blender-frame"], "count": 1}
    return Speaker(
        worker_id=_protocol_worker_id(manager, "farm", name),
        ask_for_work=lambda: exchange(task_request),
        report_on=lambda task_id: exchange(
            {"id": "report", "uuid": task_id, "frame": 1, "done": 0, "total": 1}
        ),
    )


def sheepit_client(manager: Manager, hostname: str) -> tuple[Speaker, Client]:
    client = Client(manager)
    assert client.login(hostname=hostname).get("status") == "0"

    def keep_alive(task_id: str) -> Any:
        # SheepIt clients name a task by its job's number and the frame.
        with manager.farm.db.read() as session:
            task = session.get(Task, task_id)
            assert task is not None
            number, frame = job_number(task.job_id), task_frame(task)
        return client.xml("keepmealive", params={"job": str(number), "frame": str(frame)})

    speaker = Speaker(
        worker_id=_protocol_worker_id(manager, "sheepit", f"alice/{hostname}"),
        ask_for_work=lambda: client.xml("request-job"),
        report_on=keep_alive,
    )
    return speaker, client


def worker_2015(manager: Manager, hostname: str) -> Speaker:
    response = manager.post("/workers", json={"hostname": hostname, "system": "Linux"})
    assert response.status_code == 200, response.text
    number = response.json()[hostname]["id"]
    return Speaker(
        worker_id=_protocol_worker_id(manager, "rest2015", hostname),
        ask_for_work=lambda: manager.api(
            "PATCH", f"/workers/{number}", json={"status": "available"}
        ),
        report_on=lambda _task_id: manager.api(
            "PATCH",
            "/tasks/12",
            json={"worker_id": number, "status": "rendering", "frame_current": 1},
        ),
    )


def _protocol_worker_id(manager: Manager, protocol: str, key: str) -> str:
    with manager.farm.db.read() as session:
        row = session.get(ProtocolWorker, (protocol, key))
        assert row is not None
        return row.worker_id


def v3_speaker(worker: FakeWorker) -> Speaker:
    return Speaker(
        worker_id=worker.id,
        ask_for_work=lambda: worker.call("POST", "/task"),
        report_on=lambda task_id: worker.update(task_id, activity="rendering"),
    )


def speaker_2022(manager: Manager, name: str) -> Speaker:
    worker = Worker2022(manager, name)
    return Speaker(
        worker_id=worker.id,
        ask_for_work=lambda: worker.post("/task"),
        report_on=lambda task_id: worker.post(f"/task/{task_id}", json={"activity": "rendering"}),
    )


@pytest.fixture
def farm(manager: Manager) -> Manager:
    """A manager that every protocol's clients can render on: a SheepIt user and renderer, a
    blend file on its disk."""
    return ready_for_sheepit(manager)


def speaker_of(farm: Manager, protocol: str, name: str) -> Speaker:
    """A worker of the protocol, signed on and awake."""
    if protocol == "v3":
        worker = register_worker(farm, name)
        worker.wake(["misc"])
        return v3_speaker(worker)
    if protocol == "2022":
        return speaker_2022(farm, name)
    if protocol == "farm":
        return farm_node(farm, name)
    if protocol == "sheepit":
        return sheepit_client(farm, name)[0]
    return worker_2015(farm, name)


def submit_for(farm: Manager, protocol: str) -> None:
    """One task that the protocol's workers can run."""
    if protocol in ("v3", "2022"):
        submit(farm, settings={"frames": "1", "chunk_size": 1})
    elif protocol == "2015":
        body = {
            "settings": '{"frame_start": 1, "frame_end": 1, "filepath": "/shots/a.blend"}',
            "task_id": 12,
            "type": "blender_simple",
        }
        assert farm.post("/tasks", json=body).status_code == 202
    else:
        # share::path, the /farm convention: nodes listing the share get it.
        submit_frames(farm, "1", blendfile="projects::shot.blend")


def only_task(farm: Manager) -> Task:
    with farm.farm.db.read() as session:
        (task,) = session.query(Task).all()
        session.expunge(task)
        return task


# Seen --------------------------------------------------------------------------------------------


def _age_last_seen(farm: Manager, worker_id: str) -> None:
    with farm.farm.db.write() as session:
        worker = session.get(Worker, worker_id)
        assert worker is not None
        worker.last_seen = utcnow() - timedelta(hours=1)


def _last_seen(farm: Manager, worker_id: str) -> Any:
    with farm.farm.db.read() as session:
        worker = session.get(Worker, worker_id)
        assert worker is not None
        return worker.last_seen


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_request_on_any_protocol_marks_its_worker_seen(farm: Manager, protocol: str) -> None:
    speaker = speaker_of(farm, protocol, f"{protocol}-worker")
    _age_last_seen(farm, speaker.worker_id)
    before = utcnow()
    speaker.ask_for_work()
    assert _last_seen(farm, speaker.worker_id) >= before - timedelta(seconds=1)


def test_an_upload_marks_its_worker_seen(
    farm: Manager, awake_worker: FakeWorker, tmp_path: Path
) -> None:
    submit(farm)
    task = awake_worker.next_task()
    assert task is not None
    _age_last_seen(farm, awake_worker.id)
    before = utcnow()
    _upload(awake_worker, task["uuid"], tmp_path)
    assert _last_seen(farm, awake_worker.id) >= before - timedelta(seconds=1)


# Not its task ----------------------------------------------------------------------------------


def _refusal(protocol: str, answer: Any) -> str:
    """The protocol's form of 'not your task', as text."""
    if protocol in ("v3", "2022", "2015"):
        assert answer.status_code == 409, answer.text
        assert answer.json()["code"] == 409
        return str(answer.json()["message"])
    if protocol == "farm":
        assert [a["id"] for a in answer] == ["kill"]
        return "kill"
    assert answer.get("status") == "400"
    return str(answer.get("message"))


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_report_on_another_workers_task_is_refused_on_every_protocol(
    farm: Manager, protocol: str
) -> None:
    submit_for(farm, protocol)
    holder = speaker_of(farm, protocol, f"{protocol}-holder")
    holder.ask_for_work()
    held = only_task(farm)
    assert (held.status, held.worker_id) == ("active", holder.worker_id)
    intruder = speaker_of(farm, protocol, f"{protocol}-intruder")

    message = _refusal(protocol, intruder.report_on(held.id))

    if protocol != "farm":
        assert f"task {held.id} is not assigned to worker" in message
        assert f"{protocol}-intruder" in message
    after = only_task(farm)
    assert (after.status, after.worker_id, after.activity, after.last_touched) == (
        held.status,
        held.worker_id,
        held.activity,
        held.last_touched,
    )


def _upload(worker: FakeWorker, task_id: str, tmp_path: Path) -> str:
    frame = tmp_path / "0001.png"
    frame.write_bytes(png((200, 120, 40)))
    uploader = OutputUploader(worker.manager.url, (worker.id, worker.secret), sleep=lambda s: None)
    return uploader.upload(task_id, frame)


def test_frames_for_another_workers_task_are_refused_on_every_upload_path(
    farm: Manager, awake_worker: FakeWorker, tmp_path: Path
) -> None:
    submit(farm)
    task = awake_worker.next_task()
    assert task is not None
    other = register_worker(farm, "other")
    other.wake()
    refusal = f"task {task['uuid']} is not assigned to worker 'other'"

    with pytest.raises(UploadRefused, match="409") as refused:
        _upload(other, task["uuid"], tmp_path)
    assert refusal in str(refused.value)
    preview = other.call(
        "POST",
        f"/task/{task['uuid']}/output-produced",
        data=png((1, 2, 3)),
        headers={"Content-Type": "image/png"},
    )
    assert preview.status_code == 409 and preview.json()["message"] == refusal
    may = other.call("GET", f"/task/{task['uuid']}/may-i-run").json()
    assert may["mayKeepRunning"] is False
    assert farm.get(f"/api/farmhand/jobs/{task['job']}/outputs").json()["files"] == []


def test_a_sheepit_frame_for_another_clients_task_is_refused_like_the_others(
    farm: Manager,
) -> None:
    submit_frames(farm, "1")
    holder, _ = sheepit_client(farm, "desk-1")
    job = holder.ask_for_work().find("job")
    assert job is not None
    _, intruder = sheepit_client(farm, "desk-2")
    answer = intruder.xml(
        "validate-job",
        "POST",
        data={"job": job.get("id"), "frame": job.get("frame"), "rendertime": "3"},
        files={"file": ("0001.png", png((200, 120, 40)), "image/png")},
    )
    assert answer.get("status") == "303"
    assert answer.get("message") == (
        f"task {only_task(farm).id} is not assigned to worker 'alice/desk-2'"
    )
    assert only_task(farm).status == "active"
    assert not list((farm.settings.data_dir / "sheepit").rglob("0001.png"))


# The batch writer ------------------------------------------------------------------------------


@pytest.fixture
def threads_of(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, list[str]]]:
    """The threads that claims, reports and task-ownership checks run on, by name."""
    seen: dict[str, list[str]] = {"claim": [], "report": [], "owned": []}

    def spy(key: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            seen[key].append(threading.current_thread().name)
            return real(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(scheduler, "claim_task_id", spy("claim", scheduler.claim_task_id))
    monkeypatch.setattr(
        tasks, "update_task_from_worker", spy("report", tasks.update_task_from_worker)
    )
    monkeypatch.setattr(worker_session, "owned_task", spy("owned", worker_session.owned_task))
    yield seen


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_claims_and_reports_of_every_protocol_run_on_the_batch_writer(
    farm: Manager, protocol: str, threads_of: dict[str, list[str]]
) -> None:
    submit_for(farm, protocol)
    speaker = speaker_of(farm, protocol, f"{protocol}-worker")
    speaker.ask_for_work()
    task = only_task(farm)
    assert task.worker_id == speaker.worker_id
    speaker.report_on(task.id)
    assert only_task(farm).last_touched != task.last_touched  # the report was applied
    assert threads_of["claim"] and set(threads_of["claim"]) == {WRITER_THREAD}
    assert threads_of["report"] and set(threads_of["report"]) == {WRITER_THREAD}


def test_uploads_check_their_task_on_the_batch_writer(
    farm: Manager, awake_worker: FakeWorker, tmp_path: Path, threads_of: dict[str, list[str]]
) -> None:
    submit(farm)
    task = awake_worker.next_task()
    assert task is not None
    sha = _upload(awake_worker, task["uuid"], tmp_path)
    assert sha == hashlib.sha256((tmp_path / "0001.png").read_bytes()).hexdigest()
    assert threads_of["owned"] and set(threads_of["owned"]) == {WRITER_THREAD}


def test_a_farm_exchange_that_fails_undoes_only_its_own_changes(farm: Manager) -> None:
    """Queued on the batch writer together, a /farm exchange refused half-way leaves nothing of
    itself behind, and the requests sharing its commit keep their changes."""
    submit_frames(farm, "1-2", blendfile="projects::shot.blend")
    node = farm_node(farm, "node-1")
    node.ask_for_work()
    mine = only_task_of(farm, node.worker_id)
    writer = farm.farm.writer
    gate = threading.Event()
    gate_work = threading.Thread(target=_hold_the_writer, args=(farm, gate), daemon=True)
    gate_work.start()
    try:
        answers: dict[str, Any] = {}

        def post(key: str, body: list[dict[str, Any]]) -> None:
            answers[key] = requests.post(farm.url + "/farm", json=body, timeout=30)

        identity = {"id": "identity", "name": "node-2", "provides": ["blender-frame"]}
        claim = {"id": "task", "paths": ["projects"], "provides": ["blender-frame"], "count": 1}
        wrong_frame = {"id": "done", "uuid": mine.id, "frame": 99, "time": 1.0}
        good = threading.Thread(target=post, args=("good", [identity, claim]))
        bad = threading.Thread(
            target=post,
            args=("bad", [{**identity, "name": "node-3"}, claim, wrong_frame]),
        )
        good.start()
        bad.start()
        _wait_for(lambda: writer._queue.qsize() >= 2)
    finally:
        gate.set()
    good.join(30)
    bad.join(30)
    gate_work.join(30)
    assert answers["good"].status_code == 200 and len(answers["good"].json()) == 1
    assert answers["bad"].status_code == 400 and "frame" in answers["bad"].json()["message"]
    workers = {w["name"] for w in farm.get("/api/v3/worker-mgt/workers").json()["workers"]}
    assert workers == {"node-1", "node-2"}  # node-3's registration went with its exchange
    assert only_task_of(farm, node.worker_id).status == "active"


def only_task_of(farm: Manager, worker_id: str) -> Task:
    with farm.farm.db.read() as session:
        (task,) = session.query(Task).filter(Task.worker_id == worker_id).all()
        session.expunge(task)
        return task


def _hold_the_writer(farm: Manager, gate: threading.Event) -> None:
    """Keep the writer busy until ``gate`` opens, so that the requests behind it queue up and
    run as one batch."""

    async def hold() -> None:
        await farm.farm.writer.run(lambda session: gate.wait(30))

    asyncio.run(hold())


def _wait_for(condition: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)
