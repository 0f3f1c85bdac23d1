"""The SQLite write lock goes to writers in the order they came."""

from __future__ import annotations

import threading
import time

from manager.db.session import FairLock


def test_the_write_lock_goes_to_waiters_first_come_first_served() -> None:
    lock = FairLock()
    order: list[int] = []
    queued = threading.Semaphore(0)

    def writer(n: int) -> None:
        queued.release()
        with lock:
            order.append(n)

    threads = []
    with lock:
        for n in range(6):
            thread = threading.Thread(target=writer, args=(n,))
            thread.start()
            queued.acquire()
            # Wait until this one is in the queue before the next one comes.
            while len(lock._waiters) < n + 1:
                time.sleep(0.001)
            threads.append(thread)
        order.append(-1)
    for thread in threads:
        thread.join(timeout=10)
    assert order == [-1, 0, 1, 2, 3, 4, 5]


def test_the_holder_queues_behind_those_waiting_when_it_comes_back() -> None:
    lock = FairLock()
    order: list[str] = []

    def other_writer() -> None:
        with lock:
            order.append("other")

    with lock:
        other = threading.Thread(target=other_writer)
        other.start()
        while not lock._waiters:
            time.sleep(0.001)
    # Released: the lock now belongs to the waiter, even if this thread asks at once.
    with lock:
        order.append("again")
    other.join(timeout=10)
    assert order == ["other", "again"]
