"""Managing SheepIt-style users: an API under ``/api/farmhand/sheepit`` (behind the manager's
access token) and a command line for the manager's host::

    python -m manager.protocols.sheepit_admin --data-dir farm-data add alice   # asks a password
    python -m manager.protocols.sheepit_admin --data-dir farm-data revoke alice
    python -m manager.protocols.sheepit_admin --data-dir farm-data grant alice
    python -m manager.protocols.sheepit_admin --data-dir farm-data password alice  # asks it
    python -m manager.protocols.sheepit_admin --data-dir farm-data list
"""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import datetime
from pathlib import Path

from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from manager.core.bounds import Instant
from manager.core.errors import FarmError
from manager.core.farm import Farm, utcnow
from manager.db.queries import sheepit as sheepit_queries
from manager.protocols import sheepit_store as store
from manager.web.deps import AccessDep, FarmDep, NowDep
from manager.web.openapi import answers

router = APIRouter(prefix="/api/farmhand/sheepit", tags=["sheepit-admin"])


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserCreate(_Body):
    login: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=8, max_length=1000)
    expires_at: Instant | None = None


class UserChange(_Body):
    password: str | None = Field(None, min_length=8, max_length=1000)
    can_render: bool | None = None
    expires_at: Instant | None = None
    clear_expiry: bool = False


class Maintenance(_Body):
    enabled: bool


class UserSummary(BaseModel):
    login: str
    can_render: bool
    expires_at: datetime | None
    frames_rendered: int
    #: Keys the user's logins answered that still open a session (a password change revokes
    #: them all).
    keys: int


class Users(BaseModel):
    users: list[UserSummary]


@router.get("/users", response_model=Users)
def list_users(farm: FarmDep) -> JSONResponse:
    with farm.db.read() as session:
        users = sheepit_queries.users_by_login(session)
        keys = sheepit_queries.key_counts_by_login(session)
        return JSONResponse({"users": [store.user_summary(u, keys.get(u.login, 0)) for u in users]})


@router.post("/users", status_code=201, response_model=UserSummary, responses=answers(409))
def add_user(body: UserCreate, farm: FarmDep, now: NowDep) -> JSONResponse:
    with farm.db.write() as session:
        user = store.add_user(session, body.login, body.password, now, body.expires_at)
        return JSONResponse(store.user_summary(user, 0), status_code=201)


@router.patch("/users/{login}", response_model=UserSummary, responses=answers(404))
def change_user(login: str, body: UserChange, farm: FarmDep) -> JSONResponse:
    expiry: datetime | None | bool = False
    if body.clear_expiry:
        expiry = None
    elif body.expires_at is not None:
        expiry = body.expires_at
    with farm.db.write() as session:
        user = store.change_user(
            session, login, password=body.password, can_render=body.can_render, expires_at=expiry
        )
        keys = len(sheepit_queries.keys_of_login(session, login))
        return JSONResponse(store.user_summary(user, keys))


@router.delete("/users/{login}", status_code=204, responses=answers(404))
def delete_user(login: str, farm: FarmDep) -> Response:
    with farm.db.write() as session:
        store.delete_user(session, login)
    return Response(status_code=204)


@router.put("/maintenance", status_code=204)
def set_maintenance(body: Maintenance, farm: FarmDep) -> Response:
    with farm.db.write() as session:
        store.set_maintenance(session, body.enabled)
    return Response(status_code=204)


def install(app: FastAPI) -> None:
    app.include_router(router, dependencies=[AccessDep])


# Command line ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    from manager.config import SettingsError, load_settings

    parser = argparse.ArgumentParser(
        prog="python -m manager.protocols.sheepit_admin", description="SheepIt-style users"
    )
    parser.add_argument("--config", type=Path, help="the manager's YAML config file")
    parser.add_argument("--data-dir", type=Path, help="the manager's data folder")
    parser.add_argument("--database", help="the manager's database URL")
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="add a user; the password is read from the terminal")
    add.add_argument("login")
    add.add_argument("--password-stdin", action="store_true", help="read it from stdin")
    for name, text in (("revoke", "take rendering rights away"), ("grant", "give them back")):
        commands.add_parser(name, help=text).add_argument("login")
    password = commands.add_parser(
        "password", help="change a password (read from the terminal); revokes the user's keys"
    )
    password.add_argument("login")
    password.add_argument("--password-stdin", action="store_true", help="read it from stdin")
    commands.add_parser("list", help="list the users")
    args = parser.parse_args(argv)
    try:
        settings = load_settings(
            {"data_dir": args.data_dir, "database": args.database}, args.config
        )
    except SettingsError as exc:
        print(f"sheepit_admin: {exc}", file=sys.stderr)
        return 2
    farm = Farm(settings)
    try:
        return _run(farm, args)
    except FarmError as exc:
        print(f"sheepit_admin: {exc.message}", file=sys.stderr)
        return 1
    finally:
        farm.close()


def _run(farm: Farm, args: argparse.Namespace) -> int:
    # Read before the write transaction, which would hold the database while someone types.
    password = _read_password(args) if args.command in ("add", "password") else ""
    with farm.db.write() as session:
        if args.command == "add":
            store.add_user(session, args.login, password, utcnow())
            print(f"added {args.login}")
        elif args.command == "password":
            store.change_user(session, args.login, password=password)
            print(f"{args.login}: password changed, keys revoked")
        elif args.command in ("revoke", "grant"):
            store.change_user(session, args.login, can_render=args.command == "grant")
            print(f"{args.login}: rendering {'allowed' if args.command == 'grant' else 'revoked'}")
        else:
            keys = sheepit_queries.key_counts_by_login(session)
            for user in sheepit_queries.users_by_login(session):
                rights = "renders" if user.can_render else "revoked"
                print(
                    f"{user.login}\t{rights}\t{user.frames_rendered} frames"
                    f"\t{keys.get(user.login, 0)} keys"
                )
    return 0


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    return getpass.getpass(f"password for {args.login}: ")


if __name__ == "__main__":
    sys.exit(main())
