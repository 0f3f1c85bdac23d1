"""Do workers wait while a big job goes in, is canceled or deleted? Worker requests during a
1,000,000-task submission, its cancel and its deletion.

Starts the manager on SQLite (a temporary data dir) with a job for the workers to work off,
then runs ``--workers`` simulated workers (claim a task, complete it, again; as in
``dispatch.py``) twice: once on an idle manager for ``--seconds``, and once while a
``--tasks``-task ``frames-noop`` job (chunk size 1) is submitted, until that submission is
answered. Prints claims per second and the claim latency p50/p99/max of both, their ratios,
how long the submission took, and the manager's memory: resident before the submission and
its peak while it ran (the process's high-water mark, reset just before; Linux only). The
target: p99 during the submission under 1 s (a worker gives up on a request after 30 s).
Then the same workers run while the big job is canceled, until it shows canceled: their
claim latency, when the cancel request was answered and when the job was canceled (the
longest claim is about the longest the write lock was held); then the same while it is
deleted, until it is gone. One run, ratios and rates; the machine is shared and noisy.

    .venv/bin/python bench/big_submission.py [--tasks 1000000] [--workers 20] [--seconds 15]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import requests
from dispatch import cancel, free_port, register, start_manager, submit, worker_loop


def summary(samples: list[tuple[float, int, float]], seconds: float) -> dict[str, float]:
    latencies = sorted(s[0] for s in samples)
    return {
        "claims_per_s": sum(s[1] for s in samples) / seconds,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000,
        "max_ms": latencies[-1] * 1000,
        "claims": float(len(latencies)),
    }


def workers_until(
    url: str, auths: list[tuple[str, str]], done: threading.Event
) -> tuple[list[tuple[float, int, float]], float]:
    """Run the workers until ``done`` is set; their samples and how long they ran."""
    host, _, port = url.removeprefix("http://").partition(":")
    samples: list[tuple[float, int, float]] = []

    async def run() -> float:
        started = time.perf_counter()
        stop_at = started + 3600
        tasks = [
            asyncio.ensure_future(worker_loop(host, int(port), a, stop_at, samples)) for a in auths
        ]
        while not done.is_set():
            await asyncio.sleep(0.05)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return time.perf_counter() - started

    return samples, asyncio.run(run())


def memory_mb(pid: int, field: str) -> float:
    """A memory figure of a process from /proc (Linux): VmRSS now, VmHWM its peak."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise SystemExit(f"no {field} in /proc/{pid}/status")


def reset_peak_memory(pid: int) -> None:
    """Start the process's VmHWM afresh, so the peak is the submission's, not the fuel's."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def job_status(url: str, job_id: str) -> str:
    return str(requests.get(f"{url}/api/v3/jobs/{job_id}", timeout=60).json()["status"])


def job_gone(url: str, job_id: str) -> bool:
    return requests.get(f"{url}/api/v3/jobs/{job_id}", timeout=60).status_code == 404


def delete(url: str, job_id: str) -> None:
    requests.delete(f"{url}/api/v3/jobs/{job_id}", timeout=600).raise_for_status()


def change_while_workers_run(
    url: str,
    auths: list[tuple[str, str]],
    change: Callable[[], None],
    done_yet: Callable[[], bool],
) -> tuple[dict[str, float], float, float]:
    """Make the change (a cancel, a delete) while the workers run, until ``done_yet``; the
    workers' summary, and when the change was answered and when it was done (seconds)."""
    done = threading.Event()
    times: list[float] = []

    def change_and_wait() -> None:
        try:
            time.sleep(1)  # the workers are under way first
            started = time.perf_counter()
            change()
            times.append(time.perf_counter() - started)
            while not done_yet():
                time.sleep(0.1)
            times.append(time.perf_counter() - started)
            # The claims that waited behind the change are answered and counted too.
            time.sleep(2)
        finally:
            done.set()

    thread = threading.Thread(target=change_and_wait)
    thread.start()
    samples, ran = workers_until(url, auths, done)
    thread.join()
    if len(times) < 2:
        raise SystemExit("the change failed")
    return summary(samples, ran), times[0], times[1]


def show(name: str, s: dict[str, float]) -> None:
    print(
        f"  {name:22s} {s['claims_per_s']:7.1f} claims/s, latency p50 {s['p50_ms']:7.1f} ms, "
        f"p99 {s['p99_ms']:7.1f} ms, max {s['max_ms']:7.1f} ms ({s['claims']:.0f} claims)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=15.0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="farmhand-bench-") as tmp:
        port = free_port()
        manager = start_manager(Path(tmp) / "data", port)
        url = f"http://127.0.0.1:{port}"
        try:
            auths = [register(url) for _ in range(args.workers)]
            # Work for the workers, at a higher priority than the big job gets.
            fuel, _ = submit(url, "1-200000", "fuel")
            print(f"{args.workers} workers; a {args.tasks:,}-task submission (chunk 1)")

            idle_done = threading.Event()
            timer = threading.Timer(args.seconds, idle_done.set)
            timer.start()
            idle = summary(*workers_until(url, auths, idle_done))
            show("idle manager:", idle)

            submitted = threading.Event()
            took: list[tuple[str, float]] = []

            def big() -> None:
                try:
                    took.append(submit(url, f"1-{args.tasks}", "big"))
                finally:
                    submitted.set()

            before_mb = memory_mb(manager.pid, "VmRSS")
            reset_peak_memory(manager.pid)
            thread = threading.Thread(target=big)
            thread.start()
            samples, ran = workers_until(url, auths, submitted)
            thread.join()
            peak_mb = memory_mb(manager.pid, "VmHWM")
            during = summary(samples, ran)
            show("during the submission:", during)
            if took:
                print(f"  the submission was answered after {took[0][1]:.1f} s")
            print(
                f"  manager memory: {before_mb:.0f} MB resident before the submission, "
                f"peak {peak_mb:.0f} MB while it ran (+{peak_mb - before_mb:.0f} MB)"
            )
            rate = during["claims_per_s"] / idle["claims_per_s"]
            slower = during["p99_ms"] / idle["p99_ms"]
            print(
                f"  ratios during/idle: claims/s {rate:.2f}, p99 {slower:.1f}x; "
                f"p99 during the submission {'<' if during['p99_ms'] < 1000 else '>='} 1 s"
            )
            if took:
                big_id = took[0][0]
                canceling, answered, canceled = change_while_workers_run(
                    url,
                    auths,
                    lambda: cancel(url, big_id),
                    lambda: job_status(url, big_id) == "canceled",
                )
                show("during its cancel:", canceling)
                print(
                    f"  the cancel was answered after {answered:.2f} s, "
                    f"the job showed canceled after {canceled:.1f} s; the longest claim "
                    f"waited {canceling['max_ms']:.0f} ms"
                )
                deleting, answered, gone = change_while_workers_run(
                    url, auths, lambda: delete(url, big_id), lambda: job_gone(url, big_id)
                )
                show("during its deletion:", deleting)
                print(
                    f"  the delete was answered after {answered:.2f} s, "
                    f"the job was gone after {gone:.1f} s; the longest claim "
                    f"waited {deleting['max_ms']:.0f} ms"
                )
            cancel(url, fuel)
        finally:
            manager.terminate()
            manager.wait(timeout=60)


if __name__ == "__main__":
    main()
