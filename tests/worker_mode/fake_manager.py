"""A scripted stand-in for the manager at the HTTP edge (the Transport), for unit tests."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from worker_mode.manager_api import HttpResponse, TransportError

Handler = Callable[[str, str, Any], HttpResponse]


def reply(status: int, body: Any = None) -> HttpResponse:
    return HttpResponse(status, json.dumps(body).encode() if body is not None else b"")


class FakeTransport:
    """Answers requests from per-endpoint queues of replies; records every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any]] = []
        self.replies: dict[tuple[str, str], list[HttpResponse | Exception]] = {}
        self.defaults: dict[tuple[str, str], HttpResponse] = {}
        self.down = False
        self.refused = 0
        self.lock = threading.Lock()

    def script(self, method: str, path: str, *answers: HttpResponse | Exception) -> None:
        self.replies.setdefault((method, path), []).extend(answers)

    def default(self, method: str, path: str, answer: HttpResponse) -> None:
        self.defaults[(method, path)] = answer

    def request(self, method: str, path: str, *, json_body: Any = None,
                data: bytes | None = None, headers: dict[str, str] | None = None,
                auth: tuple[str, str] | None = None) -> HttpResponse:
        with self.lock:
            if self.down:
                self.refused += 1
                raise TransportError("[Errno 111] Connection refused")
            self.calls.append((method, path, json_body if data is None else data))
            queue = self.replies.get((method, path))
            answer = queue.pop(0) if queue else self.defaults.get((method, path))
        if answer is None:
            raise AssertionError(f"unexpected request {method} {path}")
        if isinstance(answer, Exception):
            raise answer
        return answer

    def paths(self) -> list[str]:
        return [f"{method} {path}" for method, path, _ in self.calls]
