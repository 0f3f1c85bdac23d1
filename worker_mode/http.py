"""The worker's one HTTP client of the manager: sessions, timeouts and what errors mean.

Every request a worker makes (the worker API, the file cache's downloads, frame uploads)
goes through :class:`ManagerHttp`, so all of them share one set of timeouts and one error
taxonomy: the manager is unreachable (retry later), it does not know this worker (register
again), or it answered something the caller must act on (``ManagerError`` with the status).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any

from .defaults import HTTP_CONNECT_TIMEOUT_S, HTTP_READ_TIMEOUT_S

TRANSFER_READ_TIMEOUT_S = 300.0
"""Read timeout of a request that moves a file (an upload's answer comes after its body)."""

Auth = tuple[str, str] | Callable[[], tuple[str, str] | None] | None


class ManagerUnreachable(Exception):
    """The manager is down or busy (connection error, timeout, 502/503/504): retry later."""


class AuthError(Exception):
    """The manager does not know these credentials (401/403): register again."""


class RegistrationRefused(Exception):
    """The manager will not register this worker (a missing or wrong registration token)."""


class ManagerError(Exception):
    """The manager answered something this worker cannot act on."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


def error_message(body: bytes) -> str:
    """The ``message`` of an ``Error`` body, or the start of whatever else came."""
    import json

    try:
        data = json.loads(body.decode("utf-8")) if body else None
    except (ValueError, UnicodeDecodeError):
        return body[:200].decode("utf-8", "replace")
    if isinstance(data, dict) and "message" in data:
        return str(data["message"])
    if isinstance(data, dict) and "detail" in data:
        return str(data["detail"])
    return str(data)[:200]


def raise_for(status: int, body: bytes, ok: tuple[int, ...]) -> None:
    """The taxonomy: nothing for ``ok``, else the exception the status stands for."""
    if status in ok:
        return
    message = error_message(body)
    if status in (401, 403):
        raise AuthError(f"HTTP {status}: {message}")
    if status in (502, 503, 504):
        raise ManagerUnreachable(f"HTTP {status}: {message}")
    raise ManagerError(status, message)


def unreachable_reason(exc: Exception) -> str:
    """requests' messages run over several lines of pool internals; keep the cause."""
    reason = re.findall(r"\[Errno -?\d+\] [^'\")]+", str(exc))
    return reason[-1] if reason else type(exc).__name__


class ManagerHttp:
    """Requests to one manager, with this worker's credentials; one session per thread."""

    def __init__(self, base_url: str, auth: Auth = None, session: Any = None) -> None:
        import requests  # here: Blender's Python has requests; importing it is not free

        self.base_url = base_url.rstrip("/")
        self._auth = auth
        self._requests = requests
        self._shared_session = session
        self._local = threading.local()

    @property
    def transfer_errors(self) -> tuple[type[Exception], ...]:
        """What a streamed body raises when the connection breaks off midway."""
        return (self._requests.RequestException,)

    def _session(self) -> Any:
        if self._shared_session is not None:
            return self._shared_session
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = self._requests.Session()
        return session

    def credentials(self) -> tuple[str, str] | None:
        return self._auth() if callable(self._auth) else self._auth

    def send(
        self,
        method: str,
        path: str,
        *,
        ok: tuple[int, ...] | None = (200, 204),
        authenticated: bool = True,
        credentials: tuple[str, str] | None = None,
        read_timeout: float = HTTP_READ_TIMEOUT_S,
        **kwargs: Any,
    ) -> Any:
        """One request; the ``requests`` response when its status is in ``ok`` (any status
        when ``ok`` is None). ``credentials`` replace this client's own for one request.

        Raises ManagerUnreachable, AuthError or ManagerError otherwise. A streamed response
        (``stream=True``) must be closed by the caller.
        """
        auth = credentials
        if authenticated and auth is None:
            auth = self.credentials()
            if auth is None:
                raise AuthError("not registered")
        call = getattr(self._session(), method.lower())
        try:
            response = call(
                self.base_url + path,
                auth=auth,
                timeout=(HTTP_CONNECT_TIMEOUT_S, read_timeout),
                **kwargs,
            )
        except self._requests.Timeout as exc:
            raise ManagerUnreachable("timed out") from exc
        except self._requests.RequestException as exc:
            raise ManagerUnreachable(unreachable_reason(exc)) from exc
        if ok is not None and response.status_code not in ok:
            body = response.content
            response.close()
            raise_for(response.status_code, body, ok)
        return response
