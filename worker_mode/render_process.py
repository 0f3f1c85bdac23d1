"""The worker's handle on its render process: start, request, read events, kill.

The render process (``render_child``) keeps the job's .blend open between tasks. The worker
kills it to abandon a render at once (cancellation, shutdown) and starts a new one for the
next task; its crash fails only the task it was rendering.
"""

from __future__ import annotations

import collections
import logging
import os
import queue
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .defaults import KILL_WAIT_S, LOG_TAIL_LINES, RENDER_CHILD_START_TIMEOUT_S
from .protocol import DEVICE_ENV, PINS_ENV, PORT_ENV, TOKEN_ENV, Channel

log = logging.getLogger(__name__)

SCRIPT = Path(__file__).with_name("blender_worker.py")


class RenderProcessError(Exception):
    """The render process could not be started or talked to."""


def child_command() -> list[str]:
    """How to start a render process the same way this worker was started."""
    bpy = sys.modules.get("bpy")  # Present only inside a Blender binary (or a bpy user).
    binary = getattr(getattr(bpy, "app", None), "binary_path", "") if bpy else ""
    if binary:
        return [binary, "-b", "--factory-startup", "-noaudio", "--python", str(SCRIPT), "--",
                "--render-child"]
    return [sys.executable, str(SCRIPT), "--render-child"]


class RenderProcess:
    """One running render process; events arrive on ``events`` (``exit`` when it ends)."""

    def __init__(
        self,
        device: str | None = None,
        command: list[str] | None = None,
        pins: list[int] | None = None,
    ) -> None:
        self.device = device
        self.pins = pins
        self.command = command or child_command()
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.tail: collections.deque[str] = collections.deque(maxlen=LOG_TAIL_LINES)
        self.log_sink: Callable[[str], None] | None = None
        self.hello: dict[str, Any] = {}
        self._proc: subprocess.Popen[bytes] | None = None
        self._channel: Channel | None = None
        self._threads: list[threading.Thread] = []

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None and self._channel is not None

    def start(self, timeout: float = RENDER_CHILD_START_TIMEOUT_S) -> dict[str, Any]:
        """Start the process and wait for its hello (Blender version, devices)."""
        token = secrets.token_hex(16)
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        env = dict(os.environ)
        env[PORT_ENV] = str(listener.getsockname()[1])
        env[TOKEN_ENV] = token
        env[DEVICE_ENV] = self.device or ""
        env[PINS_ENV] = ",".join(str(i) for i in self.pins) if self.pins is not None else ""
        env["PYTHONUNBUFFERED"] = "1"
        started = time.monotonic()
        try:
            self._proc = subprocess.Popen(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=sys.platform != "win32",  # Ctrl+C is for the worker only.
            )
        except OSError as exc:
            listener.close()
            raise RenderProcessError(f"cannot start {self.command[0]}: {exc}") from exc
        self._spawn(self._read_output, "render-output")
        try:
            listener.settimeout(0.5)
            while True:
                if self._proc.poll() is not None:
                    raise RenderProcessError(self._died_message("while starting"))
                if time.monotonic() - started > timeout:
                    raise RenderProcessError(f"render process did not start in {timeout:.0f} s")
                try:
                    sock, _ = listener.accept()
                except TimeoutError:
                    continue
                sock.settimeout(None)
                channel = Channel(sock)
                auth = channel.recv()
                if auth and auth.get("ev") == "auth" and auth.get("token") == token:
                    break
                channel.close()
        except BaseException:
            self.kill()
            raise
        finally:
            listener.close()
        self._channel = channel
        hello = channel.recv()
        if hello is None or hello.get("ev") != "hello":
            message = hello.get("message") if hello else self._died_message("while starting")
            self.kill()
            raise RenderProcessError(str(message))
        self.hello = hello
        self._spawn(self._read_events, "render-events")
        log.debug("render process %s ready in %.1f s", self.pid, time.monotonic() - started)
        return hello

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def join_output(self, timeout: float = 2.0) -> None:
        """Wait until the process's last output lines have been read."""
        for thread in self._threads:
            if thread.name == "render-output":
                thread.join(timeout)

    def _died_message(self, when: str) -> str:
        code = self._proc.wait() if self._proc else None
        time.sleep(0.1)  # Let the output reader catch the last lines.
        tail = "\n".join(self.tail)
        return f"render process exited {when} (exit code {code})" + (
            f"; last output:\n{tail}" if tail else ""
        )

    def _read_output(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for raw in self._proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            self.tail.append(line)
            sink = self.log_sink
            if sink is not None:
                sink(line)
            else:
                log.debug("blender: %s", line)

    def _read_events(self) -> None:
        channel, proc = self._channel, self._proc
        assert channel is not None and proc is not None
        try:
            while True:
                message = channel.recv()
                if message is None:
                    break
                self.events.put(message)
        except (OSError, ValueError) as exc:
            log.debug("render channel closed: %s", exc)
        try:
            code = proc.wait(timeout=KILL_WAIT_S)
        except subprocess.TimeoutExpired:
            code = None
        self.events.put({"ev": "exit", "code": code})

    def send(self, message: dict[str, Any]) -> None:
        if self._channel is None:
            raise RenderProcessError("render process is not running")
        try:
            self._channel.send(message)
        except OSError as exc:
            raise RenderProcessError(f"render process is gone: {exc}") from exc

    def stop(self) -> None:
        """Ask the process to quit; kill it if it does not."""
        if self._proc is None:
            return
        if self._channel is not None and self._proc.poll() is None:
            try:
                self._channel.send({"op": "quit"})
                self._proc.wait(timeout=KILL_WAIT_S)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.kill()

    def kill(self) -> None:
        """Kill the process now (mid-render is fine) and wait until it is gone."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            try:
                proc.wait(timeout=KILL_WAIT_S)
            except subprocess.TimeoutExpired:
                log.warning("render process %s did not exit after kill", proc.pid)
        if self._channel is not None:
            self._channel.close()
            self._channel = None
