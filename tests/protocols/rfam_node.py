"""A /farm node that behaves as RFAM's render node does, written from the protocol document
and the node's observed behaviour (not its code):

- it knows its manager only as ``server`` and posts ``<server>/farm`` with ``urlopen``;
- ``identity`` carries the configured ``provides`` (``[]`` by default), ``task`` the names
  of its path files (its shares) and the same ``provides``;
- it reads ``prmanCommands`` of every task (a missing key ends the node), maps ``file`` with
  ``share, rest = file.split('::', 1)`` to ``paths[share]/rest`` (a file without ``::`` or
  on an unknown share ends it too);
- commandments it does not know are printed, and otherwise ignored;
- it runs ``blender -b <local file> -s <first> -e <last> -a``: Blender writes the frames
  where the scene's output path says (``blender`` here stands for that), and the manager
  hears nothing of them;
- a finished task's ``done`` is sent with the next heartbeat and kept until one succeeds;
  kept ones go out first, before ``identity``;
- an HTTP error is an ``IOError``: the node counts it and tries again later.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.request import urlopen


class NodeDied(Exception):
    """What ends the real node's process."""


@dataclass
class RfamNode:
    server: str
    name: str = "rfam-node"
    paths: dict[str, str] = field(default_factory=dict)
    provides: list[str] = field(default_factory=list)
    processes: int = 1
    version: str = "R4"
    #: Tasks being rendered: (uuid, frame, local file).
    working: list[tuple[str, Any, str]] = field(default_factory=list)
    finished: list[tuple[str, Any]] = field(default_factory=list)
    must_send: list[dict[str, Any]] = field(default_factory=list)
    printed: list[Any] = field(default_factory=list)
    killed: list[str] = field(default_factory=list)
    errors: int = 0
    #: What Blender does for a task, given the local file and the frame (or [first, last]).
    blender: Callable[[str, Any], None] | None = None

    def to_local(self, path: str) -> str:
        try:
            head, tail = path.split("::", 1)
            return os.path.join(self.paths[head], tail)
        except (ValueError, KeyError) as exc:
            raise NodeDied(f"cannot map {path!r}: {exc!r}") from None

    def hello(self) -> bool:
        """One heartbeat; False when the manager could not be talked to."""
        requests = self.must_send[:]
        requests.append({"id": "identity", "name": self.name, "provides": self.provides})
        # As the real node does it: on the first request, a resent done when there is one.
        requests[0]["version"] = self.version
        requests.append({"id": "info"})
        for uuid, frame in self.finished:
            done = {"id": "done", "uuid": uuid, "frame": frame, "time": 1.5}
            requests.append(done)
            self.must_send.append(done)
        self.finished = []
        for uuid, frame, _ in self.working:
            requests.append({"id": "report", "uuid": uuid, "frame": frame, "done": 0, "total": 1})
        idle = self.processes - len(self.working)
        if idle > 0:
            requests.append(
                {"id": "task", "paths": list(self.paths), "provides": self.provides, "count": idle}
            )
        try:
            reply = urlopen(f"{self.server}/farm", json.dumps(requests).encode("utf-8"))
        except OSError:
            self.errors += 1
            return False
        self.must_send = []
        for commandment in json.loads(reply.read().decode("utf-8")):
            if commandment["id"] == "info":
                float(commandment["heartbeat"])
            elif commandment["id"] == "task":
                if commandment["prmanCommands"]:
                    raise NodeDied("no RenderMan worker")
                local = self.to_local(commandment["file"])
                self.working.append((commandment["uuid"], commandment["frame"], local))
            elif commandment["id"] == "kill":
                self.killed.append(commandment["uuid"])
                self.working = [w for w in self.working if w[0] != commandment["uuid"]]
            else:
                self.printed.append(commandment)
        return True

    def finish_all(self) -> list[str]:
        """The renders end: ``done`` goes out with the next heartbeat."""
        for _, frame, local in self.working:
            if self.blender is not None:
                self.blender(local, frame)
        self.finished += [(uuid, frame) for uuid, frame, _ in self.working]
        self.working = []
        return [uuid for uuid, _ in self.finished]
