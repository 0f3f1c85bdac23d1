"""``farmhand``: submit and follow jobs from a terminal or a pipeline, without Blender's UI.

    farmhand submit shot.blend --type simple-blender-render --frames 1-250 --set chunk_size=5
    farmhand jobs
    farmhand status 3f2a
    farmhand cancel 3f2a
    farmhand requeue 3f2a --missing
    farmhand download 3f2a --to out/

Settings a job type computes from the scene (frame rate, output path, format...) are worked
out by opening the file in a headless Blender: the ``bpy`` module of this Python when it has
one, or ``--blender PATH`` / ``$FARMHAND_BLENDER`` / ``blender`` on the PATH. ``--set`` wins
over anything computed.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from .api import ManagerAPI, ManagerError, NotFound
from .job_settings import JobType, missing_required
from .progress import ProgressBar, human_bytes
from .submission import JobRequest, SubmissionError, describe_submitted, submit

DEFAULT_MANAGER = "http://localhost:8080"
BLEND_EVAL_SCRIPT = Path(__file__).with_name("blend_eval.py")
#: Seconds a headless Blender may take to open the file and evaluate the settings.
BLEND_EVAL_TIMEOUT_S = 300


class UsageError(Exception):
    """Bad input on the command line; the message names the option."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="farmhand", description="Submit and follow render jobs on a Farmhand manager."
    )
    parser.add_argument(
        "--manager",
        default=os.environ.get("FARMHAND_MANAGER", DEFAULT_MANAGER),
        help=f"manager URL (default: $FARMHAND_MANAGER or {DEFAULT_MANAGER})",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("FARMHAND_TOKEN", ""),
        help="the manager's access token, if it has one (default: $FARMHAND_TOKEN)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub = commands.add_parser("submit", help="submit a .blend as a job")
    sub.add_argument("blendfile", type=Path)
    sub.add_argument(
        "--type",
        required=True,
        dest="job_type",
        help="job type, e.g. simple-blender-render (see 'farmhand types')",
    )
    sub.add_argument("--frames", help="frames to render, e.g. 1-250 or 1-10,20")
    sub.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a job setting (repeatable), e.g. --set chunk_size=5",
    )
    sub.add_argument("--name", help="job name (default: the file name)")
    sub.add_argument("--priority", type=int, default=50, help="0..100, higher first")
    sub.add_argument("--tag", default="", help="only workers with this worker tag")
    sub.add_argument("--paused", action="store_true", help="submit paused")
    sub.add_argument(
        "--blender",
        default=os.environ.get("FARMHAND_BLENDER", ""),
        help="Blender to evaluate scene settings with ($FARMHAND_BLENDER)",
    )
    sub.add_argument(
        "--no-blender",
        action="store_true",
        help="do not open the file; give scene settings with --set",
    )
    sub.add_argument(
        "--allow-missing",
        action="store_true",
        help="submit even if files the .blend uses are missing (they render as Blender's pink)",
    )
    sub.add_argument("--json", action="store_true", help="print the stored job as JSON")

    commands.add_parser("types", help="list the manager's job types and their settings")

    jobs = commands.add_parser("jobs", help="list jobs, newest first")
    jobs.add_argument("--limit", type=int, default=20)

    status = commands.add_parser("status", help="show a job and its tasks")
    status.add_argument("job", help="job id or a unique start of one")
    status.add_argument("--json", action="store_true")

    for name, text in (
        ("cancel", "cancel a job"),
        ("pause", "pause a job"),
        ("resume", "resume a paused job"),
    ):
        control = commands.add_parser(name, help=text)
        control.add_argument("job", help="job id or a unique start of one")

    requeue = commands.add_parser(
        "requeue", help="render a finished job again, or with --missing only what it lacks"
    )
    requeue.add_argument("job", help="job id or a unique start of one")
    requeue.add_argument(
        "--missing",
        action="store_true",
        help="only failed and canceled tasks, and tasks whose frames the manager does not have",
    )

    download = commands.add_parser(
        "download",
        help="download a job's rendered files (kept by the manager), latest frame and task logs",
    )
    download.add_argument("job", help="job id or a unique start of one")
    download.add_argument("--to", type=Path, default=Path("."), help="folder (default: .)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    api = None
    try:
        api = ManagerAPI(args.manager, args.token)
        return int(COMMANDS[args.command](api, args))
    except UsageError as exc:
        print(f"farmhand {args.command}: {exc}", file=sys.stderr)
        return 2
    except (ManagerError, SubmissionError) as exc:
        print(f"farmhand {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        if api is not None:
            api.close()


# submit ---------------------------------------------------------------------------------------


def parse_assignments(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set {item!r}: write KEY=VALUE, e.g. --set chunk_size=5")
        out[key.strip()] = value
    return out


def typed_settings(job_type: JobType, raw: dict[str, str]) -> dict[str, Any]:
    """Command-line text to the setting types; unknown keys are refused, naming known ones."""
    out: dict[str, Any] = {}
    for key, text in raw.items():
        setting = job_type.setting(key)
        if setting is None:
            known = ", ".join(s.key for s in job_type.settings)
            raise UsageError(f"--set {key}: {job_type.name} has no such setting (it has: {known})")
        try:
            out[key] = setting.coerce(text)
        except ValueError:
            kind = {"int32": "a whole number", "float": "a number", "bool": "true or false"}
            raise UsageError(
                f"--set {key}={text}: must be {kind.get(setting.type, setting.type)}"
            ) from None
        if setting.choices and out[key] not in setting.choices:
            raise UsageError(f"--set {key}={text}: choose one of {', '.join(setting.choices)}")
    return out


def blender_command(explicit: str) -> list[str] | None:
    """How to run a headless Blender here, or None when there is none."""
    if explicit:
        return [explicit, "-b", "--factory-startup", "--python", str(BLEND_EVAL_SCRIPT), "--"]
    if importlib.util.find_spec("bpy") is not None:
        return [sys.executable, str(BLEND_EVAL_SCRIPT)]
    found = shutil.which("blender")
    if found:
        return [found, "-b", "--factory-startup", "--python", str(BLEND_EVAL_SCRIPT), "--"]
    return None


def evaluate_in_blender(
    command: list[str],
    blendfile: Path,
    job_type_raw: dict[str, Any],
    jobname: str,
    given: dict[str, Any],
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="farmhand-eval-") as tmp:
        spec = Path(tmp, "spec.json")
        out = Path(tmp, "out.json")
        spec.write_text(
            json.dumps(
                {
                    "blendfile": str(blendfile),
                    "job_type": job_type_raw,
                    "jobname": jobname,
                    "given": given,
                }
            )
        )
        try:
            proc = subprocess.run(
                [*command, str(spec), str(out)],
                capture_output=True,
                text=True,
                timeout=BLEND_EVAL_TIMEOUT_S,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SubmissionError(f"could not run Blender ({command[0]}): {exc}") from exc
        if not out.exists():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
            raise SubmissionError(
                f"Blender could not evaluate the settings (exit {proc.returncode}): "
                + " / ".join(tail)
            )
        result = json.loads(out.read_text())
    if "error" in result:
        raise SubmissionError(str(result["error"]))
    return dict(result["settings"])


def cmd_submit(api: ManagerAPI, args: argparse.Namespace) -> int:
    blendfile: Path = args.blendfile.absolute()
    if not blendfile.is_file():
        raise UsageError(f"{args.blendfile}: no such file")
    try:
        job_type_raw = api.job_type(args.job_type)
    except NotFound:
        known = ", ".join(t["name"] for t in api.job_types())
        raise UsageError(f"--type {args.job_type}: no such job type (known: {known})") from None
    job_type = JobType.from_api(job_type_raw)
    raw = parse_assignments(args.set)
    if args.frames:
        raw["frames"] = args.frames
    given = typed_settings(job_type, raw)
    name = args.name or blendfile.stem

    needs_scene = [s.key for s in job_type.settings if s.eval and s.key not in given]
    command = None if args.no_blender or not needs_scene else blender_command(args.blender)
    if command is not None:
        print(f"Evaluating {', '.join(needs_scene)} in {blendfile.name}", file=sys.stderr)
        values = evaluate_in_blender(command, blendfile, job_type_raw, name, given)
    else:
        values = dict(given)
        for setting in job_type.settings:
            if setting.key not in values and setting.default is not None:
                values[setting.key] = setting.coerce(setting.default)
    values.pop("blendfile", None)
    missing = [k for k in missing_required(job_type, values) if k != "blendfile"]
    if missing:
        hint = "" if command else " (no Blender to compute them from the scene: see --blender)"
        raise UsageError(
            f"{job_type.name} needs {', '.join(missing)}: give them with --set KEY=VALUE{hint}"
        )

    request = JobRequest(
        name=name,
        type=job_type.name,
        type_etag=job_type.etag,
        settings=values,
        priority=args.priority,
        worker_tag=args.tag,
        paused=args.paused,
    )
    bar = ProgressBar()
    try:
        job = submit(api, request, blendfile, bar.update, allow_missing=args.allow_missing)
    finally:
        bar.close()
    if args.json:
        print(json.dumps(job, indent=2))
    else:
        print(describe_submitted(job))
        print(f"id: {job['id']}")
    return 0


# jobs, status, controls -------------------------------------------------------------------------


def resolve_job(api: ManagerAPI, ref: str) -> dict[str, Any]:
    """A job by id, or by a unique start of its id (as 'farmhand jobs' shows them)."""
    ref = ref.strip()
    if len(ref) == 36:
        return api.job(ref)
    matches = [j for j in api.jobs() if str(j["id"]).startswith(ref)]
    if not matches:
        raise UsageError(f"no job with an id starting with {ref!r}")
    if len(matches) > 1:
        raise UsageError(f"{ref!r} starts {len(matches)} job ids; give more of it")
    return matches[0]


#: Job statuses whose activity ``farmhand jobs`` leaves out: nothing is left to explain.
QUIET_JOB_STATUSES = frozenset({"completed", "canceled"})


def progress_text(job: dict[str, Any]) -> str:
    done, total = int(job.get("steps_completed") or 0), int(job.get("steps_total") or 0)
    return f"{done}/{total}"


def cmd_types(api: ManagerAPI, args: argparse.Namespace) -> int:
    for raw in api.job_types():
        job_type = JobType.from_api(raw)
        print(f"{job_type.name}: {job_type.description}")
        for s in job_type.settings:
            flags = ["required"] if s.required else []
            if s.eval:
                flags.append("from the scene")
            if s.default is not None:
                flags.append(f"default {s.default!r}")
            print(f"  {s.key} ({s.type}{', ' + ', '.join(flags) if flags else ''})")
    return 0


def cmd_jobs(api: ManagerAPI, args: argparse.Namespace) -> int:
    jobs = sorted(api.jobs(), key=lambda j: str(j.get("created", "")), reverse=True)
    if not jobs:
        print("no jobs")
        return 0
    print(f"{'ID':8}  {'STATUS':17}  {'TASKS':>9}  {'TYPE':22}  NAME")
    for job in jobs[: args.limit]:
        print(
            f"{job['id'][:8]}  {job['status']:17}  {progress_text(job):>9}  "
            f"{job['type']:22}  {job['name']}"
        )
        # Why a job waits or failed is the first thing to know about it.
        if job.get("activity") and job["status"] not in QUIET_JOB_STATUSES:
            print(f"{'':10}{job['activity']}")
    return 0


def cmd_status(api: ManagerAPI, args: argparse.Namespace) -> int:
    job = resolve_job(api, args.job)
    tasks = api.job_tasks(job["id"])
    if args.json:
        print(json.dumps({"job": job, "tasks": tasks}, indent=2))
        return 0
    counts = Counter(str(t.get("status")) for t in tasks)
    print(f"{job['name']} ({job['id']})")
    print(f"  type      {job['type']}")
    print(f"  status    {job['status']}: {job.get('activity', '')}")
    print(
        f"  tasks     {progress_text(job)} completed"
        + (f" ({', '.join(f'{n} {s}' for s, n in sorted(counts.items()))})" if counts else "")
    )
    blocked = [
        f"{entry.get('worker_name') or entry['worker_id']} ({entry['task_type']} tasks)"
        for entry in api.job_blocklist(job["id"])
    ]
    if blocked:
        print(f"  blocked   {', '.join(blocked)}")
    print(f"  priority  {job['priority']}")
    print(f"  created   {job['created']}")
    frames = job.get("settings", {}).get("frames")
    if frames:
        print(f"  frames    {frames}")
    return 0


def _control(status: str, verb: str) -> Any:
    def command(api: ManagerAPI, args: argparse.Namespace) -> int:
        job = resolve_job(api, args.job)
        api.set_job_status(job["id"], status, f"{verb} with the farmhand command")
        job = api.job(job["id"])
        print(f"Job '{job['name']}' ({job['id'][:8]}) is {job['status']}")
        return 0

    return command


def cmd_requeue(api: ManagerAPI, args: argparse.Namespace) -> int:
    job = resolve_job(api, args.job)
    if not args.missing:
        api.set_job_status(job["id"], "requeueing", "requeued with the farmhand command")
        job = api.job(job["id"])
        print(f"Job '{job['name']}' ({job['id'][:8]}) is {job['status']}")
        return 0
    done = api.requeue_missing(job["id"], "missing frames requeued with the farmhand command")
    if not done["frames_checked"]:
        print("The manager does not hold this job's frames (shared storage): "
              "only failed and canceled tasks are looked at")
    if done["missing_frames"]:
        print(f"Missing frames: {', '.join(str(f) for f in done['missing_frames'])}")
    for task in done["requeued"]:
        print(f"  requeued {task['name']}: {task['reason']}")
    print(f"Job '{job['name']}' ({job['id'][:8]}): {len(done['requeued'])} task(s) requeued, "
          f"job is {done['job_status']}")
    return 0


def cmd_download(api: ManagerAPI, args: argparse.Namespace) -> int:
    job = resolve_job(api, args.job)
    target: Path = args.to / f"{_safe(job['name'])}-{job['id'][:8]}"
    files: list[tuple[str, Path]] = []
    for output in api.job_outputs(job["id"]):
        # Names come from the manager: keep only the last part, so nothing lands outside.
        files.append((str(output["url"]), target / Path(str(output["name"])).name))
    info = api.last_rendered_info(job["id"])
    if info and info.get("suffixes"):
        suffix = str(info["suffixes"][0])  # the largest
        files.append((f"{str(info['base']).rstrip('/')}/{suffix}", target / Path(suffix).name))
    for task in api.job_tasks(job["id"]):
        log_info = api.task_log_info(task["id"])
        if log_info:
            name = f"{task.get('index_in_job', 0):04d}-{_safe(task['name'])}.txt"
            files.append((str(log_info["url"]), target / "logs" / name))
    if not files:
        print(f"Job '{job['name']}' has nothing to download yet (no frame, no task log)")
        return 0
    bar = ProgressBar()
    total_bytes = 0
    try:
        for index, (url, path) in enumerate(files):
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("wb") as out:
                for chunk in api.stream(url):
                    out.write(chunk)
                    total_bytes += len(chunk)
            bar.update(f"{path.name}", (index + 1) / len(files))
    finally:
        bar.close()
    print(f"Downloaded {len(files)} files ({human_bytes(total_bytes)}) to {target}")
    return 0


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name).strip("._") or "job"


COMMANDS = {
    "submit": cmd_submit,
    "types": cmd_types,
    "jobs": cmd_jobs,
    "status": cmd_status,
    "cancel": _control("canceled", "canceled"),
    "pause": _control("paused", "paused"),
    "resume": _control("queued", "resumed"),
    "requeue": cmd_requeue,
    "download": cmd_download,
}
