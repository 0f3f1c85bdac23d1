"""The access token in the manager's URL, for clients that cannot send a header.

Flamenco's own Blender add-on has no token setting: it knows the manager only as a URL and
calls ``<url>/api/v3/...``. Given ``http://manager:8080/access/<token>`` as its Manager URL,
every call arrives under ``/access/<token>/``; this middleware checks the token, takes the
prefix off, and marks the request as holding the access token (``require_access`` lets it
through). A wrong token is answered 401 before any route runs; on a manager without a token
the prefix is simply taken off.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.types import Receive, Scope, Send

from manager.core.credentials import token_matches
from manager.web.limits import send_error

ACCESS_PREFIX = "/access/"
#: The scope key that says the request came with the right token in its URL.
GRANTED = "farmhand.access_in_url"


class AccessInUrl:
    def __init__(self, app: Any, access_token: Callable[[], str | None]) -> None:
        self.app = app
        #: Read on each request, as every other check of the token does.
        self.access_token = access_token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(ACCESS_PREFIX):
            await self.app(scope, receive, send)
            return
        token, _, rest = path[len(ACCESS_PREFIX) :].partition("/")
        if not token_matches(self.access_token(), token):
            await send_error(send, 401, "wrong or no access token in the URL")
            return
        inner = dict(scope)
        inner["path"] = "/" + rest
        inner["raw_path"] = inner["path"].encode()
        inner[GRANTED] = True
        await self.app(inner, receive, send)
