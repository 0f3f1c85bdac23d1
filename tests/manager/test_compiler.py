"""Compiling jobs into tasks: the shipped presets, placeholders, conditions and dependencies."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from manager.core.compiler import TaskSpec, compile_job, plan_tasks
from manager.core.frames import dispatch_ranks
from manager.core.job_types import JobType, JobTypeRegistry, SettingError, load_job_type
from manager.core.job_types import validate_settings as validate

SHIPPED = Path(__file__).resolve().parents[2] / "manager" / "job_types"
CREATED = datetime(2024, 5, 6, 7, 8, 9)  # naive: taken as the manager's local time
STAMP = "2024-05-06_070809"


@pytest.fixture(scope="module")
def shipped() -> JobTypeRegistry:
    return JobTypeRegistry([SHIPPED])


def shipped_type(registry: JobTypeRegistry, name: str) -> JobType:
    job_type = registry.get(name)
    assert job_type is not None
    return job_type


def compile_(job_type: JobType, settings: dict[str, Any], **job: Any) -> list[TaskSpec]:
    fields: dict[str, Any] = {
        "job_id": "job-1", "job_name": "Shot 10", "priority": 60, "created": CREATED,
    }
    fields.update(job)
    return compile_job(job_type, validate(job_type, settings), **fields)


def render_settings(**changes: Any) -> dict[str, Any]:
    settings = {
        "frames": "1-10",
        "chunk_size": 3,
        "render_output_root": "/render",
        "add_path_components": 0,
        "render_output_path": "/render/proj/Shot 10/{timestamp}/######",
        "blendfile": "/proj/shot.blend",
        "fps": 24,
        "format": "PNG",
        "image_file_extension": ".png",
        "has_previews": False,
        "scene": "Scene",
    }
    settings.update(changes)
    return settings


def preset(tmp_path: Path, compile_rules: str, settings: str = "", extra: str = "") -> JobType:
    path = tmp_path / "preset.yaml"
    path.write_text(f"""
name: test-type
settings:
  - {{key: frames, type: string}}
  - {{key: count, type: int32, default: 3}}
  - {{key: scale, type: float, default: 1.5}}
  - {{key: enabled, type: bool, default: true}}
  - {{key: label, type: string, default: hello}}
  - {{key: path, type: string, default: '/out/a/b.png'}}
  - {{key: optional, type: string}}
{settings}
{extra}
compile:
{compile_rules}
""")
    return load_job_type(path)


def one_task(parameters: str) -> str:
    return f"""
  tasks:
    - id: only
      type: misc
      commands:
        - name: check
          parameters: {parameters}
"""


# --- simple-blender-render ---------------------------------------------------------------


def test_render_job_has_a_task_per_chunk_and_a_video_after_all(shipped: JobTypeRegistry) -> None:
    tasks = compile_(shipped_type(shipped, "simple-blender-render"), render_settings())
    assert [t.name for t in tasks] == [
        "render-1-3", "render-4-6", "render-7-9", "render-10", "preview-video"
    ]
    assert [t.task_type for t in tasks] == ["blender"] * 4 + ["ffmpeg"]
    assert [t.frames for t in tasks] == [[1, 2, 3], [4, 5, 6], [7, 8, 9], [10], []]
    assert [t.depends_on for t in tasks] == [[], [], [], [], [0, 1, 2, 3]]
    assert [t.steps_total for t in tasks] == [3, 3, 3, 1, 1]
    assert all(t.priority == 50 for t in tasks)


def test_render_command_is_flamencos_blender_render(shipped: JobTypeRegistry) -> None:
    tasks = compile_(shipped_type(shipped, "simple-blender-render"), render_settings())
    assert tasks[0].commands == [{
        "name": "blender-render",
        "parameters": {
            "exe": "{blender}",
            "exeArgs": "{blenderArgs}",
            "argsBefore": [],
            "blendfile": "/proj/shot.blend",
            "args": [
                "--scene", "Scene",
                "--render-output", f"/render/proj/Shot 10/{STAMP}/######",
                "--render-format", "PNG",
                "--render-frame", "1..3",
            ],
            "persistent_data": True,
            "max_frame_seconds": 0,
            "overrides": {},
            "render_device": "FILE",
        },
        "total_step_count": 3,
    }]


def test_render_frames_use_blenders_range_form(shipped: JobTypeRegistry) -> None:
    tasks = compile_(
        shipped_type(shipped, "simple-blender-render"),
        render_settings(frames="1-3,7,20..21", chunk_size=10, persistent_data=False),
    )
    assert tasks[0].name == "render-1-3,7,20-21"
    parameters = tasks[0].commands[0]["parameters"]
    assert parameters["args"][-1] == "1..3,7,20..21"
    assert parameters["persistent_data"] is False
    assert tasks[0].commands[0]["total_step_count"] == 6


def test_video_task_reads_the_rendered_frames(shipped: JobTypeRegistry) -> None:
    video = compile_(shipped_type(shipped, "simple-blender-render"), render_settings())[-1]
    folder = f"/render/proj/Shot 10/{STAMP}"
    assert video.commands == [{
        "name": "frames-to-video",
        "parameters": {
            "exe": "{ffmpeg}",
            "fps": 24.0,
            "inputGlob": f"{folder}/*.png",
            "outputFile": f"{folder}/Shot 10-1-10.mp4",
            "args": ["-c:v", "h264", "-crf", "20", "-g", "18", "-vf",
                     "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-pix_fmt", "yuv420p", "-r", 24.0, "-y"],
        },
        "total_step_count": 1,
    }]


def test_job_name_cannot_move_the_video_out_of_its_folder(shipped: JobTypeRegistry) -> None:
    video = compile_(
        shipped_type(shipped, "simple-blender-render"), render_settings(), job_name="../../x/y"
    )[-1]
    output = video.commands[0]["parameters"]["outputFile"]
    assert output == f"/render/proj/Shot 10/{STAMP}/_.._x_y-1-10.mp4"


@pytest.mark.parametrize("image_format", ["OPEN_EXR", "OPEN_EXR_MULTILAYER", "EXR", "MULTILAYER"])
def test_exr_gets_no_video(shipped: JobTypeRegistry, image_format: str) -> None:
    tasks = compile_(
        shipped_type(shipped, "simple-blender-render"), render_settings(format=image_format)
    )
    assert [t.task_type for t in tasks] == ["blender"] * 4


def test_exr_with_previews_gets_a_video_of_the_previews(shipped: JobTypeRegistry) -> None:
    tasks = compile_(
        shipped_type(shipped, "simple-blender-render"),
        render_settings(format="OPEN_EXR", image_file_extension=".exr", has_previews=True),
    )
    assert tasks[-1].name == "preview-video" and tasks[-1].depends_on == [0, 1, 2, 3]
    assert tasks[-1].commands[0]["parameters"]["inputGlob"].endswith("/*.jpg")


def test_no_fps_means_no_video(shipped: JobTypeRegistry) -> None:
    settings = render_settings()
    del settings["fps"]
    tasks = compile_(shipped_type(shipped, "simple-blender-render"), settings)
    assert [t.task_type for t in tasks] == ["blender"] * 4


def test_video_formats_are_refused(shipped: JobTypeRegistry) -> None:
    with pytest.raises(SettingError) as caught:
        compile_(shipped_type(shipped, "simple-blender-render"), render_settings(format="FFMPEG"))
    assert caught.value.key == "format" and "FFMPEG" in str(caught.value)


def test_render_chunks_go_out_first_last_middle_and_the_video_last(
    shipped: JobTypeRegistry,
) -> None:
    tasks = compile_(
        shipped_type(shipped, "simple-blender-render"), render_settings(frames="1-9", chunk_size=1)
    )
    renders = tasks[:-1]
    assert [t.dispatch_rank for t in renders] == dispatch_ranks(9)
    assert tasks[-1].dispatch_rank == 9
    first_three = sorted(renders, key=lambda t: t.dispatch_rank)[:3]
    assert [t.frames for t in first_three] == [[1], [9], [5]]


def test_tasks_built_a_few_at_a_time_are_the_tasks_of_the_whole_job(
    shipped: JobTypeRegistry,
) -> None:
    job_type = shipped_type(shipped, "simple-blender-render")
    settings = validate(job_type, render_settings(frames="1-23", chunk_size=2))
    job = {"job_id": "job-1", "job_name": "Shot 10", "priority": 60, "created": CREATED}
    whole = compile_job(job_type, settings, **job)
    tasks = plan_tasks(job_type, settings, **job)
    assert tasks.count == len(whole) == 13
    # Ranges of 5 cut across the render chunks and end in the video task.
    steps = [range(start, min(13, start + 5)) for start in range(0, 13, 5)]
    in_steps = [task for step in steps for task in tasks.build(step)]
    assert in_steps == whole
    assert tasks.build(range(12, 13)) == whole[12:]
    assert list(tasks.dependencies(range(13))) == [
        (index, dependency) for index, task in enumerate(whole) for dependency in task.depends_on
    ]
    assert list(tasks.dependencies(range(0, 12))) == []


@pytest.mark.parametrize(
    ("frames", "key"), [("5-1", "frames"), ("a-b", "frames"), ("1-", "frames"), ("", "frames")]
)
def test_bad_frame_range_is_a_setting_error(
    shipped: JobTypeRegistry, frames: str, key: str
) -> None:
    with pytest.raises(SettingError) as caught:
        compile_(shipped_type(shipped, "simple-blender-render"), render_settings(frames=frames))
    assert caught.value.key == key and "'frames'" in str(caught.value)


def test_chunk_size_below_one_is_a_setting_error(shipped: JobTypeRegistry) -> None:
    job_type = shipped_type(shipped, "frames-noop")
    with pytest.raises(SettingError) as caught:
        # Straight to the compiler, as if validation had been skipped.
        compile_job(job_type, {"frames": "1-3", "chunk_size": 0}, job_id="j", job_name="j",
                    priority=50, created=CREATED)
    assert caught.value.key == "chunk_size"


# --- echo-sleep-test and frames-noop ------------------------------------------------------


def test_echo_then_sleeps(shipped: JobTypeRegistry) -> None:
    tasks = compile_(shipped_type(shipped, "echo-sleep-test"), {"sleep_repeats": 3})
    assert [t.name for t in tasks] == ["echo", "sleep-0", "sleep-1", "sleep-2"]
    assert {t.task_type for t in tasks} == {"misc"}
    assert tasks[0].commands == [
        {"name": "echo", "parameters": {"message": "Blender is fun"}, "total_step_count": 0}
    ]
    assert tasks[1].commands == [
        {"name": "sleep", "parameters": {"duration_in_seconds": 1}, "total_step_count": 0}
    ]
    assert [t.depends_on for t in tasks] == [[], [0], [0], [0]]
    assert [t.dispatch_rank for t in tasks] == [0, 1, 2, 3]
    assert [t.steps_total for t in tasks] == [1, 1, 1, 1]


def test_zero_repeats_make_no_sleep_tasks(shipped: JobTypeRegistry) -> None:
    tasks = compile_(shipped_type(shipped, "echo-sleep-test"), {"sleep_repeats": 0})
    assert [t.name for t in tasks] == ["echo"]


def test_noop_makes_big_jobs(shipped: JobTypeRegistry) -> None:
    tasks = compile_(shipped_type(shipped, "frames-noop"), {"frames": "1-100000"})
    assert len(tasks) == 100_000
    assert tasks[0].name == "noop-1" and tasks[-1].name == "noop-100000"
    assert tasks[-1].commands == [
        {"name": "sleep", "parameters": {"duration_in_seconds": 0}, "total_step_count": 1}
    ]
    assert sorted(t.dispatch_rank for t in tasks) == list(range(100_000))
    chunked = compile_(shipped_type(shipped, "frames-noop"), {"frames": "1-10", "chunk_size": 4})
    assert [t.steps_total for t in chunked] == [4, 4, 2]


def test_tasks_never_share_parameter_lists(shipped: JobTypeRegistry) -> None:
    tasks = compile_(shipped_type(shipped, "simple-blender-render"), render_settings())
    tasks[0].commands[0]["parameters"]["argsBefore"].append("--debug")
    tasks[0].commands[0]["parameters"]["args"].clear()
    tasks[0].depends_on.append(99)
    assert tasks[1].commands[0]["parameters"]["argsBefore"] == []
    assert tasks[1].commands[0]["parameters"]["args"]
    assert tasks[1].depends_on == []


# --- placeholders ------------------------------------------------------------------------


def parameters_of(job_type: JobType, settings: dict[str, Any] | None = None) -> Any:
    return compile_(job_type, settings or {})[0].commands[0]["parameters"]


def test_whole_placeholders_keep_their_type_and_text_does_not(tmp_path: Path) -> None:
    job_type = preset(tmp_path, one_task("""
            count: "{count}"
            scale: "{scale}"
            enabled: "{enabled}"
            label: "{label}"
            text: "n={count} s={scale} e={enabled} l={label}"
            priority: "{job.priority}"
            list: ["{count}", "x{count}", ["{enabled}"], {deep: "{scale}"}]
            constant: [1, 2.5, true, null, "plain"]"""))
    assert parameters_of(job_type, {"scale": 2}) == {
        "count": 3,
        "scale": 2.0,
        "enabled": True,
        "label": "hello",
        "text": "n=3 s=2 e=true l=hello",
        "priority": 60,
        "list": [3, "x3", [True], {"deep": 2.0}],
        "constant": [1, 2.5, True, None, "plain"],
    }
    assert parameters_of(job_type, {"scale": 0.25})["text"] == "n=3 s=0.25 e=true l=hello"


def test_job_builtins_and_filters(tmp_path: Path) -> None:
    job_type = preset(tmp_path, one_task(r"""
            job: "{job.name}|{job.id}|{job.priority}|{timestamp}"
            dir: "{path|dirname}"
            base: "{path|basename}"
            stem: "{path|stem}"
            windows: "{label|dirname}"
            chained: "{label|dirname|basename}"
            safe: "{job.name|filename}"
            braces: "{{literal}} {{count}}" """))
    parameters = parameters_of(job_type, {"label": "C:\\renders\\shot\\frame_####.exr"})
    assert parameters == {
        "job": f"Shot 10|job-1|60|{STAMP}",
        "dir": "/out/a",
        "base": "b.png",
        "stem": "b",
        "windows": "C:\\renders\\shot",
        "chained": "shot",
        "safe": "Shot 10",
        "braces": "{literal} {count}",
    }


def test_worker_variables_are_left_for_the_worker(tmp_path: Path) -> None:
    job_type = preset(
        tmp_path,
        one_task('{exe: "{blender}", args: ["{blenderArgs}", "--x={blender}/{label}"]}'),
        extra="worker_variables: [blender, blenderArgs]",
    )
    assert parameters_of(job_type) == {
        "exe": "{blender}", "args": ["{blenderArgs}", "--x={blender}/hello"]
    }


def test_submitted_values_are_never_read_for_placeholders(tmp_path: Path) -> None:
    job_type = preset(
        tmp_path,
        one_task('{plain: "{label}", expanded: "{label|expand}", whole: "{optional}"}'),
    )
    value = "{job.id} {timestamp} {count} {__import__('os')} {blender} {"
    parameters = parameters_of(job_type, {"label": value, "optional": "{count}"})
    assert parameters["plain"] == value
    # expand fills in only the job's own fields, nothing else a value may name.
    assert parameters["expanded"] == f"job-1 {STAMP} {{count}} {{__import__('os')}} {{blender}} {{"
    assert parameters["whole"] == "{count}"


def test_missing_optional_setting_is_named_when_a_task_needs_it(tmp_path: Path) -> None:
    job_type = preset(tmp_path, one_task('{text: "x{optional}"}'))
    with pytest.raises(SettingError) as caught:
        parameters_of(job_type)
    assert caught.value.key == "optional" and "'optional'" in str(caught.value)


def test_values_are_worked_out_once_and_only_when_used(tmp_path: Path) -> None:
    job_type = preset(tmp_path, """
  values:
    folder: "{path|dirname}"
    target: "{folder}/{label}.txt"
    unused: "{optional}"
  tasks:
    - id: only
      type: misc
      commands:
        - name: check
          parameters: {target: "{target}", folder: "{folder}"}
""")
    assert parameters_of(job_type) == {"target": "/out/a/hello.txt", "folder": "/out/a"}


def test_job_frames_builtins(tmp_path: Path) -> None:
    job_type = preset(tmp_path, """
  tasks:
    - id: frames
      name: "f-{chunk}"
      type: misc
      chunks: {frames: frames, size: count}
      commands:
        - name: check
          parameters:
            chunk: ["{chunk}", "{chunk.blender}", "{chunk.first}", "{chunk.last}", "{chunk.count}"]
          total_step_count: "{chunk.count}"
    - id: after
      type: misc
      after: frames
      commands:
        - name: check
          parameters:
            job: ["{job.frames}", "{job.frames.first}", "{job.frames.last}", "{job.frames.count}"]
""")
    tasks = compile_(job_type, {"frames": "8-10, 1..2", "count": 4})
    assert tasks[0].commands[0]["parameters"]["chunk"] == ["8-10,1", "8..10,1", 8, 1, 4]
    assert tasks[1].commands[0]["parameters"]["chunk"] == ["2", "2", 2, 2, 1]
    assert tasks[2].commands[0]["parameters"]["job"] == ["8-10,1-2", 8, 2, 5]
    assert tasks[2].depends_on == [0, 1]


# --- conditions, dependencies, repeats ---------------------------------------------------


CONDITIONAL = """
  tasks:
    - id: base
      type: misc
      when: {setting: label, equals: hello}
      commands: [{name: a}]
    - id: listed
      type: misc
      when: {setting: label, in: [x, y]}
      commands: [{name: a}]
    - id: unlisted
      type: misc
      when: {setting: label, not_in: [x, y]}
      after: [base]
      commands: [{name: a}]
    - id: differs
      type: misc
      when: {setting: label, not_equals: hello}
      commands: [{name: a}]
    - id: flagged
      type: misc
      when: [{setting: enabled, is_true: true}, {setting: count, equals: 3}]
      commands: [{name: a}]
    - id: unflagged
      type: misc
      when: {setting: enabled, is_true: false}
      after: [unlisted, differs]
      commands: [{name: a}]
    - id: not-one
      type: misc
      when: {setting: enabled, equals: 1}
      commands: [{name: a}]
"""


@pytest.mark.parametrize(
    ("settings", "groups"),
    [
        ({}, ["base", "unlisted", "flagged"]),
        ({"label": "x"}, ["listed", "differs", "flagged"]),
        ({"enabled": False}, ["base", "unlisted", "unflagged"]),
        ({"count": 4}, ["base", "unlisted"]),
    ],
)
def test_conditions_pick_the_task_groups(
    tmp_path: Path, settings: dict[str, Any], groups: list[str]
) -> None:
    tasks = compile_(preset(tmp_path, CONDITIONAL), settings)
    assert [t.name for t in tasks] == groups


def test_dependency_on_a_left_out_group_is_dropped(tmp_path: Path) -> None:
    tasks = compile_(preset(tmp_path, CONDITIONAL), {"enabled": False, "label": "x"})
    assert [t.name for t in tasks] == ["listed", "differs", "unflagged"]
    assert tasks[2].depends_on == [1]


def test_dependent_tasks_go_out_after_all_their_dependencies(tmp_path: Path) -> None:
    job_type = preset(tmp_path, """
  tasks:
    - id: late
      type: misc
      after: [early]
      commands: [{name: a}]
""".replace("  tasks:\n", """  tasks:
    - id: early
      type: misc
      repeat: count
      commands: [{name: a}]
    - id: other
      type: misc
      priority: 70
      commands: [{name: a}]
"""))
    tasks = compile_(job_type, {})
    assert [(t.name, t.dispatch_rank, t.priority) for t in tasks] == [
        ("early", 0, 50), ("early", 1, 50), ("early", 2, 50), ("other", 3, 70), ("late", 4, 50)
    ]
    assert tasks[-1].depends_on == [0, 1, 2]


def test_too_many_repeats_are_a_setting_error(tmp_path: Path) -> None:
    job_type = preset(tmp_path, """
  tasks:
    - id: many
      type: misc
      repeat: count
      commands: [{name: a}]
""")
    with pytest.raises(SettingError) as caught:
        compile_(job_type, {"count": 2_000_000})
    assert caught.value.key == "count"
    with pytest.raises(SettingError):
        compile_(job_type, {"count": -1})


def test_task_names_are_always_text(tmp_path: Path) -> None:
    job_type = preset(tmp_path, """
  tasks:
    - id: numbered
      name: "{chunk.first}"
      type: misc
      chunks: {frames: frames, size: 1}
      commands: [{name: a}]
    - id: flag
      name: "{enabled}"
      type: misc
      commands: [{name: a}]
""")
    assert [t.name for t in compile_(job_type, {"frames": "4-5"})] == ["4", "5", "true"]
