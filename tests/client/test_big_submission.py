"""A big job: the submitter waits as long as the manager needs to store it, and says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from client import api as api_module
from client.api import ManagerAPI, ManagerError
from client.submission import JobRequest, SubmissionAborted, answer_timeout, submit
from tests.conftest import Manager

#: Frames of the big job: some seconds for the manager to check and store.
BIG = 100_000


def request(name: str) -> JobRequest:
    return JobRequest(name=name, type="frames-noop", type_etag="",
                      settings={"frames": f"1-{BIG}", "chunk_size": 1})


def test_the_wait_grows_with_the_tasks_a_job_makes() -> None:
    usual = api_module.READ_TIMEOUT_S
    assert answer_timeout({"frames": "1-10"}) == pytest.approx(usual + 10 * 0.0005)
    assert answer_timeout({"frames": "1-1000000", "chunk_size": 10}) == pytest.approx(usual + 50)
    assert answer_timeout({"frames": "nonsense"}) == usual
    assert answer_timeout({}) == usual


@pytest.fixture
def blend(manager: Manager, tmp_path: Path) -> Path:
    """A file on the manager's shared storage: nothing to pack, the job goes straight in."""
    manager.settings.shared_storage = str(tmp_path)
    path = tmp_path / "big.blend"
    path.write_bytes(b"BLENDER-v402")
    return path


@pytest.fixture
def slow_answers_refused(monkeypatch: pytest.MonkeyPatch) -> float:
    """Every answer must come within a fraction of a second, as if the manager were a lot
    slower than this one: only a big job's own, longer wait lets it through."""
    monkeypatch.setattr(api_module, "READ_TIMEOUT_S", 0.2)
    return 0.2


def test_a_big_job_is_waited_for_with_progress_instead_of_a_time_out(
    manager: Manager, blend: Path, slow_answers_refused: float
) -> None:
    steps: list[tuple[str, float]] = []
    api = ManagerAPI(manager.url)
    try:
        job = submit(api, request("big"), blend, lambda step, f: steps.append((step, f)))
    finally:
        api.close()
    assert job["status"] == "queued"
    stored = manager.get(f"/api/v3/jobs/{job['id']}").json()
    assert stored["steps_total"] == BIG
    # While the manager stored the job, the progress said it was still at it.
    waiting = [s for s, f in steps if s.startswith("Submitting the job (") and f == 0.95]
    assert waiting and waiting[-1].endswith(" s)"), steps
    assert steps[-1] == ("Submitted", 1.0)


def test_without_the_longer_wait_the_same_job_times_out(
    manager: Manager, blend: Path, slow_answers_refused: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The test above proves something: the manager does take longer than the usual wait."""
    monkeypatch.setattr("client.submission.SECONDS_PER_TASK", 0.0)
    api = ManagerAPI(manager.url)
    try:
        with pytest.raises(ManagerError):
            submit(api, request("too slow"), blend)
    finally:
        api.close()


def test_an_abort_while_the_manager_stores_the_job_still_gets_the_job(
    manager: Manager, blend: Path, slow_answers_refused: float
) -> None:
    """Once the job went out, Abort cannot take it back: the answer still comes in."""
    sent = False

    def progress(step: str, fraction: float) -> None:
        nonlocal sent
        if sent and fraction < 1.0:
            raise SubmissionAborted
        sent = sent or step == "Submitting the job"

    api = ManagerAPI(manager.url)
    try:
        job = submit(api, request("aborted late"), blend, progress)
    finally:
        api.close()
    assert manager.get(f"/api/v3/jobs/{job['id']}").json()["name"] == "aborted late"
