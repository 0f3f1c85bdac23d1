"""Job type presets: loading, checking, the served form, hot reload and settings validation."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from openapi_schema_validator import OAS30Validator
from pydantic import ValidationError

from manager.config import Settings
from manager.core.job_types import (
    JobType,
    JobTypeRegistry,
    PresetError,
    SettingError,
    load_job_type,
    validate_settings,
)
from tests.conftest import Manager, register_worker

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "manager" / "job_types"
SPEC = REPO / "manager" / "api" / "openapi" / "flamenco-v3.9.yaml"

MINIMAL = """
name: tiny
label: Tiny
settings:
  - key: frames
    type: string
    required: true
  - key: chunk_size
    type: int32
    default: 2
    propargs: {min: 1, max: 100}
  - key: quality
    type: string
    choices: [draft, final]
    default: draft
  - key: scale
    type: float
    default: 1
    propargs: {min: 0.1, max: 4}
  - key: denoise
    type: bool
    default: true
  - key: note
    type: string
compile:
  tasks:
    - id: work
      name: "work-{chunk}"
      type: misc
      chunks: {frames: frames, size: chunk_size}
      commands:
        - name: echo
          parameters: {message: "{quality} {note}"}
"""


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    # Editors and copies can land within one filesystem timestamp tick; move mtime on so the
    # registry sees a change exactly as it would a second later.
    stamp = path.stat().st_mtime_ns + 1_000_000_000
    os.utime(path, ns=(stamp, stamp))
    return path


def preset(text: str, tmp_path: Path) -> JobType:
    return load_job_type(write(tmp_path, "preset.yaml", text))


def broken(text: str, tmp_path: Path) -> str:
    with pytest.raises(PresetError) as caught:
        preset(text, tmp_path)
    assert caught.value.path.name == "preset.yaml"
    return caught.value.message


# --- shipped presets and the served form -------------------------------------------------


def test_shipped_presets_all_load() -> None:
    registry = JobTypeRegistry([SHIPPED])
    assert registry.errors() == []
    assert [t.name for t in registry.all()] == [
        "echo-sleep-test",
        "frames-noop",
        "range-render",
        "simple-blender-render",
        "single-frame-render",
        "video-render",
    ]


def _spec_validator(schema_name: str) -> OAS30Validator:
    if not SPEC.exists():
        pytest.skip(f"{SPEC} is not there")
    document = yaml.safe_load(SPEC.read_text())
    return OAS30Validator({**document, "$ref": f"#/components/schemas/{schema_name}"})


def test_served_types_match_the_flamenco_schema_exactly() -> None:
    validator = _spec_validator("AvailableJobType")
    document = yaml.safe_load(SPEC.read_text())
    schemas = document["components"]["schemas"]
    type_fields = set(schemas["AvailableJobType"]["properties"])
    setting_fields = set(schemas["AvailableJobSetting"]["properties"])
    for job_type in JobTypeRegistry([SHIPPED]).all():
        served = job_type.to_api()
        validator.validate(served)
        assert set(served) <= type_fields
        for setting in served["settings"]:
            assert set(setting) <= setting_fields, setting["key"]


def test_simple_blender_render_serves_flamencos_settings() -> None:
    served = JobTypeRegistry([SHIPPED]).get("simple-blender-render")
    assert served is not None
    settings = {s["key"]: s for s in served.to_api()["settings"]}
    # Flamenco's settings first, in its order; Farmhand's own (overrides...) follow.
    assert list(settings)[:13] == [
        "frames", "chunk_size", "render_output_root", "add_path_components",
        "render_output_path", "blendfile", "fps", "format", "image_file_extension",
        "has_previews", "scene", "persistent_data", "max_frame_seconds",
    ]
    frames = settings["frames"]
    assert frames["eval"] == "f'{C.scene.frame_start}-{C.scene.frame_end}'"
    assert frames["evalInfo"] == {"showLinkButton": True, "description": "Scene frame range"}
    assert frames["required"] is True
    assert settings["chunk_size"]["default"] == 1
    assert settings["chunk_size"]["propargs"] == {"min": 1}
    assert settings["render_output_root"]["subtype"] == "dir_path"
    assert settings["render_output_root"]["visible"] == "submission"
    assert settings["add_path_components"]["propargs"] == {"min": 0, "max": 32}
    assert settings["render_output_path"]["editable"] is False
    assert "{timestamp}" in settings["render_output_path"]["eval"]
    assert settings["fps"] == {
        "key": "fps", "type": "float", "eval": "C.scene.render.fps / C.scene.render.fps_base",
        "visible": "hidden",
    }
    assert settings["format"]["eval"] == "C.scene.render.image_settings.file_format"
    assert settings["has_previews"]["type"] == "bool"
    assert settings["scene"]["eval"] == "C.scene.name"
    assert settings["persistent_data"]["default"] is True


def test_shipped_presets_say_what_they_are_for() -> None:
    purposes = {t.name: (t.category, t.artists) for t in JobTypeRegistry([SHIPPED]).all()}
    assert purposes == {
        "simple-blender-render": ("render", True),
        "echo-sleep-test": ("test", False),
        "frames-noop": ("test", False),
        "single-frame-render": ("protocol", False),
        "video-render": ("protocol", False),
        "range-render": ("protocol", False),
    }


def test_category_decides_who_sees_a_type_unless_artists_says(tmp_path: Path) -> None:
    assert (preset(MINIMAL, tmp_path).category, preset(MINIMAL, tmp_path).artists) == (
        "render", True
    )
    tested = preset("category: test\n" + MINIMAL, tmp_path)
    assert (tested.category, tested.artists) == ("test", False)
    offered = preset("category: lookdev\nartists: true\n" + MINIMAL, tmp_path)
    assert (offered.category, offered.artists) == ("lookdev", True)
    # Neither field is Flamenco's: the served form and its etag stay as they were.
    assert offered.to_api() == preset(MINIMAL, tmp_path).to_api()
    assert broken("category: Big Renders\n" + MINIMAL, tmp_path).startswith("category:")
    assert broken("artists: 'yes'\n" + MINIMAL, tmp_path).startswith("artists: expected true")


def test_task_types_are_those_of_the_compile_rules() -> None:
    job_type = JobTypeRegistry([SHIPPED]).get("simple-blender-render")
    assert job_type is not None and job_type.task_types == ("blender", "ffmpeg")


def test_catalog_names_the_render_type_unrun_task_types_and_broken_presets(
    manager: Manager,
) -> None:
    folder = manager.settings.job_types
    assert folder is not None
    (folder / "broken.yaml").write_text("name: half-done\ncategory: render\nsettings: 3\n")
    manager.farm.job_types.refresh()
    catalog = manager.get("/api/farmhand/job-types").json()
    assert catalog["render_type"] == "simple-blender-render"
    types = {t["name"]: t for t in catalog["job_types"]}
    assert set(types) == {p.stem for p in SHIPPED.glob("*.yaml")}
    assert types["frames-noop"]["category"] == "test" and not types["frames-noop"]["artists"]
    assert types["simple-blender-render"]["unrun_task_types"] == ["blender", "ffmpeg"]
    (error,) = catalog["errors"]
    assert error["name"] == "half-done" and Path(error["path"]).name == "broken.yaml"
    assert error["message"].startswith("settings: expected a list")

    register_worker(manager, "renders-only").wake(["blender", "ffmpeg"])
    types = {t["name"]: t for t in manager.get("/api/farmhand/job-types").json()["job_types"]}
    assert types["simple-blender-render"]["unrun_task_types"] == []
    assert types["echo-sleep-test"]["unrun_task_types"] == ["misc"]


def test_render_type_is_a_manager_setting() -> None:
    assert Settings(render_job_type="shot-render").render_job_type == "shot-render"
    with pytest.raises(ValidationError, match="render_job_type"):
        Settings(render_job_type="Shot Render")


def test_to_api_returns_a_copy() -> None:
    job_type = JobTypeRegistry([SHIPPED]).get("frames-noop")
    assert job_type is not None
    job_type.to_api()["settings"].clear()
    assert job_type.to_api()["settings"]


def test_served_form_keeps_only_given_fields_and_fills_eval_info(tmp_path: Path) -> None:
    job_type = preset(MINIMAL.replace(
        "    required: true\n",
        "    required: true\n    eval: C.scene.name\n    evalInfo: {showLinkButton: true}\n", 1,
    ), tmp_path)
    served = job_type.to_api()
    assert served["name"] == "tiny" and served["label"] == "Tiny" and "description" not in served
    assert served["settings"][0] == {
        "key": "frames", "type": "string", "eval": "C.scene.name",
        "evalInfo": {"showLinkButton": True, "description": ""}, "required": True,
    }
    assert served["settings"][3]["default"] == 1.0 and isinstance(
        served["settings"][3]["default"], float
    )
    assert len(served["etag"]) == 40 and served["etag"] == job_type.etag


def test_label_is_made_from_the_name_when_left_out(tmp_path: Path) -> None:
    assert preset(MINIMAL.replace("label: Tiny\n", ""), tmp_path).label == "Tiny"


# --- the etag ----------------------------------------------------------------------------


def test_etag_is_stable_for_the_same_content(tmp_path: Path) -> None:
    first = preset(MINIMAL, tmp_path).etag
    assert preset(MINIMAL, tmp_path).etag == first
    # Key order and comments in the YAML are not part of the job type.
    reordered = MINIMAL.replace("label: Tiny\n", "").replace("name: tiny\n", "name: tiny\n# hi\n")
    assert preset(reordered + "label: Tiny\n", tmp_path).etag == first


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("default: 2", "default: 3"),
        ("label: Tiny", "label: Tiny!"),
        ("choices: [draft, final]", "choices: [draft, final, best]"),
        ("name: \"work-{chunk}\"", "name: \"task-{chunk}\""),
        ("type: misc", "type: other"),
    ],
)
def test_etag_changes_with_settings_label_and_compile_rules(
    tmp_path: Path, old: str, new: str
) -> None:
    assert old in MINIMAL
    assert preset(MINIMAL.replace(old, new, 1), tmp_path).etag != preset(MINIMAL, tmp_path).etag


# --- broken presets ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "named"),
    [
        ("name: tiny", "name: Tiny", "name"),
        ("name: tiny", "name: -tiny", "name"),
        ("name: tiny", "name: 'tiny type'", "name"),
        ("name: tiny\n", "", "name"),
        ("label: Tiny", "label: [Tiny]", "label"),
        ("label: Tiny", "lable: Tiny", "'lable'"),
        ("  - key: note\n", "  - key: note\n    requred: true\n", "'requred'"),
        ("  - key: note\n", "  - key: 'bad key'\n", "settings[5].key"),
        ("  - key: note\n", "  - key: frames\n", "'frames' is defined twice"),
        ("    type: bool\n", "    type: boolean\n", "settings[4] ('denoise').type"),
        ("    default: 2\n", "    default: two\n", "settings[1] ('chunk_size').default"),
        ("    default: 2\n", "    default: 2.5\n", "settings[1] ('chunk_size').default"),
        ("    default: 2\n", "    default: 5000000000\n", "32 bits"),
        ("    default: 2\n", "    default: 500\n", "at most 100"),
        ("    default: true\n", "    default: 1\n", "settings[4] ('denoise').default"),
        ("    default: draft\n", "    default: best\n", "not one of the choices"),
        ("    type: bool\n", "    type: bool\n    choices: [a]\n", "only string settings"),
        ("    type: bool\n", "    type: bool\n    subtype: file_path\n", "subtype"),
        ("    type: string\n    required", "    type: string\n    subtype: folder\n    required",
         "subtype"),
        ("    type: bool\n", "    type: bool\n    visible: false\n", "visible"),
        ("    type: bool\n", "    type: bool\n    required: yes please\n", "required"),
        ("    type: bool\n", "    type: bool\n    evalInfo: {show: true}\n", "evalInfo"),
        ("propargs: {min: 1, max: 100}", "propargs: {min: 200, max: 100}", "above max"),
        ("propargs: {min: 1, max: 100}", "propargs: {min: one}", "propargs.min"),
        ("propargs: {min: 1, max: 100}", "propargs: {min: 1, step: 2}", "propargs.step"),
        ("propargs: {min: 1, max: 100}", "propargs: {soft_max: 10}", "propargs.soft_max"),
        ("propargs: {min: 0.1, max: 4}", "propargs: {precision: 3}", "propargs.precision"),
        ("settings:\n", "settings: {}\nold_settings:\n", "settings"),
        ("compile:\n", "other:\n", "compile"),
        ("  - key: note\n", "  - key: timestamp\n", "built-in"),
        ("  - key: note\n", "  - key: chunk\n", "built-in"),
    ],
)
def test_broken_preset_names_the_field(tmp_path: Path, old: str, new: str, named: str) -> None:
    assert old in MINIMAL
    assert named in broken(MINIMAL.replace(old, new, 1), tmp_path)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("name: [unclosed\n", "not valid YAML"),
        ("- just\n- a list\n", "a mapping"),
        ("", "a mapping"),
        ("!!python/object/apply:os.system ['true']\n", "not valid YAML"),
    ],
)
def test_unreadable_preset_is_reported(tmp_path: Path, text: str, named: str) -> None:
    assert named in broken(text, tmp_path)


@pytest.mark.parametrize(
    ("old", "new", "named"),
    [
        ('"work-{chunk}"', '"work-{chunks}"', "unknown placeholder '{chunks}'"),
        ('"{quality} {note}"', '"{quality} {__import__(\'os\').system(\'true\')}"',
         "unknown placeholder"),
        ('"{quality} {note}"', '"{quality.__class__}"', "unknown placeholder"),
        ('"{quality} {note}"', '"{0}"', "unknown placeholder"),
        ('"{quality} {note}"', '"{}"', "unknown placeholder"),
        ('"{quality} {note}"', '"{quality!r}"', "unknown placeholder"),
        ('"{quality} {note}"', '"{quality:>10}"', "unknown placeholder"),
        ('"{quality} {note}"', '"{blender}"', "unknown placeholder '{blender}'"),
        ('"{quality} {note}"', '"{quality|upper}"', "unknown filter 'upper'"),
        ('"{quality} {note}"', '"{quality"', "unmatched '{'"),
        ('"{quality} {note}"', '"quality}"', "unmatched '}'"),
        ('"{quality} {note}"', '"{repeat.index}"', "only in a task group with 'repeat:'"),
        ("      chunks: {frames: frames, size: chunk_size}\n", "",
         "only in a task group with 'chunks:'"),
        ("chunks: {frames: frames, size: chunk_size}", "chunks: {frames: quality2, size: 2}",
         "chunks.frames"),
        ("chunks: {frames: frames, size: chunk_size}", "chunks: {frames: frames, size: scale}",
         "chunks.size"),
        ("chunks: {frames: frames, size: chunk_size}", "chunks: {frames: frames, size: 0}",
         "chunks.size"),
        ("      type: misc\n", "      type: misc\n      repeat: 2\n", "not both"),
        ("      type: misc\n", "      type: misc\n      after: [later]\n", "after"),
        ("      type: misc\n", "      type: misc\n      priority: 500\n", "priority"),
        ("      type: misc\n", "      type: misc\n      when: {setting: nope, equals: 1}\n",
         "when.setting"),
        ("      type: misc\n", "      type: misc\n      when: {setting: quality}\n", "exactly one"),
        ("      type: misc\n", "      type: misc\n      when: {setting: quality, in: draft}\n",
         "when.in"),
        ("      type: misc\n", "      type: misc\n      when: {setting: denoise, is_true: 1}\n",
         "is_true"),
        ("      type: misc\n", "      type: misc\n      retries: 3\n", "'retries'"),
        ("      type: misc\n", "", "type"),
        ("    - id: work\n", "    - id: Work!\n", "id"),
        ("        - name: echo\n", "        - name: echo\n          total_step_count: many\n",
         "total_step_count"),
        ("        - name: echo\n", "        - name: echo\n          total_step_count: '{note}'\n",
         "total_step_count"),
        ("        - name: echo\n", "        - name: echo\n          timeout: 3\n", "commands[0]"),
        ("compile:\n", "compile:\n  values: {render: '{nope}'}\n", "values.render"),
        ("compile:\n", "compile:\n  values: {quality: 'x'}\n", "values.quality"),
        ("compile:\n", "compile:\n  reject: [{when: {setting: quality, equals: x}}]\n",
         "reject[0]"),
        ("compile:\n", "compile:\n  steps: []\n", "'steps'"),
    ],
)
def test_broken_compile_rules_name_the_field(
    tmp_path: Path, old: str, new: str, named: str
) -> None:
    assert old in MINIMAL
    message = broken(MINIMAL.replace(old, new, 1), tmp_path)
    assert named in message
    assert message.startswith("compile")


def test_duplicate_task_group_ids_are_refused(tmp_path: Path) -> None:
    text = MINIMAL + """
    - id: work
      type: misc
      commands: [{name: echo}]
"""
    assert "'work' is used by two task groups" in broken(text, tmp_path)


def test_worker_variables_must_be_names_and_not_settings(tmp_path: Path) -> None:
    assert "worker_variables" in broken(MINIMAL + "worker_variables: [quality]\n", tmp_path)
    assert "worker_variables" in broken(MINIMAL + "worker_variables: ['a b']\n", tmp_path)


def test_huge_preset_file_is_refused_unread(tmp_path: Path) -> None:
    assert "limited" in broken(MINIMAL + "#" * 1_100_000 + "\n", tmp_path)


# --- the registry ------------------------------------------------------------------------


def test_later_folder_overrides_earlier_by_name(tmp_path: Path) -> None:
    user = tmp_path / "user"
    user.mkdir()
    write(user, "mine.yaml", (SHIPPED / "frames-noop.yaml").read_text().replace(
        "label: Frames (no-op)", "label: My no-op"
    ))
    registry = JobTypeRegistry([SHIPPED, user])
    job_type = registry.get("frames-noop")
    assert job_type is not None and job_type.label == "My no-op"
    assert job_type.source == user / "mine.yaml"
    assert len(registry.all()) == len(JobTypeRegistry([SHIPPED]).all())
    assert registry.errors() == []


def test_missing_folder_is_just_empty(tmp_path: Path) -> None:
    registry = JobTypeRegistry([tmp_path / "nowhere"])
    assert registry.all() == [] and registry.errors() == []


def test_two_files_of_one_type_in_one_folder_are_reported(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", MINIMAL)
    write(tmp_path, "b.yaml", MINIMAL)
    registry = JobTypeRegistry([tmp_path])
    served = registry.get("tiny")
    assert served is not None and served.source.name == "a.yaml"
    [error] = registry.errors()
    assert error.path.name == "b.yaml" and "already defined in a.yaml" in error.message


def test_registry_reloads_new_changed_broken_and_deleted_files(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    registry = JobTypeRegistry([tmp_path], clock=clock)
    assert registry.all() == []

    path = write(tmp_path, "tiny.yaml", MINIMAL)
    assert registry.get("tiny") is None  # not looked at again within the second
    clock.now += 1.0
    first = registry.get("tiny")
    assert first is not None

    write(tmp_path, "tiny.yaml", MINIMAL.replace("label: Tiny", "label: Tiny 2"))
    clock.now += 0.5
    assert registry.get("tiny") is first
    clock.now += 0.5
    second = registry.get("tiny")
    assert second is not None and second.label == "Tiny 2" and second.etag != first.etag

    clock.now += 5
    assert registry.get("tiny") is second  # unchanged files are not read again

    with caplog.at_level(logging.WARNING, logger="manager.core.job_types"):
        write(tmp_path, "tiny.yaml", MINIMAL.replace("type: int32", "type: int64"))
        clock.now += 1
        assert registry.get("tiny") is None
    [error] = registry.errors()
    assert error.path == path and "settings[1] ('chunk_size').type" in error.message
    assert str(path) in caplog.text and "settings[1] ('chunk_size').type" in caplog.text

    write(tmp_path, "tiny.yaml", MINIMAL)
    clock.now += 1
    assert registry.get("tiny") is not None and registry.errors() == []

    path.unlink()
    clock.now += 1
    assert registry.get("tiny") is None and registry.all() == [] and registry.errors() == []


def test_broken_override_drops_the_type_instead_of_falling_back(tmp_path: Path) -> None:
    user = tmp_path / "user"
    user.mkdir()
    clock = FakeClock()
    override = (SHIPPED / "frames-noop.yaml").read_text()
    write(user, "noop.yaml", override)
    registry = JobTypeRegistry([SHIPPED, user], clock=clock)
    assert registry.get("frames-noop") is not None
    write(user, "noop.yaml", "name: [frames-noop\n")  # not even YAML any more
    clock.now += 1
    assert registry.get("frames-noop") is None
    assert [e.path.name for e in registry.errors()] == ["noop.yaml"]
    assert registry.get("simple-blender-render") is not None


def test_refresh_reloads_at_once(tmp_path: Path) -> None:
    registry = JobTypeRegistry([tmp_path], clock=FakeClock())
    write(tmp_path, "tiny.yaml", MINIMAL)
    registry.refresh()
    assert registry.get("tiny") is not None


# --- validating settings -----------------------------------------------------------------


@pytest.fixture()
def tiny(tmp_path: Path) -> JobType:
    return preset(MINIMAL, tmp_path)


def test_defaults_are_filled_in_and_extra_keys_kept(tiny: JobType) -> None:
    settings = validate_settings(tiny, {"frames": "1-3", "hidden_extra": "x", "n": None})
    assert settings == {
        "frames": "1-3", "chunk_size": 2, "quality": "draft", "scale": 1.0, "denoise": True,
        "hidden_extra": "x", "n": None,
    }
    assert "note" not in settings  # no default: left out


def test_given_values_are_kept_and_ints_accepted_for_floats(tiny: JobType) -> None:
    settings = validate_settings(
        tiny, {"frames": "1", "chunk_size": 7, "quality": "final", "scale": 2, "denoise": False}
    )
    assert settings["chunk_size"] == 7 and settings["quality"] == "final"
    assert settings["scale"] == 2.0 and isinstance(settings["scale"], float)
    assert settings["denoise"] is False


@pytest.mark.parametrize(
    ("settings", "key", "words"),
    [
        ({}, "frames", "required"),
        ({"frames": None}, "frames", "required"),
        ({"frames": 12}, "frames", "string"),
        ({"frames": "1", "chunk_size": "2"}, "chunk_size", "whole number"),
        ({"frames": "1", "chunk_size": 2.0}, "chunk_size", "whole number"),
        ({"frames": "1", "chunk_size": True}, "chunk_size", "whole number"),
        ({"frames": "1", "chunk_size": 2**31}, "chunk_size", "32 bits"),
        ({"frames": "1", "chunk_size": 0}, "chunk_size", "at least 1"),
        ({"frames": "1", "chunk_size": 101}, "chunk_size", "at most 100"),
        ({"frames": "1", "scale": "big"}, "scale", "number"),
        ({"frames": "1", "scale": False}, "scale", "number"),
        ({"frames": "1", "scale": float("nan")}, "scale", "finite"),
        ({"frames": "1", "scale": 0.01}, "scale", "at least 0.1"),
        ({"frames": "1", "denoise": 1}, "denoise", "true or false"),
        ({"frames": "1", "denoise": "yes"}, "denoise", "true or false"),
        ({"frames": "1", "quality": "best"}, "quality", "one of 'draft', 'final'"),
        ({"frames": "1", "extra": {"nested": 1}}, "extra", "not a setting"),
        ({"frames": "1", "extra": [1, 2]}, "extra", "not a setting"),
    ],
)
def test_bad_setting_names_its_key(
    tiny: JobType, settings: dict[str, Any], key: str, words: str
) -> None:
    with pytest.raises(SettingError) as caught:
        validate_settings(tiny, settings)
    assert caught.value.key == key
    assert f"'{key}'" in str(caught.value) and words in str(caught.value)


def test_settings_that_are_not_a_mapping_are_refused(tiny: JobType) -> None:
    with pytest.raises(SettingError):
        validate_settings(tiny, ["frames"])  # type: ignore[arg-type]


def test_dot_files_are_not_presets(tmp_path: Path) -> None:
    write(tmp_path, ".#tiny.yaml", "name: [broken\n")
    write(tmp_path, "tiny.yaml", MINIMAL)
    registry = JobTypeRegistry([tmp_path])
    assert [t.name for t in registry.all()] == ["tiny"] and registry.errors() == []


def test_yaml_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    assert "more than 100,000 values" in broken("\n".join(lines) + "\n", tmp_path)


def test_deeply_nested_preset_is_refused(tmp_path: Path) -> None:
    # PyYAML 6.0.4+ stops at its own depth limit first; either way the message says why.
    assert "nest" in broken("x: " + "[" * 5000 + "]" * 5000 + "\n", tmp_path)
