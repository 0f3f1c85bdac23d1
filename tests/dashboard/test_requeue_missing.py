"""The job page's "Requeue missing frames" button (real Chromium, real manager)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from manager.storage import output_store
from tests.conftest import Manager, register_worker
from tests.manager.test_missing_frames import render_everything, render_job, statuses

sync_api = pytest.importorskip(
    "playwright.sync_api",
    reason="Playwright is not installed (see tests/dashboard/REQUIREMENTS.md)",
)
expect = sync_api.expect


def test_requeue_missing_frames_queues_the_task_of_a_deleted_frame(
    manager: Manager, page: Any, tmp_path: Path
) -> None:
    worker = register_worker(manager, "render-missing")
    worker.wake()
    job = render_job(manager)
    render_everything(worker, tmp_path)
    stored = output_store(manager.settings).file(job["id"], "000002.png")
    assert stored is not None
    stored.unlink()

    page.goto(f"/#/jobs/{job['id']}")
    expect(page.locator("#live")).to_have_attribute("data-state", "on")
    page.get_by_role("button", name="Requeue missing frames").click()
    page.locator("dialog#confirm").get_by_role("button", name="Requeue missing frames").click()
    expect(page.locator("#toasts")).to_contain_text("Requeued 2 task(s) (missing frames: 2)")
    queued = [name for name, status in statuses(manager, job["id"]).items() if status == "queued"]
    assert queued == ["render-1-2", "preview-video"]
