"""Who may talk ``/farm`` and ``/potential``.

An RFAM-style node knows only its manager's URL and posts ``<server>/farm``; it cannot send
a header, and Python's ``urlopen`` refuses user info in a URL. So its credentials ride in
the URL it is configured with:

- ``POST /farm``, the open door: any node by name, as the protocol always had it. Only while
  the manager has no token (``registration_token``, ``access_token``), and never for a node
  that holds a secret.
- ``POST /farm/register/<token>/farm``, with the registration token (or, on a manager with
  only an access token, that one): registers the node named in
  ``identity`` and answers ``{"id": "registered", "server": "<manager>/farm/node/<secret>"}``
  (a node prints commandments it does not know, so the URL shows in its log).
- ``POST /farm/node/<secret>/farm`` and ``/farm/node/<secret>/potential``: a registered
  node, or a cluster of managers registered under its cluster name.

The secret is a worker secret like any other (a salted hash, checked by
``worker_session.authenticate``); its first check runs in the thread pool, not on the batch
writer.
"""

from __future__ import annotations

import secrets

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from manager.core import worker_session, workers
from manager.core.credentials import NO_SECRET, token_matches
from manager.core.errors import WORKER_CHALLENGE, Conflict, Forbidden, Unauthorized
from manager.core.farm import Farm
from manager.db.models import Worker
from manager.protocols import common

PROTOCOL = "farm"
NODE_PREFIX = "/farm/node"
REGISTER_PREFIX = "/farm/register"


def _refused(message: str) -> Unauthorized:
    return Unauthorized(message, WORKER_CHALLENGE)


def node_server_url(request: Request, secret: str) -> str:
    """What the node puts in its configuration as ``server``."""
    return f"{str(request.base_url).rstrip('/')}{NODE_PREFIX}/{secret}"


async def check_secret(farm: Farm, name: str, secret: str) -> None:
    """Refuse a wrong secret before the exchange, in the thread pool: a first check is a slow
    hash, which must not hold up the batch writer (later checks hit the verifier's cache)."""
    await run_in_threadpool(_check_in_read_transaction, farm, name, secret)


def _check_in_read_transaction(farm: Farm, name: str, secret: str) -> None:
    with farm.db.read() as session:
        node(session, farm, name, secret)


def node(session: Session, farm: Farm, name: str, secret: str | None) -> Worker | None:
    """The registered node ``name`` when ``secret`` is its own; None for a node the open
    door may let in (new, or one that never got a secret)."""
    found = common.protocol_worker(session, PROTOCOL, name)
    if secret is None:
        if locked(farm):
            raise _refused(
                "this manager's nodes talk on their own URL: register at "
                f"{REGISTER_PREFIX}/<registration token> first"
            )
        if found is not None and found[0].secret_hash != NO_SECRET:
            raise _refused(f"node {name!r} is registered: use the URL it was given")
        return found[0] if found is not None else None
    if found is None:
        raise _refused("unknown node or wrong secret")
    worker_session.authenticate(session, farm.secrets, found[0].id, secret)
    return found[0]


def locked(farm: Farm) -> bool:
    return bool(farm.settings.registration_token or farm.settings.access_token)


def check_registration_token(farm: Farm, given: str) -> None:
    expected = farm.settings.registration_token or farm.settings.access_token
    if not expected:
        raise Forbidden("this manager has no tokens: nodes post /farm as they are")
    if not token_matches(expected, given):
        raise Forbidden("wrong registration token")


def new_secret() -> tuple[str, str]:
    """A node secret (URL-safe) and its stored hash."""
    secret = secrets.token_urlsafe(24)
    return secret, workers.hash_new_secret(secret)


def give_secret(session: Session, worker: Worker, secret_hash: str) -> None:
    """A node registers once: one holding a secret is refused (delete it on the dashboard to
    register it again); one that came through the open door before gets its first secret."""
    if worker.secret_hash != NO_SECRET:
        raise Conflict(f"node {worker.name!r} is registered already; delete it to register again")
    worker.secret_hash = secret_hash
