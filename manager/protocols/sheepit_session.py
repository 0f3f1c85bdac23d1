"""What the SheepIt-style calls share: the session cookie, the XML answers, the live client
behind a request, and the job numbers clients see."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from xml.etree import ElementTree

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from manager.core import tasks, worker_session
from manager.core.errors import NotFound
from manager.db.models import Worker
from manager.db.protocol_models import SheepitSession
from manager.db.queries.tasks import tasks_of_jobs_starting_with
from manager.protocols import common
from manager.protocols import sheepit_store as store
from manager.protocols.forms import Form, FormError, FormTooLarge, read_form

COOKIE = "farmhand_sheepit"
UNKNOWN_ERROR = 999


def xml(element: str, status: int, message: str = "", **children: Any) -> Response:
    root = ElementTree.Element(element, status=str(status))
    if message:
        root.set("message", message)
    return xml_tree(root)


def xml_tree(root: ElementTree.Element) -> Response:
    body = ElementTree.tostring(root, encoding="unicode")
    return Response('<?xml version="1.0" encoding="utf-8" ?>\n' + body, media_type="text/xml")


async def read_params(request: Request, element: str) -> Form | Response:
    try:
        return await read_form(request, store.MAX_UPLOAD_BYTES)
    except FormTooLarge as exc:
        code = 303 if element == "jobvalidate" else UNKNOWN_ERROR
        return xml(element, code, f"upload failed: {exc}")
    except FormError as exc:
        code = {"jobvalidate": 300, "config": 104}.get(element, UNKNOWN_ERROR)
        return xml(element, code, f"malformed form: {exc}")


@dataclass
class LiveClient:
    session: Session
    client: SheepitSession
    worker: Worker


def live_client(session: Session, token: str | None, now: datetime) -> LiveClient | None:
    """The live session of the request's cookie; None when it is dead."""
    client = store.find_session(session, token)
    if client is None:
        return None
    worker = session.get(Worker, client.worker_id)
    if worker is None or not common.is_live(worker):
        return None  # given up for dead by the health checks: its tasks went back
    worker_session.mark_seen(session, worker, now)
    return LiveClient(session, client, worker)


# Job numbers ---------------------------------------------------------------------------------

#: SheepIt job ids are integers (clients in typed languages parse them as such), one per job;
#: the frame tells a job's tasks apart. The number is the job id's first seven hex digits:
#: stable, below 2**28, and found again among the tasks a client holds.
_NUMBER_DIGITS = 7
_NUMBER = re.compile(r"[0-9]{1,9}")


def job_number(job_id: str) -> int:
    return int(job_id[:_NUMBER_DIGITS], 16)


def client_task(session: Session, worker: Worker, job: str, frame: int | None) -> str:
    """The id of the task the client means by ``job`` (a job number) and ``frame``: its own
    such task if it holds one, its active one first. A task of the job that another client
    holds is returned too, for the one ownership rule of the core to refuse; NotFound when
    the job has no such task at all."""
    if not _NUMBER.fullmatch(job) or int(job) >= 16**_NUMBER_DIGITS:
        raise NotFound("job", job[:40])
    prefix = f"{int(job):0{_NUMBER_DIGITS}x}"
    for task_id in tasks_of_jobs_starting_with(session, prefix, worker.id):
        if frame is None or common.task_frame(tasks.get_task(session, task_id)) == frame:
            return task_id
    raise NotFound("job", f"{job} frame {frame}" if frame is not None else job)
