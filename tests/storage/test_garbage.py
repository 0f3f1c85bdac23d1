"""Garbage collection of the file store: only what no job needs, only after the grace period."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from manager.core.farm import utcnow
from manager.core.health import run_health_checks
from manager.storage import file_store
from manager.storage.garbage import collect_garbage
from tests.conftest import Manager, job_body, submit


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def upload(manager: Manager, data: bytes) -> None:
    assert manager.post(f"/api/v3/shaman/files/{sha(data)}/{len(data)}", data=data).ok


def checkout(manager: Manager, path: str, files: dict[str, bytes]) -> str:
    body = {
        "checkoutPath": path,
        "files": [{"sha": sha(d), "size": len(d), "path": p} for p, d in files.items()],
    }
    response = manager.post("/api/v3/shaman/checkout/create", json=body)
    assert response.status_code == 200, response.text
    return str(response.json()["checkoutPath"])


def stored(manager: Manager) -> set[bytes]:
    return {f.path.read_bytes() for f in file_store(manager.settings).iter_stored()}


def test_unreferenced_files_and_checkouts_go_after_the_grace_period(manager: Manager) -> None:
    used, abandoned, loose = b"used by a job", b"checkout never submitted", b"never checked out"
    for data in (used, abandoned, loose):
        upload(manager, data)
    kept = checkout(manager, "kept", {"shot.blend": used})
    checkout(manager, "abandoned", {"shot.blend": abandoned})
    job = submit(manager, storage={"shaman_checkout_id": kept})
    farm, settings = manager.farm, manager.settings

    within = collect_garbage(farm.db, settings, utcnow(), force=True)
    assert within is not None and within.files == 0 and within.checkouts == 0
    assert stored(manager) == {used, abandoned, loose}

    later = utcnow() + timedelta(seconds=settings.file_store_gc_grace * 2)
    report = collect_garbage(farm.db, settings, later, force=True)
    assert report is not None and report.checkouts == 1 and report.files == 2
    assert stored(manager) == {used}
    assert manager.get("/api/farmhand/checkouts/abandoned").status_code == 404
    assert manager.get("/api/farmhand/checkouts/kept").status_code == 200

    assert manager.api("DELETE", f"/api/v3/jobs/{job['id']}").status_code == 204
    collect_garbage(farm.db, settings, later, force=True)
    assert stored(manager) == set()
    assert manager.get("/api/farmhand/checkouts/kept").status_code == 404


def test_health_checks_collect_garbage_at_most_once_per_interval(manager: Manager) -> None:
    upload(manager, b"loose file")
    later = utcnow() + timedelta(seconds=manager.settings.file_store_gc_grace * 2)
    assert collect_garbage(manager.farm.db, manager.settings, utcnow()) is not None
    run_health_checks(manager.farm, now=utcnow())  # within the interval: skipped
    assert stored(manager) == {b"loose file"}
    run_health_checks(
        manager.farm, now=later + timedelta(seconds=manager.settings.file_store_gc_interval)
    )
    assert stored(manager) == set()


def test_a_job_naming_a_missing_checkout_is_refused(manager: Manager) -> None:
    before = manager.get("/api/v3/jobs").json()["jobs"]
    for path in ("/api/v3/jobs/check", "/api/v3/jobs"):
        response = manager.post(
            path, json=job_body(storage={"shaman_checkout_id": "never-uploaded"})
        )
        assert response.status_code == 400, response.text
        assert "no checkout 'never-uploaded'" in response.json()["message"]
    assert manager.get("/api/v3/jobs").json()["jobs"] == before
