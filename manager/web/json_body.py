"""JSON as every door of the manager reads it, and the middleware that holds each request to it
before a route sees the request.

Python's ``json`` takes numbers of any length (and int() of 4,300 digits or more then fails),
NaN and Infinity, and nesting until the interpreter's recursion limit; PostgreSQL refuses a
NUL in text. ``read_json`` refuses all of these with a message that says which, so a route
only ever sees JSON that both databases can keep.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from manager.core.bounds import MAX_JSON_DEPTH, MAX_NUMBER_CHARS
from manager.core.errors import BadInput
from manager.web.limits import Receive, Scope, Send, send_error

#: ``\u0000`` in a JSON string, unless its backslash is itself escaped.
_ESCAPED_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
_JSON_MEDIA = re.compile(r"^application/(?:[\w.+-]+\+)?json\b", re.IGNORECASE)


class _Refused(Exception):
    pass


def _number(text: str) -> str:
    if len(text) > MAX_NUMBER_CHARS:
        raise _Refused(
            f"a number of {len(text)} characters has more digits than accepted "
            f"(at most {MAX_NUMBER_CHARS})"
        )
    return text


def _int(text: str) -> int:
    return int(_number(text))


def _float(text: str) -> float:
    value = float(_number(text))
    if not math.isfinite(value):
        raise _Refused(f"numbers must be finite; {text} is too large for one")
    return value


def _constant(name: str) -> Any:
    raise _Refused(f"numbers must be finite, not {name}")


def read_json(raw: bytes | str, where: str = "request body") -> Any:
    """The parsed JSON, or BadInput naming ``where`` and what is wrong with it."""
    try:
        data = json.loads(raw, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except _Refused as exc:
        raise BadInput(f"{where}: {exc}") from None
    except RecursionError:
        data = None
        too_deep = True
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadInput(f"{where}: malformed JSON ({exc})") from None
    else:
        too_deep = _deeper_than(data, MAX_JSON_DEPTH)
    if too_deep:
        raise BadInput(f"{where}: nested more than {MAX_JSON_DEPTH} levels deep")
    encoded = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    if _ESCAPED_NUL.search(encoded):
        place = _place_of_nul(data)
        where = f"{where}: {place}" if place else where
        raise BadInput(f"{where}: text may not contain NUL characters (\\u0000)")
    return data


def _deeper_than(data: Any, limit: int) -> bool:
    level = [data] if isinstance(data, dict | list) else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        below: list[Any] = []
        for item in level:
            values = item.values() if isinstance(item, dict) else item
            below.extend(v for v in values if isinstance(v, dict | list))
        level = below
    return False


def _place_of_nul(data: Any) -> str:
    """Where the first NUL is, as ``settings.note`` or ``files[0].path``."""
    stack: list[tuple[Any, str]] = [(data, "")]
    while stack:
        value, place = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return place
        elif isinstance(value, dict):
            for key, item in value.items():
                shown = f"{place}.{key}" if place else str(key)
                if "\x00" in key:
                    return shown.replace("\x00", "")
                stack.append((item, shown))
        elif isinstance(value, list):
            stack.extend((v, f"{place}[{i}]") for i, v in enumerate(value))
    return ""


class InputCheck:
    """Refuses, as ``Error{code, message}``, a request whose URL holds a NUL or whose JSON body
    ``read_json`` refuses. Paths under ``exempt_prefixes`` (uploads, protocols with error
    forms of their own) check what they read themselves."""

    def __init__(self, app: Any, exempt_prefixes: tuple[str, ...] = ()) -> None:
        self.app = app
        self.exempt_prefixes = exempt_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.exempt_prefixes):
            await self.app(scope, receive, send)
            return
        if "\x00" in scope["path"] or b"%00" in scope.get("query_string", b""):
            await send_error(send, 400, "URL: NUL characters are not allowed in a path or a query")
            return
        headers = dict(scope.get("headers") or [])
        media = headers.get(b"content-type", b"").decode("latin-1")
        if not _JSON_MEDIA.match(media):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message]), send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body:
            try:
                read_json(body)
            except BadInput as exc:
                await send_error(send, 400, exc.message)
                return
        await self.app(scope, _replay([{"type": "http.request", "body": body}], receive), send)


def _replay(messages: list[dict[str, Any]], then: Receive | None = None) -> Receive:
    async def receive() -> Any:
        if messages:
            return messages.pop(0)
        if then is not None:
            return await then()
        return {"type": "http.disconnect"}

    return receive
