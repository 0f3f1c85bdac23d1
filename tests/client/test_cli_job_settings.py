"""Job settings worked out for a submission: order, defaults, eval names, frame counts.

The add-on and the CLI's headless Blender share this code; here it runs with plain objects.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from client.job_settings import (
    JobType,
    SettingEvalError,
    eval_namespace,
    evaluate_settings,
    last_n_dir_parts,
    missing_required,
)
from client.submission import count_frames, describe_submitted, safe_checkout_id

RAW_TYPE: dict[str, Any] = {
    "name": "demo",
    "etag": "abc",
    "settings": [
        {
            "key": "frames",
            "type": "string",
            "required": True,
            "eval": "f'{C.scene.frame_start}-{C.scene.frame_end}'",
            "evalInfo": {"showLinkButton": True},
        },
        {"key": "chunk_size", "type": "int32", "default": 1, "propargs": {"min": 1}},
        {"key": "root", "type": "string", "subtype": "dir_path", "eval": "'/render'"},
        {"key": "levels", "type": "int32", "default": 2},
        {
            "key": "out",
            "type": "string",
            "eval": "str(Path(abspath(settings.root), last_n_dir_parts(settings.levels), jobname))",
        },
        {"key": "fps", "type": "float", "eval": "C.scene.render.fps / C.scene.render.fps_base"},
        {"key": "label_only", "type": "string", "visible": "hidden"},
    ],
}


def scene_context() -> Any:
    render = SimpleNamespace(fps=24, fps_base=1)
    return SimpleNamespace(scene=SimpleNamespace(frame_start=1, frame_end=48, render=render))


def evaluate(given: dict[str, Any] | None = None) -> dict[str, Any]:
    job_type = JobType.from_api(RAW_TYPE)

    def namespace(values: Any) -> dict[str, Any]:
        return eval_namespace(
            context=scene_context(),
            bpy=None,
            blendfile="/projects/film/seq/shot.blend",
            jobname="shot",
            values=values,
            abspath=lambda p: p,
        )

    return evaluate_settings(job_type, make_namespace=namespace, given=given)


def test_settings_are_evaluated_in_order_with_flamencos_names() -> None:
    values = evaluate()
    assert values == {
        "frames": "1-48",
        "chunk_size": 1,
        "root": "/render",
        "levels": 2,
        "out": "/render/film/seq/shot",
        "fps": 24.0,
    }


def test_given_values_win_and_later_settings_see_them() -> None:
    values = evaluate({"levels": "0", "frames": "5-6", "extra": "kept"})
    assert values["levels"] == 0
    assert values["out"] == "/render/shot"
    assert values["frames"] == "5-6"
    assert values["extra"] == "kept"


def test_a_failing_expression_names_the_setting() -> None:
    raw = {"name": "bad", "settings": [{"key": "x", "type": "string", "eval": "C.nope"}]}

    with pytest.raises(SettingEvalError, match="setting 'x': evaluating 'C.nope' failed"):
        evaluate_settings(
            JobType.from_api(raw),
            make_namespace=lambda v: eval_namespace(
                context=SimpleNamespace(), bpy=None, blendfile="", jobname="", values=v
            ),
        )


def test_missing_required_lists_the_empty_ones() -> None:
    job_type = JobType.from_api(RAW_TYPE)
    assert missing_required(job_type, {"frames": ""}) == ["frames"]
    assert missing_required(job_type, {"frames": "1"}) == []


@pytest.mark.parametrize(
    ("n", "path", "expected"),
    [
        (0, "/a/b/c.blend", Path()),
        (1, "/a/b/c.blend", Path("b")),
        (2, "/a/b/c.blend", Path("a/b")),
        (9, "/a/b/c.blend", Path("a/b")),
        (2, "C:\\proj\\shots\\x.blend", Path("proj/shots")),
    ],
)
def test_last_n_dir_parts_is_relative(n: int, path: str, expected: Path) -> None:
    assert last_n_dir_parts(n, path) == expected


@pytest.mark.parametrize(
    ("frames", "count"),
    [
        ("1-250", 250),
        ("47", 1),
        ("1-10,20..25,40", 17),
        ("3, 5-10, 47-327", 288),
        ("1-3,2-4", 4),
        ("10-1", None),
        ("abc", None),
        ("", None),
    ],
)
def test_count_frames(frames: str, count: int | None) -> None:
    assert count_frames(frames) == count


def test_describe_submitted_and_checkout_ids() -> None:
    job = {"name": "shot_010", "steps_total": 250, "settings": {"frames": "1-250"}}
    assert describe_submitted(job) == "Job 'shot_010' submitted: 250 frames in 250 tasks"
    paused = {"name": "x", "steps_total": 1, "status": "paused", "settings": {}}
    assert describe_submitted(paused) == "Job 'x' submitted (paused): 1 task"
    assert safe_checkout_id("Shot 010 / final!") == "Shot_010_final"
