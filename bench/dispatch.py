"""Dispatch throughput of the manager: simulated workers claim and complete no-op tasks.

Starts the manager on SQLite (a temporary data dir), submits a 20,000-task ``frames-noop`` job,
and lets 50, then 200 workers over HTTP claim (``POST /api/v3/worker/task``) and complete tasks
as fast as they can. Prints tasks completed per second and p50/p99 latency of the claim call,
and how long submitting a 100,000-frame job (chunk size 1) takes. One run, ratios and rates
only; the machine is shared and noisy. The workers are coroutines on keep-alive connections in
one process, so that the client takes as little of the machine as it can; ``--workers 1``
shows the latency of one claim on an idle manager.

    .venv/bin/python bench/dispatch.py [--tasks 20000] [--workers 50 200] [--seconds 20]
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


def submit(url: str, frames: str, name: str) -> float:
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
    return elapsed


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
    host: str, port: int, auth: tuple[str, str], stop_at: float, out: list[tuple[float, int]]
) -> None:
    """Claim and complete tasks until the deadline; record (claim latency, completed 0/1)."""
    connection = Connection(host, port, auth)
    completed = json.dumps({"taskStatus": "completed"}).encode()
    while time.perf_counter() < stop_at:
        started = time.perf_counter()
        status, data = await connection.post("/api/v3/worker/task")
        latency = time.perf_counter() - started
        if status != 200:
            out.append((latency, 0))
            await asyncio.sleep(0.05)
            continue
        task_id = json.loads(data)["uuid"]
        done, _ = await connection.post(f"/api/v3/worker/task/{task_id}", completed)
        out.append((latency, 1 if done == 204 else 0))


def client_process(
    url: str, auths: list[tuple[str, str]], start_at: float, seconds: float, results: mp.Queue
) -> None:  # type: ignore[type-arg]
    host, _, port = url.removeprefix("http://").partition(":")
    while time.time() < start_at:
        time.sleep(0.001)
    stop_at = time.perf_counter() + seconds
    samples: list[tuple[float, int]] = []

    async def run_all() -> None:
        await asyncio.gather(
            *(worker_loop(host, int(port), a, stop_at, samples) for a in auths)
        )

    asyncio.run(run_all())
    results.put(samples)


def run_round(url: str, auths: list[tuple[str, str]], seconds: float, processes: int) -> None:
    print(f"  {len(auths):4d} workers: running for {seconds:.0f} s ...", flush=True)
    results: mp.Queue = mp.Queue()  # type: ignore[type-arg]
    start_at = time.time() + 1.0
    groups = [auths[i::processes] for i in range(processes)]
    procs = [
        mp.Process(target=client_process, args=(url, g, start_at, seconds, results)) for g in groups
    ]
    for p in procs:
        p.start()
    samples: list[tuple[float, int]] = []
    for _ in procs:
        samples.extend(results.get())
    for p in procs:
        p.join()
    latencies = sorted(s[0] for s in samples)
    completed = sum(s[1] for s in samples)
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
    print(
        f"  {len(auths):4d} workers: {completed / seconds:7.1f} tasks/s completed, "
        f"claim latency p50 {p50:6.1f} ms, p99 {p99:6.1f} ms ({len(latencies)} claims)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[50, 200])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--client-processes", type=int, default=1)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="farmhand-bench-") as tmp:
        port = free_port()
        manager = start_manager(Path(tmp) / "data", port)
        url = f"http://127.0.0.1:{port}"
        try:
            cpus, clients = os.cpu_count(), args.client_processes
            print(f"manager on SQLite, {cpus} CPU(s); {clients} client processes")
            big = submit(url, "1-100000", "big")
            print(f"  submitting a 100,000-frame job (chunk 1): {big:.2f} s")
            requests.post(
                url
                + "/api/v3/jobs/"
                + requests.get(url + "/api/v3/jobs").json()["jobs"][0]["id"]
                + "/setstatus",
                json={"status": "cancel-requested", "reason": "bench"},
            )
            submit(url, f"1-{args.tasks}", "dispatch")
            auths = [register(url) for _ in range(max(args.workers))]
            for count in args.workers:
                run_round(url, auths[:count], args.seconds, args.client_processes)
        finally:
            manager.terminate()
            manager.wait(timeout=30)


if __name__ == "__main__":
    main()
