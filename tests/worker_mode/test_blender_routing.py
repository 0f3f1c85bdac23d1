"""Two Blenders on one farm: a file saved by the newer one goes only to the worker that has
it, and a file of the older one renders too. Real workers of two bpy wheels (``./farm test``
makes ``.venv-bpy42`` beside ``.venv``); skipped where only one is installed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import MAKE_BLEND, REPO
from .helpers import wait_for

PYTHONS = [REPO / ".venv" / "bin" / "python", REPO / ".venv-bpy42" / "bin" / "python",
           Path(sys.executable)]


def _blender_of(python: Path) -> str | None:
    try:
        out = subprocess.run(
            [str(python), "-c", "import bpy, sys; sys.stdout.write(bpy.app.version_string)"],
            capture_output=True, text=True, timeout=120, cwd="/",
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = out.stdout.strip().splitlines()
    return lines[-1] if out.returncode == 0 and lines else None


@pytest.fixture(scope="module")
def two_blenders() -> tuple[tuple[Path, str], tuple[Path, str]]:
    """(python, version) of an older and a newer bpy, by major.minor."""
    if Path(sys.prefix).resolve() != (REPO / ".venv").resolve() and PYTHONS[0].exists():
        pytest.skip("runs once, in the main venv's pass (it starts both Blenders itself)")
    found: dict[tuple[int, int], tuple[Path, str]] = {}
    for python in PYTHONS:
        if python.exists():
            version = _blender_of(python)
            if version:
                major, minor = version.split(".")[:2]
                found.setdefault((int(major), int(minor)), (python, version))
    if len(found) < 2:
        pytest.skip("needs bpy wheels of two Blender versions (.venv and .venv-bpy42)")
    older, newer = sorted(found)[0], sorted(found)[-1]
    return found[older], found[newer]


def _worker(python: Path, manager_url: str, tmp: Path, name: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(python), "-m", "worker_mode", "--manager", manager_url, "--name", name,
         "--data-dir", str(tmp / name), "--poll-max", "0.5", "--cpu"],
        cwd=REPO, stdout=open(tmp / f"{name}.log", "wb"), stderr=subprocess.STDOUT,
    )


def test_a_job_of_each_blender_completes_on_a_worker_that_opens_it(
    manager, two_blenders, tmp_path
) -> None:
    (old_python, old_version), (new_python, new_version) = two_blenders
    files = {}
    for python, tag in ((old_python, "old"), (new_python, "new")):
        files[tag] = str(tmp_path / f"{tag}.blend")
        subprocess.run([str(python), str(MAKE_BLEND), files[tag]], check=True,
                       capture_output=True, timeout=120)
    # Submitted without saying the version: the manager reads each file's header.
    new_job = manager.api.submit_render(files["new"], str(tmp_path / "out-new"), "1-4",
                                        chunk_size=1, name="new")
    old_job = manager.api.submit_render(files["old"], str(tmp_path / "out-old"), "1-4",
                                        chunk_size=1, name="old")
    assert manager.api.job(new_job)["blender_version"] == ".".join(new_version.split(".")[:2])
    assert manager.api.job(old_job)["blender_version"] == ".".join(old_version.split(".")[:2])

    old_worker = _worker(old_python, manager.url, tmp_path, "old-blender")
    new_worker = None
    try:
        # The older worker first: it takes the older file's tasks and never the newer's.
        wait_for(lambda: manager.api.job_status(old_job) in ("active", "completed"), 120,
                 "the older Blender's worker to take the older file's job")
        assert manager.api.job_status(new_job) == "queued"
        new_worker = _worker(new_python, manager.url, tmp_path, "new-blender")

        def finished() -> bool:
            statuses = {manager.api.job_status(new_job), manager.api.job_status(old_job)}
            assert "failed" not in statuses, [manager.api.tasks(j) for j in (new_job, old_job)]
            return statuses == {"completed"}

        wait_for(finished, 180, "both jobs to complete")
        workers = {job: {manager.api.task(t["id"])["worker"]["name"]
                         for t in manager.api.tasks(job)}
                   for job in (new_job, old_job)}
        assert workers[new_job] == {"new-blender"}, workers
        assert "old-blender" in workers[old_job], workers
        assert workers[old_job] <= {"old-blender", "new-blender"}, workers
        assert len(list((tmp_path / "out-old").glob("*.png"))) == 4
        assert len(list((tmp_path / "out-new").glob("*.png"))) == 4
    finally:
        for proc in (old_worker, new_worker):
            if proc is None:
                continue
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
