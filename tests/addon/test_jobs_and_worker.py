"""The panel's job list (refresh, preview, pause/cancel) and worker mode inside Blender."""

from __future__ import annotations

import re
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


def test_a_running_jobs_row_counts_frames_with_the_time_left(session: dict[str, Any]) -> None:
    result = session["jobs"]
    # 10 frames in chunks of 5; one task done: half the frames, and an estimate of the rest.
    bars = [c for c in result["drawn"] if c[0] == "progress"]
    assert len(bars) == 1
    _, factor, text = bars[0]
    assert factor == 0.5
    assert re.fullmatch(r"5 / 10 frames · ETA (\d+s|\d+m\d\ds)", text), text
    # Without Farmhand's counts (a Flamenco manager), the bar counts tasks.
    assert result["without_counts"] == [0.4, "2 / 5 tasks"]


def test_the_panel_follows_a_new_job_and_forgets_the_jobs_of_a_closed_file(
    session: dict[str, Any],
) -> None:
    result = session["jobs"]
    # Submitting starts the refresh timer, with the new job in the list.
    assert result["polling_started_with_jobs"] == [1]
    assert result["after_new_file"] == {"jobs": 0, "previews": 0}
    assert result["after_late_fetch"] == 0


def test_a_running_job_is_listed_with_its_frames_preview_and_controls(
    session: dict[str, Any],
) -> None:
    drawn = session["jobs"]["running_panel"]
    job_id = session["jobs"]["job_id"]
    assert ["label", "anim", "PLAY"] in drawn and ["label", "active", "NONE"] in drawn
    operators = [(c[1], c[4].get("action")) for c in drawn if c[0] == "operator"]
    assert ("farmhand.set_job_status", "pause") in operators
    assert ("farmhand.set_job_status", "cancel") in operators
    assert ("farmhand.download_frames", None) in operators
    # (The preview image itself is drawn only where Blender makes icons, not in background.)
    assert any(c[0] == "progress" and c[2].startswith("5 / 10 frames · ETA") for c in drawn)
    assert all(c[4].get("job_id") == job_id for c in drawn if c[0] == "operator")


def test_a_done_job_offers_its_frames_and_a_requeue(session: dict[str, Any]) -> None:
    drawn = session["worker_mode_packed"]["frames_home"]["done_panel"]
    labels = [(c[1], c[2]) for c in drawn if c[0] == "label"]
    assert ("completed", "NONE") in labels
    operators = [(c[1], c[4].get("action")) for c in drawn if c[0] == "operator"]
    assert ("farmhand.set_job_status", "requeue") in operators
    assert ("farmhand.set_job_status", "pause") not in operators
    assert ("farmhand.download_frames", None) in operators
    # Done: all frames, and no time left to estimate. (The manager still counts the preview
    # video's task as a frame: 3 / 3 for this 2-frame job.)
    bars = [c for c in drawn if c[0] == "progress"]
    assert bars[0][1] == 1.0 and re.fullmatch(r"(\d+) / \1 frames", bars[0][2]), bars


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


def test_download_frames_brings_a_packed_jobs_frames_into_its_render_output_folder(
    session: dict[str, Any], module_manager: Manager
) -> None:
    home = session["worker_mode_packed"]["frames_home"]
    # Before the download, there is no folder to open, and the artist is told what to do.
    assert home["not_yet"]["result"] == "ERROR"
    assert "Download Frames first" in home["not_yet"]["message"]
    assert home["first"]["result"] == "FINISHED", home
    folder = Path(home["folder"])
    # The folder the panel's render output path names (<output folder>/<job name>/{timestamp}),
    # with the job's time filled in.
    assert folder.parent == Path(home["frame_path"]).parent / "shot"
    assert "{timestamp}" not in str(folder) and folder.name[:2] == "20"
    assert {"000001.png", "000002.png"} <= set(home["files"])
    outputs = session["worker_mode_packed"]["outputs"]
    assert home["first"]["said"] == [f"{len(outputs)} file(s) downloaded to {folder}", False]
    # A second download fetches nothing: every file is there, checked by hash.
    assert home["again"]["result"] == "FINISHED"
    assert home["again"]["said"] == [
        f"0 file(s) downloaded to {folder}, {len(outputs)} already here", False
    ]
    assert home["open_folder"]["result"] == "FINISHED"
    assert home["open_dashboard"]["result"] == "FINISHED"
    assert home["opened"][0] == str(folder)
    assert home["opened"][1].endswith(f"/#/jobs/{_job_id(home)}")
    assert home["opened"][1].startswith(module_manager.url)


def test_frames_come_home_as_they_finish_while_the_job_list_refreshes(
    session: dict[str, Any],
) -> None:
    home = session["worker_mode_packed"]["frames_home"]
    finish = home["as_they_finish"]
    # A job the button is downloading is left to it.
    assert finish["busy"] == [{}, []]
    assert finish["files"] == ["000001.png", "000002.png"]
    assert finish["said"] == [f"2 file(s) downloaded to {home['folder']}, 1 already here",
                              False]


def _job_id(home: dict[str, Any]) -> str:
    operator = next(c for c in home["drawn"] if c[0] == "operator"
                    and c[1] == "farmhand.download_frames")
    return str(operator[4]["job_id"])


def test_a_job_row_offers_download_open_folder_and_dashboard_and_shows_a_download(
    session: dict[str, Any],
) -> None:
    home = session["worker_mode_packed"]["frames_home"]
    job_id = _job_id(home)
    operators = [(c[1], c[4]) for c in home["drawn"] if c[0] == "operator"]
    for idname in ("farmhand.download_frames", "farmhand.open_frames_folder",
                   "farmhand.open_dashboard"):
        assert (idname, {"job_id": job_id}) in operators
    # The last download's outcome is under the buttons.
    labels = [c[1:] for c in home["drawn"] if c[0] == "label"]
    assert [home["first"]["said"][0], "INFO"] in labels
    # While frames come in, a progress bar takes the download button's place.
    downloading = home["downloading"]
    assert ["progress", 0.5, "000002.png"] in downloading
    assert "farmhand.download_frames" not in [c[1] for c in downloading if c[0] == "operator"]
