"""``farmhand``: submit and follow jobs from a terminal or a pipeline, without Blender's UI.

    farmhand submit shot.blend --frames 1-250 --set chunk_size=5
    farmhand jobs
    farmhand status shot
    farmhand cancel 3f2a
    farmhand requeue 3f2a --missing
    farmhand watch shot --to out/
    farmhand download 3f2a --to out/

Settings a job type computes from the scene (frame rate, output path, format...) are worked
out by opening the file in a headless Blender: the ``bpy`` module of this Python when it has
one, or ``--blender PATH`` / ``$FARMHAND_BLENDER`` / ``blender`` on the PATH. ``--set`` wins
over anything computed.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from .api import JobCounts, ManagerAPI, ManagerError, NotFound
from .downloads import DownloadFolderError, FrameSync, check_folder
from .job_settings import JobType, missing_required
from .progress import ProgressBar, eta_text, human_bytes
from .submission import (
    JobRequest,
    SubmissionError,
    describe_submitted,
    frame_range_problem,
    submit,
)

DEFAULT_MANAGER = "http://localhost:8080"
#: The manager reads its access token from this variable too, so one export serves both.
TOKEN_ENV = "FARMHAND_ACCESS_TOKEN"
TOKEN_HINT = f"give it with --token TOKEN or ${TOKEN_ENV}"
#: Seconds between two looks at a watched or followed job.
WATCH_INTERVAL_S = 2.0
BLEND_EVAL_SCRIPT = Path(__file__).with_name("blend_eval.py")
#: Seconds a headless Blender may take to open the file and evaluate the settings.
BLEND_EVAL_TIMEOUT_S = 300


class UsageError(Exception):
    """Bad input on the command line; the message names the option."""


class CommandFailed(Exception):
    """The command ran but what was asked did not happen; the message says why."""


def _connection_options(defaults: bool) -> argparse.ArgumentParser:
    """``--manager`` and ``--token``, taken before or after the command.

    After the command they default to "not given", so they only override what was said
    before it (or the environment).
    """
    options = argparse.ArgumentParser(add_help=False)
    unset: dict[str, Any] = {} if defaults else {"default": argparse.SUPPRESS}
    options.add_argument(
        "--manager",
        help=f"manager URL (default: $FARMHAND_MANAGER or {DEFAULT_MANAGER})",
        **({"default": os.environ.get("FARMHAND_MANAGER", DEFAULT_MANAGER)} if defaults
           else unset),
    )
    options.add_argument(
        "--token",
        help=f"the manager's access token, if it has one (default: ${TOKEN_ENV})",
        **({"default": os.environ.get(TOKEN_ENV) or os.environ.get("FARMHAND_TOKEN", "")}
           if defaults else unset),
    )
    return options


def _job_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("job", help="job id, a unique start of one, or the job's name")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="farmhand",
        description="Submit and follow render jobs on a Farmhand manager.",
        parents=[_connection_options(defaults=True)],
    )
    parser.add_argument("--version", action="version", version=f"farmhand {client_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    after = [_connection_options(defaults=False)]

    def command(name: str, text: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=text, description=text, parents=after)

    sub = command("submit", "submit a .blend as a job")
    sub.add_argument("blendfile", type=Path)
    sub.add_argument(
        "--type",
        dest="job_type",
        help="job type (default: the manager's render type; see 'farmhand types')",
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

    types = command("types", "list the job types offered to artists and their settings")
    types.add_argument(
        "--all", action="store_true", help="also test types and those of the older protocols"
    )

    jobs = command("jobs", "list jobs, newest first")
    jobs.add_argument("--limit", type=int, default=20)

    command("workers", "list the workers, what they run and what they do now")

    status = command("status", "show a job and its tasks")
    _job_argument(status)
    status.add_argument("--json", action="store_true")

    for name, text in (
        ("cancel", "cancel a job"),
        ("pause", "pause a job"),
        ("resume", "resume a paused job"),
    ):
        _job_argument(command(name, text))

    requeue = command(
        "requeue", "render a finished job again, or with --missing only what it lacks"
    )
    _job_argument(requeue)
    requeue.add_argument(
        "--missing",
        action="store_true",
        help="only failed and canceled tasks, and tasks whose frames the manager does not have",
    )

    logs = command("logs", "print the logs of a job's tasks")
    _job_argument(logs)
    logs.add_argument(
        "--follow", "-f", action="store_true", help="keep printing new lines until the job ends"
    )

    download = command(
        "download",
        "download a job's rendered frames (kept by the manager), latest frame and task logs",
    )
    _job_argument(download)
    download.add_argument(
        "--to", type=Path, default=Path("."),
        help="folder; the job's files go in a folder named after it inside (default: .)",
    )

    watch = command(
        "watch", "follow a job with a progress bar and ETA, downloading frames as they finish"
    )
    _job_argument(watch)
    watch.add_argument(
        "--to", type=Path, default=Path("."),
        help="folder; frames go in a folder named after the job inside (default: .)",
    )
    watch.add_argument(
        "--no-download", action="store_true", help="only follow the job, fetch nothing"
    )
    watch.add_argument(
        "--interval", type=float, default=WATCH_INTERVAL_S, help=argparse.SUPPRESS
    )
    return parser


def client_version() -> str:
    try:
        return importlib.metadata.version("farmhand")
    except importlib.metadata.PackageNotFoundError:
        return "(not installed)"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    api = None
    try:
        api = ManagerAPI(args.manager, args.token, token_hint=TOKEN_HINT)
        return int(COMMANDS[args.command](api, args))
    except (UsageError, DownloadFolderError) as exc:
        print(f"farmhand {args.command}: {exc}", file=sys.stderr)
        return 2
    except (ManagerError, SubmissionError, CommandFailed) as exc:
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
    if args.frames is not None:
        problem = frame_range_problem(args.frames)
        if problem:
            raise UsageError(f"--frames {args.frames}: {problem}")
    if not 0 <= args.priority <= 100:
        raise UsageError(f"--priority {args.priority}: give 0 to 100")
    job_type_raw = api.job_type(chosen_type(api, args.job_type))
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


def chosen_type(api: ManagerAPI, asked: str | None) -> str:
    """The job type to submit: the one asked for, or the manager's render type."""
    catalog = api.job_type_catalog()
    if asked:
        if catalog.get(asked) is None:
            raise UsageError(f"--type {asked}: {catalog.why_not_offered(asked)}")
        return asked
    broken = catalog.broken_type(catalog.render_type)
    if broken is not None:
        raise CommandFailed(f"{broken.describe()}; choose another with --type")
    default = catalog.default_type()
    if default is None:
        raise CommandFailed("the manager offers no job type to artists; name one with --type")
    return default.name


def resolve_job(api: ManagerAPI, ref: str) -> dict[str, Any]:
    """A job by id, a unique start of its id (as 'farmhand jobs' shows them), or its name."""
    ref = ref.strip()
    if not ref:
        raise UsageError("give a job id or name")
    if len(ref) == 36:
        try:
            return api.job(ref)
        except NotFound:
            pass  # a 36-character name is possible
    everything = api.jobs()
    by_id = [j for j in everything if str(j["id"]).startswith(ref)]
    by_name = [j for j in everything if j.get("name") == ref]
    matches = list({str(j["id"]): j for j in by_id + by_name}.values())
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise UsageError(f"no job with an id starting with {ref!r} or named {ref!r}")
    matches.sort(key=lambda j: str(j.get("created", "")), reverse=True)
    listed = "; ".join(
        f"{j['id'][:8]} {j.get('name')!r} ({j.get('status')}, {str(j.get('created', ''))[:16]})"
        for j in matches[:5]
    )
    more = f" and {len(matches) - 5} more" if len(matches) > 5 else ""
    raise UsageError(f"{ref!r} matches {len(matches)} jobs: {listed}{more}; give the id")


#: Job statuses whose activity ``farmhand jobs`` leaves out: nothing is left to explain.
QUIET_JOB_STATUSES = frozenset({"completed", "canceled"})


def progress_text(job: dict[str, Any]) -> str:
    done, total = int(job.get("steps_completed") or 0), int(job.get("steps_total") or 0)
    return f"{done}/{total}"


def frames_text(counts: JobCounts | None) -> str:
    """Frames rendered of all the job renders ("2/2"); empty for a job that renders none."""
    if counts is None or not counts.frames_total:
        return ""
    return f"{counts.frames_done}/{counts.frames_total}"


def counts_of(api: ManagerAPI, job_ids: list[str]) -> dict[str, JobCounts]:
    # A manager without Farmhand's own API still lists its jobs, only without frames.
    try:
        return api.job_counts(job_ids)
    except NotFound:
        return {}


def cmd_types(api: ManagerAPI, args: argparse.Namespace) -> int:
    catalog = api.job_type_catalog()
    for entry in catalog.offered(everything=args.all):
        job_type = JobType.from_api(api.job_type(entry.name))
        marks = []
        if entry.name == catalog.render_type:
            marks.append("default")
        if args.all and catalog.knows_purposes:
            marks.append(entry.category)
        if entry.unrun_note:
            marks.append(entry.unrun_note)
        print(f"{job_type.name}: {job_type.description}"
              + (f" [{'; '.join(marks)}]" if marks else ""))
        for s in job_type.settings:
            flags = ["required"] if s.required else []
            if s.eval:
                flags.append("from the scene")
            if s.default is not None:
                flags.append(f"default {s.default!r}")
            print(f"  {s.key} ({s.type}{', ' + ', '.join(flags) if flags else ''})")
    hidden = len(catalog.types) - len(catalog.offered(everything=args.all))
    if hidden:
        print(f"({hidden} more type{'s' if hidden != 1 else ''} not offered to artists: "
              "farmhand types --all)")
    for broken in catalog.broken:
        print(f"BROKEN {broken.title} ({broken.path}): {broken.message}")
    return 0


def cmd_jobs(api: ManagerAPI, args: argparse.Namespace) -> int:
    jobs = sorted(api.jobs(), key=lambda j: str(j.get("created", "")), reverse=True)
    if not jobs:
        print("no jobs")
        return 0
    shown = jobs[: args.limit]
    counts = counts_of(api, [str(job["id"]) for job in shown])
    print(f"{'ID':8}  {'STATUS':17}  {'TASKS':>9}  {'FRAMES':>11}  {'TYPE':22}  NAME")
    for job in shown:
        frames = frames_text(counts.get(str(job["id"])))
        print(
            f"{job['id'][:8]}  {job['status']:17}  {progress_text(job):>9}  {frames:>11}  "
            f"{job['type']:22}  {job['name']}"
        )
        # Why a job waits or failed is the first thing to know about it.
        if job.get("activity") and job["status"] not in QUIET_JOB_STATUSES:
            print(f"{'':10}{job['activity']}")
    return 0


def cmd_workers(api: ManagerAPI, args: argparse.Namespace) -> int:
    workers = sorted(api.workers(), key=lambda w: str(w.get("name", "")).lower())
    if not workers:
        print("no workers")
        return 0
    print(f"{'NAME':20}  {'STATUS':9}  {'VERSION':12}  {'TASK TYPES':32}  DOING")
    for summary in workers:
        worker = api.worker(str(summary["id"]))
        status = str(worker.get("status", ""))
        change = worker.get("status_change") or {}
        if change.get("status"):
            status += f" -> {change['status']}"
        task = worker.get("task")
        doing = f"{task['name']} of job {str(task['job_id'])[:8]}" if task else ""
        task_types = ",".join(worker.get("supported_task_types") or ())
        # The Blender it renders with decides which jobs it gets; Flamenco's workers say
        # only their own version.
        version = (f"Blender {worker['blender_version']}" if worker.get("blender_version")
                   else str(worker.get("version", "")))
        print(f"{str(worker.get('name')):20}  {status:9}  {version:12}  "
              f"{task_types:32}  {doing}")
        devices = devices_text(worker.get("hardware"))
        if devices:
            print(f"{'':22}renders on {devices}")
    return 0


def devices_text(hardware: Any) -> str:
    """The GPUs a worker renders on, as its sign-on reported them; empty for none."""
    if not isinstance(hardware, dict):
        return ""
    gpus = [d for d in hardware.get("gpus") or () if isinstance(d, dict)]
    parts = []
    for gpu in gpus:
        memory = gpu.get("memory_mb")
        parts.append(f"{gpu.get('name')} ({gpu.get('type')}"
                     + (f", {round(memory / 1024)} GiB" if memory else "") + ")")
    text = ", ".join(parts)
    if text and not hardware.get("gpus_enabled", True):
        text += " (not enabled by Cycles)"
    if hardware.get("render_device") == "CPU" and not text:
        text = "the CPU"
    return text


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


_FINISHED = frozenset({"completed", "failed", "canceled"})


def _control(status: str, verb: str) -> Any:
    def command(api: ManagerAPI, args: argparse.Namespace) -> int:
        job = resolve_job(api, args.job)
        title = f"Job '{job['name']}' ({job['id'][:8]})"
        if status == "queued" and job["status"] != "paused":
            # Resuming asks for "queued", which the manager reads as a requeue; say what
            # the artist asked about instead of what the manager would refuse.
            if job["status"] in _FINISHED:
                raise CommandFailed(
                    f"{title} is {job['status']}, not paused: 'farmhand requeue' renders it again"
                )
            print(f"{title} is {job['status']}, not paused: there is nothing to resume")
            return 0
        api.set_job_status(job["id"], status, f"{verb} with the farmhand command")
        job = api.job(job["id"])
        print(f"{title} is {job['status']}")
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


def job_folder(base: Path, job: dict[str, Any]) -> Path:
    return base / f"{_safe(str(job['name']))}-{str(job['id'])[:8]}"


def cmd_download(api: ManagerAPI, args: argparse.Namespace) -> int:
    check_folder(args.to)
    job = resolve_job(api, args.job)
    target = job_folder(args.to, job)
    check_folder(target)
    bar = ProgressBar()
    try:
        frames = FrameSync(api, job["id"], target).sync(bar.update)
        extras: list[tuple[str, Path]] = []
        info = api.last_rendered_info(job["id"])
        if info and info.get("suffixes"):
            suffix = str(info["suffixes"][0])  # the largest
            extras.append(
                (f"{str(info['base']).rstrip('/')}/{suffix}", target / Path(suffix).name)
            )
        for task in api.job_tasks(job["id"]):
            log_info = api.task_log_info(task["id"])
            if log_info:
                name = f"{task.get('index_in_job', 0):04d}-{_safe(task['name'])}.txt"
                extras.append((str(log_info["url"]), target / "logs" / name))
        extra_bytes = 0
        for index, (url, path) in enumerate(extras):
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("wb") as out:
                for chunk in api.stream(url):
                    out.write(chunk)
                    extra_bytes += len(chunk)
            bar.update(path.name, (index + 1) / len(extras))
    finally:
        bar.close()
    fetched = len(frames.fetched) + len(extras)
    if not fetched and not frames.unchanged:
        print(f"Job '{job['name']}' has nothing to download yet (no frame, no task log)")
        return 0
    kept = f"; {frames.unchanged} already here" if frames.unchanged else ""
    print(f"Downloaded {fetched} files ({human_bytes(frames.bytes + extra_bytes)}) "
          f"to {target}{kept}")
    return 0


def cmd_logs(api: ManagerAPI, args: argparse.Namespace) -> int:
    job = resolve_job(api, args.job)
    printed: dict[str, int] = {}  # task id -> bytes of its log already printed
    current = ""
    while True:
        finished = api.job(job["id"])["status"] in _FINISHED
        for task in sorted(api.job_tasks(job["id"]), key=lambda t: t.get("index_in_job", 0)):
            info = api.task_log_info(task["id"])
            if not info:
                continue
            start = printed.get(task["id"], 0)
            if int(info.get("size") or 0) <= start:
                continue
            begins, chunks = api.stream_from(str(info["url"]), start)
            text = b"".join(chunks)[start - begins :]
            if not text:
                continue
            if current != task["id"]:
                print(f"==> {task['name']} ({task['status']}) <==")
                current = task["id"]
            sys.stdout.write(text.decode("utf-8", errors="replace"))
            sys.stdout.flush()
            printed[task["id"]] = start + len(text)
        if not args.follow or finished:
            break
        time.sleep(WATCH_INTERVAL_S)
    if not printed:
        print(f"Job '{job['name']}' has no task logs yet", file=sys.stderr)
    return 0


class ProgressRate:
    """Steps per second since the first look, for an ETA; time is passed in."""

    def __init__(self, done: int, now: float) -> None:
        self.start_done, self.start_time = done, now

    def eta(self, done: int, total: int, now: float) -> float | None:
        gained, elapsed = done - self.start_done, now - self.start_time
        if gained <= 0 or elapsed <= 0 or done >= total:
            return None if done < total else 0.0
        return (total - done) / (gained / elapsed)


def cmd_watch(api: ManagerAPI, args: argparse.Namespace) -> int:
    check_folder(args.to)
    job = resolve_job(api, args.job)
    target = job_folder(args.to, job)
    sync = None if args.no_download else FrameSync(api, job["id"], target)
    rate: ProgressRate | None = None
    fetched = 0
    bar = ProgressBar()
    step = ""
    try:
        while True:
            job = api.job(job["id"])
            if sync is not None:
                fetched += len(sync.sync().fetched)
            done, total = int(job.get("steps_completed") or 0), int(job.get("steps_total") or 0)
            frames = frames_text(counts_of(api, [job["id"]]).get(job["id"]))
            now = time.monotonic()
            if rate is None:
                rate = ProgressRate(done, now)
            counted = (f"{frames} frames, " if frames else "") + f"{done}/{total} tasks"
            if not step.startswith(counted + " "):
                # Recomputed only when a task or frame ends, so a log gets a line per change.
                eta = eta_text(rate.eta(done, total, now))
                step = f"{counted} {job['status']}, {eta}"
                if sync is not None:
                    step += f", {fetched} frame(s) in {target}"
            bar.update(step, done / total if total else 0.0)
            if job["status"] in _FINISHED:
                break
            time.sleep(args.interval)
    finally:
        bar.close()
    where = f"; {fetched} frame(s) downloaded to {target}" if sync is not None else ""
    print(f"Job '{job['name']}' ({job['id'][:8]}) {job['status']}{where}")
    if job["status"] != "completed":
        activity = f": {job['activity']}" if job.get("activity") else ""
        raise CommandFailed(f"job {job['status']}{activity}")
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
    "workers": cmd_workers,
    "logs": cmd_logs,
    "watch": cmd_watch,
}
