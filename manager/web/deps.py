"""Dependencies shared by the routers: the farm, the clock, and who may call: the access
token, the registration token, worker credentials and who may read a job's files. The
rules themselves live in ``core.credentials`` and ``core.worker_session``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from sqlalchemy.orm import Session
from starlette.requests import HTTPConnection

from manager.core.bounds import control_character
from manager.core.credentials import token_matches
from manager.core.errors import WORKER_CHALLENGE, Forbidden, Unauthorized
from manager.core.farm import Farm, utcnow
from manager.core.worker_facts import WorkerFacts
from manager.core.worker_session import (
    authenticate,
    mark_seen,
    may_read_checkout,
    may_read_file,
    may_read_job,
)
from manager.core.workers import get_worker
from manager.db.models import Worker
from manager.storage.paths import check_sha256, check_size
from manager.web.access_url import GRANTED

# Dependencies are ``async``: FastAPI runs a plain ``def`` dependency in its thread pool, one
# hop per dependency per request, which cost more than these few lines do.


async def get_farm(request: Request) -> Farm:
    farm: Farm = request.app.state.farm
    return farm


FarmDep = Annotated[Farm, Depends(get_farm)]


async def request_time() -> datetime:
    return utcnow()


NowDep = Annotated[datetime, Depends(request_time)]

class _WorkerBasic(HTTPBasic):
    """HTTP Basic whose user name, a worker id looked up in the database, holds no control
    characters: PostgreSQL would refuse the query of one with a NUL."""

    async def __call__(  # type: ignore[override]  # as HTTPBasic's own
        self, request: HTTPConnection
    ) -> HTTPBasicCredentials | None:
        credentials = await super().__call__(request)
        if credentials is not None and control_character(credentials.username) is not None:
            raise Unauthorized("unknown worker or wrong secret", WORKER_CHALLENGE)
        return credentials


_basic = _WorkerBasic(auto_error=False, realm="Farmhand workers")


async def worker_credentials(
    credentials: Annotated[HTTPBasicCredentials | None, Depends(_basic)],
) -> HTTPBasicCredentials:
    if credentials is None:
        raise Unauthorized(
            "worker credentials required (HTTP Basic: worker id and secret)", WORKER_CHALLENGE
        )
    return credentials


CredentialsDep = Annotated[HTTPBasicCredentials, Depends(worker_credentials)]


#: For the endpoints that take ``worker_call`` instead of the three dependencies: the docs
#: still say they need the worker's HTTP Basic credentials.
WORKER_AUTH_DOC: dict[str, Any] = {"security": [{"HTTPBasic": []}]}


async def worker_call(request: Request) -> tuple[Farm, HTTPBasicCredentials, datetime]:
    """What ``FarmDep``, ``CredentialsDep`` and ``NowDep`` give, for the endpoints every
    worker calls many times a second: FastAPI resolving three dependencies took a fifth of
    the manager's time on each of those requests."""
    credentials = await worker_credentials(await _basic(request))
    return request.app.state.farm, credentials, utcnow()


T = TypeVar("T")


async def as_worker(
    farm: Farm,
    credentials: HTTPBasicCredentials,
    now: datetime,
    work: Callable[[Session, WorkerFacts], T],
) -> T:
    """Run ``work(session, worker)`` for an authenticated worker, marked as seen, on the
    farm's batch writer. A secret seen for the first time is checked in the thread pool
    first: its slow hash must not hold up the other workers' transactions."""
    if not farm.secrets.knows(credentials.username, credentials.password):
        await run_in_threadpool(check_worker_credentials, farm, credentials)

    def run(session: Session) -> T:
        worker = authenticate(session, farm.secrets, credentials.username, credentials.password)
        mark_seen(session, worker, now)
        return work(session, worker)

    return await farm.writer.run(run)


async def as_loaded_worker(
    farm: Farm,
    credentials: HTTPBasicCredentials,
    now: datetime,
    work: Callable[[Session, Worker], T],
) -> T:
    """``as_worker`` for work that changes the worker itself and so needs its ORM object."""
    return await as_worker(
        farm, credentials, now, lambda session, facts: work(session, get_worker(session, facts.id))
    )


def check_worker_credentials(farm: Farm, credentials: HTTPBasicCredentials) -> None:
    """Refuse unknown credentials, in a read transaction: the first check of a secret is a
    slow hash, which must not run on the batch writer."""
    with farm.db.read() as session:
        authenticate(session, farm.secrets, credentials.username, credentials.password)


ACCESS_COOKIE = "farmhand_access"


async def require_access(request: Request) -> None:
    """When the manager has an access token, users (API, add-on, dashboard) must present it,
    as ``Authorization: Bearer <token>``, in the dashboard's cookie, or in the URL
    (``/access/<token>/...``, for Flamenco's add-on: see ``access_url``)."""
    farm: Farm = request.app.state.farm
    expected = farm.settings.access_token
    if not expected or request.scope.get(GRANTED):
        return
    given = request.cookies.get(ACCESS_COOKIE)
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        given = header[7:].strip()
    if not token_matches(expected, given):
        raise Unauthorized(
            "this manager needs its access token (Authorization: Bearer <token>)", "Bearer"
        )


AccessDep = Depends(require_access)


async def require_registration_token(
    request: Request,
    token: Annotated[str | None, Header(alias="X-Farmhand-Registration-Token")] = None,
) -> None:
    """When the manager has a registration token, a new worker must present it, whatever
    door it registers through. A dependency, so it is asked before the body is read."""
    farm: Farm = request.app.state.farm
    if not token_matches(farm.settings.registration_token, token):
        raise Forbidden("this manager needs a registration token (X-Farmhand-Registration-Token)")


RegistrationDep = Depends(require_registration_token)


# Who may read a job's files: a user, or a worker while it holds a task of the job ------------

BasicDep = Annotated[HTTPBasicCredentials | None, Depends(_basic)]
ReadRule = Callable[[Session, WorkerFacts], None]


async def _user_or_worker(
    request: Request, credentials: HTTPBasicCredentials | None, rule: ReadRule
) -> None:
    """The access token (when the manager has one) lets a user read everything; worker
    credentials are checked, and with an access token set the worker must pass ``rule``:
    otherwise registering a worker would be a way round the token."""
    farm: Farm = request.app.state.farm
    if credentials is None:
        await require_access(request)
        return
    locked = bool(farm.settings.access_token)
    given = credentials

    def check() -> None:
        with farm.db.read() as session:
            worker = authenticate(session, farm.secrets, given.username, given.password)
            if locked:
                rule(session, worker)

    await run_in_threadpool(check)


async def job_reader(request: Request, job_id: str, credentials: BasicDep) -> None:
    """A job's checkout manifest and outputs."""
    await _user_or_worker(
        request, credentials, lambda session, worker: may_read_job(session, worker, job_id)
    )


async def checkout_reader(request: Request, checkout_path: str, credentials: BasicDep) -> None:
    await _user_or_worker(
        request,
        credentials,
        lambda session, worker: may_read_checkout(session, worker, checkout_path),
    )


async def file_reader(
    request: Request, checksum: str, filesize: int, credentials: BasicDep
) -> None:
    """A stored file's bytes, by content."""

    def rule(session: Session, worker: WorkerFacts) -> None:
        check_sha256(checksum)
        check_size(filesize)
        may_read_file(session, worker, checksum, filesize)

    await _user_or_worker(request, credentials, rule)


JobReaderDep = Depends(job_reader)
CheckoutReaderDep = Depends(checkout_reader)
FileReaderDep = Depends(file_reader)


def client_address(request: Request) -> str:
    return request.client.host if request.client else ""
