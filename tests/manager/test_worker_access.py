"""With an access token set, a worker reads a job's files and outputs only while it holds one
of the job's tasks, and registering a worker on any door needs the registration token."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import pytest

from tests.conftest import Manager, register_worker
from tests.manager.locked_farm import (
    BEARER,
    BLEND,
    FRAME_NAME,
    REGISTRATION_TOKEN,
    LockedFarm,
    lock_down,
)


@pytest.fixture
def farm(manager: Manager) -> LockedFarm:
    return lock_down(manager)


def _reads(farm: LockedFarm) -> dict[str, str]:
    """Every read of job A's files and outputs a worker may make."""
    job = farm.job_a
    return {
        "file": f"/api/farmhand/files/{farm.sha256}/{farm.size}",
        "job checkout": f"/api/farmhand/jobs/{job}/checkout",
        "checkout": f"/api/farmhand/checkouts/{farm.checkout}",
        "outputs": f"/api/farmhand/jobs/{job}/outputs",
        "output": f"/api/farmhand/jobs/{job}/outputs/{FRAME_NAME}",
        "zip": f"/api/farmhand/jobs/{job}/outputs.zip",
    }


def _get(farm: LockedFarm, path: str, **kwargs: Any) -> Any:
    return farm.manager.get(path, **kwargs)


def test_the_worker_holding_a_task_reads_its_jobs_files_and_outputs(farm: LockedFarm) -> None:
    auth = (farm.worker_a.id, farm.worker_a.secret)
    reads = _reads(farm)
    assert _get(farm, reads["file"], auth=auth).content == BLEND
    for name in ("job checkout", "checkout"):
        manifest = _get(farm, reads[name], auth=auth).json()
        assert [f["path"] for f in manifest["files"]] == ["shot.blend"], name
    listing = _get(farm, reads["outputs"], auth=auth).json()
    assert [f["name"] for f in listing["files"]] == [FRAME_NAME]
    assert _get(farm, reads["output"], auth=auth).content == farm.frame
    archive = zipfile.ZipFile(io.BytesIO(_get(farm, reads["zip"], auth=auth).content))
    assert archive.read(FRAME_NAME) == farm.frame


def test_a_worker_of_another_job_reads_none_of_them(farm: LockedFarm) -> None:
    for name, path in _reads(farm).items():
        refused = _get(farm, path, auth=(farm.worker_b.id, farm.worker_b.secret))
        assert refused.status_code == 403, (name, refused.text)
        assert "holds no task" in refused.json()["message"], name
        assert _get(farm, path, headers=BEARER).status_code == 200, name


def test_no_and_wrong_credentials_read_none_of_them(farm: LockedFarm) -> None:
    for name, path in _reads(farm).items():
        assert _get(farm, path).status_code == 401, name
        wrong = _get(farm, path, auth=(farm.worker_a.id, "not-the-secret"))
        assert wrong.status_code == 401, name
        bearer = _get(farm, path, headers={"Authorization": "Bearer not-the-token"})
        assert bearer.status_code == 401, name


def test_a_worker_keeps_uploading_its_task_but_reads_no_more_once_it_ends(
    farm: LockedFarm,
) -> None:
    farm.worker_a.complete(farm.task_a)
    auth = (farm.worker_a.id, farm.worker_a.secret)
    for name, path in _reads(farm).items():
        assert _get(farm, path, auth=auth).status_code == 403, name
    late = farm.manager.api(
        "GET", f"/api/farmhand/outputs/tasks/{farm.task_a}/{FRAME_NAME}", auth=auth,
        params={"sha256": "0" * 64, "size": len(farm.frame)},
    )
    assert late.status_code == 200, late.text
    stranger = farm.manager.api(
        "GET", f"/api/farmhand/outputs/tasks/{farm.task_a}/{FRAME_NAME}",
        auth=(farm.worker_b.id, farm.worker_b.secret),
        params={"sha256": "0" * 64, "size": len(farm.frame)},
    )
    assert stranger.status_code == 409, stranger.text


def test_an_unknown_file_or_checkout_is_refused_alike_to_a_stranger(farm: LockedFarm) -> None:
    """A stranger learns nothing of what the store holds: a file it may not read and one
    that does not exist get the same answer."""
    auth = (farm.worker_b.id, farm.worker_b.secret)
    missing = _get(farm, f"/api/farmhand/files/{'a' * 64}/{farm.size}", auth=auth)
    assert missing.status_code == 403
    assert _get(farm, "/api/farmhand/checkouts/no-such-checkout", auth=auth).status_code == 403


def test_bad_checksums_and_control_characters_are_a_400_for_a_worker(farm: LockedFarm) -> None:
    auth = (farm.worker_a.id, farm.worker_a.secret)
    for path in (
        "/api/farmhand/files/not-a-checksum/12",
        f"/api/farmhand/files/{farm.sha256}/-1",
        f"/api/farmhand/files/{farm.sha256}/{2**70}",
        "/api/farmhand/checkouts/shot%00a",
        "/api/farmhand/jobs/a%00b/outputs",
    ):
        response = _get(farm, path, auth=auth)
        assert response.status_code == 400, (path, response.text)


def test_without_an_access_token_any_registered_worker_reads(farm: LockedFarm) -> None:
    farm.manager.settings.access_token = None
    for name, path in _reads(farm).items():
        response = _get(farm, path, auth=(farm.worker_b.id, farm.worker_b.secret))
        assert response.status_code == 200, name
        wrong = _get(farm, path, auth=(farm.worker_b.id, "not-the-secret"))
        assert wrong.status_code == 401, name


# Registration ---------------------------------------------------------------------------------

_REGISTRATIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "v3": ("/api/v3/worker/register-worker", {
        "name": "newcomer", "secret": "long-enough-secret", "platform": "linux",
        "supported_task_types": ["blender"],
    }),
    "2022": ("/api/worker/register-worker", {
        "nickname": "newcomer", "secret": "long-enough-secret", "platform": "linux",
        "supported_task_types": ["blender"],
    }),
    "2015": ("/workers", {"hostname": "newcomer", "system": "Linux"}),
}


@pytest.mark.parametrize("door", sorted(_REGISTRATIONS))
def test_every_door_needs_the_registration_token_to_register(
    farm: LockedFarm, door: str
) -> None:
    path, body = _REGISTRATIONS[door]
    for token in (None, "wrong", REGISTRATION_TOKEN[:-1]):
        headers = dict(BEARER)  # the 2015 door is behind the access token as well
        if token is not None:
            headers["X-Farmhand-Registration-Token"] = token
        refused = farm.manager.post(path, json=body, headers=headers)
        assert refused.status_code == 403, (token, refused.text)
        assert "registration token" in refused.json()["message"]
    headers = {**BEARER, "X-Farmhand-Registration-Token": REGISTRATION_TOKEN}
    assert farm.manager.post(path, json=body, headers=headers).status_code == 200


def test_the_registration_token_is_asked_before_the_body_is_read(farm: LockedFarm) -> None:
    refused = farm.manager.post("/api/v3/worker/register-worker", json={"nonsense": 1})
    assert refused.status_code == 403


def test_an_open_farm_registers_without_a_token(manager: Manager) -> None:
    register_worker(manager)
