"""The panel's job list (refresh, preview, pause/cancel) and worker mode inside Blender."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.addon.conftest import run_blender_session
from tests.conftest import Manager


@pytest.fixture(scope="module")
def session(
    extension_zip: Path, module_manager: Manager, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("bpy-jobs")
    return run_blender_session(
        extension_zip,
        work,
        [
            ("jobs", {"blend": str(work / "anim.blend")}),
            ("worker_mode", {"blend": str(work / "worker.blend")}),
            ("worker_mode_packed", {"blend": str(work / "shot.blend")}),
        ],
        manager=module_manager.url,
    )


def test_jobs_of_this_file_with_progress_and_preview(session: dict[str, Any]) -> None:
    result = session["jobs"]
    assert result["submit"]["result"] == "FINISHED"
    assert result["refresh"]["result"] == "FINISHED"
    assert result["listed"] == [[result["job_id"], "active", 1, 2]]
    assert result["preview_is_jpeg"]


def test_pause_and_cancel_from_the_panel(session: dict[str, Any], module_manager: Manager) -> None:
    result = session["jobs"]
    assert result["pause"]["result"] == "FINISHED"
    assert result["after_pause"] in ("pause-requested", "paused")
    assert result["cancel"]["result"] == "FINISHED"
    assert result["after_cancel"] in ("cancel-requested", "canceled")
    # Cancelling twice is refused by the manager, and the artist is told why.
    assert result["cancel_again"]["result"] == "ERROR"
    assert "cannot be canceled" in result["cancel_again"]["message"]
    stored = module_manager.get(f"/api/v3/jobs/{result['job_id']}").json()
    assert stored["status"] == "canceled"


def test_worker_mode_renders_the_farms_tasks(session: dict[str, Any]) -> None:
    result = session["worker_mode"]
    assert result["status"] == "completed", result["tasks"]
    assert result["stopped"]
    assert ["blender-in-test", "offline"] in result["workers"]
    assert "stopped after 3 tasks" in result["message"]


def test_worker_mode_in_the_ui_renders_a_packed_job(session: dict[str, Any]) -> None:
    result = session["worker_mode_packed"]
    assert result["submit"]["result"] == "FINISHED", result
    assert result["status"] == "completed", result["tasks"]
    assert {"000001.png", "000002.png"} <= set(result["outputs"]), result
