"""Hostile input to the JSON APIs: each is a 4xx ``Error{code, message}`` naming the problem,
and changes nothing (on SQLite and on PostgreSQL, whose columns and text are stricter)."""

from __future__ import annotations

import hashlib
import io
from typing import Any

import pytest
from PIL import Image

from tests.conftest import Manager, database_backends, job_body, register_worker, submit

pytestmark = pytest.mark.parametrize("backend", database_backends(), indirect=True)

DEEP = 100_000


def assert_refused(response: Any, *needles: str, status: int = 400) -> str:
    assert response.status_code == status, response.text
    error = response.json()
    assert set(error) == {"code", "message"} and error["code"] == status
    message = str(error["message"])
    for needle in needles:
        assert needle in message, message
    return message


def post_raw(manager: Manager, path: str, raw: str, **kwargs: Any) -> Any:
    headers = {"Content-Type": "application/json", **kwargs.pop("headers", {})}
    return manager.post(path, data=raw.encode(), headers=headers, **kwargs)


def no_jobs(manager: Manager) -> bool:
    return manager.get("/api/v3/jobs").json()["jobs"] == []


@pytest.mark.parametrize("path", ["/api/v3/jobs", "/api/v3/jobs/check"])
@pytest.mark.parametrize("frames", ["1" * 5000, "1-" + "9" * 5000, "-" + "1" * 5000])
def test_a_frame_number_of_thousands_of_digits_is_refused_naming_frames(
    manager: Manager, path: str, frames: str
) -> None:
    body = job_body(settings={"frames": frames, "chunk_size": 1})
    assert_refused(manager.post(path, json=body), "settings.frames")
    assert no_jobs(manager)


def test_frames_beyond_blenders_range_are_refused(manager: Manager) -> None:
    body = job_body(settings={"frames": "2147483648", "chunk_size": 1})
    assert_refused(manager.post("/api/v3/jobs", json=body), "settings.frames")


def test_a_body_nested_a_hundred_thousand_levels_is_refused(manager: Manager) -> None:
    raw = '{"name": ' + "[" * DEEP + "]" * DEEP + "}"
    assert_refused(post_raw(manager, "/api/v3/jobs", raw), "nested")
    assert no_jobs(manager)


@pytest.mark.parametrize("number", ["1" * 5000, "1" * 50, "1." + "1" * 5000, "1e" + "9" * 5000])
def test_a_number_with_too_many_digits_is_refused(manager: Manager, number: str) -> None:
    raw = (
        '{"name": "j", "type": "frames-noop", "submitter_platform": "linux", '
        f'"settings": {{"frames": "1"}}, "priority": {number}}}'
    )
    assert_refused(post_raw(manager, "/api/v3/jobs", raw), "digits")
    assert no_jobs(manager)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_json_numbers_that_are_not_finite_are_refused(manager: Manager, constant: str) -> None:
    raw = (
        '{"name": "j", "type": "simple-blender-render", "submitter_platform": "linux", '
        f'"priority": 50, "settings": {{"fps": {constant}}}}}'
    )
    assert_refused(post_raw(manager, "/api/v3/jobs", raw), "finite")
    assert no_jobs(manager)


# Names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a\u0000b", "tab\there", "line\nbreak", "bell\u0007", "\u007f"])
def test_control_characters_in_a_worker_name_are_refused(manager: Manager, name: str) -> None:
    body = {
        "name": name,
        "secret": "long enough secret",
        "platform": "linux",
        "supported_task_types": ["misc"],
    }
    assert_refused(manager.post("/api/v3/worker/register-worker", json=body), "name")
    assert manager.get("/api/v3/worker-mgt/workers").json()["workers"] == []


def test_control_characters_in_a_sign_on_name_are_refused(manager: Manager) -> None:
    worker = register_worker(manager, "plain")
    body = {"name": "evil\u0000", "supported_task_types": ["misc"], "software_version": "1"}
    assert_refused(worker.call("POST", "/sign-on", json=body), "name")
    listed = manager.get("/api/v3/worker-mgt/workers").json()["workers"]
    assert [w["name"] for w in listed] == ["plain"]


@pytest.mark.parametrize("name", ["a\u0000b", "two\nlines", "\u001b[31mred"])
def test_control_characters_in_a_job_name_are_refused(manager: Manager, name: str) -> None:
    for path in ("/api/v3/jobs/check", "/api/v3/jobs"):
        assert_refused(manager.post(path, json=job_body(name=name)), "name")
    assert no_jobs(manager)


def test_control_characters_in_a_tag_name_are_refused(manager: Manager) -> None:
    refused = manager.post("/api/v3/worker-mgt/tags", json={"name": "gpu\u0000"})
    assert_refused(refused, "name")
    assert manager.get("/api/v3/worker-mgt/tags").json()["tags"] == []
    tag = manager.post("/api/v3/worker-mgt/tags", json={"name": "gpu"}).json()
    renamed = manager.api("PUT", f"/api/v3/worker-mgt/tag/{tag['id']}", json={"name": "x\u0001"})
    assert_refused(renamed, "name")


def test_a_nul_anywhere_in_a_json_body_is_refused(manager: Manager) -> None:
    body = job_body(metadata={"note": "before\u0000after"})
    assert_refused(manager.post("/api/v3/jobs", json=body), "NUL")
    body = job_body(settings={"frames": "1", "chunk_size": 1, "extra\u0000key": "x"})
    assert_refused(manager.post("/api/v3/jobs", json=body), "NUL")
    assert no_jobs(manager)


def test_a_nul_in_a_path_or_query_is_refused(manager: Manager) -> None:
    for path in ("/api/v3/jobs/%00", "/api/v3/tasks/a%00b", "/api/v3/worker-mgt/workers/%00"):
        response = manager.get(path)
        assert 400 <= response.status_code < 500, (path, response.text)
    assert_refused(manager.get("/api/farmhand/jobs?ids=%00"), "NUL")


def test_a_nul_in_worker_credentials_is_refused(manager: Manager) -> None:
    response = manager.post("/api/v3/worker/task", auth=("a\u0000b", "secret"))
    assert 400 <= response.status_code < 500, response.text


# Outputs -------------------------------------------------------------------------------------


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 10, 10)).save(buffer, "PNG")
    return buffer.getvalue()


def test_an_output_below_a_file_or_above_a_folder_is_a_409(manager: Manager) -> None:
    submit(manager)
    worker = register_worker(manager)
    worker.wake()
    task = worker.next_task()
    assert task is not None
    data = _png()
    headers = {"X-Farmhand-SHA256": hashlib.sha256(data).hexdigest()}

    def put(name: str) -> Any:
        return manager.api(
            "PUT",
            f"/api/farmhand/outputs/tasks/{task['uuid']}/{name}",
            data=data,
            headers=headers,
            auth=(worker.id, worker.secret),
        )

    assert put("frame.png").status_code == 201
    assert_refused(put("frame.png/x.png"), "frame.png", status=409)
    assert put("shots/a.png").status_code == 201
    assert_refused(put("shots"), "shots", status=409)
    listed = manager.get(f"/api/farmhand/jobs/{task['job']}/outputs").json()["files"]
    assert sorted(f["name"] for f in listed) == ["frame.png", "shots/a.png"]
    partial = manager.settings.data_dir / "outputs" / task["job"] / "partial"
    assert not partial.exists() or list(partial.iterdir()) == []


# Sizes and offsets -----------------------------------------------------------------------------


@pytest.mark.parametrize("offset", [2**63, 10**20])
def test_a_listing_offset_beyond_the_columns_is_refused(manager: Manager, offset: int) -> None:
    job = submit(manager)
    for path in ("/api/farmhand/jobs", f"/api/farmhand/jobs/{job['id']}/tasks"):
        assert_refused(manager.get(path, params={"offset": offset}), "offset")


def test_a_file_size_beyond_64_bits_is_refused(manager: Manager) -> None:
    sha = "ab" * 32
    assert_refused(manager.get(f"/api/v3/shaman/files/{sha}/{2**64}"), "filesize")
    body = {"files": [{"sha": sha, "size": 2**70}]}
    assert_refused(manager.post("/api/v3/shaman/checkout/requirements", json=body), "size")


def test_a_content_range_of_thousands_of_digits_is_refused(manager: Manager) -> None:
    submit(manager)
    worker = register_worker(manager)
    worker.wake()
    task = worker.next_task()
    assert task is not None
    huge = "9" * 5000
    response = manager.api(
        "PUT",
        f"/api/farmhand/outputs/tasks/{task['uuid']}/frame.png",
        data=b"x",
        headers={"X-Farmhand-SHA256": "ab" * 32, "Content-Range": f"bytes 0-{huge}/{huge}"},
        auth=(worker.id, worker.secret),
    )
    assert_refused(response, "Content-Range")


def test_a_time_without_its_time_zone_is_refused(manager: Manager) -> None:
    naive = {"last_updated_max": "2030-01-01T00:00:00"}
    assert_refused(manager.api("DELETE", "/api/v3/jobs/mass-delete", json=naive), "timezone")


@pytest.mark.parametrize("when", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59"])
def test_a_time_that_leaves_the_years_a_column_holds_in_utc_is_refused(
    manager: Manager, when: str
) -> None:
    submit(manager)
    mass_delete = manager.api("DELETE", "/api/v3/jobs/mass-delete", json={"last_updated_max": when})
    assert_refused(mass_delete, "last_updated_max", "UTC")
    assert not no_jobs(manager)
    user = {"login": "alice", "password": "a long password", "expires_at": when}
    assert_refused(manager.post("/api/farmhand/sheepit/users", json=user), "expires_at")
    del user["expires_at"]
    assert manager.post("/api/farmhand/sheepit/users", json=user).status_code == 201
    change = manager.api("PATCH", "/api/farmhand/sheepit/users/alice", json={"expires_at": when})
    assert_refused(change, "expires_at")


@pytest.mark.parametrize("path", ["/" + "a" * 300, "/" + "a/" * 3000])
def test_a_shared_storage_path_no_folder_can_have_is_not_usable(
    manager: Manager, path: str
) -> None:
    answer = manager.post("/api/v3/configuration/check/shared-storage", json={"path": path})
    assert answer.status_code == 200, answer.text
    assert answer.json()["is_usable"] is False


def test_a_worker_naming_thousands_of_task_types_is_refused(manager: Manager) -> None:
    body = {
        "name": "greedy",
        "secret": "a long enough secret",
        "platform": "linux",
        "supported_task_types": [f"type-{n}" for n in range(100_000)],
    }
    assert_refused(
        manager.post("/api/v3/worker/register-worker", json=body), "supported_task_types"
    )
    body["supported_task_types"] = ["x" * 5000]
    assert_refused(
        manager.post("/api/v3/worker/register-worker", json=body), "supported_task_types"
    )
    worker = register_worker(manager)
    sign_on = {"name": worker.name, "supported_task_types": ["t"] * 100_000 + ["u"] * 1}
    answer = worker.call("POST", "/sign-on", json={**sign_on, "software_version": "1"})
    assert_refused(answer, "supported_task_types")
