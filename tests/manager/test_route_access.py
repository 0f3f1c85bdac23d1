"""Every route of a locked manager against the README's table of who may call what.

The routes are the served OpenAPI document's operations and every route the application
serves outside it (dashboard, downloads, event stream, SheepIt and /farm doors), read from
the running application itself, so a new route cannot slip past. Each is called without
credentials, with wrong ones (a wrong token in the URL too) and as a worker holding a task of
another job, and, where the call only reads, as the callers its row admits.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree

import pytest
import requests
from fastapi import FastAPI
from starlette.routing import Mount

from tests.conftest import REPO, Manager
from tests.manager.locked_farm import ACCESS_TOKEN, BEARER, FRAME_NAME, LockedFarm, lock_down

ANYONE = "anyone"
ACCESS = "access token"
ACCESS_AND_REGISTRATION = "access token and registration token"
ACCESS_OR_HOLDER = "access token or worker holding a task of the job"
REGISTRATION = "registration token"
WORKER = "worker credentials"
TASK_HOLDER = "worker holding the task"
SHEEPIT = "SheepIt login"
NODE = "/farm node secret"
CATEGORIES = (ANYONE, ACCESS, ACCESS_AND_REGISTRATION, ACCESS_OR_HOLDER, REGISTRATION, WORKER,
              TASK_HOLDER, SHEEPIT, NODE)

Route = tuple[str, str]  # (method, path template)


# The table ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    method: str | None
    pattern: str
    category: str

    def matches(self, route: Route) -> bool:
        method, path = route
        return self.method in (None, method) and fnmatch.fnmatchcase(path, self.pattern)

    @property
    def rank(self) -> tuple[int, int]:
        """The most specific row wins: one naming the method, then the longest pattern."""
        return (self.method is not None, len(self.pattern))


def readme_table() -> list[Row]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("### Who may call what", 1)[1].split("\n#", 1)[0]
    rows = []
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        routes_cell, who_cell = (cell.strip() for cell in line.strip("|").split("|")[:2])
        matching = [c for c in CATEGORIES if who_cell.startswith(c)]
        assert matching, f"README: {who_cell!r} names none of {CATEGORIES}"
        category = max(matching, key=len)
        for spec in re.findall(r"`([^`]+)`", routes_cell):
            method, _, pattern = spec.rpartition(" ")
            rows.append(Row(method or None, pattern, category))
    assert rows, "README has no table under 'Who may call what'"
    return rows


def category_of(rows: list[Row], route: Route) -> str | None:
    found = [row for row in rows if row.matches(route)]
    return max(found, key=lambda row: row.rank).category if found else None


# The routes -----------------------------------------------------------------------------------


def served_routes(app: FastAPI) -> set[Route]:
    """Every (method, path) the application answers, included routers unfolded."""
    out: set[Route] = set()

    def add(route: Any) -> None:
        if isinstance(route, Mount):  # static files: any name below the mount
            out.add(("GET", route.path + "/{file}"))
            return
        for method in set(route.methods or ()) - {"HEAD"}:
            out.add((method, route.path_format))  # as the document writes it: no converters

    for route in app.routes:
        unfold = getattr(route, "effective_route_contexts", None)
        for each in unfold() if unfold is not None else [route]:
            add(each)
    return out


def documented_routes(manager: Manager) -> set[Route]:
    document = requests.get(manager.url + "/openapi.json", timeout=30).json()
    return {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in ("get", "put", "post", "delete", "patch")
    }


# Calling a route ------------------------------------------------------------------------------


WRONG_URL_TOKEN = "wrong token in the URL"
NODE_IDENTITY = [{"id": "identity", "name": "intruder", "provides": []}]
#: Bodies that pass validation, for the routes that check credentials after reading the body:
#: a wrong secret must be what is refused.
BODIES: dict[str, Any] = {
    "/api/v3/worker/sign-on": {"name": "w", "supported_task_types": ["misc"],
                               "software_version": "1"},
    "/api/worker/sign-on": {"nickname": "w", "supported_task_types": ["misc"],
                            "software_version": "1"},
    "/api/v3/worker/state-changed": {"status": "awake"},
    "/api/worker/state-changed": {"status": "awake"},
}


@dataclass
class Caller:
    name: str
    auth: tuple[str, str] | None = None
    headers: dict[str, str] | None = None
    cookies: dict[str, str] | None = None
    #: Put before the route's path: the access token in the URL (``/access/<token>``).
    prefix: str = ""


def samples(farm: LockedFarm) -> dict[str, str]:
    return {
        "job_id": farm.job_a,
        "task_id": farm.task_a,
        "worker_id": farm.worker_a.id,
        "checksum": farm.sha256,
        "filesize": str(farm.size),
        "checkout_path": farm.checkout,
        "name": FRAME_NAME,
        "task_file": f"{farm.task_a}.txt",
        "number": "1",
        "login": "nobody",
        "tag_id": "00000000-0000-0000-0000-000000000000",
        "type_name": "frames-noop",
        "audience": "users",
        "platform": "linux",
        "secret": "not-a-node-secret",
        "token": "not-the-registration-token",
        "file": "app.js",
    }


def url_of(farm: LockedFarm, path: str) -> str:
    values = samples(farm)

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in values, f"{path}: add a sample value for {{{name}}} to this test"
        if path.startswith("/job-files/last-rendered/") and name == "name":
            return "last-rendered.jpg"
        return values[name]

    return re.sub(r"\{(\w+)\}", fill, path)


def call(farm: LockedFarm, route: Route, caller: Caller) -> requests.Response:
    method, path = route
    kwargs: dict[str, Any] = {"headers": dict(caller.headers or {})}
    if path.endswith("/potential"):
        kwargs["json"] = "studio-b"
    elif path.startswith("/farm"):
        kwargs["json"] = NODE_IDENTITY
    elif path in BODIES:
        kwargs["json"] = BODIES[path]
    elif path.endswith("/output-produced") or method == "PUT" and "/outputs/" in path:
        kwargs["data"] = farm.frame
        kwargs["headers"].update({"Content-Type": "image/png",
                                  "X-Farmhand-SHA256": hashlib.sha256(farm.frame).hexdigest()})
    elif method in ("POST", "PUT", "PATCH") and not path.startswith("/sheepit"):
        kwargs["json"] = {}
    if method == "GET" and path.startswith("/api/farmhand/outputs/"):
        kwargs["params"] = {"sha256": hashlib.sha256(farm.frame).hexdigest(),
                            "size": len(farm.frame)}
    url = farm.manager.url + caller.prefix + url_of(farm, path)
    response = requests.request(
        method, url, auth=caller.auth, cookies=caller.cookies, timeout=30, stream=True, **kwargs
    )
    # Event streams and downloads: the status and headers are all a check needs.
    media = response.headers.get("content-type", "")
    if media.startswith(("text/event-stream", "application/zip")):
        response.close()
    else:
        response.content  # noqa: B018 (read, so the connection is free again)
    return response


def _sheepit_refused(response: requests.Response) -> bool:
    if response.status_code >= 400:
        return True
    try:
        return ElementTree.fromstring(response.content).get("status") not in (None, "0")
    except ElementTree.ParseError:
        return False


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except (json.JSONDecodeError, requests.JSONDecodeError):
        return None


def refusal_problem(category: str, caller: str, response: requests.Response) -> str | None:
    """Why the answer to a caller the row does not admit is wrong; None when it is right."""
    status = response.status_code
    if status >= 500:
        return f"{status}: {response.text[:200]}"
    expected: set[int]
    if caller == WRONG_URL_TOKEN:  # refused before any route, whoever it names
        return None if status == 401 else f"{status}, expected 401"
    if category == ANYONE:
        return None
    if category == SHEEPIT:
        return None if _sheepit_refused(response) else "not refused in SheepIt's XML"
    if category == NODE:
        expected = {401, 403, 404}
    elif category == REGISTRATION:
        expected = {401, 403} if response.url.count("/farm/") else {403}
    elif category in (ACCESS, ACCESS_AND_REGISTRATION):
        expected = {401}
    elif caller != "stranger":
        expected = {401}
    elif category == ACCESS_OR_HOLDER:
        expected = {403}
    elif category == TASK_HOLDER:
        body = _json(response)
        if status == 200 and isinstance(body, dict) and body.get("mayKeepRunning") is False:
            return None
        expected = {403, 409}
    else:  # a worker's own calls: the stranger is a worker too
        return None if status < 400 else f"{status} for a registered worker"
    return None if status in expected else f"{status}, expected one of {sorted(expected)}"


def strangers(farm: LockedFarm) -> Iterator[Caller]:
    yield Caller("no credentials")
    yield Caller("wrong secret", auth=(farm.worker_a.id, "not-the-secret"),
                 cookies={"farmhand_access": "not-the-token", "sheepit_session": "forged"})
    yield Caller("wrong token", headers={"Authorization": "Bearer not-the-token"})
    yield Caller("stranger", auth=(farm.worker_b.id, farm.worker_b.secret))
    yield Caller(WRONG_URL_TOKEN, prefix="/access/not-the-token")


def admitted(farm: LockedFarm, category: str) -> Iterator[Caller]:
    """Callers the row admits, for the calls that only read."""
    if category == ANYONE:
        yield Caller("no credentials")
    if category in (ACCESS, ACCESS_OR_HOLDER):
        yield Caller("the access token", headers=dict(BEARER))
        yield Caller("the access token in the URL", prefix=f"/access/{ACCESS_TOKEN}")
    if category in (ACCESS_OR_HOLDER, WORKER, TASK_HOLDER):
        yield Caller("worker A", auth=(farm.worker_a.id, farm.worker_a.secret))


def admission_problem(category: str, response: requests.Response) -> str | None:
    """A read by a caller the row admits: never refused; and where the farm holds the thing
    (job A's files and outputs, worker A's task), found."""
    status = response.status_code
    if status >= 500 or status in (401, 403):
        return f"{status}: {response.text[:200]}"
    if category in (ACCESS_OR_HOLDER, TASK_HOLDER) and status >= 300:
        return f"{status}: {response.text[:200]}"
    body = _json(response)
    if isinstance(body, dict) and body.get("mayKeepRunning") is False:
        return "worker A may not keep running its own task"
    return None


# The test -------------------------------------------------------------------------------------


@pytest.fixture
def farm(manager: Manager) -> LockedFarm:
    return lock_down(manager)


def test_every_route_answers_only_the_callers_its_readme_row_names(farm: LockedFarm) -> None:
    manager = farm.manager
    app = manager._server.config.app
    served = served_routes(app)
    documented = documented_routes(manager)
    assert documented <= served, f"documented but not served: {sorted(documented - served)}"
    assert {("GET", "/"), ("GET", "/dashboard/{file}")} <= served - documented
    rows = readme_table()
    problems = [f"{m} {p}: no row in the README's table" for m, p in sorted(served)
                if category_of(rows, (m, p)) is None]
    problems += [f"README row {r.pattern!r} matches no route" for r in rows
                 if not any(r.matches(route) for route in served)]

    for route in sorted(served):
        category = category_of(rows, route)
        if category is None:
            continue
        method, path = route
        for caller in strangers(farm):
            if caller.name == "stranger" and category == WORKER and method != "GET":
                continue  # it would change the stranger's own state, which is its right
            problem = refusal_problem(category, caller.name, call(farm, route, caller))
            if problem:
                problems.append(f"{method} {path} ({category}), {caller.name}: {problem}")
        if method != "GET":
            continue
        for caller in admitted(farm, category):
            problem = admission_problem(category, call(farm, route, caller))
            if problem:
                problems.append(f"{method} {path} ({category}), {caller.name}: {problem}")
    assert not problems, "\n".join(problems)


def test_a_registration_door_behind_the_access_token_needs_both(farm: LockedFarm) -> None:
    body = {"hostname": "newcomer", "system": "Linux"}
    only_access = requests.post(farm.manager.url + "/workers", json=body, headers=BEARER,
                                timeout=30)
    assert only_access.status_code == 403, only_access.text
