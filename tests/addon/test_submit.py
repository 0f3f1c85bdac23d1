"""The add-on in real Blender (the bpy wheel) against a live manager: submit, presets, errors.

One bpy session plays every scenario of this module (see blender_session.py); the tests then
check what the artist was told and what the manager stored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.addon.conftest import run_blender_session
from tests.conftest import REPO, Manager

SHIPPED_JOB_TYPES = REPO / "manager" / "job_types"


@pytest.fixture(scope="module")
def session(
    extension_zip: Path, module_manager: Manager, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("bpy-submit")
    (work / "shots").mkdir()
    assert module_manager.settings.job_types is not None
    return run_blender_session(
        extension_zip,
        work,
        [
            ("installed", {}),
            ("offline", {}),
            ("test_connection", {}),
            ("unsaved", {}),
            (
                "submit",
                {
                    "blend": str(work / "shots" / "shot_010.blend"),
                    "job_type": "simple-blender-render",
                    "set": {"chunk_size": 3},
                },
            ),
            (
                "submit:named",
                {
                    "blend": str(work / "shots" / "other.blend"),
                    "job_type": "frames-noop",
                    "job_name": "my job",
                },
            ),
            ("every_preset", {"blend": str(work / "presets.blend")}),
            ("manager_down", {"blend": str(work / "down.blend")}),
            ("stale_etag", {"blend": str(work / "stale.blend")}),
            ("artist_types", {"blend": str(work / "artist.blend")}),
            ("abort_submit", {"blend": str(work / "abort.blend")}),
            ("panel_states", {"blend": str(work / "states.blend")}),
            ("without_cycles", {"blend": str(work / "eevee.blend")}),
            ("worker_tags", {"blend": str(work / "tagged.blend")}),
            ("disable", {}),
        ],
        manager=module_manager.url,
        shipped_job_types=str(SHIPPED_JOB_TYPES),
        user_job_types=str(module_manager.settings.job_types),
    )


def stored_job(manager: Manager, job_id: str) -> dict[str, Any]:
    response = manager.get(f"/api/v3/jobs/{job_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_extension_installs_and_enables(session: dict[str, Any]) -> None:
    installed = session["installed"]
    assert installed["enabled"]
    assert installed["panel"]
    assert {
        "submit_job",
        "refresh_job_types",
        "test_connection",
        "refresh_jobs",
        "set_job_status",
        "worker_mode",
        "stop_worker_mode",
    } <= set(installed["operators"])
    # The packer's library came with the extension, as it must in a Blender without it.
    assert "blender_asset_tracer" in installed["bundled_packages"]


def test_online_access_off_is_said_and_nothing_is_sent(session: dict[str, Any]) -> None:
    for result in session["offline"].values():
        assert result["result"] == "ERROR"
        assert "Online access is off" in result["message"]


def test_test_connection_names_version_and_workers(session: dict[str, Any]) -> None:
    up = session["test_connection"]["up"]
    assert up["result"] == "FINISHED"
    assert up["state"].startswith("Connected to Farmhand ")
    assert up["state"].endswith("0 workers online")
    down = session["test_connection"]["down"]
    assert down["result"] == "ERROR"
    assert "unreachable" in down["message"]


def test_unsaved_file_is_refused_in_words(session: dict[str, Any]) -> None:
    assert session["unsaved"]["refresh"]["result"] == "FINISHED"
    submit = session["unsaved"]["submit"]
    assert submit["result"] == "ERROR"
    assert "Save the file first" in submit["message"]


def test_submitted_job_has_the_settings_the_scene_implies(
    session: dict[str, Any], module_manager: Manager
) -> None:
    result = session["submit"]
    assert result["submit"]["result"] == "FINISHED", result
    job = stored_job(module_manager, result["job_id"])
    settings = job["settings"]
    blend = Path(result["scene"]["blendfile"])
    assert job["name"] == "shot_010"  # from the file name
    assert job["type"] == "simple-blender-render"
    assert settings["frames"] == "3-12"
    assert settings["chunk_size"] == 3
    assert settings["fps"] == 25.0
    assert settings["format"] == "PNG"
    assert settings["image_file_extension"] == ".png"
    assert settings["scene"] == "Shot"
    assert settings["has_previews"] is False
    assert settings["persistent_data"] is True
    output_root = Path(result["scene"]["frame_path"]).parent
    assert settings["render_output_root"] == str(output_root)
    assert settings["render_output_path"] == str(
        output_root / "shot_010" / "{timestamp}" / "######"
    )
    if "storage" in job:  # the packer uploaded the file: the job names the checkout
        assert settings["blendfile"].endswith("shot_010.blend")
    else:  # shared storage: the saved file itself
        assert settings["blendfile"] == str(blend)
    assert job["metadata"]["blendfile"] == str(blend)
    assert result["message"] == "Job 'shot_010' submitted: 10 frames in 5 tasks"


def test_job_name_and_another_type(session: dict[str, Any], module_manager: Manager) -> None:
    result = session["submit:named"]
    assert result["submit"]["result"] == "FINISHED", result
    job = stored_job(module_manager, result["job_id"])
    assert job["name"] == "my job"
    assert job["type"] == "frames-noop"
    assert job["settings"]["frames"] == "3-12"
    assert job["steps_total"] == 10


def test_settings_property_group_for_every_shipped_preset(session: dict[str, Any]) -> None:
    groups = dict(session["every_preset"])
    served = groups.pop("served")  # the job types as served while the groups were made
    shipped = {p.stem for p in SHIPPED_JOB_TYPES.glob("*.yaml")}
    assert {t["name"] for t in served} == shipped
    assert set(groups) == shipped
    rna_types = {"string": "STRING", "int32": "INT", "float": "FLOAT", "bool": "BOOLEAN"}
    for job_type in served:
        group = groups[job_type["name"]]
        assert group["error"] == "", (job_type["name"], group["error"])
        for setting in job_type["settings"]:
            prop = group["props"][setting["key"]]
            expected_type = "ENUM" if setting.get("choices") else rna_types[setting["type"]]
            assert prop["type"] == expected_type, (job_type["name"], setting["key"])
            propargs = setting.get("propargs") or {}
            if "min" in propargs:
                assert prop["min"] == propargs["min"]
            if "max" in propargs:
                assert prop["max"] == propargs["max"]
            if setting.get("choices"):
                assert prop["items"] == setting["choices"]
            if setting.get("subtype") == "dir_path":
                assert prop["subtype"] == "DIR_PATH"
            if "default" in setting and not setting.get("eval"):
                assert group["values"][setting["key"]] == setting["default"]
            link = "farmhand_autoeval_" + setting["key"]
            show_link = (setting.get("evalInfo") or {}).get("showLinkButton", False)
            assert (link in group["props"]) == bool(setting.get("eval") and show_link)
    # Values that come from the scene were evaluated when the type was chosen.
    sbr = groups["simple-blender-render"]["values"]
    assert sbr["frames"] == "3-12"
    assert sbr["format"] == "PNG"
    assert sbr["render_output_path"].endswith("preset_check/{timestamp}/######")


def test_manager_down_is_said_and_cached_types_stay(session: dict[str, Any]) -> None:
    result = session["manager_down"]
    for key in ("submit", "refresh"):
        assert result[key]["result"] == "ERROR"
        assert "unreachable" in result[key]["message"], result[key]
    assert "simple-blender-render" in result["still_known"]


def test_stale_job_type_asks_for_refresh_then_submits(
    session: dict[str, Any], module_manager: Manager
) -> None:
    result = session["stale_etag"]
    assert result["stale"]["result"] == "ERROR"
    assert "refresh job types" in result["stale"]["message"]
    assert "refresh job types" in result["panel_error"]
    assert result["refresh"]["result"] == "FINISHED"
    assert result["message_default"] == "Farms are fun"
    assert result["fresh"]["result"] == "FINISHED", result
    job = stored_job(module_manager, result["job_id"])
    assert job["settings"]["message"] == "Farms are fun"


def test_artists_get_the_render_type_and_a_broken_one_is_shown_not_swapped(
    session: dict[str, Any],
) -> None:
    first = session["artist_types"]["first"]
    assert first["refresh"]["result"] == "FINISHED", first
    assert first["offered"] == ["simple-blender-render"]  # no test or protocol types
    assert first["shown"] == first["settings_of"] == "simple-blender-render"
    assert first["unrun"] == "no connected worker runs blender, ffmpeg tasks"
    broken = session["artist_types"]["broken"]
    assert broken["shown"] == "simple-blender-render"
    assert "job type 'simple-blender-render' is broken on the manager: settings:" in broken["error"]
    assert not broken["settings_group"]
    assert broken["submit"]["result"] == "ERROR" and "broken" in broken["submit"]["message"]


def test_worker_tag_is_a_drop_down_of_the_managers_tags_and_goes_with_the_job(
    session: dict[str, Any], module_manager: Manager
) -> None:
    result = session["worker_tags"]
    any_worker = [" ", "Any Worker"]
    # Manager out of reach: no tags known, and the tag the file was saved with stays shown.
    assert result["down_refresh"]["result"] == "ERROR"
    assert result["down"][2:] == [
        "ENUM", [any_worker, ["render-nodes", "render-nodes"]], "render-nodes"
    ]
    # Connected: the manager's tags; the file's tag is not among them and says so.
    assert result["refresh"]["result"] == "FINISHED"
    assert result["stale"][3] == [any_worker, ["gpu", "gpu"], ["studio-b", "studio-b"],
                                  ["render-nodes", "render-nodes (not on the manager)"]]
    assert result["chosen"][3][:3] == [any_worker, ["gpu", "gpu"], ["studio-b", "studio-b"]]
    assert result["chosen"][4] == "gpu"
    assert not result["unknown_taken"]
    assert result["submit"]["result"] == "FINISHED", result
    assert stored_job(module_manager, result["job_id"])["worker_tag"] == result["tag_ids"]["gpu"]
    assert result["any_submit"]["result"] == "FINISHED", result
    assert "worker_tag" not in stored_job(module_manager, result["any_job_id"])


def test_disable_removes_everything(session: dict[str, Any]) -> None:
    assert not session["disable"]["enabled"]
    assert session["disable"]["scene_props_left"] == []


def test_abort_while_packing_or_uploading_submits_nothing(session: dict[str, Any]) -> None:
    result = session["abort_submit"]
    assert result["aborted"]["result"] == "ERROR"
    assert result["aborted"]["message"] == "Submission aborted: nothing was submitted"
    # Aborted at the first step past the start, long before the job was sent.
    assert result["steps"][-1][1] < 0.95, result["steps"]
    assert result["after"] == {"submit": False, "abort_poll": False,
                               "message": "Submission aborted: nothing was submitted"}
    assert "aborted-shot" not in result["job_names"]
    # The next submission goes through.
    assert result["again"]["result"] == "FINISHED"


def test_the_panel_offers_abort_next_to_a_running_submissions_progress(
    session: dict[str, Any],
) -> None:
    result = session["abort_submit"]
    assert result["submitting"][:3] == [
        ["row"], ["progress", 0.4, "Uploading"], ["operator", "farmhand.abort_submit", "", "CANCEL",
                                                 {}],
    ]
    assert "farmhand.submit_job" not in [c[1] for c in result["submitting"] if c[0] == "operator"]
    assert result["abort_poll"] is True and result["abort"]["result"] == "FINISHED"
    # No submission running: the Submit button, and what the last one said.
    assert result["idle"] == [
        ["operator", "farmhand.submit_job", None, "RENDER_ANIMATION", {}],
        ["label", "Submission aborted: nothing was submitted", "NONE"],
    ]


def _labels(drawn: list[list[Any]]) -> list[tuple[str, str]]:
    return [(c[1], c[2]) for c in drawn if c[0] == "label"]


def _operators(drawn: list[list[Any]]) -> list[str]:
    return [c[1] for c in drawn if c[0] == "operator"]


def test_the_panel_says_what_to_do_next_in_each_state(session: dict[str, Any]) -> None:
    states = session["panel_states"]
    # Offline: only how to allow online access.
    assert states["offline"] == [["label", "Online access is off: allow it in Preferences → "
                                  "System → Network to use the farm", "INTERNET_OFFLINE"]]
    # No manager: why, next to the refresh button; Submit stays (it says the same when pressed).
    not_connected = states["not_connected"]
    errors = [text for text, icon in _labels(not_connected) if icon == "ERROR"]
    assert len(errors) == 1 and "unreachable" in errors[0], not_connected
    assert "farmhand.refresh_job_types" in _operators(not_connected)
    # Connected: the render type chosen, its settings (the overrides among them, from the
    # scene), and Submit.
    connected = states["connected"]
    assert not [1 for _, icon in _labels(connected) if icon == "ERROR"], connected
    assert ("Simple Blender Render", "SETTINGS") in _labels(connected)
    props = [c[1] for c in connected if c[0] == "prop"]
    assert {"farmhand_job_type", "frames", "samples", "resolution_percentage"} <= set(props)
    assert "farmhand_autoeval_samples" in props
    assert _operators(connected)[-1] == "farmhand.submit_job"
    assert _labels(states["no_jobs"]) == [
        ("No jobs known for this file; refresh to fetch them", "NONE")]
    # The manager went away while listing jobs: the error, in the list's place.
    jobs_error = _labels(states["jobs_error"])
    assert jobs_error[0][1] == "ERROR" and "unreachable" in jobs_error[0][0], jobs_error


def test_render_overrides_come_from_the_scene_and_cycles_ones_need_cycles(
    session: dict[str, Any],
) -> None:
    result = session["without_cycles"]
    # With Cycles on, the panel shows the scene's own values (Blender's defaults here).
    assert result["with_cycles"]["resolution_percentage"] == 100
    assert result["with_cycles"]["samples"] > 0
    # With the Cycles add-on off, Submit still works; the Cycles overrides are left out.
    assert result["submit"]["result"] == "FINISHED", result
    assert result["stored"] == {"samples": None, "adaptive_threshold": None, "denoise": None,
                                "resolution_percentage": 100}
