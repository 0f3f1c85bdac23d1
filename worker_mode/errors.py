"""Exceptions that end a command."""

from __future__ import annotations


class CommandError(Exception):
    """The command failed; the message becomes the failed task's activity."""


class TaskAbandoned(Exception):
    """Stop the task now: the manager cancelled it, or the worker is shutting down."""
