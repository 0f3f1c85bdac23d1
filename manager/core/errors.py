"""Errors the core raises; each API adapter turns them into its own error form."""

from __future__ import annotations


class FarmError(Exception):
    """Base of expected errors; ``status`` is the HTTP code the v3 API answers with."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadInput(FarmError):
    status = 400


class Unauthorized(FarmError):
    status = 401

    def __init__(self, message: str, challenge: str | None = None) -> None:
        super().__init__(message)
        #: The WWW-Authenticate challenge; Basic only for worker credentials, so browsers
        #: never pop up a password box for the dashboard's token.
        self.challenge = challenge


WORKER_CHALLENGE = 'Basic realm="Farmhand workers"'


class Forbidden(FarmError):
    status = 403


class NotFound(FarmError):
    status = 404

    def __init__(self, what: str, ident: str) -> None:
        super().__init__(f"{what} {ident!r} not found")


class Conflict(FarmError):
    status = 409


class PreconditionFailed(FarmError):
    status = 412


class InvalidTransition(FarmError):
    """A status change that the current status does not allow."""

    status = 422
