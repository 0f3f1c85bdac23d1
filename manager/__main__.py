"""``python -m manager``: start the Farmhand manager."""

from __future__ import annotations

import argparse
import errno
import gc
import logging
import socket
import sys
from pathlib import Path

import uvicorn

from manager.config import Settings, SettingsError, load_settings


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m manager", description="Farmhand manager")
    parser.add_argument("--config", type=Path, help="YAML config file (FARMHAND_CONFIG)")
    parser.add_argument("--host", help="interface to listen on (default 0.0.0.0)")
    parser.add_argument("--port", type=int, help="port to listen on (default 8080)")
    parser.add_argument("--data-dir", type=Path, help="database, logs and stored files")
    parser.add_argument("--database", help="SQLAlchemy URL, e.g. postgresql+psycopg://...")
    parser.add_argument("--job-types", type=Path, help="extra folder of job-type presets")
    parser.add_argument("--upstream", help="pull work from this Farmhand manager's URL")
    parser.add_argument("--cluster", help="the name this manager pulls upstream work as")
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    return parser.parse_args(argv)


def _public_url(settings: Settings) -> str:
    host = settings.host
    if host in ("0.0.0.0", "::"):
        host = socket.gethostname()
    return f"http://{host}:{settings.port}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)-7s %(name)s: %(message)s"
    )
    import os

    config_file = args.config or (
        Path(os.environ["FARMHAND_CONFIG"]) if os.environ.get("FARMHAND_CONFIG") else None
    )
    overrides = {
        "host": args.host,
        "port": args.port,
        "data_dir": args.data_dir,
        "database": args.database,
        "job_types": args.job_types,
        "upstream": args.upstream,
        "cluster": args.cluster,
    }
    try:
        settings = load_settings(overrides, config_file)
    except SettingsError as exc:
        print(f"farmhand manager: {exc}", file=sys.stderr)
        return 2

    problem = _cannot_listen(settings.host, settings.port)
    if problem:
        print(f"farmhand manager: cannot listen on {settings.host}:{settings.port}: {problem}",
              file=sys.stderr)
        return 2

    from manager.app import create_app

    try:
        app = create_app(settings)
    except Exception as exc:  # database unreachable, data dir unwritable: one line, no traceback
        print(f"farmhand manager: cannot start: {exc}", file=sys.stderr)
        return 2
    url = _public_url(settings)
    print(f"Farmhand manager {settings.manager_name!r}", flush=True)
    print(f"  API:      {url}/api/v3", flush=True)
    print(f"  API docs: {url}/docs", flush=True)
    print(f"  Data:     {settings.data_dir.resolve()}", flush=True)
    if settings.upstream and settings.cluster:
        print(f"  Cluster:  {settings.cluster!r}, pulling from {settings.upstream}", flush=True)
    # What start-up built (routes, models, presets, compiled statements) lives as long as the
    # process. Moved out of the collector's sight, a full collection no longer walks it while
    # every request in flight waits: it made the slowest claims of a busy farm slower.
    gc.collect()
    gc.freeze()
    try:
        uvicorn.run(
            app,
            host=settings.host,
            port=settings.port,
            log_level="warning",
            # Open dashboard streams must not hold up a stop.
            timeout_graceful_shutdown=3,
        )
    except (OSError, SystemExit) as exc:
        # uvicorn logs the reason and exits with a bare status when it cannot bind.
        reason = exc if isinstance(exc, OSError) else "see the error above"
        print(
            f"farmhand manager: cannot listen on {settings.host}:{settings.port}: {reason}",
            file=sys.stderr,
        )
        return 2
    return 0


def _cannot_listen(host: str, port: int) -> str | None:
    """Why the manager could not listen there, found before anything is set up or printed."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        return f"unknown host ({exc})"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return "the port is in use (another manager?); pick another with --port"
            return exc.strerror or str(exc)
    return None


if __name__ == "__main__":
    sys.exit(main())
