"""JSON-lines messages between the worker and its render process, over a loopback socket.

A socket rather than stdout: Blender writes its own log to stdout, and the worker keeps that
stream as the task log without having to pick messages out of it.
"""

from __future__ import annotations

import json
import socket
import threading
from typing import Any

TOKEN_ENV = "FARMHAND_RENDER_TOKEN"
PORT_ENV = "FARMHAND_RENDER_PORT"
DEVICE_ENV = "FARMHAND_RENDER_DEVICE"
PINS_ENV = "FARMHAND_RENDER_GPUS"
"""GPU numbers (``--devices``) the render process enables, comma-separated; empty: all."""


class Channel:
    """Sends and receives one JSON object per line; ``recv`` returns None at EOF."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._reader = sock.makefile("rb")
        self._send_lock = threading.Lock()

    def send(self, message: dict[str, Any]) -> None:
        data = (json.dumps(message) + "\n").encode("utf-8")
        with self._send_lock:
            self.sock.sendall(data)

    def recv(self) -> dict[str, Any] | None:
        line = self._reader.readline()
        if not line:
            return None
        message = json.loads(line)
        if not isinstance(message, dict):
            raise ValueError(f"malformed message: {line[:200]!r}")
        return message

    def close(self) -> None:
        try:
            self._reader.close()
        finally:
            self.sock.close()
