"""The dashboard in a real headless Chromium against a live manager: jobs appear and advance
live as a simulated worker works, actions change state through the API, task logs stream,
workers can be steered, and a token-protected manager shows nothing before sign-in."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ALL_TASK_TYPES, Manager, register_worker, submit

sync_api = pytest.importorskip(
    "playwright.sync_api",
    reason="Playwright is not installed (see tests/dashboard/REQUIREMENTS.md)",
)
expect = sync_api.expect


def job_row(page: Any, job_id: str) -> Any:
    return page.locator(f'#jobs-table tr[data-job-id="{job_id}"]')


def open_dashboard(page: Any, path: str = "/") -> None:
    page.goto(path)
    expect(page.locator("#live")).to_have_attribute("data-state", "on")


def test_submitted_job_appears_and_its_progress_advances_live(
    manager: Manager, page: Any, artifacts: Path
) -> None:
    open_dashboard(page)
    expect(page.locator("#jobs-table tr.empty")).to_contain_text("No jobs yet")
    page.evaluate("window.__sameDocument = true")

    job = submit(manager, name="shot 010 lighting", settings={"frames": "1-8", "chunk_size": 2})
    row = job_row(page, job["id"])
    expect(row).to_be_visible()
    expect(row.locator(".col-name")).to_have_text("shot 010 lighting")
    expect(row.locator(".col-status")).to_have_text("queued")
    expect(row.locator(".col-frames")).to_have_text("0 / 8")

    worker = register_worker(manager, "render-01")
    worker.wake()
    worker.complete_next(2)
    expect(row.locator(".progress")).to_have_attribute("data-progress", "50")
    expect(row.locator(".col-frames")).to_have_text("4 / 8")
    expect(row.locator(".col-status")).to_have_text("active")
    expect(page.locator('.tile[data-tile="throughput"] .tile-value')).to_have_text("4/h")
    page.screenshot(path=str(artifacts / "jobs.png"), full_page=True)

    worker.complete_next(2)
    expect(row.locator(".col-status")).to_have_text("completed")
    expect(row.locator(".progress")).to_have_attribute("data-progress", "100")
    assert page.evaluate("window.__sameDocument") is True, "the page reloaded"


def test_jobs_table_pages_and_sorts_on_the_server(manager: Manager, page: Any) -> None:
    for i in range(30):
        submit(manager, name=f"job {i:02d}", priority=i, settings={"frames": "1", "chunk_size": 1})
    open_dashboard(page, "/#/jobs?limit=25")
    rows = page.locator("#jobs-table tbody tr[data-job-id]")
    expect(rows).to_have_count(25)
    expect(page.locator(".pager-info")).to_have_text("1–25 of 30")
    expect(rows.first.locator(".col-name")).to_have_text("job 29")  # newest first

    page.locator('.th-sort[data-sort="priority"]').click()
    expect(rows.first.locator(".col-priority")).to_have_text("0")
    page.locator('.th-sort[data-sort="priority"]').click()
    expect(rows.first.locator(".col-priority")).to_have_text("29")
    page.get_by_role("button", name="Next ›").click()
    expect(rows).to_have_count(5)
    expect(page.locator(".pager-info")).to_have_text("26–30 of 30")
    expect(rows.last.locator(".col-priority")).to_have_text("0")


def test_pause_resume_and_cancel_from_the_job_page(
    manager: Manager, page: Any, artifacts: Path
) -> None:
    job = submit(manager, name="pause me", settings={"frames": "1-4", "chunk_size": 1})
    open_dashboard(page, f"/#/jobs/{job['id']}")
    status = page.locator(".job-status")
    expect(status).to_have_text("queued")
    actions = page.locator("#job-actions")

    actions.get_by_role("button", name="Pause").click()
    expect(status).to_have_text("paused")
    assert manager.get(f"/api/v3/jobs/{job['id']}").json()["status"] == "paused"
    expect(page.locator('#tasks-table tr[data-status="paused"]')).to_have_count(4)

    actions.get_by_role("button", name="Resume").click()
    expect(status).to_have_text("queued")
    expect(page.locator('#tasks-table tr[data-status="queued"]')).to_have_count(4)

    actions.get_by_role("button", name="Cancel").click()
    dialog = page.locator("dialog#confirm")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("pause me")
    dialog.get_by_role("button", name="Back").click()
    expect(dialog).to_be_hidden()
    assert manager.get(f"/api/v3/jobs/{job['id']}").json()["status"] == "queued"

    actions.get_by_role("button", name="Cancel").click()
    dialog.get_by_role("button", name="Cancel job").click()
    expect(status).to_have_text("canceled")
    expect(page.locator('#tasks-table tr[data-status="canceled"]')).to_have_count(4)
    expect(actions.get_by_role("button", name="Requeue job")).to_be_enabled()
    page.screenshot(path=str(artifacts / "job.png"), full_page=True)


def test_jobs_show_why_they_wait_and_their_soft_failed_tasks_and_blocked_workers(
    manager: Manager, page: Any
) -> None:
    waiting = submit(manager, name="no misc workers", settings={"frames": "1-2", "chunk_size": 1})
    open_dashboard(page)
    expect(job_row(page, waiting["id"]).locator(".col-activity")).to_have_text(
        "waiting: no worker runs task type 'misc'"
    )

    manager.farm.settings.blocklist_threshold = 2
    register_worker(manager, "spare")  # can still run what "flaky" fails
    flaky = register_worker(manager, "flaky")
    flaky.wake()
    for _ in range(2):
        task = flaky.next_task()
        assert task is not None
        flaky.fail(task["uuid"])
    row = job_row(page, waiting["id"])
    expect(row.locator(".job-trouble")).to_have_text("2 soft-failed · 1 worker(s) blocked")
    expect(row.locator(".col-activity")).to_have_text(
        "worker flaky blocked from misc tasks of this job"
    )

    open_dashboard(page, f"/#/jobs/{waiting['id']}")

    def stat(label: str) -> Any:
        named = page.locator("dt", has_text=re.compile(f"^{label}$"))
        return page.locator(".stat").filter(has=named).locator("dd")

    tasks = "0 active · 0 queued · 2 soft-failed · 0 failed · 0 canceled"
    expect(stat("Tasks")).to_have_text(tasks)
    expect(stat("Blocked workers")).to_have_text("1")


def test_priority_change_and_delete_go_through_the_api(manager: Manager, page: Any) -> None:
    job = submit(manager, name="to delete", settings={"frames": "1-2", "chunk_size": 1})
    open_dashboard(page, f"/#/jobs/{job['id']}")
    expect(page.locator(".job-status")).to_have_text("queued")
    page.locator(".priority-input").fill("80")
    page.get_by_role("button", name="Set priority").click()
    expect(page.locator(".stat", has_text="Priority").locator("dd")).to_have_text("80")
    assert manager.get(f"/api/v3/jobs/{job['id']}").json()["priority"] == 80

    page.locator("#job-actions").get_by_role("button", name="Delete").click()
    page.locator("dialog#confirm").get_by_role("button", name="Delete job").click()
    expect(page).to_have_url(re.compile(r"#/jobs$"))
    expect(page.locator("#jobs-table tr.empty")).to_be_visible()
    assert manager.get(f"/api/v3/jobs/{job['id']}").status_code == 404


def test_task_log_tail_shows_lines_the_worker_sent_and_new_ones_live(
    manager: Manager, page: Any, artifacts: Path
) -> None:
    job = submit(manager, name="with logs", settings={"frames": "1-3", "chunk_size": 1})
    worker = register_worker(manager, "render-logs")
    worker.wake()
    task = worker.next_task()
    assert task is not None
    worker.update(task["uuid"], log="Fra:1 Mem:12M | Rendering 1 / 16 samples\n")

    open_dashboard(page, f"/#/jobs/{job['id']}")
    row = page.locator(f'#tasks-table tr[data-task-id="{task["uuid"]}"]')
    expect(row).to_contain_text("render-logs")
    row.click()
    log = page.locator("#task-log")
    expect(log).to_contain_text("Rendering 1 / 16 samples")

    worker.update(task["uuid"], log="Fra:1 Mem:12M | Rendering 16 / 16 samples\n")
    expect(log).to_contain_text("Rendering 16 / 16 samples")
    worker.complete(task["uuid"])
    expect(row.locator("td").nth(2)).to_have_text("completed")
    page.screenshot(path=str(artifacts / "task-log.png"), full_page=True)


def test_failed_tasks_show_retries_and_can_be_requeued_alone(manager: Manager, page: Any) -> None:
    manager.farm.settings.task_fail_after_softfail_count = 1
    job = submit(manager, name="flaky", settings={"frames": "1-3", "chunk_size": 1})
    worker = register_worker(manager, "render-flaky")
    worker.wake()
    first = worker.next_task()
    assert first is not None
    worker.fail(first["uuid"], "GPU out of memory")
    open_dashboard(page, f"/#/jobs/{job['id']}")
    failed_row = page.locator(f'#tasks-table tr[data-task-id="{first["uuid"]}"]')
    expect(failed_row.locator(".col-retries")).to_have_text("1")

    page.get_by_role("button", name="Requeue failed tasks (1)").click()
    page.locator("dialog#confirm").get_by_role("button", name="Requeue failed tasks").click()
    expect(failed_row.locator("td").nth(2)).to_have_text("queued")
    expect(failed_row.locator(".col-retries")).to_have_text("0")
    assert manager.get(f"/api/v3/tasks/{first['uuid']}").json()["status"] == "queued"
    assert manager.get(f"/api/v3/jobs/{job['id']}").json()["status"] == "queued"


def test_workers_page_shows_workers_and_steers_them(
    manager: Manager, page: Any, artifacts: Path
) -> None:
    busy = register_worker(manager, "render-busy")
    busy.wake()
    idle = register_worker(manager, "render-idle")
    body = {
        "name": "render-idle",
        "supported_task_types": ALL_TASK_TYPES,
        "software_version": "test-1.0",
        "blender_version": "4.2.3",
    }
    assert idle.call("POST", "/sign-on", json=body).status_code == 200
    assert idle.call("POST", "/state-changed", json={"status": "awake"}).status_code == 204
    job = submit(manager, name="for workers", settings={"frames": "1-4", "chunk_size": 1})
    busy.complete_next(1)
    assert busy.next_task() is not None

    open_dashboard(page, "/#/workers")
    row = page.locator(f'#workers-table tr[data-worker-id="{busy.id}"]')
    expect(row).to_contain_text("render-busy")
    expect(row).to_contain_text("for workers")
    expect(row).to_contain_text("test-1.0")
    expect(row.locator("td").last).to_have_text("1")
    expect(page.locator('.tile[data-tile="busy"] .tile-value')).to_have_text("1")
    expect(page.locator('.tile[data-tile="idle"] .tile-value')).to_have_text("1")

    idle_row = page.locator(f'#workers-table tr[data-worker-id="{idle.id}"]')
    expect(idle_row.locator(".col-blender")).to_have_text("Blender 4.2")
    idle_row.click()
    detail = page.locator("#worker-detail")
    expect(detail).to_contain_text("render-idle")
    page.locator("#lazy").uncheck()
    detail.get_by_role("button", name="Sleep").click()
    expect(idle_row).to_contain_text("→ asleep")
    assert manager.get(f"/api/v3/worker-mgt/workers/{idle.id}").json()["status_change"] == {
        "status": "asleep",
        "is_lazy": False,
    }

    page.locator("#tags-form input[aria-label='New tag name']").fill("gpu")
    page.locator("#tags-form").get_by_role("button", name="Save tags").click()
    expect(idle_row.locator(".chip")).to_have_text("gpu")

    page.locator("#schedule-form input[name=days_of_week]").fill("mo tu")
    page.locator("#schedule-form input[name=is_active]").check()
    page.locator("#schedule-form").get_by_role("button", name="Save schedule").click()
    expect(page.locator(".toast", has_text="Sleep schedule saved")).to_be_visible()
    schedule = manager.get(f"/api/v3/worker-mgt/workers/{idle.id}/sleep-schedule").json()
    assert schedule["days_of_week"] == "mo tu" and schedule["is_active"] is True
    page.screenshot(path=str(artifacts / "workers.png"), full_page=True)

    detail.get_by_role("button", name="Delete").click()
    page.locator("dialog#confirm").get_by_role("button", name="Delete worker").click()
    expect(idle_row).to_have_count(0)
    assert job["id"]


def test_workers_of_the_older_protocols_show_how_they_connect_and_their_readings(
    manager: Manager, page: Any
) -> None:
    node = [{"id": "identity", "name": "node-7", "provides": ["blender-frame"], "version": "1.4.2"}]
    assert manager.post("/farm", json=node).status_code == 200
    hostname = "old-mac.local"
    registered = manager.post("/workers", json={"hostname": hostname, "system": "Darwin 14.1.0"})
    number = registered.json()[hostname]["id"]
    readings = {
        "status": "available",
        "update_frequent": {
            "load_average": {"1min": 2.5, "5min": 2.0, "15min": 1.5},
            "worker_cpu_percent": 7.0,
        },
        "update_less_frequent": {"worker_mem_percent": 56.7, "worker_disk_percent": 90.7},
    }
    assert manager.api("PATCH", f"/workers/{number}", json=readings).status_code == 200

    open_dashboard(page, "/#/workers")
    node_row = page.locator("#workers-table tr", has_text="node-7")
    expect(node_row).to_contain_text("/farm node")
    expect(node_row).to_contain_text("1.4.2")
    old_row = page.locator("#workers-table tr", has_text=hostname)
    expect(old_row).to_contain_text("2015 REST")
    old_row.click()
    detail = page.locator("#worker-detail")
    expect(detail).to_contain_text("2.50 / 2.00 / 1.50")
    expect(detail).to_contain_text("57 %")  # memory
    expect(detail).to_contain_text("91 %")  # disk


def test_blocklist_entry_can_be_removed(manager: Manager, page: Any) -> None:
    manager.farm.settings.blocklist_threshold = 1
    job = submit(manager, name="blocky", settings={"frames": "1-3", "chunk_size": 1})
    worker = register_worker(manager, "render-blocked")
    worker.wake()
    task = worker.next_task()
    assert task is not None
    worker.fail(task["uuid"])
    assert manager.get(f"/api/v3/jobs/{job['id']}/blocklist").json() != []

    open_dashboard(page, "/#/workers")
    entry = page.locator(f'#blocklist-table tr[data-worker-id="{worker.id}"]')
    expect(entry).to_contain_text("blocky")
    entry.get_by_role("button", name="Remove").click()
    expect(entry).to_have_count(0)
    assert manager.get(f"/api/v3/jobs/{job['id']}/blocklist").json() == []


def test_job_types_no_connected_worker_runs_are_marked_and_follow_the_workers(
    manager: Manager, page: Any
) -> None:
    open_dashboard(page, "/#/workers")
    render = page.locator('#job-types-table tr[data-job-type="simple-blender-render"]')
    unrun = re.compile(r"\bunrun\b")
    expect(render.locator(".col-runs")).to_have_text(
        "no connected worker runs blender, ffmpeg tasks"
    )
    expect(render).to_have_class(unrun)

    worker = register_worker(manager, "render-types")
    worker.wake(["blender"])
    expect(render.locator(".col-runs")).to_have_text("no connected worker runs ffmpeg tasks")
    expect(render.locator(".chip-warn")).to_have_text("ffmpeg")
    worker.wake(["blender", "ffmpeg"])  # signs on again, now running both
    expect(render.locator(".col-runs")).to_have_text("yes")
    expect(render).not_to_have_class(unrun)
    expect(render.locator(".chip-warn")).to_have_count(0)


@pytest.fixture
def token_settings(manager_settings: Any) -> Any:
    manager_settings.access_token = "open-sesame"
    return manager_settings


def test_token_protected_manager_shows_only_the_sign_in_form(
    token_settings: Any, manager: Manager, page: Any, artifacts: Path
) -> None:
    manager.http.headers["Authorization"] = "Bearer open-sesame"
    job = submit(manager, name="secret job")

    page.goto("/")
    login = page.locator("#login")
    expect(login).to_be_visible()
    expect(page.locator("#summary")).to_be_hidden()
    expect(page.locator("#jobs-table")).to_have_count(0)
    assert "secret job" not in page.content()
    page.screenshot(path=str(artifacts / "sign-in.png"), full_page=True)

    page.locator("#token").fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".login-error")).to_contain_text("not the manager's access token")
    expect(page.locator("#jobs-table")).to_have_count(0)

    page.locator("#token").fill("open-sesame")
    page.get_by_role("button", name="Sign in").click()
    expect(job_row(page, job["id"])).to_be_visible()
    expect(page.locator("#live")).to_have_attribute("data-state", "on")

    page.reload()
    expect(job_row(page, job["id"])).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    expect(login).to_be_visible()
    expect(page.locator("#jobs-table")).to_have_count(0)


def test_large_monitor_shows_tasks_and_log_side_by_side(
    manager: Manager, browser: Any, artifacts: Path
) -> None:
    job = submit(manager, name="wide", settings={"frames": "1-30", "chunk_size": 1})
    context = browser.new_context(base_url=manager.url, viewport={"width": 2560, "height": 1440})
    try:
        tab = context.new_page()
        tab.goto(f"/#/jobs/{job['id']}")
        expect(tab.locator("#tasks-table tr[data-task-id]")).to_have_count(30)
        tasks_box = tab.locator(".tasks-panel").bounding_box()
        side_box = tab.locator(".side").bounding_box()
        assert tasks_box is not None and side_box is not None
        assert side_box["x"] > tasks_box["x"] + tasks_box["width"] - 1
        tab.screenshot(path=str(artifacts / "job-wide.png"), full_page=True)
    finally:
        context.close()
