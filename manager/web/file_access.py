"""Who may fetch stored files and outputs: a registered worker (HTTP Basic, as the worker API)
or a user (the access token, as the rest of the user API)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPBasicCredentials

from manager.web.deps import _basic, check_worker_credentials, require_access


async def worker_or_user(
    request: Request,
    credentials: Annotated[HTTPBasicCredentials | None, Depends(_basic)],
) -> None:
    if credentials is not None:
        await run_in_threadpool(check_worker_credentials, request.app.state.farm, credentials)
        return
    await require_access(request)


WorkerOrUserDep = Depends(worker_or_user)
