"""Every error of the JSON APIs as the spec's ``Error{code, message}``, never a bare 500."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from manager.core.errors import FarmError, Unauthorized

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = "2"


def error_response(code: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=code, headers=headers)


def describe_validation_errors(errors: list[Any]) -> str:
    """One readable line naming the fields: 'priority: Input should be a valid integer'."""
    parts = []
    for error in errors[:5]:
        loc = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path")]
        where = ".".join(loc) or "request body"
        message = error.get("msg", "invalid")
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


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(FarmError)
    async def _farm_error(_request: Request, exc: FarmError) -> JSONResponse:
        # Each refusal names its own challenge: Basic for workers only, so that a browser
        # never pops up a password box for a user endpoint.
        challenge = exc.challenge if isinstance(exc, Unauthorized) else None
        headers = {"WWW-Authenticate": challenge} if challenge else None
        return error_response(exc.status, exc.message, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(400, describe_validation_errors(list(exc.errors())))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(OperationalError)
    async def _database_busy(_request: Request, exc: OperationalError) -> JSONResponse:
        log.warning("database unavailable: %s", exc.orig)
        return error_response(
            503, "database busy, retry later", {"Retry-After": RETRY_AFTER_SECONDS}
        )

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return error_response(500, f"internal error: {type(exc).__name__}")
