"""Jittered exponential backoff for polling and for retrying a manager that is down."""

from __future__ import annotations

import random
from collections.abc import Callable


class Backoff:
    """Waits that grow by ``factor`` from ``first`` up to ``maximum``; ``reset`` starts over.

    Each wait is spread by +/- ``jitter`` (relative) so that many workers do not hit the
    manager in lockstep after it comes back.
    """

    def __init__(
        self,
        first: float,
        maximum: float,
        factor: float = 2.0,
        jitter: float = 0.2,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if first <= 0 or maximum < first or factor < 1 or not 0 <= jitter < 1:
            raise ValueError("backoff needs 0 < first <= maximum, factor >= 1, 0 <= jitter < 1")
        self.first = first
        self.maximum = maximum
        self.factor = factor
        self.jitter = jitter
        self._rand = rand
        self._current = first
        self.attempts = 0

    def next_delay(self) -> float:
        """The next wait in seconds, and grow the one after it."""
        base = self._current
        self._current = min(self.maximum, self._current * self.factor)
        self.attempts += 1
        spread = (self._rand() * 2 - 1) * self.jitter
        return max(0.0, base * (1 + spread))

    def reset(self) -> None:
        """Start over at ``first`` (work arrived, or the manager answered)."""
        self._current = self.first
        self.attempts = 0
