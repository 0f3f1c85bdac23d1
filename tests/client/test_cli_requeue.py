"""``farmhand requeue JOB --missing``: what a job lacks is rendered again, and said so."""

from __future__ import annotations

from pathlib import Path

import pytest

from client.cli import main
from manager.storage import output_store
from tests.conftest import FakeWorker, Manager
from tests.manager.test_missing_frames import render_everything, render_job, statuses


def test_requeue_missing_names_the_frames_and_the_tasks(
    manager: Manager, awake_worker: FakeWorker, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    job = render_job(manager)
    render_everything(awake_worker, tmp_path)
    for name in ("000005.png", "000006.png"):
        stored = output_store(manager.settings).file(job["id"], name)
        assert stored is not None
        stored.unlink()

    code = main(["--manager", manager.url, "requeue", job["id"][:8], "--missing"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "Missing frames: 5, 6" in out
    assert "requeued render-5-6: frames 5-6 missing from the outputs" in out
    assert "requeued preview-video: depends on a requeued task" in out
    assert "2 task(s) requeued, job is active" in out
    assert [n for n, s in statuses(manager, job["id"]).items() if s == "queued"] == [
        "render-5-6", "preview-video"
    ]


def test_requeue_without_missing_renders_the_whole_finished_job_again(
    manager: Manager, awake_worker: FakeWorker, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    job = render_job(manager)
    render_everything(awake_worker, tmp_path)
    assert main(["--manager", manager.url, "requeue", job["id"]]) == 0
    assert "is queued" in capsys.readouterr().out
    assert set(statuses(manager, job["id"]).values()) == {"queued"}
