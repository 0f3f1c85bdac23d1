"""Every error of the JSON APIs as the spec's ``Error{code, message}``, never a bare 500."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from manager.core.errors import FarmError, Unauthorized

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = "2"

#: An error answered in a protocol's own form: (request, HTTP status, message) -> response.
ErrorForm = Callable[[Request, int, str], Response]


def error_response(code: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=code, headers=headers)


def describe_validation_errors(errors: list[Any]) -> str:
    """One readable line naming the fields: 'priority: Input should be a valid integer'."""
    parts = []
    for error in errors[:5]:
        loc = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path")]
        where = ".".join(loc) or "request body"
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        if error.get("type") == "json_invalid":
            where, message = (
                "request body",
                f"malformed JSON ({error.get('ctx', {}).get('error', message)})",
            )
        elif error.get("type") == "missing":
            message = "this field is required"
        parts.append(f"{where}: {message}")
    if len(errors) > 5:
        parts.append(f"and {len(errors) - 5} more")
    return "; ".join(parts)


def add_error_form(app: FastAPI, path_prefix: str, form: ErrorForm) -> None:
    """Answer errors under ``path_prefix`` in ``form`` instead of ``Error{code, message}``."""
    app.state.error_forms = [*getattr(app.state, "error_forms", []), (path_prefix, form)]


def _answer(
    request: Request, code: int, message: str, headers: dict[str, str] | None = None
) -> Response:
    for prefix, form in getattr(request.app.state, "error_forms", []):
        if request.url.path.startswith(prefix):
            return form(request, code, message)
    return error_response(code, message, headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(FarmError)
    async def _farm_error(request: Request, exc: FarmError) -> Response:
        # Each refusal names its own challenge: Basic for workers only, so that a browser
        # never pops up a password box for a user endpoint.
        challenge = exc.challenge if isinstance(exc, Unauthorized) else None
        headers = {"WWW-Authenticate": challenge} if challenge else None
        return _answer(request, exc.status, exc.message, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        return _answer(request, 400, describe_validation_errors(list(exc.errors())))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return _answer(
            request, exc.status_code, str(exc.detail), getattr(exc, "headers", None)
        )

    @app.exception_handler(OperationalError)
    async def _database_busy(request: Request, exc: OperationalError) -> Response:
        log.warning("database unavailable: %s", exc.orig)
        return _answer(
            request, 503, "database busy, retry later", {"Retry-After": RETRY_AFTER_SECONDS}
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error")
        return _answer(request, 500, f"internal error: {type(exc).__name__}")
