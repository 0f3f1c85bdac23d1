"""Long writes cut into short write transactions, so that the worker requests waiting for the
write lock get their turn between them: the sizes and pauses that big submissions
(``staged_jobs``) and big status changes (``job_status_steps``) share."""

from __future__ import annotations

import time
from collections.abc import Iterator

#: Jobs of up to this many tasks (to store, or to move to another status) are written in one
#: write transaction; bigger ones in steps.
ONE_GO_TASKS = 2_000

#: The flag of a job event that asks for its tasks to move in steps (``job_status_steps``)
#: once the change that set the job's status has committed.
IN_STEPS = "in_steps"

#: How long one step may hold the write lock: what a worker request waits, at most, behind a
#: big write. Steps grow or shrink to it, between these many rows.
STEP_SECONDS = 0.05
FIRST_STEP, MIN_STEP, MAX_STEP = 1_000, 100, 20_000
#: After each step, a pause of this many times the step's time.
STEP_PAUSE = 1.0


class WriteSteps:
    """Rows per write transaction, for transactions of about ``STEP_SECONDS`` each (or of a
    fixed size): the time a write takes depends on the machine, the rows and the table's
    size."""

    def __init__(self, fixed: int | None) -> None:
        self.size = fixed or FIRST_STEP
        self._fixed = fixed is not None

    def ranges(self, count: int) -> Iterator[range]:
        start = 0
        while start < count:
            stop = min(count, start + self.size)
            yield range(start, stop)
            start = stop

    def took(self, seconds: float) -> None:
        if not self._fixed:
            wanted = int(self.size * STEP_SECONDS / max(seconds, 0.001))
            self.size = max(MIN_STEP, min(MAX_STEP, wanted, self.size * 2))

    @staticmethod
    def pause(held: float) -> None:
        """Give everyone else as long as the last step held the lock: the worker requests,
        and SQLite's checkpoint thread, which must keep up or a commit does the
        checkpointing, lock held."""
        time.sleep(held * STEP_PAUSE)
