"""Do dashboard readers starve the workers? Dispatch with and without 40 readers and 10 streams.

Starts the manager on SQLite (a temporary data dir) with a paused 100,000-task job to list
and a job for the workers to work off. Each round runs ``--workers`` simulated workers
(claim, complete, again; as in ``dispatch.py``) for ``--seconds`` alone, then as long again
with ``--readers`` clients listing jobs and pages of tasks (dashboard and v3) as fast as they
are answered and ``--streams`` dashboard event streams (one of which never reads what it is
sent). Prints per round: claims per second without and with the readers and their ratio, the
claim p99 of both, the listings' p99 and the manager's memory (RSS) after the round. With
``--soak SECONDS``, the rounds with readers go on back to back for that long, with a round
without them every fifth (the memory must level off); the target is dispatch with readers at
80% or more of dispatch without them. One run, ratios and rates; the machine is shared and
noisy.

    .venv/bin/python bench/mixed_load.py [--workers 20] [--readers 40] [--streams 10]
                                         [--seconds 20] [--rounds 3] [--soak 600]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import requests
from dispatch import cancel, free_port, register, start_manager, submit, worker_loop

LISTED_TASKS = 100_000
#: Tasks for the workers to work off, in one job; a soak submits another when half is done.
FUEL_TASKS = 300_000
#: In a soak, the rounds without readers that the ratios compare with: one in this many.
SOAK_ALONE_EVERY = 5


async def get(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, path: str
) -> int:
    """One GET on a keep-alive connection; its status (the body is read and dropped)."""
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    status_line = await reader.readline()
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return int(status_line.split()[1])


async def lister(
    host: str, port: int, job_id: str, stop_at: float, out: list[tuple[str, float, int]]
) -> None:
    """List as a dashboard page and a v3 client do, one request after another."""
    reader, writer = await asyncio.open_connection(host, port)
    pages = LISTED_TASKS // 200
    while time.perf_counter() < stop_at:
        kind, path = random.choice(
            [
                ("jobs", "/api/farmhand/jobs?limit=50"),
                (
                    "tasks",
                    f"/api/farmhand/jobs/{job_id}/tasks?limit=200"
                    f"&offset={200 * random.randrange(pages)}",
                ),
                ("v3 jobs", "/api/v3/jobs"),
                (
                    "v3 tasks",
                    f"/api/v3/jobs/{job_id}/tasks?limit=200&offset={200 * random.randrange(pages)}",
                ),
                ("summary", "/api/farmhand/summary"),
                ("workers", "/api/farmhand/workers"),
            ]
        )
        started = time.perf_counter()
        status = await get(reader, writer, f"{host}:{port}", path)
        out.append((kind, time.perf_counter() - started, status))
    writer.close()


async def stream(host: str, port: int, stop_at: float, reads: bool) -> None:
    """A dashboard's event stream; reconnects when the manager ends it. One that does not
    read is a browser tab frozen in the background."""
    client = uuid.uuid4().hex
    while time.perf_counter() < stop_at:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(
            f"GET /api/farmhand/events?client={client} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
        )
        try:
            while time.perf_counter() < stop_at:
                if not reads:
                    await asyncio.sleep(0.5)
                    continue
                chunk = await asyncio.wait_for(reader.read(65536), timeout=30)
                if not chunk:
                    break
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()


def readers_process(
    url: str, job_id: str, readers: int, streams: int, seconds: float, results: Any
) -> None:
    host, _, port = url.removeprefix("http://").partition(":")
    samples: list[tuple[str, float, int]] = []

    async def run() -> None:
        stop_at = time.perf_counter() + seconds
        await asyncio.gather(
            *(lister(host, int(port), job_id, stop_at, samples) for _ in range(readers)),
            *(stream(host, int(port), stop_at, reads=i > 0) for i in range(streams)),
        )

    asyncio.run(run())
    results.put(samples)


def workers_process(url: str, auths: list[tuple[str, str]], seconds: float, results: Any) -> None:
    host, _, port = url.removeprefix("http://").partition(":")
    samples: list[tuple[float, int, float]] = []

    async def run() -> None:
        stop_at = time.perf_counter() + seconds
        await asyncio.gather(*(worker_loop(host, int(port), a, stop_at, samples) for a in auths))

    asyncio.run(run())
    results.put(samples)


def tasks_left(url: str, job_id: str) -> int:
    job = requests.get(f"{url}/api/v3/jobs/{job_id}", timeout=60).json()
    return int(job["steps_total"]) - int(job["steps_completed"])


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * 0.99) - 1)] if ordered else float("nan")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_phase(
    url: str,
    auths: list[tuple[str, str]],
    seconds: float,
    readers: int,
    streams: int,
    listed_job: str,
) -> dict[str, Any]:
    results: Any = mp.Queue()
    procs = [mp.Process(target=workers_process, args=(url, auths, seconds, results))]
    if readers or streams:
        procs.append(
            mp.Process(
                target=readers_process,
                args=(url, listed_job, readers, streams, seconds, results),
            )
        )
    for p in procs:
        p.start()
    outs = [results.get() for _ in procs]
    for p in procs:
        p.join()
    claims = outs[0]
    listings = outs[1] if len(outs) > 1 else []
    return {
        "claims_per_s": sum(c[1] for c in claims) / seconds,
        "claim_p99_ms": p99([c[0] for c in claims]) * 1000,
        "listings_per_s": len(listings) / seconds,
        "listing_p99_ms": p99([s[1] for s in listings]) * 1000,
        "by_kind": {
            kind: p99([s[1] for s in listings if s[0] == kind]) * 1000
            for kind in sorted({s[0] for s in listings})
        },
        "errors": sum(1 for s in listings if s[2] >= 400),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=20)
    parser.add_argument("--readers", type=int, default=40)
    parser.add_argument("--streams", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--soak", type=float, default=0.0, help="seconds of rounds with readers")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="farmhand-bench-") as tmp:
        port = free_port()
        manager = start_manager(Path(tmp) / "data", port)
        url = f"http://127.0.0.1:{port}"
        try:
            auths = [register(url) for _ in range(args.workers)]
            listed = requests.post(
                url + "/api/v3/jobs",
                json={
                    "name": "listed",
                    "type": "frames-noop",
                    "priority": 50,
                    "submitter_platform": "linux",
                    "initial_status": "paused",
                    "settings": {"frames": f"1-{LISTED_TASKS}", "chunk_size": 1},
                },
                timeout=600,
            ).json()["id"]
            fuel, _ = submit(url, f"1-{FUEL_TASKS}", "fuel")
            print(
                f"{args.workers} workers; {args.readers} listing clients and {args.streams} "
                f"event streams (one never reads); listings of a {LISTED_TASKS:,}-task job"
            )
            started = time.monotonic()
            memory = [rss_mb(manager.pid)]
            round_no = 0
            alone: dict[str, Any] | None = None
            ratios: list[float] = []
            while True:
                round_no += 1
                if tasks_left(url, fuel) < FUEL_TASKS // 2:
                    # A long soak works off more than one job's worth; the old one runs out.
                    fuel, _ = submit(url, f"1-{FUEL_TASKS}", "fuel")
                # A soak measures the workers alone again every few rounds: claims slow down
                # a little as the job they work off fills with completed tasks.
                if alone is None or not args.soak or round_no % SOAK_ALONE_EVERY == 1:
                    alone = run_phase(url, auths, args.seconds, 0, 0, listed)
                assert alone is not None
                mixed = run_phase(url, auths, args.seconds, args.readers, args.streams, listed)
                memory.append(rss_mb(manager.pid))
                ratio = mixed["claims_per_s"] / alone["claims_per_s"]
                ratios.append(ratio)
                kinds = ", ".join(f"{k} {v:.0f}" for k, v in mixed["by_kind"].items())
                print(
                    f"  round {round_no}: claims/s alone {alone['claims_per_s']:6.1f}, with "
                    f"readers {mixed['claims_per_s']:6.1f} (ratio {ratio:.2f}); claim p99 "
                    f"{alone['claim_p99_ms']:.0f} -> {mixed['claim_p99_ms']:.0f} ms; "
                    f"{mixed['listings_per_s']:.0f} listings/s, p99 "
                    f"{mixed['listing_p99_ms']:.0f} ms ({kinds}); errors {mixed['errors']}; "
                    f"manager RSS {memory[-1]:.0f} MB",
                    flush=True,
                )
                if args.soak:
                    if time.monotonic() - started >= args.soak:
                        break
                elif round_no >= args.rounds:
                    break
            print(
                f"  dispatch with readers / without: median {statistics.median(ratios):.2f}, "
                f"min {min(ratios):.2f}; manager RSS by round (MB): "
                + " ".join(f"{m:.0f}" for m in memory)
            )
            cancel(url, fuel)
        finally:
            manager.terminate()
            manager.wait(timeout=60)


if __name__ == "__main__":
    main()
