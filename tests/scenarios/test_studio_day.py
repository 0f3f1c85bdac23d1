"""A studio's day on one farm: a manager, three workers, the ``farmhand`` CLI and the add-on.

Artists submit the same packed project (a shot with textures and a linked library in
subfolders) again and again, a broken scene, a job of a type no Farmhand worker runs; they
pause, resume and cancel. Meanwhile a worker is killed mid-frame and restarted, another is
frozen for a moment, and the manager is restarted under the workers' feet. In the evening
every good job has all its frames on the manager, the broken and the unrunnable jobs say why,
no worker process died that the test did not kill, and nothing the manager acknowledged was
lost. The slow variant keeps the manager down for longer than ``worker_timeout`` and hangs a
render process: the farm must get going again and move the hung task by itself.
"""

from __future__ import annotations

import io
import logging
import os
import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from .conftest import (
    FINAL_JOB_STATUSES,
    Farm,
    FarmWorker,
    StatusWatch,
    WaitTimedOut,
    is_running,
    process_state,
    submit_from_addon,
)

log = logging.getLogger(__name__)

SHOT = Path("project/shot.blend")  # 32x32 px
SH020 = Path("project/shots/sq010/sh020.blend")  # 48x24 px
HEAVY = Path("project/heavy.blend")  # 32x32 px, frames of several seconds
SIZES = {SHOT: (32, 32), SH020: (48, 24), HEAVY: (32, 32)}

#: Seconds a render process may take to exit after its worker was killed (its frame has
#: several seconds left then, so it cannot pass by finishing the frame first).
ORPHAN_EXIT_S = 3.0
#: Seconds the frozen worker stays stopped (well under any worker_timeout used here).
WORKER_FREEZE_S = 3.0


@dataclass
class Variant:
    settings: dict[str, float]
    manager_outage_s: float
    hang_a_render: bool = False


@dataclass
class Expected:
    """A job that must complete with these frames, each image of this size."""

    name: str
    job_id: str
    frames: list[int]
    size: tuple[int, int]


@dataclass
class StudioDay:
    farm: Farm
    studio: Path
    workdir: Path
    extension_zip: Path
    variant: Variant
    good: list[Expected] = field(default_factory=list)
    jobs: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    """What was wrong but did not stop the day; all reported at the end."""

    # -- helpers ----------------------------------------------------------------------------

    def expect(self, condition: object, problem: str) -> None:
        if not condition:
            self.problems.append(problem)

    def expect_soon(self, check: Callable[[], object], timeout: float, what: str) -> bool:
        """Wait as ``Farm.wait`` does, but note a timeout as a problem and go on."""
        try:
            self.farm.wait(check, timeout, what)
        except WaitTimedOut:
            self.problems.append(f"timed out after {timeout:g} s waiting for {what}")
            return False
        return True

    def submit(
        self, name: str, blend: Path, frames: str, *options: str,
        job_type: str = "simple-blender-render",
    ) -> str:
        job_id = self.farm.submit(
            self.studio / blend, name, "--frames", frames, *options, job_type=job_type
        )
        log.info("submitted %s (%s, frames %s) as %s", name, blend.name, frames, job_id[:8])
        self.jobs[name] = job_id
        return job_id

    def submit_good(self, name: str, blend: Path, first: int, last: int, *options: str) -> str:
        job_id = self.submit(name, blend, f"{first}-{last}", *options)
        self.good.append(Expected(name, job_id, list(range(first, last + 1)), SIZES[blend]))
        return job_id

    def submit_many(self, *submissions: Callable[[], object]) -> None:
        """Several artists press submit at once."""
        with ThreadPoolExecutor(max_workers=3) as pool:
            for future in [pool.submit(submission) for submission in submissions]:
                future.result()

    def active_render_tasks(self, job_id: str) -> dict[str, str]:
        """Task id -> worker name of the job's active render tasks."""
        out = {}
        for task in self.farm.tasks(job_id):
            if task["status"] == "active" and task["name"].startswith("render"):
                worker = self.farm.task(task["id"]).get("worker") or {}
                if worker.get("name"):
                    out[task["id"]] = worker["name"]
        return out

    def task_status(self, task_id: str) -> str:
        return str(self.farm.task(task_id)["status"])

    # -- the day ----------------------------------------------------------------------------

    def play(self) -> None:
        self.morning()
        self.pause_resume_and_cancel()
        self.submit_from_blender()
        self.restart_the_manager()
        if self.variant.hang_a_render:
            self.hang_a_render()
        self.evening()

    def morning(self) -> None:
        farm = self.farm
        farm.wait(
            lambda: sorted(n for n, w in farm.workers_on_manager().items()
                           if w["status"] == "awake") == ["w1", "w2", "w3"],
            120, "the three workers to sign on",
        )  # fmt: skip
        # First, so that both its frames are under way on two workers at once.
        self.submit_good("heavy", HEAVY, 1, 2)
        # The other artists submit while a worker is killed and another one frozen.
        with ThreadPoolExecutor(max_workers=1) as artists:
            submitted = artists.submit(
                self.submit_many,
                lambda: self.submit_good("shot-a", SHOT, 1, 3),
                lambda: self.submit_good("shot-b", SHOT, 1, 3, "--set", "chunk_size=2"),
                lambda: self.submit_good("sh020", SH020, 1, 2),
                lambda: self.submit("broken", SHOT, "1-2", "--set", "scene=Nope"),
                # A type of the older protocols' nodes: no Farmhand worker runs its task type.
                lambda: self.submit("unrunnable", SHOT, "1-2", job_type="range-render"),
            )
            self.kill_one_worker_and_freeze_another()
            submitted.result()

    def kill_one_worker_and_freeze_another(self) -> None:
        """SIGKILL the worker rendering one heavy frame (only the worker: its render process
        must notice and exit by itself), SIGSTOP the one rendering the other for a moment;
        restart the killed one with the same data dir."""
        farm, heavy = self.farm, self.jobs["heavy"]
        running = farm.wait(
            lambda: (t := self.active_render_tasks(heavy)) and len(set(t.values())) == 2 and t,
            120, "both heavy frames to be rendering on two workers",
        )  # fmt: skip
        (killed_task, victim_name), (frozen_task, frozen_name) = sorted(running.items())
        victim, frozen = farm.workers[victim_name], farm.workers[frozen_name]
        farm.wait(victim.render_children, 30, f"{victim_name}'s render process")
        time.sleep(0.5)  # into the frame
        farm.check(
            self.task_status(killed_task) == "active" and self.task_status(frozen_task) == "active",
            "the heavy frames ended before the kill: make heavy.blend slower "
            "(FARMHAND_TEST_HEAVY_SAMPLES)",
        )
        children = victim.render_children()
        farm.kill_worker(victim_name)
        os.kill(frozen.pid, signal.SIGSTOP)
        killed_at = time.monotonic()
        log.info("killed %s mid-frame (render process %s); froze %s", victim_name, children,
                 frozen_name)
        thawed = False
        orphans_gone_after = None
        try:
            # Thawed after WORKER_FREEZE_S exactly, whatever the orphans do meanwhile.
            while not thawed or (orphans_gone_after is None and time.monotonic() - killed_at
                                 < ORPHAN_EXIT_S):  # fmt: skip
                since = time.monotonic() - killed_at
                if orphans_gone_after is None and not any(is_running(p) for p in children):
                    orphans_gone_after = since
                if not thawed and since >= WORKER_FREEZE_S:
                    os.kill(frozen.pid, signal.SIGCONT)
                    thawed = True
                    log.info("thawed %s after %.1f s", frozen_name, since)
                time.sleep(0.05)
        finally:
            if not thawed:
                os.kill(frozen.pid, signal.SIGCONT)
        orphans = [pid for pid in children if is_running(pid)]
        log.info("render process of killed %s: %s", victim_name,
                 f"gone after {orphans_gone_after:.1f} s" if orphans_gone_after is not None
                 else f"still running after {ORPHAN_EXIT_S:g} s")  # fmt: skip
        self.expect(
            not orphans,
            f"render process(es) {orphans} of killed worker {victim_name} still running "
            f"{ORPHAN_EXIT_S:g} s after it died",
        )
        for pid in orphans:  # so that they do not slow the rest of the day down
            os.kill(pid, signal.SIGKILL)
        worker_id_before = farm.workers_on_manager()[victim_name]["id"]
        farm.start_worker(victim_name)
        farm.wait(
            lambda: farm.workers_on_manager()[victim_name]["status"] == "awake"
            and "signed on" in victim.process.output,
            120, f"{victim_name} to sign on again",
        )  # fmt: skip
        on_manager = farm.workers_on_manager()
        self.expect(
            on_manager[victim_name]["id"] == worker_id_before and len(on_manager) == 3,
            f"{victim_name} came back as a new worker: {sorted(on_manager)}",
        )
        # The frozen worker was never gone for long: its frame stays its own and completes.
        self.expect_soon(
            lambda: self.task_status(frozen_task) in ("completed", "failed", "soft-failed",
                                                       "queued"),
            180, f"the heavy frame of the frozen worker {frozen_name} to finish",
        )  # fmt: skip
        task = farm.task(frozen_task)
        killed = farm.task(killed_task)
        log.info("heavy frames: %s's %s (%s), %s's %s (%s)", victim_name, killed["status"],
                 (killed.get("worker") or {}).get("name"), frozen_name, task["status"],
                 (task.get("worker") or {}).get("name"))
        self.expect(
            task["status"] == "completed" and (task.get("worker") or {}).get("name") == frozen_name,
            f"heavy frame of {frozen_name}, frozen for {WORKER_FREEZE_S:g} s, was taken from it: "
            f"{task['status']} on {task.get('worker')} ({task.get('activity')})",
        )

    def pause_resume_and_cancel(self) -> None:
        farm = self.farm
        # Submitted paused: nothing of it runs until it is resumed.
        paused = self.submit_good("to-pause", SHOT, 1, 60, "--paused")
        self.expect_no_progress_while_paused(paused)
        farm.cli("resume", paused)
        # Paused again while it renders (60 frames take a while, even tiny ones).
        farm.wait(lambda: farm.job(paused)["steps_completed"] >= 1, 120, "to-pause to render")
        farm.cli("pause", paused)
        log.info("paused to-pause at %d steps", farm.job(paused)["steps_completed"])
        farm.wait(lambda: farm.job(paused)["status"] == "paused", 60, "to-pause to be paused")
        self.expect_no_progress_while_paused(paused)
        farm.cli("resume", paused)

        cancelled = self.submit("to-cancel", HEAVY, "1-3")
        running = farm.wait(
            lambda: self.active_render_tasks(cancelled), 120, "to-cancel to be rendering"
        )
        time.sleep(0.5)
        rendering = [farm.workers[name] for name in set(running.values())]

        def let_go(worker: Any) -> int:
            # Abandoned mid-frame; or, when the frame ended before the worker heard of the
            # cancel, told so by the manager as it reported the frame done.
            output = worker.process.output
            return output.count("abandoned") + output.count("manager no longer wants it")

        let_go_before = [let_go(w) for w in rendering]
        farm.cli("cancel", cancelled)
        log.info("cancelled to-cancel while %s rendered it", sorted(set(running.values())))
        farm.wait(lambda: farm.job(cancelled)["status"] == "canceled", 60, "to-cancel to end")
        for worker, before in zip(rendering, let_go_before, strict=True):
            farm.wait(
                lambda w=worker, n=before: let_go(w) > n,
                30, f"{worker.name} to let go of the cancelled frame",
            )  # fmt: skip

    def expect_no_progress_while_paused(self, job_id: str) -> None:
        farm = self.farm
        self.farm.check(farm.job(job_id)["status"] == "paused", "to-pause is not paused")
        done = farm.job(job_id)["steps_completed"]
        time.sleep(2.0)
        job, tasks = farm.job(job_id), farm.tasks(job_id)
        farm.check(
            job["steps_completed"] == done and not [t for t in tasks if t["status"] == "active"],
            lambda: f"a paused job went on rendering: {job['status']}, {tasks}",
        )

    def submit_from_blender(self) -> None:
        """An artist presses *Submit to Farm* in Blender on a shot of the same project."""
        result = submit_from_addon(
            self.extension_zip, self.workdir / "bpy-submit", self.farm.url,
            self.studio / SH020, (1, 2),
        )  # fmt: skip
        self.farm.check(
            result["submit"]["result"] == "FINISHED" and result["job_id"], f"add-on: {result}"
        )
        log.info("the add-on submitted %s: %s", result["job_id"][:8], result["message"])
        self.jobs["from-blender"] = result["job_id"]
        self.good.append(Expected("from-blender", result["job_id"], [1, 2], SIZES[SH020]))

    def restart_the_manager(self) -> None:
        """SIGTERM the manager while workers render, keep it down, start it again on the same
        port and data dir. What it had acknowledged must still be there."""
        farm = self.farm
        self.submit_many(
            lambda: self.submit_good("shot-c", SHOT, 1, 8),
            lambda: self.submit_good("shot-d", SHOT, 1, 4, "--set", "chunk_size=2"),
            lambda: self.submit_good("sh020-b", SH020, 1, 3),
        )
        shot_c = self.jobs["shot-c"]
        farm.wait(lambda: farm.job(shot_c)["steps_completed"] >= 1, 120, "shot-c to get going")
        tasks = {job_id: farm.tasks(job_id) for job_id in self.jobs.values()}
        statuses_before = {job_id: farm.job(job_id)["status"] for job_id in self.jobs.values()}
        code = farm.stop_manager()
        before = {job_id: {t["id"] for t in job_tasks if t["status"] == "completed"}
                  for job_id, job_tasks in tasks.items()}  # fmt: skip
        active = [t["name"] for job_tasks in tasks.values() for t in job_tasks
                  if t["status"] == "active"]  # fmt: skip
        log.info("manager stopped (exit %s) with %s active", code, active)
        # uvicorn re-raises the signal after its graceful shutdown; -9 means it had to be killed
        self.expect(code in (0, -signal.SIGTERM), f"the manager ended {code} on SIGTERM")
        down_until = time.monotonic() + self.variant.manager_outage_s
        while time.monotonic() < down_until:
            farm.check_processes()  # the workers carry on without it
            time.sleep(0.5)
        farm.start_manager()
        log.info("manager started again after %.0f s", self.variant.manager_outage_s)
        for name, job_id in self.jobs.items():
            after = {t["id"] for t in farm.tasks(job_id) if t["status"] == "completed"}
            self.expect(
                before[job_id] <= after,
                f"{name}: tasks completed before the manager restart are not completed after it",
            )
            status = farm.job(job_id)["status"]
            if statuses_before[job_id] in FINAL_JOB_STATUSES:
                self.expect(
                    status == statuses_before[job_id],
                    f"{name} was {statuses_before[job_id]} before the restart, {status} after",
                )
        self.submit_good("after-restart", SHOT, 1, 2)

    def hang_a_render(self) -> None:
        """SIGSTOP a render process mid-frame: the manager must notice the task makes no
        progress (task_timeout) and give it to another worker; the worker survives."""
        farm = self.farm
        hung = self.submit_good("hung", HEAVY, 1, 1)
        running = farm.wait(lambda: self.active_render_tasks(hung), 120, "hung to be rendering")
        ((task_id, worker_name),) = running.items()
        worker: FarmWorker = farm.workers[worker_name]
        children = farm.wait(worker.render_children, 30, f"{worker_name}'s render process")
        # At once: stopped while it opens the file or renders, the task makes no progress
        # either way, and a frame that finished first would leave nothing to move.
        for pid in children:
            os.kill(pid, signal.SIGSTOP)
        log.info("stopped %s's render process %s mid-frame", worker_name, children)
        time.sleep(0.5)  # a frame rendered before the stop would be in the worker's log by now
        farm.check(
            f"outputs/{hung}/" not in worker.output,
            "the hung frame was rendered before its render process was stopped: make "
            "heavy.blend slower (FARMHAND_TEST_HEAVY_SAMPLES)",
        )
        try:
            moved = self.expect_soon(
                lambda: self.task_status(task_id) == "completed",
                self.variant.settings["task_timeout"] + 90,
                f"the task hung on {worker_name} to be completed elsewhere",
            )
        finally:
            for pid in children:  # a render nobody noticed goes on, and the day with it
                if process_state(pid) == "T":
                    os.kill(pid, signal.SIGCONT)
        if moved:
            by = (farm.task(task_id).get("worker") or {}).get("name")
            log.info("the hung frame was completed by %s", by)
            self.expect(by != worker_name, f"the hung task was completed by {by}, where it hung")

    def evening(self) -> None:
        farm = self.farm
        settle = [*(e.job_id for e in self.good), self.jobs["broken"]]
        self.expect_soon(
            lambda: all(farm.job(j)["status"] in FINAL_JOB_STATUSES for j in settle),
            300, "every job but the unrunnable one to end",
        )  # fmt: skip
        for expected in self.good:
            self.check_outputs(expected)

        broken = farm.job(self.jobs["broken"])
        self.expect(
            broken["status"] == "failed" and "Nope" in broken.get("activity", ""),
            f"broken: {broken['status']}, activity {broken.get('activity')!r}; expected failed, "
            "naming the missing scene",
        )
        unrunnable = farm.job(self.jobs["unrunnable"])
        self.expect(
            unrunnable["status"] != "completed"
            and "no worker runs task type" in unrunnable.get("activity", ""),
            f"unrunnable: {unrunnable['status']}, activity {unrunnable.get('activity')!r}; "
            "expected it to say it waits for a worker that runs its task type",
        )
        self.expect(
            farm.job(self.jobs["to-cancel"])["status"] == "canceled", "to-cancel is not canceled"
        )
        on_manager = farm.workers_on_manager()
        self.expect(
            sorted(on_manager) == ["w1", "w2", "w3"]
            and all(w["status"] == "awake" for w in on_manager.values()),
            f"workers on the manager at the end: "
            f"{ {n: w['status'] for n, w in on_manager.items()} }",
        )
        farm.check_processes()

    def check_outputs(self, expected: Expected) -> None:
        farm = self.farm
        job = farm.job(expected.job_id)
        if job["status"] != "completed":
            self.problems.append(
                f"{expected.name}: {job['status']} ({job.get('activity')}), not completed"
            )
            return
        files = farm.get(f"/api/farmhand/jobs/{expected.job_id}/outputs")["files"]
        frames = {Path(f["name"]).name: f for f in files if f["name"].endswith(".png")}
        wanted = [f"{n:06d}.png" for n in expected.frames]
        missing = [name for name in wanted if name not in frames]
        self.expect(not missing, f"{expected.name}: frames {missing} missing from the outputs "
                                 f"(has {sorted(frames)})")
        for name in wanted:
            if name not in frames:
                continue
            response = farm.http.get(
                f"{farm.url}/api/farmhand/jobs/{expected.job_id}/outputs/{frames[name]['name']}",
                timeout=10,
            )
            try:
                with Image.open(io.BytesIO(response.content)) as image:
                    image.load()
                    size = image.size
            except OSError as exc:
                self.problems.append(f"{expected.name}/{name}: not an image ({exc})")
                continue
            self.expect(
                size == expected.size, f"{expected.name}/{name}: {size}, not {expected.size}"
            )


def play_the_day(
    make_farm: Any, studio: Path, tmp_path: Path, extension_zip: Path, variant: Variant
) -> None:
    farm = make_farm(workers=3, **variant.settings)
    day = StudioDay(farm, studio, tmp_path, extension_zip, variant)
    started = time.monotonic()
    with StatusWatch(farm) as watch:
        day.play()
        watch.poll_once()
    problems = day.problems + watch.problems
    if watch.polls < 20:
        problems.append(f"the status watch saw the manager answer only {watch.polls} times")
    if problems:
        raise farm.fail(
            f"after {time.monotonic() - started:.0f} s, {len(problems)} problem(s):\n  - "
            + "\n  - ".join(problems)
            + "\n"
            + farm.describe_jobs()
        )


def test_studio_day_with_a_killed_worker_a_frozen_one_and_a_manager_restart(
    make_farm: Any, studio: Path, tmp_path: Path, extension_zip: Path
) -> None:
    variant = Variant(
        settings={"worker_timeout": 20, "task_timeout": 60, "health_check_interval": 1},
        manager_outage_s=2,
    )
    play_the_day(make_farm, studio, tmp_path, extension_zip, variant)


@pytest.mark.slow
def test_studio_day_through_a_long_manager_outage_and_a_hung_render(
    make_farm: Any, studio: Path, tmp_path: Path, extension_zip: Path
) -> None:
    worker_timeout = 6
    variant = Variant(
        settings={"worker_timeout": worker_timeout, "task_timeout": 10,
                  "health_check_interval": 1},
        manager_outage_s=worker_timeout + 4,
        hang_a_render=True,
    )  # fmt: skip
    play_the_day(make_farm, studio, tmp_path, extension_zip, variant)
