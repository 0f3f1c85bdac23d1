"""Fixtures of the packing tests: a scene with an image texture and a linked library, made
with real Blender (bpy) in a subprocess, copied fresh for each test."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from client.api import ManagerAPI
from client.submission import JobRequest
from tests.conftest import REPO

SCENE_SCRIPT = REPO / "tests" / "client" / "blend_scene.py"
RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def write_texture(path: Path, colour: tuple[int, int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 4), colour).save(path)


def run_bpy(*args: str, timeout: float = 120) -> str:
    """Runs ``blend_scene.py`` in its own Python process, so bpy never loads in the tests'."""
    done = subprocess.run(
        [sys.executable, str(SCENE_SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"bpy failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="session")
def scene_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("scene-template")
    write_texture(root / "project" / "textures" / "red.png", RED)
    write_texture(root / "library" / "tex" / "blue.png", BLUE)
    run_bpy("build", str(root))
    return root


@pytest.fixture
def submitter_dir(scene_template: Path, tmp_path: Path) -> Path:
    """The artist's machine: ``project/shot.blend`` and ``library/lib.blend`` next to it."""
    target = tmp_path / "submitter"
    shutil.copytree(scene_template, target)
    return target


def pixel(png: Path, x: int, y: int) -> tuple[int, ...]:
    with Image.open(png) as image:
        return tuple(image.convert("RGB").getpixel((x, y)))  # type: ignore[arg-type]


def near(actual: tuple[int, ...], expected: tuple[int, int, int], tolerance: int = 8) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def render_request(api: ManagerAPI, submitter_dir: Path, name: str, frames: str) -> JobRequest:
    """A simple-blender-render job of the test scene, with a preview video (fps 24), as the
    add-on would fill it in on the artist's machine."""
    return JobRequest(
        name=name,
        type="simple-blender-render",
        type_etag=api.job_type("simple-blender-render")["etag"],
        settings={
            "frames": frames,
            "chunk_size": 1,
            "render_output_root": str(submitter_dir / "render"),
            "add_path_components": 0,
            "render_output_path": str(submitter_dir / "render" / "######"),
            "format": "PNG",
            "image_file_extension": ".png",
            "scene": "Scene",
            "fps": 24,
        },
    )
