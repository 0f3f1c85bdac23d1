"""The manager's v3 API for submitters: the add-on and the ``farmhand`` command.

No bpy here: the add-on calls this from background threads and operators, the CLI from a
terminal. Every failure becomes a :class:`ManagerError` whose message is fit to show a person.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import requests

from .job_catalog import JobCatalog

#: Seconds to wait for the manager to accept a connection and to answer.
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 30.0


class ManagerError(Exception):
    """The manager could not do what was asked; ``str()`` says why in words."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class ManagerUnreachable(ManagerError):
    """No answer from the manager at all (down, wrong URL, network)."""


class AccessDenied(ManagerError):
    """The manager wants an access token, or a different one."""


class JobTypeChanged(ManagerError):
    """412: the job type changed on the manager since it was fetched."""


class NotFound(ManagerError):
    """404: no such job (or file)."""


@dataclass(frozen=True)
class FarmSummary:
    """What *Test connection* tells the artist."""

    name: str
    version: str
    workers_online: int
    workers_total: int

    def describe(self) -> str:
        return (
            f"Connected to {self.name} {self.version}, "
            f"{self.workers_online} worker{'s' if self.workers_online != 1 else ''} online"
        )


#: Worker statuses that count as "online" in the connection summary.
ONLINE_WORKER_STATUSES = frozenset({"awake", "asleep", "starting", "testing"})


#: Job ids per ``job_counts`` request; the manager takes at most 500.
JOB_COUNTS_PER_REQUEST = 200


@dataclass(frozen=True)
class JobCounts:
    """How a job stands beyond its task progress: what failed, whom it blocked, its frames
    rendered of all, and the manager's estimate of the seconds left (None: no estimate)."""

    failed: int = 0
    soft_failed: int = 0
    blocked_workers: int = 0
    frames_done: int = 0
    frames_total: int = 0
    remaining_seconds: float | None = None

    @classmethod
    def from_api(cls, job: dict[str, Any]) -> JobCounts:
        tasks = job.get("tasks") or {}
        return cls(
            failed=int(tasks.get("failed") or 0),
            soft_failed=int(tasks.get("soft_failed") or 0),
            blocked_workers=int(job.get("blocked_workers") or 0),
            frames_done=int(job.get("frames_done") or 0),
            frames_total=int(job.get("frames_total") or 0),
            remaining_seconds=None if job.get("remaining_seconds") is None
            else float(job["remaining_seconds"]),
        )

    def describe(self) -> str:
        """'1 failed · 3 soft-failed · 1 worker blocked'; empty when nothing went wrong."""
        parts = []
        if self.failed:
            parts.append(f"{self.failed} failed")
        if self.soft_failed:
            parts.append(f"{self.soft_failed} soft-failed")
        if self.blocked_workers:
            noun = "worker" if self.blocked_workers == 1 else "workers"
            parts.append(f"{self.blocked_workers} {noun} blocked")
        return " · ".join(parts)


@dataclass(frozen=True)
class WorkerTag:
    """A worker tag on the manager: a job submitted with it goes only to workers of the tag."""

    id: str
    name: str
    description: str = ""

    @classmethod
    def from_api(cls, tag: dict[str, Any]) -> WorkerTag:
        return cls(
            id=str(tag.get("id") or ""),
            name=str(tag.get("name") or ""),
            description=str(tag.get("description") or ""),
        )


#: How the add-on's user gives the manager's access token; the CLI passes its own words.
TOKEN_HINT = "set it in the add-on preferences"


def manager_base_url(url: str) -> str:
    """The manager's root URL, also from one copied with its API path (``.../api/v3``)."""
    url = url.strip().rstrip("/")
    if url and "://" not in url:
        url = "http://" + url
    for suffix in ("/api/v3", "/api"):
        if url.endswith(suffix):
            return url[: -len(suffix)]
    return url


class ManagerAPI:
    """A thin, typed-enough wrapper of the endpoints a submitter uses."""

    def __init__(
        self,
        url: str,
        token: str = "",
        session: requests.Session | None = None,
        token_hint: str = TOKEN_HINT,
    ):
        self.url = manager_base_url(url)
        self.token = token.strip()
        self.token_hint = token_hint
        self.http = session or requests.Session()
        if self.token:
            self.http.headers["Authorization"] = f"Bearer {self.token}"

    def close(self) -> None:
        self.http.close()

    # Plumbing ---------------------------------------------------------------------------------

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        if not self.url:
            raise ManagerError("No manager URL is set: set it in the add-on preferences")
        kwargs.setdefault("timeout", (CONNECT_TIMEOUT_S, READ_TIMEOUT_S))
        try:
            response = self.http.request(method, self.url + path, **kwargs)
        except requests.exceptions.ConnectionError as exc:
            raise ManagerUnreachable(
                f"Manager at {self.url} is unreachable: {_root_cause(exc)}"
            ) from exc
        except requests.exceptions.Timeout as exc:
            raise ManagerUnreachable(f"Manager at {self.url} did not answer in time") from exc
        except requests.exceptions.RequestException as exc:
            raise ManagerError(f"Request to {self.url} failed: {exc}") from exc
        if response.status_code in (401, 403):
            raise self._refusal(response)
        if response.status_code >= 400:
            raise _error_for(response)
        return response

    def _refusal(self, response: requests.Response) -> AccessDenied:
        # The manager answers a missing and a wrong token alike; only we know which it was.
        if self.token:
            return AccessDenied(
                f"The manager at {self.url} refused the access token given "
                f"({response.status_code}): check that it is the manager's access_token",
                response.status_code,
            )
        return AccessDenied(
            f"The manager at {self.url} needs its access token ({response.status_code}): "
            f"{self.token_hint}",
            response.status_code,
        )

    def get_json(self, path: str) -> Any:
        response = self.request("GET", path)
        if response.status_code == 204:
            return None
        return _json(response)

    def post_json(self, path: str, body: Any, read_timeout: float | None = None) -> Any:
        """POST ``body``; ``read_timeout`` when the answer may take longer than usual."""
        timeout = (CONNECT_TIMEOUT_S, read_timeout or READ_TIMEOUT_S)
        response = self.request("POST", path, json=body, timeout=timeout)
        if response.status_code == 204 or not response.content:
            return None
        return _json(response)

    # Meta -------------------------------------------------------------------------------------

    def version(self) -> dict[str, Any]:
        return dict(self.get_json("/api/v3/version"))

    def configuration(self) -> dict[str, Any]:
        return dict(self.get_json("/api/v3/configuration"))

    def workers(self) -> list[dict[str, Any]]:
        return list(self.get_json("/api/v3/worker-mgt/workers").get("workers", []))

    def worker(self, worker_id: str) -> dict[str, Any]:
        """One worker with its platform, task types, tags and current task."""
        return dict(self.get_json(f"/api/v3/worker-mgt/workers/{worker_id}"))

    def worker_tags(self) -> list[WorkerTag]:
        """The manager's worker tags, in its order (by name)."""
        tags = self.get_json("/api/v3/worker-mgt/tags").get("tags") or []
        return [WorkerTag.from_api(t) for t in tags if t.get("name")]

    def farm_summary(self) -> FarmSummary:
        version = self.version()
        workers = self.workers()
        online = sum(1 for w in workers if w.get("status") in ONLINE_WORKER_STATUSES)
        return FarmSummary(
            name=str(version.get("name") or "manager"),
            # "version" is the Flamenco version the manager speaks; Farmhand's is its own field.
            version=str(version.get("farmhand_version") or version.get("version", "?")),
            workers_online=online,
            workers_total=len(workers),
        )

    # Jobs -------------------------------------------------------------------------------------

    def job_types(self) -> list[dict[str, Any]]:
        return list(self.get_json("/api/v3/jobs/types").get("job_types", []))

    def job_type(self, name: str) -> dict[str, Any]:
        return dict(self.get_json(f"/api/v3/jobs/type/{name}"))

    def job_type_catalog(self) -> JobCatalog:
        """What each job type is for, which the farm cannot run now, and broken presets;
        every served type as an artist type when the manager is not Farmhand."""
        try:
            return JobCatalog.from_api(self.get_json("/api/farmhand/job-types"))
        except NotFound:
            return JobCatalog.from_flamenco(self.job_types())

    def submit_job(
        self, job: dict[str, Any], read_timeout: float | None = None
    ) -> dict[str, Any]:
        return dict(self.post_json("/api/v3/jobs", job, read_timeout))

    def check_job(self, job: dict[str, Any], read_timeout: float | None = None) -> None:
        """The manager compiles the job without storing it; ManagerError says what is wrong."""
        self.post_json("/api/v3/jobs/check", job, read_timeout)

    def jobs(self) -> list[dict[str, Any]]:
        return list(self.get_json("/api/v3/jobs").get("jobs", []))

    def job(self, job_id: str) -> dict[str, Any]:
        return dict(self.get_json(f"/api/v3/jobs/{job_id}"))

    def job_counts(self, job_ids: list[str]) -> dict[str, JobCounts]:
        """Tasks per status and blocked workers of these jobs, from Farmhand's own API (the
        v3 job has only its completed and total steps)."""
        counts: dict[str, JobCounts] = {}
        for start in range(0, len(job_ids), JOB_COUNTS_PER_REQUEST):
            ids = ",".join(job_ids[start : start + JOB_COUNTS_PER_REQUEST])
            answer = self.request("GET", "/api/farmhand/jobs", params={"ids": ids})
            for job in _json(answer).get("jobs", []):
                counts[str(job["id"])] = JobCounts.from_api(job)
        return counts

    def job_blocklist(self, job_id: str) -> list[dict[str, Any]]:
        """The workers blocked from the job, each with the task type it is blocked from."""
        return list(self.get_json(f"/api/v3/jobs/{job_id}/blocklist") or [])

    def job_tasks(self, job_id: str) -> list[dict[str, Any]]:
        return list(self.get_json(f"/api/v3/jobs/{job_id}/tasks").get("tasks", []))

    def set_job_status(self, job_id: str, status: str, reason: str = "") -> None:
        self.post_json(f"/api/v3/jobs/{job_id}/setstatus", {"status": status, "reason": reason})

    def requeue_missing(self, job_id: str, reason: str = "") -> dict[str, Any]:
        """Queue again the job's failed and canceled tasks and those whose frames are not
        among its outputs; what was requeued and why, and which frames were missing."""
        return dict(self.post_json(f"/api/farmhand/jobs/{job_id}/requeue-missing",
                                   {"reason": reason}))

    def last_rendered_info(self, job_id: str) -> dict[str, Any] | None:
        """Where the job's latest preview lives, or None when nothing was rendered yet."""
        info = self.get_json(f"/api/v3/jobs/{job_id}/last-rendered")
        return dict(info) if info else None

    def last_rendered_image(self, job_id: str, size: str = "small") -> tuple[str, bytes] | None:
        """The job's latest frame as (file name, JPEG bytes); ``size`` picks the thumbnail
        whose name contains it ("small", "tiny"; "" for the largest)."""
        info = self.last_rendered_info(job_id)
        if not info or not info.get("suffixes"):
            return None
        suffixes = [str(s) for s in info["suffixes"]]
        suffix = next((s for s in suffixes if size and size in s), suffixes[0])
        response = self.request("GET", f"{str(info['base']).rstrip('/')}/{suffix}")
        return suffix, response.content

    def job_outputs(self, job_id: str) -> list[dict[str, Any]]:
        """The files the job's workers uploaded (no shared storage): name, size, url."""
        return list(self.get_json(f"/api/farmhand/jobs/{job_id}/outputs").get("files", []))

    def task_log_info(self, task_id: str) -> dict[str, Any] | None:
        info = self.get_json(f"/api/v3/tasks/{task_id}/log")
        return dict(info) if info else None

    def stream(self, path: str, chunk_size: int = 64 * 1024) -> Iterator[bytes]:
        """The body of a GET, in chunks (for downloads with a progress bar)."""
        response = self.request("GET", path, stream=True)
        try:
            yield from response.iter_content(chunk_size)
        finally:
            response.close()

    def stream_from(
        self, path: str, start: int, chunk_size: int = 64 * 1024
    ) -> tuple[int, Iterator[bytes]]:
        """The body of a GET from byte ``start`` on: (where the chunks start, the chunks).

        A server that ignores the range sends the whole body, which then starts at 0.
        """
        headers = {"Range": f"bytes={start}-"} if start else {}
        try:
            response = self.request("GET", path, stream=True, headers=headers)
        except ManagerError as exc:
            if exc.status != 416:
                raise
            # Nothing after ``start``: the part already held is the whole file.
            return start, iter(())
        begins = start if response.status_code == 206 else 0

        def chunks() -> Iterator[bytes]:
            try:
                yield from response.iter_content(chunk_size)
            finally:
                response.close()

        return begins, chunks()


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise ManagerError(
            f"The manager answered {response.status_code} with something that is not JSON; "
            "is the URL that of a Farmhand or Flamenco manager?",
            response.status_code,
        ) from exc


def _message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:200] or response.reason
    if isinstance(body, dict):
        return str(body.get("message") or body.get("detail") or body)
    return str(body)


def _error_for(response: requests.Response) -> ManagerError:
    status = response.status_code
    message = _message(response)
    if status == 412:
        return JobTypeChanged(
            f"The job type changed on the manager; refresh job types and check the settings "
            f"({message})",
            status,
        )
    if status == 404:
        return NotFound(f"Not found: {message}", status)
    return ManagerError(f"The manager answered {status}: {message}", status)


def _root_cause(exc: BaseException) -> str:
    """The innermost reason of a connection error: 'Connection refused', not a repr chain."""
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    text = str(exc)
    if "] " in text:
        text = text.split("] ", 1)[1]
    return text.rstrip(")'\"") or type(exc).__name__
