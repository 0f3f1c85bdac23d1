"""Dispatch throughput of the manager: simulated workers claim and complete no-op tasks.

Starts the manager on SQLite (a temporary data dir), submits a 20,000-task ``frames-noop`` job,
per round and lets 50, then 200 workers over HTTP claim (``POST /api/v3/worker/task``) and
complete tasks: first as fast as they can (the manager's capacity), then paced so that they
offer ``--rate`` tasks per second in all, as workers whose renders take 50/rate or 200/rate
seconds would (the claim latency at that load: flat out, latency is only the queue of
workers waiting their turn). Prints tasks completed per second and p50/p99 latency of the
claim call, and how long submitting a 100,000-frame job (chunk size 1) takes. One run,
ratios and rates only; the machine is shared and noisy. The workers are coroutines on
keep-alive connections in one process, so that the client takes as little of the machine as
it can; ``--workers 1`` shows the latency of one claim on an idle manager.

    .venv/bin/python bench/dispatch.py [--tasks 20000] [--workers 50 200] [--seconds 20]
                                       [--rate 500]

The manager takes ``FARMHAND_DATABASE`` from the environment as usual, so the same bench runs
on PostgreSQL with ``FARMHAND_DATABASE=postgresql+psycopg://...`` (an empty database).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing as mp
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_manager(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "manager",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
            "--log-level",
            "warning",
        ],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            requests.get(url + "/api/v3/version", timeout=1)
            return process
        except requests.ConnectionError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("manager did not start")


def submit(url: str, frames: str, name: str) -> tuple[str, float]:
    """Submit a no-op job; its id and how long the submission took."""
    body = {
        "name": name,
        "type": "frames-noop",
        "priority": 50,
        "submitter_platform": "linux",
        "settings": {"frames": frames, "chunk_size": 1},
    }
    started = time.perf_counter()
    response = requests.post(url + "/api/v3/jobs", json=body, timeout=600)
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    return response.json()["id"], elapsed


def cancel(url: str, job_id: str) -> None:
    """Cancel what is left of the job; one the workers finished needs nothing."""
    status = requests.get(f"{url}/api/v3/jobs/{job_id}", timeout=60).json()["status"]
    if status in ("completed", "canceled", "failed"):
        return
    requests.post(
        f"{url}/api/v3/jobs/{job_id}/setstatus",
        json={"status": "cancel-requested", "reason": "bench"},
        timeout=600,
    ).raise_for_status()


def register(url: str) -> tuple[str, str]:
    secret = uuid.uuid4().hex
    response = requests.post(
        url + "/api/v3/worker/register-worker",
        json={
            "name": f"bench-{secret[:6]}",
            "secret": secret,
            "platform": "linux",
            "supported_task_types": ["misc"],
        },
        timeout=30,
    )
    response.raise_for_status()
    worker_id = response.json()["uuid"]
    auth = (worker_id, secret)
    requests.post(
        url + "/api/v3/worker/sign-on",
        auth=auth,
        timeout=30,
        json={
            "name": f"bench-{secret[:6]}",
            "supported_task_types": ["misc"],
            "software_version": "bench",
        },
    )
    requests.post(
        url + "/api/v3/worker/state-changed", auth=auth, json={"status": "awake"}, timeout=30
    )
    return auth


class Connection:
    """One keep-alive HTTP/1.1 connection, as lean as a client can be: the simulated workers
    share this machine's two cores with the manager, and a heavy client (requests and a thread
    per worker) would measure itself more than the manager."""

    def __init__(self, host: str, port: int, auth: tuple[str, str]) -> None:
        self.host, self.port = host, port
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        self.headers = f"Host: {host}:{port}\r\nAuthorization: Basic {token}\r\n"
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes = b"") -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = (
            f"POST {path} HTTP/1.1\r\n{self.headers}Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        status_line = await self.reader.readline()
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        data = await self.reader.readexactly(length) if length else b""
        return int(status_line.split()[1]), data


async def worker_loop(
    host: str,
    port: int,
    auth: tuple[str, str],
    stop_at: float,
    out: list[tuple[float, int, float]],
    period: float = 0.0,
    offset: float = 0.0,
) -> None:
    """Claim and complete tasks until the deadline or until the job runs dry; record
    (claim latency, completed 0/1, seconds since the round started).

    With a ``period``, the worker starts a task every ``period`` seconds (as a worker whose
    renders take that long would); without, it claims again as soon as it is done."""
    connection = Connection(host, port, auth)
    completed = json.dumps({"taskStatus": "completed"}).encode()
    begin = time.perf_counter()
    next_at = begin + offset
    while time.perf_counter() < stop_at:
        if period:
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            next_at += period
        started = time.perf_counter()
        status, data = await connection.post("/api/v3/worker/task")
        latency = time.perf_counter() - started
        if status == 204:  # the job ran dry
            return
        if status != 200:
            out.append((latency, 0, time.perf_counter() - begin))
            await asyncio.sleep(0.05)
            continue
        task_id = json.loads(data)["uuid"]
        done, _ = await connection.post(f"/api/v3/worker/task/{task_id}", completed)
        out.append((latency, 1 if done == 204 else 0, time.perf_counter() - begin))


def client_process(
    url: str,
    auths: list[tuple[str, str]],
    start_at: float,
    seconds: float,
    period: float,
    results: mp.Queue,  # type: ignore[type-arg]
) -> None:
    host, _, port = url.removeprefix("http://").partition(":")
    while time.time() < start_at:
        time.sleep(0.001)
    stop_at = time.perf_counter() + seconds
    samples: list[tuple[float, int, float]] = []

    async def run_all() -> None:
        await asyncio.gather(
            *(
                worker_loop(host, int(port), a, stop_at, samples, period, period * i / len(auths))
                for i, a in enumerate(auths)
            )
        )

    asyncio.run(run_all())
    results.put(samples)


def run_round(
    url: str, auths: list[tuple[str, str]], seconds: float, processes: int, rate: float = 0.0
) -> None:
    """As fast as the workers can go, or with ``rate`` tasks per second offered in all."""
    period = len(auths) / rate if rate else 0.0
    pace = f"offered {rate:.0f} tasks/s" if rate else "flat out"
    print(f"  {len(auths):4d} workers, {pace}: running for {seconds:.0f} s ...", flush=True)
    results: mp.Queue = mp.Queue()  # type: ignore[type-arg]
    start_at = time.time() + 1.0
    groups = [auths[i::processes] for i in range(processes)]
    procs = [
        mp.Process(target=client_process, args=(url, g, start_at, seconds, period, results))
        for g in groups
    ]
    for p in procs:
        p.start()
    samples: list[tuple[float, int, float]] = []
    for _ in procs:
        samples.extend(results.get())
    for p in procs:
        p.join()
    latencies = sorted(s[0] for s in samples)
    completed = sum(s[1] for s in samples)
    # A job the workers finished early: the rate over the time they took.
    elapsed = min(seconds, max(s[2] for s in samples))
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
    dry = f", the job done in {elapsed:.1f} s" if elapsed < seconds - 0.5 else ""
    print(
        f"  {len(auths):4d} workers, {pace}: {completed / elapsed:7.1f} tasks/s completed, "
        f"claim latency p50 {p50:6.1f} ms, p99 {p99:6.1f} ms ({len(latencies)} claims{dry})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[50, 200])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--client-processes", type=int, default=1)
    parser.add_argument(
        "--rate",
        type=float,
        default=500.0,
        help="tasks/s the workers offer in the paced rounds, where claim latency is measured "
        "at that load (0: skip them)",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="farmhand-bench-") as tmp:
        port = free_port()
        manager = start_manager(Path(tmp) / "data", port)
        url = f"http://127.0.0.1:{port}"
        try:
            cpus, clients = os.cpu_count(), args.client_processes
            database = os.environ.get("FARMHAND_DATABASE", "").partition(":")[0] or "SQLite"
            print(f"manager on {database}, {cpus} CPU(s); {clients} client processes")
            big, took = submit(url, "1-100000", "big")
            print(f"  submitting a 100,000-frame job (chunk 1): {took:.2f} s")
            cancel(url, big)
            auths = [register(url) for _ in range(max(args.workers))]
            rounds = [(count, 0.0) for count in args.workers]
            if args.rate:
                rounds += [(count, args.rate) for count in args.workers]
            for count, rate in rounds:
                # A fresh job per round; workers stop when it runs dry.
                job, _ = submit(url, f"1-{args.tasks}", "dispatch")
                run_round(url, auths[:count], args.seconds, args.client_processes, rate)
                cancel(url, job)
        finally:
            manager.terminate()
            manager.wait(timeout=30)


if __name__ == "__main__":
    main()
