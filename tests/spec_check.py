"""Checks HTTP responses against an OpenAPI spec (openapi-core) as a requests hook.

A response whose status code the spec does not list for the operation (e.g. a 404 for an
unknown id) must still be the spec's ``Error`` object.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests
import yaml
from jsonschema_path import SchemaPath
from openapi_core import OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse
from openapi_core.templating.responses.exceptions import ResponseNotFound
from openapi_schema_validator import OAS30Validator


class SpecViolation(AssertionError):
    pass


def apply_errata(document: dict[str, Any]) -> None:
    """Fix the spec's own mistakes, each one named, so the rest is checked as written."""
    schemas = document["components"]["schemas"]
    # v3.9 declares JobTasksSummary with `required: [jobs]` but its only property is `tasks`
    # (Flamenco itself answers with `tasks`).
    if "JobTasksSummary" in schemas and schemas["JobTasksSummary"].get("required") == ["jobs"]:
        schemas["JobTasksSummary"]["required"] = ["tasks"]


class SpecChecker:
    def __init__(self, spec_path: Path, prefix: str) -> None:
        document = yaml.safe_load(spec_path.read_text())
        apply_errata(document)
        spec = SchemaPath.from_dict(document)
        self.openapi = OpenAPI(spec)
        self.prefix = prefix
        self.error_schema = document["components"]["schemas"]["Error"]
        self.checked = 0
        self.enabled = True

    def check(self, response: requests.Response) -> None:
        request = response.request
        path = request.path_url.split("?")[0]
        if not self.enabled or not path.startswith(self.prefix):
            return
        if response.status_code >= 500:
            raise SpecViolation(
                f"{request.method} {path} answered {response.status_code}: {response.text}"
            )
        try:
            self.openapi.validate_response(
                RequestsOpenAPIRequest(request), RequestsOpenAPIResponse(response)
            )
        except ResponseNotFound:
            self._check_error_body(response)
        except Exception as exc:
            if "ServerNotFound" in type(exc).__name__ or "PathNotFound" in type(exc).__name__:
                raise SpecViolation(
                    f"{request.method} {path}: not an operation of the spec"
                ) from exc
            raise SpecViolation(
                f"{request.method} {path} -> {response.status_code} does not match the spec: "
                f"{exc!r} {getattr(exc, '__cause__', '')!r}\n{response.text[:500]}"
            ) from exc
        self.checked += 1

    def _check_error_body(self, response: requests.Response) -> None:
        try:
            body = response.json()
        except ValueError as exc:
            raise SpecViolation(
                f"{response.status_code} without an Error body: {response.text!r}"
            ) from exc
        errors = list(OAS30Validator(self.error_schema).iter_errors(body))
        if errors:
            raise SpecViolation(f"{response.status_code} body is not an Error: {body!r}")

    def hook(self, response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        self.check(response)
        return response
