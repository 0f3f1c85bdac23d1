"""Compiling a job into tasks with its job type's compile rules (see ``compile_rules.py``).

Per job, everything that is the same for all tasks of a group is filled in once; per task
only the chunk's or repeat's own placeholders are, which keeps a 100,000-task job fast. The
tasks themselves are built a range at a time (``CompiledTasks``), as a submission stores them:
a million of them at once took a gigabyte, and the garbage collector's passes over them held
up every other thread of the manager for a second and more.
"""

from __future__ import annotations

import gc
import threading
import time
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from manager.core.compile_rules import (
    FILTERS,
    OVERRIDES_BUILTIN,
    TASK_BUILTINS,
    CompileRules,
    Ref,
    TaskGroup,
    Template,
    text_of,
)
from manager.core.frames import (
    FrameRangeError,
    dispatch_ranks,
    format_frames,
    parse_frame_range,
)
from manager.core.job_types import JobType, SettingError

#: Most tasks one job may compile into; refuses absurd repeat counts before allocating.
MAX_TASKS = 1_000_000
#: Most dependency links one job may have (a video task after 100,000 renders is 100,000).
MAX_DEPENDENCIES = 10_000_000
#: Tasks built between two points where the building thread lets the others run. Left alone,
#: it keeps the interpreter for Python's whole switch interval (5 ms) each time a worker
#: request's thread wants it back after a query: claims waited up to 1.8 s while a
#: million-task job compiled.
YIELD_EVERY = 100


@dataclass(slots=True)
class TaskSpec:
    """One task of a compiled job; ``commands`` are the spec's ``Command`` objects and
    ``depends_on`` indexes into the list that ``compile_job`` returns."""

    name: str
    task_type: str
    priority: int
    commands: list[dict[str, Any]]
    depends_on: list[int] = field(default_factory=list)
    dispatch_rank: int = 0
    steps_total: int = 1
    frames: list[int] = field(default_factory=list)


# --- filling in placeholders -------------------------------------------------------------


def _not_given(key: str) -> SettingError:
    return SettingError(key, f"'{key}' is needed to compile this job but was not given")


def _lookup(context: Mapping[str, Any], name: str) -> Any:
    try:
        return context[name]
    except KeyError:
        raise _not_given(name) from None


def _apply(ref: Ref, value: Any, job: Mapping[str, Any]) -> str:
    text = text_of(value)
    for name in ref.filters:
        text = FILTERS[name](text, job)
    return text


def render(template: Template, context: Mapping[str, Any]) -> Any:
    whole = template.whole
    if whole is not None:
        return _lookup(context, whole.name)
    return "".join(
        p if isinstance(p, str) else _apply(p, _lookup(context, p.name), context)
        for p in template.parts
    )


# --- compiling ---------------------------------------------------------------------------


class _JobContext(dict[str, Any]):
    """Placeholder values of one job; values and frame built-ins are worked out on first use,
    so a task group that is left out never needs the settings only it refers to."""

    def __init__(self, base: Mapping[str, Any], lazy: dict[str, Callable[[], Any]]) -> None:
        super().__init__(base)
        self._lazy = lazy

    def __missing__(self, key: str) -> Any:
        make = self._lazy.get(key)
        if make is None:
            raise KeyError(key)
        value = self[key] = make()
        return value


def _deferred(template: Template, job: Mapping[str, Any]) -> Callable[[], Any]:
    return lambda: render(template, job)


def _frames_of(settings: Mapping[str, Any], key: str) -> list[int]:
    text = settings.get(key)
    if text is None:
        raise _not_given(key)
    try:
        return parse_frame_range(text, max_frames=MAX_TASKS)
    except FrameRangeError as exc:
        raise SettingError(key, f"'{key}': {exc}") from None


def _count(settings: Mapping[str, Any], value: str | int, minimum: int) -> int:
    if isinstance(value, int):
        return value
    number = settings.get(value)
    if isinstance(number, bool) or not isinstance(number, int):
        raise _not_given(value)
    if number < minimum:
        raise SettingError(value, f"'{value}' must be at least {minimum}, got {number}")
    return number


_Builder = Callable[[Mapping[str, Any]], Any]


class _Static:
    """A part of a task that is the same for every task of its group."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def _copier(value: Any) -> _Builder:
    """A builder of fresh copies of a constant: tasks never share a list or a dict, so
    changing one task's parameters cannot touch another's."""
    if isinstance(value, list | dict):
        items = value.values() if isinstance(value, dict) else value
        if not any(isinstance(v, list | dict) for v in items):
            return lambda _task: value.copy()
        if isinstance(value, dict):
            parts = [(k, _copier(v)) for k, v in value.items()]
            return lambda task: {k: copy(task) for k, copy in parts}
        copiers = [_copier(v) for v in value]
        return lambda task: [copy(task) for copy in copiers]
    return lambda _task: value


def _template_builder(template: Template, job: Mapping[str, Any]) -> _Builder:
    whole = template.whole
    if whole is not None:
        name = whole.name
        return lambda task: task[name]
    # Everything but the task's own placeholders is the same for the whole group.
    parts: list[str | Ref] = []
    for part in template.parts:
        if isinstance(part, Ref) and part.name not in TASK_BUILTINS:
            part = _apply(part, _lookup(job, part.name), job)
        if isinstance(part, str) and parts and isinstance(parts[-1], str):
            parts[-1] += part
        else:
            parts.append(part)
    if len(parts) == 2 and isinstance(parts[0], str) and isinstance(parts[1], Ref) \
            and not parts[1].filters:
        # The common "render-{chunk}" shape, without the general loop.
        prefix, name = parts[0], parts[1].name
        return lambda task: prefix + text_of(task[name])
    return lambda task: "".join(
        [p if isinstance(p, str) else _apply(p, task[p.name], job) for p in parts]
    )


def _prepare(node: Any, job: Mapping[str, Any]) -> _Static | _Builder:
    """Fill in everything that is the same for all tasks of a group, once per job."""
    if isinstance(node, Template):
        return _Static(render(node, job)) if not node.per_task else _template_builder(node, job)
    if isinstance(node, list | dict):
        keys = list(node) if isinstance(node, dict) else None
        items = [_prepare(v, job) for v in (node.values() if isinstance(node, dict) else node)]
        if all(isinstance(i, _Static) for i in items):
            values = [i.value for i in items]  # type: ignore[union-attr]
            return _Static(dict(zip(keys, values, strict=True)) if keys is not None else values)
        # Per entry: a builder, or a constant scalar shared as it is (it is immutable).
        pairs = [(None, i.value) if isinstance(i, _Static) and not isinstance(i.value, list | dict)
                 else (_as_builder(i), None) for i in items]
        if keys is None:
            return lambda task: [v if b is None else b(task) for b, v in pairs]
        triples = [(k, b, v) for k, (b, v) in zip(keys, pairs, strict=True)]
        return lambda task: {k: v if b is None else b(task) for k, b, v in triples}
    return _Static(node)


def _as_builder(item: _Static | _Builder) -> _Builder:
    return _copier(item.value) if isinstance(item, _Static) else item


def _chunk_context(chunk: list[int]) -> dict[str, Any]:
    if len(chunk) == 1:
        text = str(chunk[0])
        return {"chunk": text, "chunk.blender": text, "chunk.first": chunk[0],
                "chunk.last": chunk[0], "chunk.count": 1}
    return {"chunk": format_frames(chunk), "chunk.blender": format_frames(chunk, ".."),
            "chunk.first": chunk[0], "chunk.last": chunk[-1], "chunk.count": len(chunk)}


def compile_job(
    job_type: JobType,
    settings: Mapping[str, Any],
    *,
    job_id: str,
    job_name: str,
    priority: int,
    created: datetime,
) -> list[TaskSpec]:
    """The tasks of a job, in order; ``depends_on`` holds indexes into the returned list."""
    tasks = plan_tasks(
        job_type, settings, job_id=job_id, job_name=job_name, priority=priority, created=created
    )
    return tasks.build(range(tasks.count))


def plan_tasks(
    job_type: JobType,
    settings: Mapping[str, Any],
    *,
    job_id: str,
    job_name: str,
    priority: int,
    created: datetime,
) -> CompiledTasks:
    """A job's tasks, to be built a range at a time: every check that needs no task is done
    here; ``CompiledTasks.check`` does the rest."""
    rules = job_type.rules
    declared = {
        s.key: settings[s.key] for s in job_type.settings if settings.get(s.key) is not None
    }
    # Like Flamenco, the timestamp is the manager's local time: it names folders for people.
    local = created.astimezone() if created.tzinfo is not None else created
    overrides = {s.override: declared[s.key] for s in job_type.settings
                 if s.override is not None and s.key in declared}
    base = {"timestamp": local.strftime("%Y-%m-%d_%H%M%S"), "job.name": job_name,
            "job.id": job_id, "job.priority": priority, OVERRIDES_BUILTIN: overrides,
            **declared}
    lazy: dict[str, Callable[[], Any]] = {}
    job = _JobContext(base, lazy)
    for name, template in rules.values:
        lazy[name] = _deferred(template, job)
    frames_cache: dict[str, array[int]] = {}

    def frames(key: str) -> array[int]:
        # Kept as machine integers: a million frames as Python ints are 36 MB.
        if key not in frames_cache:
            frames_cache[key] = array("q", _frames_of(declared, key))
        return frames_cache[key]

    if rules.frames_setting is not None:
        key = rules.frames_setting
        lazy["job.frames"] = lambda: format_frames(frames(key))
        lazy["job.frames.first"] = lambda: frames(key)[0]
        lazy["job.frames.last"] = lambda: frames(key)[-1]
        lazy["job.frames.count"] = lambda: len(frames(key))

    for reject in rules.rejects:
        if all(c.holds(declared) for c in reject.when):
            raise SettingError(reject.when[0].setting, str(render(reject.message, job)))

    return CompiledTasks(_plan(rules, declared, job, frames))


class _Chunks:
    """A group's chunks of frames, cut when asked for: a million one-frame chunks as lists
    would be a million objects for the garbage collector to scan."""

    def __init__(self, frames: array[int], size: int) -> None:
        self._frames = frames
        self._size = size

    def __len__(self) -> int:
        return -(-len(self._frames) // self._size)

    def __getitem__(self, index: int) -> list[int]:
        return self._frames[index * self._size : (index + 1) * self._size].tolist()


@dataclass
class _PlannedGroup:
    """One task group of a job: its tasks are numbered ``span`` in the job."""

    group: TaskGroup
    units: _Chunks | range
    span: range
    depends: list[int]
    first_rank: int
    ranks: Sequence[int]
    """Each task's dispatch rank, less ``first_rank``."""
    name: _Builder
    commands: list[tuple[str, _Builder, int | _Builder]]


def _plan(
    rules: CompileRules,
    declared: Mapping[str, Any],
    job: Mapping[str, Any],
    frames: Callable[[str], array[int]],
) -> list[_PlannedGroup]:
    # First how many tasks each group makes, so ranks can follow dependency levels.
    sized: list[tuple[TaskGroup, _Chunks | range]] = []
    total = 0
    for group in rules.groups:
        if not all(c.holds(declared) for c in group.when):
            continue
        units: _Chunks | range
        if group.frames_setting is not None:
            units = _Chunks(frames(group.frames_setting), _count(declared, group.chunk_size, 1))
        elif group.repeat is not None:
            units = range(_count(declared, group.repeat, 0))
        else:
            units = range(1)
        total += len(units)
        if total > MAX_TASKS:
            key = group.frames_setting or (group.repeat if isinstance(group.repeat, str) else "")
            raise SettingError(key, f"'{key}' makes this job more than {MAX_TASKS:,} tasks")
        sized.append((group, units))
    offsets: dict[str, int] = {}
    next_rank = 0
    for group, units in sorted(sized, key=lambda p: p[0].level):  # stable: keeps file order
        offsets[group.id] = next_rank
        next_rank += len(units)

    planned: list[_PlannedGroup] = []
    spans: dict[str, range] = {}
    links = 0
    for group, units in sized:
        depends = [i for g in group.after if g in spans for i in spans[g]]
        links += len(depends) * len(units)
        if links > MAX_DEPENDENCIES:
            key = group.frames_setting or rules.frames_setting or ""
            raise SettingError(key, f"'{key}' makes this job too large to track its dependencies")
        start = planned[-1].span.stop if planned else 0
        span = range(start, start + len(units))
        spans[group.id] = span
        ranks: Sequence[int] = (
            array("q", dispatch_ranks(len(units))) if isinstance(units, _Chunks)
            else range(len(units))
        )
        name, commands = _prepare_group(group, job)
        planned.append(_PlannedGroup(
            group, units, span, depends, offsets[group.id], ranks, name, commands
        ))
    return planned


def _prepare_group(
    group: TaskGroup, job: Mapping[str, Any]
) -> tuple[_Builder, list[tuple[str, _Builder, int | _Builder]]]:
    """Builders of a group's task name and commands, with everything the same for the whole
    group filled in."""
    name = _as_builder(_prepare(group.name, job))
    commands: list[tuple[str, _Builder, int | _Builder]] = []
    for rule in group.commands:
        rule_steps = rule.total_step_count
        commands.append((
            rule.name,
            _as_builder(_prepare(rule.parameters, job)),
            rule_steps if isinstance(rule_steps, int) else _as_builder(_prepare(rule_steps, job)),
        ))
    return name, commands


class CompiledTasks:
    """A compiled job's tasks, built a range at a time and the same each time, so that a
    million-task job never needs all of them at once."""

    def __init__(self, groups: list[_PlannedGroup]) -> None:
        self._groups = groups
        self.count = groups[-1].span.stop if groups else 0

    def build(self, which: range) -> list[TaskSpec]:
        """The tasks numbered ``which`` (a range with step 1), in order."""
        with _cyclic_gc_paused():
            specs: list[TaskSpec] = []
            for planned in self._groups:
                start = max(which.start, planned.span.start)
                stop = min(which.stop, planned.span.stop)
                if start < stop:
                    first = planned.span.start
                    specs.extend(_build_tasks(planned, range(start - first, stop - first)))
            return specs

    def check(self, batch: int = 10_000) -> None:
        """Build every task once and keep none: what only some task's values would break
        (a filter, a step count) breaks here, before anything is stored."""
        for start in range(0, self.count, batch):
            self.build(range(start, min(self.count, start + batch)))

    def dependencies(self, which: range) -> Iterator[tuple[int, int]]:
        """(task, the task it waits for) of the tasks numbered ``which``, without building
        them: every task of a group waits for the same tasks."""
        for planned in self._groups:
            if planned.depends:
                for index in range(
                    max(which.start, planned.span.start), min(which.stop, planned.span.stop)
                ):
                    for dependency in planned.depends:
                        yield index, dependency


_gc_lock = threading.Lock()
_gc_pausers = 0
_gc_was_enabled = True


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while tasks are built.

    A 100,000-task job is about a million small lists and dicts without one reference cycle;
    the collector would rescan the growing heap every few hundred of them, which more than
    doubles the compile time. Reference counting still frees everything as usual. Counted,
    so overlapping compiles in the server's threads restore the collector only once.
    """
    global _gc_pausers, _gc_was_enabled
    with _gc_lock:
        if _gc_pausers == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pausers += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pausers -= 1
            if _gc_pausers == 0 and _gc_was_enabled:
                gc.enable()


def _build_tasks(planned: _PlannedGroup, local: range) -> list[TaskSpec]:
    """The tasks of a group numbered ``local`` within it."""
    units, ranks, depends = planned.units, planned.ranks, planned.depends
    first_rank, name, commands = planned.first_rank, planned.name, planned.commands
    chunks = units if isinstance(units, _Chunks) else None
    count = len(units)
    task_type, priority = planned.group.task_type, planned.group.priority
    specs = []
    for index in local:
        if index % YIELD_EVERY == 0:
            time.sleep(0)
        # Made per task and dropped right after, so it never piles up for a big job.
        frames = chunks[index] if chunks is not None else []
        task = _chunk_context(frames) if chunks is not None \
            else {"repeat.index": index, "repeat.count": count}
        built = []
        steps_total = 0
        for command_name, parameters, steps in commands:
            step_count = steps if isinstance(steps, int) else max(0, steps(task))
            steps_total += step_count
            built.append({
                "name": command_name,
                "parameters": parameters(task),
                "total_step_count": step_count,
            })
        specs.append(TaskSpec(
            name=text_of(name(task)),
            task_type=task_type,
            priority=priority,
            commands=built,
            depends_on=depends.copy(),
            dispatch_rank=first_rank + ranks[index],
            steps_total=max(1, steps_total),
            frames=frames,
        ))
    return specs
