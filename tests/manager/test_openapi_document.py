"""The served OpenAPI document says what the manager answers: each operation's success body,
400 with ``Error{code, message}`` for bad input (never FastAPI's 422 validation body), and
answers of every door that match the document when the manager is used."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from jsonschema_path import SchemaPath
from openapi_core import OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse
from openapi_spec_validator import validate

from tests.conftest import Manager, register_worker, submit

METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}
ERROR_REF = "#/components/schemas/Error"
#: Doors that answer errors in their own form (SheepIt's XML), documented by their routes.
OWN_ERROR_FORMS = ("/sheepit/",)


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield f"{method.upper()} {path}", path, operation


def schema_of(response: dict[str, Any], media_type: str = "application/json") -> Any:
    return response.get("content", {}).get(media_type, {}).get("schema")


@pytest.fixture
def document(manager: Manager) -> dict[str, Any]:
    return dict(manager.get("/openapi.json").json())


def test_the_served_document_is_valid_openapi(document: dict[str, Any]) -> None:
    validate(document)
    # Two models of one name get their module spelled out ('manager__api__v3__...').
    spelled_out = [name for name in document["components"]["schemas"] if "__" in name]
    assert not spelled_out


def test_every_operation_documents_its_success_answer(document: dict[str, Any]) -> None:
    undocumented = []
    for label, _, operation in operations(document):
        successes = {c: r for c, r in operation["responses"].items() if c.startswith("2")}
        if not successes:
            undocumented.append(f"{label}: no 2xx answer")
        for code, response in successes.items():
            # Either a body with a schema, or explicitly none (no content at all).
            for media_type, content in response.get("content", {}).items():
                if not content.get("schema"):
                    undocumented.append(f"{label} {code} {media_type}: no schema")
    assert not undocumented, "\n".join(undocumented)


def test_bad_input_is_documented_as_the_400_that_is_answered(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    wrong = []
    for label, path, operation in operations(document):
        responses = operation["responses"]
        # 422 stays only where the manager itself answers it: a refused status change.
        if "422" in responses and schema_of(responses["422"]) != {"$ref": ERROR_REF}:
            wrong.append(f"{label}: 422 {responses['422']}")
        takes_input = operation.get("parameters") or operation.get("requestBody")
        if takes_input and not path.startswith(OWN_ERROR_FORMS):
            if schema_of(responses.get("400", {})) != {"$ref": ERROR_REF}:
                wrong.append(f"{label}: no 400 Error")
    assert not wrong, "\n".join(wrong)


class ServedDocumentChecker:
    """Checks answers against the document the manager serves, as the Flamenco specs are."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.openapi = OpenAPI(SchemaPath.from_dict(document))
        self.failures: list[str] = []
        self.checked: set[str] = set()

    def hook(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        request = response.request
        try:
            self.openapi.validate_response(
                RequestsOpenAPIRequest(request), RequestsOpenAPIResponse(response)
            )
        except Exception as exc:
            self.failures.append(
                f"{request.method} {request.path_url} -> {response.status_code}: {exc!r} "
                f"{getattr(exc, '__cause__', '')!r}\n{response.text[:300]}"
            )
        self.checked.add(f"{request.method} {response.status_code}")


def test_answers_of_every_door_match_the_served_document(
    manager: Manager, document: dict[str, Any]
) -> None:
    checker = ServedDocumentChecker(document)
    manager.http.hooks["response"].append(checker.hook)
    job = submit(manager)
    worker = register_worker(manager)
    worker.wake()
    task = worker.next_task()
    assert task is not None
    worker.update(task["uuid"], activity="rendering", log="frame 1\n")
    get = manager.get
    for path in (
        "/api/v3/version",
        "/api/v3/configuration",
        "/api/v3/status",
        "/api/v3/configuration/variables/workers/linux",
        "/api/v3/configuration/shared-storage/users/linux",
        "/api/v3/jobs",
        "/api/v3/jobs/types",
        f"/api/v3/jobs/{job['id']}",
        f"/api/v3/jobs/{job['id']}/tasks",
        f"/api/v3/jobs/{job['id']}/blocklist",
        f"/api/v3/jobs/{job['id']}/what-would-delete-do",
        f"/api/v3/jobs/{job['id']}/last-rendered",
        f"/api/v3/tasks/{task['uuid']}",
        f"/api/v3/tasks/{task['uuid']}/log",
        f"/api/v3/tasks/{task['uuid']}/logtail",
        "/api/v3/worker-mgt/workers",
        f"/api/v3/worker-mgt/workers/{worker.id}",
        f"/api/v3/worker-mgt/workers/{worker.id}/sleep-schedule",
        "/api/v3/worker-mgt/tags",
        "/api/farmhand/jobs",
        f"/api/farmhand/jobs/{job['id']}",
        f"/api/farmhand/jobs/{job['id']}/tasks",
        "/api/farmhand/workers",
        "/api/farmhand/summary",
        "/api/farmhand/blocklist",
        "/api/farmhand/job-types",
        "/api/farmhand/job-type-errors",
        f"/api/farmhand/jobs/{job['id']}/outputs",
        "/api/farmhand/sheepit/users",
        "/api/version",
        "/api/jobs/types",
        f"/api/jobs/{job['id']}",
        "/workers",
    ):
        assert get(path).status_code < 300, path
    worker.call("GET", f"/task/{task['uuid']}/may-i-run")
    _use_the_other_doors(manager)
    # Errors: bad input, an unknown id, a refused status change, wrong credentials.
    assert manager.post("/api/v3/jobs", json={"name": 1}).status_code == 400
    assert get("/api/v3/jobs/no-such-job").status_code == 404
    assert get("/api/farmhand/jobs/no-such-job").status_code == 404
    assert get("/workers/not-a-number").status_code == 400
    refused = manager.post(
        f"/api/v3/tasks/{task['uuid']}/setstatus", json={"status": "queued", "reason": "x"}
    )
    assert refused.status_code == 422
    assert manager.post("/api/v3/worker/sign-off", auth=("nobody", "x")).status_code == 401
    assert not checker.failures, "\n".join(checker.failures)
    assert {"GET 200", "GET 204", "POST 400", "GET 404", "POST 422", "POST 401"} <= checker.checked
    assert {"POST 202", "PATCH 200", "POST 201"} <= checker.checked


def _use_the_other_doors(manager: Manager) -> None:
    """The 2022 API, the 2015 API, /farm, /potential and SheepIt user administration."""
    secret = "a-2022-secret"
    old = manager.post(
        "/api/worker/register-worker",
        json={"nickname": "old", "secret": secret, "platform": "linux", "supported_task_types": []},
    ).json()
    auth = (old["uuid"], secret)
    body = {"nickname": "old", "supported_task_types": ["misc"], "software_version": "2022"}
    assert manager.post("/api/worker/sign-on", auth=auth, json=body).status_code == 200
    assert manager.post("/api/worker/task", auth=auth).status_code in (204, 409)
    settings = {"frame_start": 1, "frame_end": 2, "filepath": "/shots/a.blend"}
    created = manager.post(
        "/tasks", json={"settings": json.dumps(settings), "type": "blender_simple"}
    )
    assert created.status_code == 202, created.text
    number = created.json()["id"]
    assert manager.get(f"/tasks/{number}").status_code == 200
    hostname = "render-2015"
    registered = manager.post("/workers", json={"hostname": hostname, "system": "Linux"})
    worker_number = registered.json()[hostname]["id"]
    assert manager.get(f"/workers/{worker_number}").status_code == 200
    order = manager.api("PATCH", f"/workers/{worker_number}", json={"status": "available"})
    assert order.status_code == 200, order.text
    identity = {"id": "identity", "name": "node-1", "provides": ["blender-frame"]}
    task = {"id": "task", "paths": [], "provides": ["blender-frame"], "count": 2}
    assert manager.post("/farm", json=[identity, {"id": "info"}, task]).status_code == 200
    assert manager.post("/farm", json=[{"id": "info"}]).status_code == 400
    assert manager.post("/potential", json="cluster-b").status_code == 200
    user = {"login": "sheep", "password": "a-long-password"}
    assert manager.post("/api/farmhand/sheepit/users", json=user).status_code == 201
