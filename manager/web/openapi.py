"""The served OpenAPI document says what the manager answers.

FastAPI advertises 422 with its own validation body on every operation that takes input; the
manager answers such input with 400 and ``Error{code, message}`` (``manager.web.errors``).
This module rewrites the document to match, and gives the routes the pieces to name their own
answers: ``responses=answers(404, 409)`` for errors, ``no_content()`` for an empty 204
beside a 200.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

ERROR_REF = "#/components/schemas/Error"
#: FastAPI's validation error schemas, which no answer of the manager has.
_FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")

_DESCRIPTIONS = {
    400: "Bad input; the message names the fields",
    401: "Missing or wrong credentials",
    403: "Not allowed",
    404: "Not found",
    409: "Conflicts with the current state",
    412: "A precondition failed",
    413: "Too large",
    416: "Nothing matches",
    417: "The upload does not match its checksum or size",
    422: "The current status does not allow this change",
    423: "Locked",
    429: "Too many requests",
    503: "Busy, retry later",
}


class Error(BaseModel):
    """Every error of the JSON APIs, as the Flamenco specs' ``Error``."""

    code: int
    message: str


Responses = dict[int | str, dict[str, Any]]


def answers(*codes: int) -> Responses:
    """``responses=`` for error answers: each code with the ``Error`` body."""
    return {code: _error(code) for code in codes}


def _error(code: int) -> dict[str, Any]:
    return {"model": Error, "description": _DESCRIPTIONS.get(code, "Error")}


def no_content(code: int = 204, description: str = "No content") -> Responses:
    """An answer without a body beside the route's own (FastAPI leaves its 204s empty)."""
    return {code: {"description": description}}


def media(media_type: str, description: str, schema: dict[str, Any] | None = None) -> dict:
    """A non-JSON answer: a file, a text, an XML document."""
    return {
        "description": description,
        "content": {media_type: {"schema": schema or {"type": "string", "format": "binary"}}},
    }


def answered_in(media_type: str, description: str, *, errors: str | None = None) -> Responses:
    """For a door that answers in another form than JSON (with ``response_class=Response``):
    its 200 and, when ``errors`` describes them, its errors in the same media type."""
    responses: Responses = {200: media(media_type, description, {"type": "string"})}
    if errors:
        responses["default"] = media(media_type, errors, {"type": "string"})
    return responses


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = FastAPI.openapi(app)
            own_forms = tuple(prefix for prefix, _ in getattr(app.state, "error_forms", []))
            _as_answered(document, own_forms)
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]


def _as_answered(document: dict[str, Any], own_forms: tuple[str, ...]) -> None:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("Error", Error.model_json_schema())
    error = {"application/json": {"schema": {"$ref": ERROR_REF}}}
    for path, operations in document.get("paths", {}).items():
        for operation in operations.values():
            responses = operation["responses"]
            if _is_fastapi_validation(responses.get("422")):
                del responses["422"]
            # Doors with their own error form (SheepIt's XML) document their errors themselves.
            if path.startswith(own_forms):
                continue
            if operation.get("parameters") or operation.get("requestBody"):
                responses.setdefault("400", {"description": _DESCRIPTIONS[400]})
                responses["400"].setdefault("content", error)
            responses.setdefault("default", {"description": "Error", "content": error})
    for name in _FASTAPI_VALIDATION:
        schemas.pop(name, None)


def _is_fastapi_validation(response: dict[str, Any] | None) -> bool:
    if response is None:
        return False
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return str(schema.get("$ref", "")).endswith("/HTTPValidationError")
