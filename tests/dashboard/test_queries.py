"""The dashboard's read endpoints over plain HTTP: paged and sorted jobs (10,000 of them),
progress and timing, tasks with retry counts, workers with their work, the blocklist, the
farm summary and the access token."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from sqlalchemy import insert

from manager.config import Settings
from manager.core.statuses import JobStatus
from manager.dashboard import queries
from manager.db.models import Job
from tests.conftest import Manager, register_worker, submit

BIG = 10_000
STATUSES = [JobStatus.QUEUED, JobStatus.ACTIVE, JobStatus.COMPLETED, JobStatus.PAUSED]


def insert_jobs(manager: Manager, count: int) -> list[dict[str, Any]]:
    """Jobs straight into the database in one statement: the list endpoint is under test,
    not submission."""
    rng = random.Random(6)
    base = datetime(2025, 1, 1, tzinfo=UTC)
    rows = []
    for i in range(count):
        created = base + timedelta(seconds=rng.randrange(10 * count))
        total = rng.randrange(1, 200)
        rows.append(
            {
                "id": str(uuid.uuid4()),
                "name": f"job {rng.randrange(100_000):05d}",
                "job_type": "frames-noop",
                "priority": rng.randrange(101),
                "status": STATUSES[i % len(STATUSES)],
                "settings": {},
                "job_metadata": {},
                "created": created,
                "updated": created,
                "tasks_total": total,
                "tasks_completed": rng.randrange(total + 1),
            }
        )
    with manager.farm.db.write() as session:
        session.execute(insert(Job), rows)
    return rows


def page_of(manager: Manager, **params: Any) -> dict[str, Any]:
    response = manager.get("/api/farmhand/jobs", params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_paged_job_list_of_10000_jobs_sorts_and_pages_correctly(manager: Manager) -> None:
    rows = insert_jobs(manager, BIG)

    first = page_of(manager, limit=100, order_by="priority")
    assert first["total"] == BIG
    expected = sorted(rows, key=lambda r: (r["priority"], r["id"]))
    assert [j["id"] for j in first["jobs"]] == [r["id"] for r in expected[:100]]

    deep = page_of(manager, offset=9_950, limit=100, order_by="-priority")
    expected_desc = sorted(rows, key=lambda r: (r["priority"], r["id"]), reverse=True)
    assert [j["id"] for j in deep["jobs"]] == [r["id"] for r in expected_desc[9_950:]]

    newest = page_of(manager, limit=50)  # default order: newest first
    by_created = sorted(rows, key=lambda r: (r["created"], r["id"]), reverse=True)
    assert [j["id"] for j in newest["jobs"]] == [r["id"] for r in by_created[:50]]

    by_name = page_of(manager, offset=200, limit=50, order_by="name")
    names = sorted(rows, key=lambda r: (r["name"], r["id"]))
    assert [j["name"] for j in by_name["jobs"]] == [r["name"] for r in names[200:250]]

    progress = page_of(manager, limit=500, order_by="-progress")["jobs"]
    fractions = [j["progress"] for j in progress]
    assert fractions == sorted(fractions, reverse=True)

    paused = page_of(manager, limit=500, status="paused,completed", order_by="created")
    assert paused["total"] == sum(r["status"] in ("paused", "completed") for r in rows)
    assert {j["status"] for j in paused["jobs"]} == {"paused", "completed"}


def test_pages_do_not_overlap_and_cover_every_job(manager: Manager) -> None:
    rows = insert_jobs(manager, 1_000)
    seen: list[str] = []
    for offset in range(0, 1_000, 300):
        seen += [
            j["id"] for j in page_of(manager, offset=offset, limit=300, order_by="status")["jobs"]
        ]
    assert sorted(seen) == sorted(r["id"] for r in rows)
    assert len(seen) == len(set(seen))


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"order_by": "secret_column"}, "order_by"),
        ({"limit": 0}, "limit"),
        ({"limit": 100_000}, "limit"),
        ({"offset": -1}, "offset"),
        ({"status": "sleeping"}, "status"),
    ],
)
def test_bad_list_parameters_are_a_400_naming_the_field(
    manager: Manager, params: dict[str, Any], field: str
) -> None:
    response = manager.get("/api/farmhand/jobs", params=params)
    assert response.status_code == 400
    assert response.json()["message"].startswith(field)


def test_job_rows_carry_progress_frames_and_timing(manager: Manager) -> None:
    job = submit(manager, settings={"frames": "1-10", "chunk_size": 5})
    worker = register_worker(manager)
    worker.wake()
    task = worker.next_task()
    assert task is not None
    worker.update(task["uuid"], steps_completed=2)
    row = page_of(manager, ids=job["id"])["jobs"][0]
    assert row["frames_done"] == 2 and row["frames_total"] == 10
    assert row["progress"] == 0.0 and row["tasks"]["active"] == 1
    assert row["remaining_seconds"] is None  # nothing completed yet: no rate to go on
    worker.complete(task["uuid"])
    row = page_of(manager, ids=f"{job['id']},{uuid.uuid4()}")
    assert row["missing"] and row["jobs"][0]["frames_done"] == 5
    assert row["jobs"][0]["progress"] == 0.5
    for key in ("name", "type", "priority", "settings", "metadata", "created", "updated", "status"):
        assert row["jobs"][0][key] == manager.get(f"/api/v3/jobs/{job['id']}").json()[key]


def render_with_video(manager: Manager) -> dict[str, Any]:
    """Two frames, one per render task, and the preview video made of them."""
    return submit(
        manager,
        "simple-blender-render",
        name="two frames and a video",
        settings={
            "frames": "1-2",
            "chunk_size": 1,
            "render_output_root": "/render",
            "add_path_components": 0,
            "render_output_path": "/render/shot/######",
            "blendfile": "/projects/shot.blend",
            "fps": 24.0,
            "format": "PNG",
            "image_file_extension": ".png",
            "scene": "Scene",
        },
    )


def test_frames_count_the_frames_rendered_not_the_video_task(manager: Manager) -> None:
    job = render_with_video(manager)
    worker = register_worker(manager)
    worker.wake()
    names = []
    while (task := worker.next_task()) is not None:
        names.append(task["name"])
        worker.complete(task["uuid"])
        row = page_of(manager, ids=job["id"])["jobs"][0]
        assert row["frames_total"] == 2
        assert row["frames_done"] == min(len(names), 2)
    assert names == ["render-1", "render-2", "preview-video"]
    listed = {j["id"]: j for j in page_of(manager)["jobs"]}[job["id"]]
    assert (listed["frames_done"], listed["frames_total"]) == (2, 2)
    assert listed["tasks"]["completed"] == 3
    workers = manager.get("/api/farmhand/workers").json()["workers"]
    assert [w["frames_rendered"] for w in workers if w["id"] == worker.id] == [2]
    summary = manager.get("/api/farmhand/summary").json()
    assert summary["frames_per_hour"] == 2 and summary["tasks_per_hour"] == 3


def test_remaining_time_follows_the_rate_of_completed_tasks() -> None:
    created = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    job = Job(
        status=JobStatus.ACTIVE,
        created=created,
        updated=created,
        tasks_total=10,
        tasks_completed=4,
        tasks_canceled=0,
    )
    elapsed, remaining = queries.job_timing(job, created + timedelta(minutes=8))
    assert elapsed == 480.0
    assert remaining == pytest.approx(720.0)  # 4 tasks per 8 minutes, 6 to go
    job.status = JobStatus.COMPLETED
    job.updated = created + timedelta(minutes=20)
    assert queries.job_timing(job, created + timedelta(hours=5)) == (1200.0, None)


def test_task_list_counts_retries_per_task(manager: Manager) -> None:
    job = submit(manager, settings={"frames": "1-3", "chunk_size": 1})
    register_worker(manager, "c")  # can still run what a and b fail
    for name in ("a", "b"):
        worker = register_worker(manager, name)
        worker.wake()
        task = worker.next_task()
        assert task is not None
        worker.fail(task["uuid"])
    tasks = manager.get(f"/api/farmhand/jobs/{job['id']}/tasks").json()
    assert tasks["total"] == 3
    retries = {t["id"]: t["retries"] for t in tasks["tasks"]}
    for task_id, count in retries.items():
        failed_by = manager.get(f"/api/v3/tasks/{task_id}").json()["failed_by_workers"]
        assert count == len(failed_by)
    assert sum(retries.values()) == 2
    soft = manager.get(f"/api/farmhand/jobs/{job['id']}/tasks", params={"status": "soft-failed"})
    assert {t["status"] for t in soft.json()["tasks"]} == {"soft-failed"}


def test_job_rows_count_soft_failed_tasks_and_blocked_workers(manager: Manager) -> None:
    manager.farm.settings.blocklist_threshold = 2
    job = submit(manager, settings={"frames": "1-6", "chunk_size": 1})
    register_worker(manager, "spare")  # can still run what "flaky" fails
    worker = register_worker(manager, "flaky")
    worker.wake()
    for _ in range(2):
        task = worker.next_task()
        assert task is not None
        worker.fail(task["uuid"])

    row = manager.get(f"/api/farmhand/jobs/{job['id']}").json()
    assert row["status"] == "active"
    assert row["tasks"]["soft_failed"] == 2 and row["tasks"]["failed"] == 0
    assert row["blocked_workers"] == 1
    listed = manager.get("/api/farmhand/jobs", params={"ids": job["id"]}).json()["jobs"]
    assert listed[0]["blocked_workers"] == 1
    other = submit(manager, name="clean")
    assert manager.get(f"/api/farmhand/jobs/{other['id']}").json()["blocked_workers"] == 0


def test_workers_list_shows_current_task_and_frames_rendered(manager: Manager) -> None:
    job = submit(manager, name="for workers", settings={"frames": "1-6", "chunk_size": 2})
    worker = register_worker(manager, "render-01")
    worker.wake()
    first = worker.next_task()
    assert first is not None
    worker.complete(first["uuid"])
    current = worker.next_task()
    assert current is not None
    idle = register_worker(manager, "render-02")

    listed = {w["id"]: w for w in manager.get("/api/farmhand/workers").json()["workers"]}
    busy = listed[worker.id]
    assert busy["frames_rendered"] == 2 and busy["tasks_completed"] == 1
    assert busy["task"]["id"] == current["uuid"]
    assert busy["task"]["job_id"] == job["id"] and busy["task"]["job_name"] == "for workers"
    assert busy["software"] == "test-1.0" and busy["platform"] == "linux"
    assert "task" not in listed[idle.id] and listed[idle.id]["frames_rendered"] == 0

    summary = manager.get("/api/farmhand/summary").json()
    assert summary["workers"]["busy"] == 1
    assert summary["workers"]["total"] == 2
    assert summary["queued_frames"] == 2
    assert summary["frames_per_hour"] == 2 and summary["tasks_per_hour"] == 1


def test_blocklist_lists_entries_with_job_and_worker_names(manager: Manager) -> None:
    manager.farm.settings.blocklist_threshold = 1
    job = submit(manager, name="blocky", settings={"frames": "1-3", "chunk_size": 1})
    worker = register_worker(manager, "render-bad")
    worker.wake()
    task = worker.next_task()
    assert task is not None
    worker.fail(task["uuid"])
    entries = manager.get("/api/farmhand/blocklist").json()["entries"]
    assert [(e["job_id"], e["job_name"], e["worker_name"], e["task_type"]) for e in entries] == [
        (job["id"], "blocky", "render-bad", "misc")
    ]


@pytest.fixture
def token_settings(manager_settings: Settings) -> Settings:
    manager_settings.access_token = "open-sesame"
    return manager_settings


def test_access_token_guards_the_dashboard_api(token_settings: Settings, manager: Manager) -> None:
    for path in (
        "/api/farmhand/jobs",
        "/api/farmhand/summary",
        "/api/farmhand/workers",
        "/api/farmhand/events",
    ):
        assert requests.get(manager.url + path, timeout=10).status_code == 401, path
    page = requests.get(manager.url + "/", timeout=10)
    assert page.status_code == 200 and "Sign in" in page.text
    assert requests.get(manager.url + "/api/farmhand/session", timeout=10).json() == {
        "token_required": True,
        "signed_in": False,
    }

    browser = requests.Session()
    wrong = browser.post(manager.url + "/api/farmhand/session", json={"token": "nope"}, timeout=10)
    assert wrong.status_code == 401 and "WWW-Authenticate" not in wrong.headers
    signed = browser.post(
        manager.url + "/api/farmhand/session", json={"token": "open-sesame"}, timeout=10
    )
    assert signed.status_code == 204
    cookie = signed.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert browser.get(manager.url + "/api/farmhand/jobs", timeout=10).status_code == 200
    bearer = {"Authorization": "Bearer open-sesame"}
    assert requests.get(manager.url + "/api/farmhand/summary", headers=bearer, timeout=10).ok

    browser.delete(manager.url + "/api/farmhand/session", timeout=10)
    assert browser.get(manager.url + "/api/farmhand/jobs", timeout=10).status_code == 401


def test_what_a_worker_did_stays_counted_when_its_job_is_requeued_or_deleted(
    manager: Manager,
) -> None:
    job = submit(manager, name="history", settings={"frames": "1-2", "chunk_size": 2})
    worker = register_worker(manager, "render-01")
    worker.wake()
    worker.complete_next(1)

    def counted() -> tuple[int, int]:
        listed = {w["id"]: w for w in manager.get("/api/farmhand/workers").json()["workers"]}
        return listed[worker.id]["tasks_completed"], listed[worker.id]["frames_rendered"]

    assert counted() == (1, 2)
    requeue = {"status": "requeueing", "reason": "again"}
    assert manager.post(f"/api/v3/jobs/{job['id']}/setstatus", json=requeue).status_code == 204
    assert counted() == (1, 2)
    assert manager.api("DELETE", f"/api/v3/jobs/{job['id']}").status_code == 204
    assert counted() == (1, 2)


def test_sums_over_many_tasks_are_kept_as_long_as_their_cost_says(
    manager: Manager, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The summary and a big job's frames read every queued task: how long they are kept
    grows with what they cost (``COST_FACTOR`` times it), never below the usual ages."""
    from manager.dashboard import routes

    monkeypatch.setattr(routes, "SUMMARY_MIN_AGE_SECONDS", 0.0)
    monkeypatch.setattr(queries, "BIG_JOB_TASKS", 1)
    monkeypatch.setattr(queries, "BIG_JOB_FRAMES_SECONDS", 0.0)
    job = submit(manager, name="sums", settings={"frames": "1-4", "chunk_size": 1})

    def sums() -> tuple[int, int]:
        queued = manager.get("/api/farmhand/summary").json()["queued_frames"]
        listed = manager.get("/api/farmhand/jobs").json()["jobs"]
        done = next(j for j in listed if j["id"] == job["id"])["frames_done"]
        return int(queued), int(done)

    # Costly: whatever a sum took, it is kept far longer than the test runs.
    monkeypatch.setattr(queries, "COST_FACTOR", 10**9)
    assert sums() == (4, 0)
    worker = register_worker(manager)
    worker.wake()
    worker.complete_next(1)  # a task of the only job
    assert sums() == (4, 0), "kept"

    # Cheap: summed again after the change.
    monkeypatch.setattr(queries, "COST_FACTOR", 0)
    assert sums() == (3, 1)
