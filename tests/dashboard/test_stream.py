"""The dashboard's server-sent events: bursts merged, subscriptions kept across reconnects,
streams that end so a manager with open dashboards can still stop."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from manager.core.events import EventBus
from manager.dashboard import stream
from manager.dashboard.stream import EventStreams, coalesce, drain
from tests.conftest import Manager, SpecChecker, start_manager, stop_manager, submit


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_coalesce_merges_a_burst_without_changing_the_shared_events() -> None:
    burst = [
        {"type": "job", "id": "j1"},
        {"type": "task", "id": "t1", "job_id": "j1"},
        {"type": "job", "id": "j1", "refresh_tasks": True},
        {"type": "tasklog", "task_id": "t1", "job_id": "j1", "log": "one\n"},
        {"type": "task", "id": "t1", "job_id": "j1"},
        {"type": "tasklog", "task_id": "t1", "job_id": "j1", "log": "two\n"},
        {"type": "worker", "id": "w1", "was_deleted": True},
    ]
    original = json.dumps(burst)
    merged = coalesce(burst)
    assert merged == [
        {"type": "job", "id": "j1", "refresh_tasks": True},
        {"type": "task", "id": "t1", "job_id": "j1"},
        {"type": "tasklog", "task_id": "t1", "job_id": "j1", "log": "one\ntwo\n"},
        {"type": "worker", "id": "w1", "was_deleted": True},
    ]
    assert json.dumps(burst) == original
    assert coalesce([{"type": "job", "id": "x"}, {"type": "resync"}]) == [{"type": "resync"}]


def test_subscription_is_kept_across_a_reconnect_and_dropped_later() -> None:
    bus = EventBus()
    clock = FakeClock()
    streams = EventStreams(bus, clock)
    client, generation, q, resumed = streams.attach("page-123456")
    assert not resumed
    streams.detach(client, generation)

    bus.publish("job", id="while-away")
    clock.now += stream.KEEP_DETACHED_SECONDS / 2
    client2, generation2, q2, resumed = streams.attach(client)
    assert resumed and client2 == client and q2 is q
    assert drain(q2) == [{"type": "job", "id": "while-away"}]
    assert not streams.is_current(client, generation)  # an older stream of the page ends

    streams.detach(client, generation2)
    clock.now += stream.KEEP_DETACHED_SECONDS + 1
    _, _, _, resumed = streams.attach("other-page-1")
    assert not resumed
    assert len(streams) == 1  # the page that went away no longer collects events
    bus.publish("job", id="after")
    assert drain(q) == []


def test_bad_client_ids_get_a_fresh_subscription() -> None:
    streams = EventStreams(EventBus())
    client, _, _, resumed = streams.attach("../../etc")
    assert client != "../../etc" and not resumed


def read_events(response: requests.Response) -> Iterator[tuple[str, Any]]:
    """(event name, data) of each message of a text/event-stream response."""
    name, data = "message", []
    for line in response.iter_lines(decode_unicode=True):
        if line == "":
            if data:
                yield name, json.loads("\n".join(data))
            name, data = "message", []
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())


def test_event_stream_sends_farm_changes(manager: Manager) -> None:
    with requests.get(
        manager.url + "/api/farmhand/events",
        params={"client": "test-client-1"},
        stream=True,
        timeout=10,
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        messages = read_events(response)
        assert next(messages) == ("hello", {"client": "test-client-1", "resumed": False})
        job = submit(manager)
        manager.post(f"/api/v3/jobs/{job['id']}/setpriority", json={"priority": 60})
        seen: list[dict[str, Any]] = []
        while not any(e.get("id") == job["id"] for e in seen):
            name, data = next(messages)
            assert name == "message"
            seen += data


def test_streams_end_on_time_so_a_manager_with_open_dashboards_stops(
    manager_settings: Any, spec_checker: SpecChecker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stream, "STREAM_SECONDS", 1.0)
    running = start_manager(manager_settings, spec_checker)
    ended = threading.Event()

    def hold_stream_open() -> None:
        with requests.get(running.url + "/api/farmhand/events", stream=True, timeout=30) as r:
            for _ in r.iter_lines():
                pass
        ended.set()

    reader = threading.Thread(target=hold_stream_open, daemon=True)
    reader.start()
    assert ended.wait(timeout=20), "the event stream never ended"

    again = requests.get(running.url + "/api/farmhand/events", stream=True, timeout=30)
    try:
        stop_manager(running)
        assert not running._thread.is_alive(), "the manager did not stop with a stream open"
    finally:
        again.close()


def test_a_client_that_stops_reading_is_dropped(
    manager: Manager, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stream, "SEND_TIMEOUT_SECONDS", 1.0)
    monkeypatch.setattr(stream, "STREAM_SECONDS", 600.0)  # only the drop can end it
    streams: EventStreams = manager._server.config.app.state.dashboard_streams
    host, port = manager.settings.host, manager.settings.port
    frozen = socket.socket()
    # A small receive buffer: the manager's writes back up after a few messages.
    frozen.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    frozen.connect((host, port))
    frozen.sendall(
        f"GET /api/farmhand/events?client=frozen-tab-1 HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    )
    try:
        deadline = time.monotonic() + 60
        dropped = False
        n = 0
        while not dropped and time.monotonic() < deadline:
            # Log lines of many tasks: each message the stream sends is megabytes.
            for _ in range(50):
                n += 1
                manager.farm.events.publish("tasklog", task_id=f"t{n}", job_id="j", log="x" * 60000)
            time.sleep(0.2)
            with streams._lock:
                sub = streams._subs.get("frozen-tab-1")
                dropped = sub is not None and sub.detached_at is not None
        assert dropped, "a client that reads nothing kept its stream"
        # The manager closed the connection: what was buffered, then the end.
        frozen.settimeout(30)
        while frozen.recv(1 << 20):
            pass
    finally:
        frozen.close()
