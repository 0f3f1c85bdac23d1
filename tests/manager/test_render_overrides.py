"""Render-setting overrides: presets declaring them, the manager checking them, compiled jobs
carrying them to the worker's blender-render command."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from manager.core.compiler import compile_job
from manager.core.job_types import (
    JobTypeRegistry,
    PresetError,
    SettingError,
    load_job_type,
    validate_settings,
)
from tests.conftest import Manager, job_body

SHIPPED = Path(__file__).resolve().parents[2] / "manager" / "job_types"

PRESET = """
name: samples-test
settings:
  - key: frames
    type: string
    required: true
  - key: samples
    type: int32
    override: cycles.samples
  - key: denoise
    type: bool
    override: cycles.use_denoising
    default: false
  - key: camera
    type: string
    override: camera
compile:
  tasks:
    - id: render
      type: blender
      chunks: {frames: frames, size: 2}
      commands:
        - name: blender-render
          parameters:
            args: [--render-frame, "{chunk.blender}"]
            overrides: "{render_overrides}"
"""


def preset(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "preset.yaml"
    path.write_text(text)
    return path


def compiled_overrides(tmp_path: Path, settings: dict[str, Any]) -> list[dict[str, Any]]:
    job_type = load_job_type(preset(tmp_path, PRESET))
    tasks = compile_job(job_type, validate_settings(job_type, settings), job_id="j",
                        job_name="n", priority=50, created=datetime.now(UTC))
    return [t.commands[0]["parameters"]["overrides"] for t in tasks]


def test_given_overrides_reach_every_render_command_and_missing_ones_are_left_out(
    tmp_path: Path,
) -> None:
    overrides = compiled_overrides(tmp_path, {"frames": "1-4", "samples": 8})
    # denoise has a default, so it is always given; camera was not, so the file's stays.
    assert overrides == [{"cycles.samples": 8, "cycles.use_denoising": False}] * 2
    overrides[0]["cycles.samples"] = 1
    assert overrides[1]["cycles.samples"] == 8, "tasks must not share one mapping"


def test_a_preset_without_overrides_still_may_pass_the_empty_mapping(tmp_path: Path) -> None:
    text = PRESET.split("  - key: samples")[0] + PRESET[PRESET.index("compile:"):]
    job_type = load_job_type(preset(tmp_path, text))
    tasks = compile_job(job_type, {"frames": "1"}, job_id="j", job_name="n", priority=50,
                        created=datetime.now(UTC))
    assert tasks[0].commands[0]["parameters"]["overrides"] == {}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("override: cycles.samples", "override: cycles.bogus"),
         "settings[1] ('samples').override: 'cycles.bogus' is not a render setting"),
        (("override: cycles.samples", "override: scene.frame_set"),
         "'scene.frame_set' is not a render setting a job may override; known are render."),
        (("type: int32\n    override: cycles.samples", "type: float\n    override: cycles.samples"),
         "cycles.samples takes int32 values, but the setting is float"),
        (("override: cycles.use_denoising\n    default: false",
          "override: cycles.use_denoising\n    default: 3"),
         "settings[2] ('denoise').default"),
        (("override: camera", "override: cycles.samples"),
         "takes int32 values, but the setting is string"),
        (("override: cycles.use_denoising", "override: cycles.samples"),
         "takes int32 values, but the setting is bool"),
        (('overrides: "{render_overrides}"', "overrides: {}"),
         "samples, denoise, camera override render settings, but no command of the compile "
         "rules is given them"),
        (('overrides: "{render_overrides}"', 'overrides: "x{render_overrides}"'),
         "can only be a whole parameter"),
        (('overrides: "{render_overrides}"', 'overrides: "{render_overrides|basename}"'),
         "can only be a whole parameter"),
        (("key: camera", "key: render_overrides"), "is a built-in placeholder's name"),
    ],
)
def test_a_preset_with_a_bad_override_is_refused_with_the_field(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    assert change[0] in PRESET
    with pytest.raises(PresetError) as caught:
        load_job_type(preset(tmp_path, PRESET.replace(change[0], change[1], 1)))
    assert message in caught.value.message


def test_a_choice_outside_the_allow_list_breaks_the_preset(tmp_path: Path) -> None:
    text = PRESET.replace(
        "key: camera\n    type: string\n    override: camera",
        "key: denoiser\n    type: string\n    choices: [OPTIX, MAGIC]\n"
        "    override: cycles.denoiser",
    )
    assert "MAGIC" in text
    with pytest.raises(PresetError) as caught:
        load_job_type(preset(tmp_path, text))
    assert "settings[3] ('denoiser').override: render setting cycles.denoiser must be one of " \
        "OPENIMAGEDENOISE, OPTIX; got 'MAGIC'" in caught.value.message


def test_two_settings_may_not_override_one_path(tmp_path: Path) -> None:
    text = PRESET.replace("override: camera", "override: cycles.samples").replace(
        "key: camera\n    type: string", "key: more_samples\n    type: int32")
    with pytest.raises(PresetError) as caught:
        load_job_type(preset(tmp_path, text))
    assert "cycles.samples is already overridden by 'samples'" in caught.value.message


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"samples": 0}, "'samples': render setting cycles.samples must be at least 1, got 0"),
        ({"samples": 20_000_000},
         "render setting cycles.samples must be at most 16777216, got 20000000"),
        ({"camera": ""}, "render setting camera must be a name, got ''"),
    ],
)
def test_a_value_outside_the_allow_list_is_refused_naming_setting_path_and_value(
    tmp_path: Path, settings: dict[str, Any], message: str
) -> None:
    job_type = load_job_type(preset(tmp_path, PRESET))
    with pytest.raises(SettingError) as caught:
        validate_settings(job_type, {"frames": "1", **settings})
    assert caught.value.key == next(iter(settings))
    assert message in str(caught.value)


def test_the_shipped_render_type_offers_the_common_overrides_unserved_to_flamenco() -> None:
    job_type = JobTypeRegistry([SHIPPED]).get("simple-blender-render")
    assert job_type is not None
    declared = {s.key: s.override for s in job_type.settings if s.override}
    assert declared == {
        "samples": "cycles.samples",
        "adaptive_threshold": "cycles.adaptive_threshold",
        "denoise": "cycles.use_denoising",
        "resolution_percentage": "render.resolution_percentage",
    }
    served = {s["key"]: s for s in job_type.to_api()["settings"]}
    for key in declared:
        assert "override" not in served[key]
        # The add-on shows the scene's value until the artist types another.
        assert served[key]["eval"].startswith("C.scene.")
        assert served[key]["evalInfo"]["showLinkButton"] is True
        assert not served[key].get("required")


RENDER_SETTINGS = {
    "frames": "1-2",
    "chunk_size": 2,
    "render_output_root": "/tmp/out",
    "add_path_components": 0,
    "render_output_path": "/tmp/out/######",
    "blendfile": "/tmp/shot.blend",
    "fps": 24.0,
    "format": "PNG",
    "image_file_extension": ".png",
    "has_previews": False,
    "scene": "Scene",
}


def test_a_bad_override_value_is_a_400_naming_the_setting_and_the_render_setting(
    manager: Manager,
) -> None:
    body = job_body("simple-blender-render", settings={**RENDER_SETTINGS, "samples": -3})
    response = manager.post("/api/v3/jobs", json=body)
    assert response.status_code == 400, response.text
    message = response.json()["message"]
    assert message.startswith("settings.samples:"), message
    assert "cycles.samples must be at least 1, got -3" in message
    assert manager.get("/api/v3/jobs").json()["jobs"] == []


def test_a_submitted_override_is_in_the_render_tasks_command(manager: Manager) -> None:
    body = job_body("simple-blender-render", settings={
        **RENDER_SETTINGS, "samples": 1, "resolution_percentage": 50, "denoise": False,
    })
    response = manager.post("/api/v3/jobs", json=body)
    assert response.status_code == 200, response.text
    tasks = manager.get(f"/api/v3/jobs/{response.json()['id']}/tasks").json()["tasks"]
    render = next(t for t in tasks if t["name"].startswith("render"))
    command = manager.get(f"/api/v3/tasks/{render['id']}").json()["commands"][0]
    assert command["name"] == "blender-render"
    assert command["parameters"]["overrides"] == {
        "cycles.samples": 1, "cycles.use_denoising": False, "render.resolution_percentage": 50,
    }


@pytest.mark.parametrize(
    ("args", "where", "why"),
    [
        ('[--python-expr, "import bpy; bpy.context.scene.cycles.samples = 64", '
         '--render-frame, "{chunk.blender}"]', "parameters.args[0]: '--python-expr'",
         "runs Python code"),
        ('[-P, samples.py, -f, "{chunk.blender}"]', "parameters.args[0]: '-P'",
         "runs a Python script"),
        ('[--enable-autoexec, -f, "{chunk.blender}"]', "parameters.args[0]: '--enable-autoexec'",
         "enables Python scripts in the .blend"),
    ],
)
def test_a_preset_whose_blender_render_runs_python_is_refused_when_it_loads(
    tmp_path: Path, args: str, where: str, why: str
) -> None:
    text = PRESET.replace('args: [--render-frame, "{chunk.blender}"]', f"args: {args}")
    assert args in text
    with pytest.raises(PresetError) as caught:
        load_job_type(preset(tmp_path, text))
    message = caught.value.message
    assert message.startswith("compile.tasks[0] ('render').commands[0]." + where), message
    assert why in message and "override:" in message
