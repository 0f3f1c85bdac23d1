"""The worker's side of the Flamenco v3 worker API (``/api/v3/worker/...``).

``Transport`` is the HTTP edge: the real one is the worker's one HTTP client
(``http.ManagerHttp``); tests can script a fake one. ``ManagerClient`` turns answers into
small values and the typed exceptions of ``http``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

from .credentials import Credentials
from .http import (
    AuthError,
    ManagerError,
    ManagerHttp,
    ManagerUnreachable,
    RegistrationRefused,
    raise_for,
)

__all__ = [
    "AuthError",
    "HttpResponse",
    "ManagerClient",
    "ManagerError",
    "ManagerUnreachable",
    "RegistrationRefused",
    "RequestsTransport",
    "Transport",
    "TransportError",
]

log = logging.getLogger(__name__)


@dataclass
class HttpResponse:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8")) if self.body else None


class TransportError(Exception):
    """The manager could not be reached (connection refused, timeout, reset)."""


class Transport(Protocol):
    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> HttpResponse: ...


class RequestsTransport:
    """Transport over the worker's one HTTP client (``http.ManagerHttp``)."""

    def __init__(self, base_url: str) -> None:
        self.http = ManagerHttp(base_url)

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> HttpResponse:
        try:
            resp = self.http.send(
                method, path, ok=None, authenticated=auth is not None, credentials=auth,
                json=json_body, data=data, headers=headers,
            )
        except ManagerUnreachable as exc:
            raise TransportError(str(exc)) from exc
        return HttpResponse(resp.status_code, resp.content, dict(resp.headers))


@dataclass(frozen=True)
class ScheduleResult:
    """Answer of ``POST /worker/task``: a task, nothing to do, or a state to go to."""

    task: dict[str, Any] | None = None
    status_requested: str | None = None
    not_awake: bool = False


@dataclass(frozen=True)
class MayKeepRunning:
    may_keep_running: bool
    reason: str = ""
    status_change_requested: bool = False


class ManagerClient:
    """Calls of the worker API; every method raises ManagerUnreachable/AuthError/ManagerError."""

    def __init__(
        self,
        transport: Transport,
        credentials: Credentials | None = None,
        registration_token: str | None = None,
    ) -> None:
        self.transport = transport
        self.credentials = credentials
        self.registration_token = registration_token

    def _call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        authenticated: bool = True,
        ok: tuple[int, ...] = (200, 204),
    ) -> HttpResponse:
        auth = None
        if authenticated:
            if self.credentials is None:
                raise AuthError("not registered")
            auth = (self.credentials.worker_id, self.credentials.secret)
        try:
            resp = self.transport.request(
                method, path, json_body=json_body, data=data, headers=headers, auth=auth
            )
        except TransportError as exc:
            raise ManagerUnreachable(str(exc)) from exc
        raise_for(resp.status, resp.body, ok)
        return resp

    def version(self) -> dict[str, Any]:
        return self._call("GET", "/api/v3/version", authenticated=False, ok=(200,)).json()

    def register(
        self, name: str, secret: str, platform: str, task_types: list[str]
    ) -> Credentials:
        body = {
            "name": name,
            "secret": secret,
            "platform": platform,
            "supported_task_types": task_types,
        }
        headers = (
            {"X-Farmhand-Registration-Token": self.registration_token}
            if self.registration_token
            else None
        )
        try:
            resp = self._call(
                "POST", "/api/v3/worker/register-worker", json_body=body, headers=headers,
                authenticated=False, ok=(200,),
            )
        except AuthError as exc:
            raise RegistrationRefused(str(exc)) from exc
        return Credentials(worker_id=str(resp.json()["uuid"]), secret=secret)

    def sign_on(
        self,
        name: str,
        task_types: list[str],
        software_version: str,
        can_restart: bool,
        tags: list[str] | None = None,
        *,
        hardware: dict[str, Any] | None = None,
        blender_version: str | None = None,
    ) -> str | None:
        body: dict[str, Any] = {
            "name": name,
            "supported_task_types": task_types,
            "software_version": software_version,
            "can_restart": can_restart,
        }
        if tags:
            body["tags"] = tags  # Farmhand's managers assign them; others ignore the field
        # Farmhand's too: what the worker renders on, and which Blender opens the job's files.
        if hardware is not None:
            body["hardware"] = hardware
        if blender_version:
            body["blender_version"] = blender_version
        resp = self._call("POST", "/api/v3/worker/sign-on", json_body=body)
        data = resp.json() if resp.status == 200 else None
        return data.get("status_requested") if isinstance(data, dict) else None

    def sign_off(self) -> None:
        self._call("POST", "/api/v3/worker/sign-off")

    def state(self) -> str | None:
        """The state the manager wants this worker in, or None for no change."""
        resp = self._call("GET", "/api/v3/worker/state")
        data = resp.json() if resp.status == 200 else None
        return data.get("status_requested") if isinstance(data, dict) else None

    def state_changed(self, status: str) -> None:
        self._call("POST", "/api/v3/worker/state-changed", json_body={"status": status})

    def schedule_task(self) -> ScheduleResult:
        resp = self._call("POST", "/api/v3/worker/task", ok=(200, 204, 409, 423))
        if resp.status == 200:
            return ScheduleResult(task=resp.json())
        if resp.status == 423:
            return ScheduleResult(status_requested=resp.json()["status_requested"])
        if resp.status == 409:
            return ScheduleResult(not_awake=True)
        return ScheduleResult()

    def task_update(self, task_id: str, update: dict[str, Any]) -> bool:
        """Send a TaskUpdate; False when the task is no longer ours (409)."""
        resp = self._call(
            "POST", f"/api/v3/worker/task/{task_id}", json_body=update, ok=(200, 204, 409)
        )
        return resp.status != 409

    def may_i_run(self, task_id: str) -> MayKeepRunning:
        resp = self._call("GET", f"/api/v3/worker/task/{task_id}/may-i-run", ok=(200,))
        data = resp.json()
        return MayKeepRunning(
            may_keep_running=bool(data.get("mayKeepRunning")),
            reason=str(data.get("reason", "")),
            status_change_requested=bool(data.get("statusChangeRequested")),
        )

    def output_produced(self, task_id: str, image: bytes, content_type: str) -> int:
        """Send a preview image (raw body); returns the HTTP status (202 accepted, 429...)."""
        resp = self._call(
            "POST",
            f"/api/v3/worker/task/{task_id}/output-produced",
            data=image,
            headers={"Content-Type": content_type},
            ok=(200, 202, 204, 413, 415, 429),
        )
        return resp.status
