"""Job and task listings page through a big farm: pages cover everything once, in order, on
the v3 API and the dashboard's, with totals from the job's counters."""

from __future__ import annotations

import pytest

from tests.conftest import FakeWorker, Manager, submit

TASKS = 1050


def ids(tasks: list[dict[str, object]]) -> list[object]:
    return [t["id"] for t in tasks]


def test_task_pages_cover_a_job_once_in_order(manager: Manager, awake_worker: FakeWorker) -> None:
    job = submit(manager, settings={"frames": f"1-{TASKS}", "chunk_size": 1})
    done = []
    for _ in range(3):
        task = awake_worker.next_task()
        assert task is not None
        awake_worker.complete(task["uuid"])
        done.append(task["uuid"])
    active = awake_worker.next_task()
    assert active is not None

    everything = manager.get(f"/api/v3/jobs/{job['id']}/tasks").json()["tasks"]
    assert [t["index_in_job"] for t in everything] == list(range(TASKS))

    v3_pages: list[dict[str, object]] = []
    for offset in range(0, TASKS + 300, 300):
        page = manager.get(
            f"/api/v3/jobs/{job['id']}/tasks", params={"offset": offset, "limit": 300}
        ).json()["tasks"]
        assert len(page) == max(0, min(300, TASKS - offset))
        v3_pages += page
    assert ids(v3_pages) == ids(everything)

    dashboard_pages: list[dict[str, object]] = []
    for offset in range(0, TASKS, 200):
        page = manager.get(
            f"/api/farmhand/jobs/{job['id']}/tasks", params={"offset": offset, "limit": 200}
        ).json()
        assert page["total"] == TASKS and page["offset"] == offset
        dashboard_pages += page["tasks"]
    assert ids(dashboard_pages) == ids(everything)

    completed = manager.get(
        f"/api/farmhand/jobs/{job['id']}/tasks", params={"status": "completed"}
    ).json()
    assert completed["total"] == 3 and sorted(ids(completed["tasks"])) == sorted(done)
    waiting = manager.get(
        f"/api/farmhand/jobs/{job['id']}/tasks",
        params={"status": "queued,active", "offset": TASKS - 10, "limit": 200},
    ).json()
    assert waiting["total"] == TASKS - 3
    assert len(waiting["tasks"]) == 10 - 3


def test_job_pages_cover_every_job_once_in_order(manager: Manager) -> None:
    for n in range(5):
        submit(manager, name=f"job {n}")
    everything = manager.get("/api/v3/jobs").json()["jobs"]
    assert len(everything) == 5
    pages: list[dict[str, object]] = []
    for offset in (0, 2, 4, 6):
        pages += manager.get("/api/v3/jobs", params={"offset": offset, "limit": 2}).json()["jobs"]
    assert ids(pages) == ids(everything)


@pytest.mark.parametrize(
    "params", [{"limit": 0}, {"offset": -1}, {"limit": "many"}, {"offset": 2**40}]
)
def test_bad_page_parameters_are_a_400(manager: Manager, params: dict[str, object]) -> None:
    job = submit(manager)
    for path in ("/api/v3/jobs", f"/api/v3/jobs/{job['id']}/tasks"):
        response = manager.get(path, params=params)
        assert response.status_code == 400, (path, params, response.text)
        assert response.json()["code"] == 400
