"""Command line of the worker (``python -m worker_mode`` and ``blender_worker.py``)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
from pathlib import Path
from types import FrameType

from .credentials import default_data_dir
from .defaults import IDLE_POLL_MAX_S

log = logging.getLogger("worker_mode")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m worker_mode",
        description="Farmhand worker: renders the manager's tasks with Blender, in-process.",
    )
    parser.add_argument("--manager", help="manager URL, e.g. http://farm:8080")
    parser.add_argument("--name", default=socket.gethostname(),
                        help="worker name shown on the manager (default: host name)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help=f"credentials and file cache (default: {default_data_dir()})")
    parser.add_argument("--tags", default="",
                        help="comma-separated worker tags, e.g. gpu,studio-b: only jobs for "
                             "these tags and untagged jobs come to this worker")
    parser.add_argument("--registration-token", default=None,
                        help="the manager's registration_token, when it has one "
                             "(default: $FARMHAND_REGISTRATION_TOKEN)")
    parser.add_argument("--once", action="store_true",
                        help="exit when the manager has had no task for this worker for 5 s")
    device = parser.add_mutually_exclusive_group()
    device.add_argument("--gpu", action="store_true",
                        help="render Cycles on the GPU: the best type Cycles lists (OptiX, CUDA, "
                             "HIP, oneAPI, Metal), all its devices")
    device.add_argument("--cpu", action="store_true", help="render Cycles on the CPU")
    parser.add_argument("--devices", default=None, metavar="0,2",
                        help="render on these GPUs only, numbered as --list-devices shows "
                             "(implies --gpu)")
    parser.add_argument("--slots", choices=("one", "per-gpu"), default="one",
                        help="per-gpu: one worker per GPU on this machine, each named "
                             "<name>-gpu<n> with its own Blender on its own GPU (default: one)")
    parser.add_argument("--cpu-slot", action="store_true",
                        help="with --slots per-gpu: one more worker, <name>-cpu, on the CPU")
    parser.add_argument("--list-devices", action="store_true",
                        help="list the render devices Cycles sees on this machine and exit")
    parser.add_argument("--poll-max", type=float, default=IDLE_POLL_MAX_S,
                        help="longest wait between task requests while idle (seconds)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="also show Blender's output and debug lines")
    parser.add_argument("--render-child", action="store_true", help=argparse.SUPPRESS)
    return parser


def setup_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    logging.getLogger("urllib3").setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.render_child:
        from .render_child import main as render_main

        return render_main()
    setup_logging(args.verbose)
    if args.list_devices:
        return print_devices()
    if not args.manager:
        build_parser().error("--manager URL is required")
    if args.cpu and (args.devices is not None or args.slots == "per-gpu"):
        build_parser().error("--cpu renders on the CPU: it goes with neither --devices nor "
                             "--slots per-gpu")
    if args.cpu_slot and args.slots != "per-gpu":
        build_parser().error("--cpu-slot is the extra worker of --slots per-gpu")
    return run_worker(args, argv)


def print_devices() -> int:
    """``--list-devices``: what Cycles sees, numbered as ``--devices`` counts."""
    from . import assembly, devices
    from .render_process import RenderProcessError

    try:
        listed = assembly.list_devices()
    except RenderProcessError as exc:
        log.error("cannot start Blender to list the devices: %s", exc)
        return 1
    gpu_type, gpus = devices.gpus_of_best_type(listed)
    for device in listed:
        number = f"{gpus.index(device)}:" if device in gpus else "  "
        print(f"{number:>3} {device.type:<7} {device.name}"
              + (f"  {device.memory_mb / 1024:.0f} GiB" if device.memory_mb else ""))
    print(f"--gpu renders on {gpu_type} (all of the numbered devices); --devices 0,1 picks some"
          if gpu_type else "no GPU: this worker renders on the CPU")
    return 0


def run_worker(args: argparse.Namespace, argv: list[str] | None) -> int:
    from . import assembly
    from .devices import DeviceError, parse_pins
    from .render_process import RenderProcessError

    stop = threading.Event()
    _install_signal_handlers(stop)
    try:
        pins = parse_pins(args.devices)
    except DeviceError as exc:
        log.error("%s", exc)
        return 2
    per_gpu = args.slots == "per-gpu"
    config = assembly.WorkerConfig(
        manager_url=args.manager.rstrip("/"),
        name=args.name,
        data_dir=args.data_dir or default_data_dir(),
        device="GPU" if args.gpu or pins is not None or per_gpu else "CPU" if args.cpu else None,
        pins=pins,
        per_gpu=per_gpu,
        cpu_slot=args.cpu_slot,
        tags=[tag.strip() for tag in args.tags.split(",") if tag.strip()],
        once=args.once,
        poll_max_s=args.poll_max,
        registration_token=assembly.token_from(args.registration_token, dict(os.environ)),
    )
    try:
        if per_gpu:
            # Several workers log here: each line says whose it is.
            for handler in logging.getLogger().handlers:
                handler.setFormatter(logging.Formatter("%(asctime)s [%(threadName)s] %(message)s",
                                                       "%H:%M:%S"))
            assembly.run_slots(config, stop)
            return 0
        worker = assembly.run_worker(config, stop)
    except DeviceError as exc:
        log.error("%s", exc)
        return 2
    except RenderProcessError as exc:
        log.error("cannot start Blender for rendering: %s", exc)
        return 1
    if worker.restart and not stop.is_set():
        _restart(argv)
    return 0


def _install_signal_handlers(stop: threading.Event) -> None:
    def handle(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            log.warning("second interrupt: exiting now")
            os._exit(130)
        log.info("%s: stopping (Ctrl+C again to quit at once)", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)


def _restart(argv: list[str] | None) -> None:
    """Replace this process with a new worker started the same way."""
    from .render_process import SCRIPT

    own_args = list(sys.argv[1:] if argv is None else argv)
    bpy = sys.modules.get("bpy")
    binary = getattr(getattr(bpy, "app", None), "binary_path", "") if bpy else ""
    if binary:
        command = [binary, "-b", "--python", str(SCRIPT), "--", *own_args]
    else:
        command = [sys.executable, str(SCRIPT), *own_args]
    log.info("restarting: %s", " ".join(command))
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(command[0], command)
