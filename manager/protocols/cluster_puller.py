"""A cluster: this manager pulls work from an upstream Farmhand manager
(``python -m manager --upstream URL --cluster NAME``).

Each round it asks upstream's ``/potential`` which jobs are new to the cluster, then talks
``/farm`` to upstream as one big node named after the cluster (an upstream with tokens gives
the cluster a node URL, ``<upstream>/farm/node/<secret>``, which is ``upstream`` then): it
reports the tasks it mirrors (progress while they run, ``done`` when the local job
completed), and asks for as many tasks as it has idle workers. Each upstream task becomes a
local job (one frame: ``single-frame-render``; a ``[min, max]`` video: ``video-render``)
that the local scheduler hands out like any other. A ``kill`` cancels the local job. A local
job that fails is not reported (the /farm protocol has no failure): upstream gives the task
to another node when its lease runs out.
"""

from __future__ import annotations

import logging
import random
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import requests
from sqlalchemy.orm import Session

import manager
from manager.core import jobs, staged_jobs
from manager.core.errors import FarmError
from manager.core.farm import Farm, utcnow
from manager.core.statuses import JobStatus
from manager.db.models import Job
from manager.db.protocol_models import ClusterMirror
from manager.db.queries import cluster as cluster_queries
from manager.db.queries import task_reads

log = logging.getLogger(__name__)

FINISHED = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED)
REQUEST_TIMEOUT = 30.0


@dataclass
class PullResult:
    """What one round did; the next round waits ``heartbeat`` seconds."""

    new_jobs: list[dict[str, Any]] = field(default_factory=list)
    pulled: list[str] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)
    killed: list[str] = field(default_factory=list)
    heartbeat: float = 5.0
    arrhythmia: float = 0.0


class ClusterPuller:
    def __init__(
        self,
        farm: Farm,
        upstream: str,
        cluster: str,
        http: requests.Session | None = None,
        token: str | None = None,
    ) -> None:
        self.farm = farm
        self.upstream = upstream.rstrip("/")
        self.cluster = cluster
        self.http = http or requests.Session()
        if token:
            self.http.headers["Authorization"] = f"Bearer {token}"
        #: Upstream jobs seen on /potential, by id: names and priorities for local jobs.
        self.upstream_jobs: dict[str, dict[str, Any]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # One round -------------------------------------------------------------------------------

    def loop(self, now: datetime | None = None) -> PullResult:
        now = now or utcnow()
        result = PullResult()
        result.new_jobs = self._post("/potential", self.cluster)
        for job in result.new_jobs:
            self.upstream_jobs[str(job.get("uuid"))] = job
        with self.farm.db.read() as session:
            provides, paths, capacity = self._capacity(session)
            reports, finishing = self._reports(session, now)
        requests_out: list[dict[str, Any]] = [
            {
                "id": "identity",
                "name": self.cluster,
                "provides": provides,
                "version": f"{manager.NAME} cluster {manager.__version__}",
            },
            {"id": "info"},
            *reports,
        ]
        if capacity > 0 and provides:
            requests_out.append(
                {"id": "task", "paths": paths, "provides": provides, "count": capacity}
            )
        answers = self._post("/farm", requests_out)
        with self.farm.db.write() as session:
            for mirror_id, state in finishing.items():
                mirror = session.get(ClusterMirror, mirror_id)
                if mirror is not None:
                    mirror.state = state
        result.finished = [m for m, s in finishing.items() if s == "done"]
        # Each answer in transactions of its own: a pulled task's job is stored like any
        # submission, in steps, so the local workers are answered meanwhile. The upstream
        # counts every task it handed out as ours, so one that cannot become a job must not
        # keep the answers after it from being taken.
        refused: list[str] = []
        for answer in answers:
            kind = answer.get("id")
            if kind == "info":
                result.heartbeat = float(answer.get("heartbeat", result.heartbeat))
                result.arrhythmia = float(answer.get("arrhythmia", 0.0))
            elif kind == "task":
                try:
                    result.pulled.append(self._mirror(answer, now))
                except FarmError as exc:
                    refused.append(f"task {answer.get('uuid')}: {exc.message}")
            elif kind == "kill":
                with self.farm.db.write() as session:
                    self._kill(session, str(answer.get("uuid")), now)
                result.killed.append(str(answer.get("uuid")))
        if refused:
            raise FarmError(
                "upstream handed out tasks no job can be made of: " + "; ".join(refused)
            )
        return result

    def _post(self, path: str, body: Any) -> Any:
        response = self.http.post(self.upstream + path, json=body, timeout=REQUEST_TIMEOUT)
        if response.status_code != 200:
            raise RuntimeError(f"upstream {path}: {response.status_code} {response.text[:200]}")
        return response.json()

    def _capacity(self, session: Session) -> tuple[list[str], list[str], int]:
        """What the local farm provides, the shares it reaches, and how many idle workers
        are not yet spoken for by pulled tasks still waiting in the local queue."""
        awake = cluster_queries.awake_workers(session)
        busy = task_reads.workers_with_active_tasks(session)
        provides = sorted({t for w in awake for t in w.supported_task_types})
        idle = sum(1 for w in awake if w.id not in busy)
        waiting = cluster_queries.queued_mirror_count(session)
        # The shares: those its own /farm nodes listed, and its tags (a tag named after a
        # share was how a studio said which workers reach it).
        shares = {p for w in awake for p in (w.extra or {}).get("paths", []) if isinstance(p, str)}
        shares.update(cluster_queries.tag_names(session))
        return provides, sorted(shares), max(0, idle - waiting)

    def _reports(
        self, session: Session, now: datetime
    ) -> tuple[list[dict[str, Any]], dict[str, str]]:
        reports: list[dict[str, Any]] = []
        finishing: dict[str, str] = {}
        for mirror in cluster_queries.running_mirrors(session, self.upstream):
            job = session.get(Job, mirror.local_job_id)
            if job is None or job.status in (JobStatus.FAILED, JobStatus.CANCELED):
                finishing[mirror.upstream_task] = "dropped"
                continue
            if job.status == JobStatus.COMPLETED:
                seconds = (now - mirror.created).total_seconds()
                reports.append(
                    {
                        "id": "done",
                        "uuid": mirror.upstream_task,
                        "frame": mirror.frame,
                        "time": max(0.0, seconds),
                    }
                )
                finishing[mirror.upstream_task] = "done"
                continue
            done, total = task_reads.steps_of_job(session, job.id)
            reports.append(
                {
                    "id": "report",
                    "uuid": mirror.upstream_task,
                    "frame": mirror.frame,
                    "done": int(done or 0),
                    "total": max(1, int(total or 1)),
                }
            )
        return reports, finishing

    def _mirror(self, task: dict[str, Any], now: datetime) -> str:
        uuid, frame = str(task["uuid"]), task["frame"]
        requires = [str(r) for r in task.get("requires", [])]
        with self.farm.db.read() as session:
            if session.get(ClusterMirror, uuid) is not None:
                return uuid  # handed out again after a restart: already mirrored
            tag = cluster_queries.first_tag_named_among(session, requires)
        video = isinstance(frame, list)
        frames = f"{frame[0]}-{frame[1]}" if video else str(frame)
        submission = jobs.JobSubmission(
            name=f"{self.cluster}: {task.get('file', '')} {frames}",
            type="video-render" if video else "single-frame-render",
            settings={"blendfile": str(task.get("file", "")), "frames": frames},
            metadata={"cluster.upstream": self.upstream, "cluster.task": uuid},
            worker_tag=tag,
        )

        def keep_mirror(session: Session, job_id: str) -> None:
            session.add(
                ClusterMirror(
                    upstream_task=uuid,
                    upstream=self.upstream,
                    local_job_id=job_id,
                    frame=frame,
                    state="running",
                    created=now,
                )
            )
            session.flush()

        staged_jobs.submit_in_steps(
            self.farm.db, self.farm.job_types, submission, now, utcnow, beside_job=keep_mirror
        )
        return uuid

    def _kill(self, session: Session, uuid: str, now: datetime) -> None:
        mirror = session.get(ClusterMirror, uuid)
        if mirror is None:
            return
        mirror.state = "dropped"
        try:
            jobs.set_job_status(session, mirror.local_job_id, "canceled", "canceled upstream", now)
        except FarmError as exc:  # already finished or deleted locally
            log.info("upstream canceled task %s: %s", uuid, exc.message)

    # The thread ------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="cluster-puller", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=REQUEST_TIMEOUT + 5)

    def _run(self) -> None:
        delay, failures = 5.0, 0
        log.info("pulling work from %s as cluster %r", self.upstream, self.cluster)
        while not self._stop.is_set():
            try:
                result = self.loop()
            except (requests.RequestException, RuntimeError, ValueError, FarmError) as exc:
                failures += 1
                delay = min(300.0, 5.0 * 2**failures)
                log.warning("cluster pull failed (%s); next try in %.0f s", exc, delay)
            else:
                failures = 0
                delay = result.heartbeat + random.uniform(0, result.arrhythmia)
                if result.pulled or result.finished:
                    log.info(
                        "cluster: pulled %d task(s), reported %d done",
                        len(result.pulled),
                        len(result.finished),
                    )
            self._stop.wait(delay)
