"""Every operation of the served OpenAPI document, called with input generated from its schema
by schemathesis and hypothesis: none is answered with a 500.

Input that fits the document is the interesting kind: the served document says what FastAPI
checks, so anything it lets through (a 20-digit path id, a NUL in a name, a float of 1e308)
reaches the code behind it. Input of the wrong types is answered by validation alone, and
generating it costs ten times as much, so the walk leaves it out."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.generation import GenerationMode

from tests.conftest import Manager, database_backends, register_worker, submit

pytestmark = pytest.mark.parametrize("backend", database_backends(), indirect=True)

#: Examples per operation: enough to reach the bounds of every field (hypothesis tries the
#: extremes early), few enough that the whole walk takes seconds.
EXAMPLES = 10
#: Operations that never end by design: the dashboard's event stream.
ENDLESS = {"GET /api/farmhand/events"}


def test_no_operation_of_the_served_document_answers_500(manager: Manager) -> None:
    submit(manager)
    worker = register_worker(manager)
    worker.wake()
    assert worker.next_task() is not None
    schema = schemathesis.openapi.from_dict(manager.get("/openapi.json").json())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 50
    failures: list[str] = []
    manager.checker.enabled = False  # generated input is refused in many ways
    try:
        for operation in operations:
            if operation.label not in ENDLESS:
                failures += _walk(manager, operation, (worker.id, worker.secret))
    finally:
        manager.checker.enabled = True
    assert not failures, "\n".join(failures[:20])


def _walk(manager: Manager, operation: Any, auth: Any) -> list[str]:
    failures: list[str] = []

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE))
    def call(case: Any) -> None:
        response = case.call(base_url=manager.url, session=manager.http, auth=auth, timeout=30)
        if response.status_code >= 500:
            failures.append(
                f"{operation.label}: {response.status_code} {response.text[:200]}"
                f"\n  {case.as_curl_command()}"
            )

    call()
    return failures
