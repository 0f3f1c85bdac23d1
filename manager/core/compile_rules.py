"""Compile rules of a job type preset: their parsing, checking and template language.

The rules are parsed and checked once, when the preset loads; every placeholder is resolved
against the preset's settings then, so a typo or an attempt at code (``{__import__('os')}``)
breaks the preset instead of a submission. Templates are filled with plain string
substitution (see ``compiler.py``): nothing from a preset or a submission is evaluated.
The format is described for technical directors in ``manager/job_types/README.md``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from worker_mode.safe_paths import is_relative, is_share_path

#: Task priority when a task group does not give one (Flamenco's default).
DEFAULT_TASK_PRIORITY = 50


JOB_BUILTINS = ("timestamp", "job.name", "job.id", "job.priority")
FRAMES_BUILTINS = ("job.frames", "job.frames.first", "job.frames.last", "job.frames.count")
CHUNK_BUILTINS = ("chunk", "chunk.blender", "chunk.first", "chunk.last", "chunk.count")
REPEAT_BUILTINS = ("repeat.index", "repeat.count")
_INT_BUILTINS = frozenset(
    (
        "job.priority",
        "job.frames.first",
        "job.frames.last",
        "job.frames.count",
        "chunk.first",
        "chunk.last",
        "chunk.count",
        "repeat.index",
        "repeat.count",
    )
)
TASK_BUILTINS = frozenset(CHUNK_BUILTINS + REPEAT_BUILTINS)
#: The job's render-setting overrides, ``{path: value}`` of its settings that declare an
#: ``override:``; a mapping, so it can only be a whole parameter.
OVERRIDES_BUILTIN = "render_overrides"
_MAPPING = "mapping"

_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_REF = re.compile(r"([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)((?:\|[a-z_]+)*)")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_GROUP_ID = re.compile(r"[a-z0-9][a-z0-9_-]*")
_EXPANDABLE = re.compile(r"\{(timestamp|job\.name|job\.id|job\.priority)\}")
_UNSAFE_IN_FILENAME = re.compile(r'[\\/:*?"<>|\x00-\x1f]+')

_RULE_KEYS = ("values", "reject", "tasks")
_GROUP_KEYS = ("id", "name", "type", "priority", "when", "after", "chunks", "repeat", "commands")
_COMMAND_KEYS = ("name", "parameters", "total_step_count")
_OPERATORS = ("equals", "not_equals", "in", "not_in", "is_true", "relative_path", "share_path")


class RuleError(ValueError):
    """A problem in compile rules; the message starts with the field's path."""


# --- templates ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Ref:
    """A ``{name|filter|...}`` placeholder."""

    name: str
    filters: tuple[str, ...] = ()


@dataclass(frozen=True)
class Template:
    parts: tuple[str | Ref, ...]

    @property
    def whole(self) -> Ref | None:
        """The placeholder when it is all there is: its value then keeps its JSON type."""
        if len(self.parts) == 1 and isinstance(self.parts[0], Ref) and not self.parts[0].filters:
            return self.parts[0]
        return None

    @property
    def per_task(self) -> bool:
        return any(isinstance(p, Ref) and p.name in TASK_BUILTINS for p in self.parts)


@dataclass(frozen=True)
class _Scope:
    """The placeholders a template may use, with their types (for total_step_count)."""

    types: Mapping[str, str]
    worker_variables: frozenset[str]


def _dirname(path: str) -> str:
    # Paths come from any submitter platform, so both separators count.
    cut = max(path.rfind("/"), path.rfind("\\"))
    if cut <= 0:
        return path[:1] if cut == 0 else ""
    if cut == 2 and path[1] == ":":
        return path[:3]  # keep "C:\"
    return path[:cut]


def _basename(path: str) -> str:
    return path[max(path.rfind("/"), path.rfind("\\")) + 1 :]


def _stem(path: str) -> str:
    base = _basename(path)
    dot = base.rfind(".")
    return base[:dot] if dot > 0 else base


def _filename(text: str) -> str:
    # Job names are free text; this keeps one from reaching outside its folder.
    return _UNSAFE_IN_FILENAME.sub("_", text).strip(" .") or "_"


def _expand(text: str, job: Mapping[str, Any]) -> str:
    # Only the job's own fields: a setting's value never pulls in other settings.
    return _EXPANDABLE.sub(lambda m: text_of(job[m.group(1)]), text)


FILTERS: dict[str, Callable[[str, Mapping[str, Any]], str]] = {
    "dirname": lambda text, _job: _dirname(text),
    "basename": lambda text, _job: _basename(text),
    "stem": lambda text, _job: _stem(text),
    "filename": lambda text, _job: _filename(text),
    "expand": _expand,
}


def text_of(value: Any) -> str:
    """A value inside a longer string: JSON spellings, and 24.0 fps reads as 24."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)


def _hint(name: str | None) -> str:
    if name in CHUNK_BUILTINS:
        return "chunk placeholders exist only in a task group with 'chunks:'"
    if name in REPEAT_BUILTINS:
        return "repeat placeholders exist only in a task group with 'repeat:'"
    if name in FRAMES_BUILTINS:
        return "job.frames placeholders need task groups with 'chunks:' of one frames setting"
    return (
        f"a placeholder is a setting's key, a value, a built-in ({', '.join(JOB_BUILTINS)}, "
        f"...) or a name listed in worker_variables"
    )


def parse_template(text: str, scope: _Scope, where: str) -> Template:
    parts: list[str | Ref] = []
    literal: list[str] = []
    pos = 0
    for match in _TOKEN.finditer(text):
        literal.append(text[pos : match.start()])
        pos = match.end()
        token = match.group(0)
        if token in ("{{", "}}"):
            literal.append(token[0])
            continue
        if token in ("{", "}"):
            raise RuleError(
                f"{where}: unmatched {token!r} in {text!r}; write '{token * 2}' for a literal brace"
            )
        ref = _REF.fullmatch(match.group(1))
        name = ref.group(1) if ref else None
        if (
            ref is None
            or name is None
            or (name not in scope.types and name not in scope.worker_variables)
        ):
            raise RuleError(f"{where}: unknown placeholder {token!r}; {_hint(name)}")
        filters = tuple(f for f in ref.group(2).split("|") if f)
        if name in scope.worker_variables:
            if filters:
                raise RuleError(f"{where}: worker variable {{{name}}} cannot take filters")
            literal.append(token)  # expanded by the worker, not here
            continue
        for name_of_filter in filters:
            if name_of_filter not in FILTERS:
                raise RuleError(
                    f"{where}: unknown filter {name_of_filter!r} in {token!r}; "
                    f"known are {', '.join(FILTERS)}"
                )
        if "".join(literal):
            parts.append("".join(literal))
        literal = []
        parts.append(Ref(name, filters))
    literal.append(text[pos:])
    if "".join(literal) or not parts:
        parts.append("".join(literal))
    template = Template(tuple(parts))
    if template.whole is None and any(
        isinstance(p, Ref) and scope.types.get(p.name) == _MAPPING for p in parts
    ):
        raise RuleError(
            f"{where}: {text!r}: a mapping such as {{{OVERRIDES_BUILTIN}}} can only "
            "be a whole parameter, without text or filters around it"
        )
    return template


# --- conditions --------------------------------------------------------------------------


def _same(a: Any, b: Any) -> bool:
    # True == 1 in Python; in a condition they are different things.
    return isinstance(a, bool) == isinstance(b, bool) and a == b


@dataclass(frozen=True)
class Condition:
    setting: str
    operator: str
    operand: Any

    def holds(self, settings: Mapping[str, Any]) -> bool:
        value = settings.get(self.setting)
        if self.operator == "is_true":
            return bool(value) is self.operand
        if self.operator == "relative_path":
            return is_relative(value) is self.operand
        if self.operator == "share_path":
            return is_share_path(value) is self.operand
        if self.operator in ("equals", "not_equals"):
            return _same(value, self.operand) == (self.operator == "equals")
        found = any(_same(value, item) for item in self.operand)
        return found == (self.operator == "in")


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def parse_conditions(
    raw: Any, setting_types: Mapping[str, str], where: str
) -> tuple[Condition, ...]:
    items = raw if isinstance(raw, list) else [raw]
    conditions = []
    for index, item in enumerate(items):
        at = f"{where}[{index}]" if isinstance(raw, list) else where
        if not isinstance(item, dict):
            raise RuleError(f"{at}: expected a mapping like {{setting: format, in: [...]}}")
        operators = [k for k in item if k in _OPERATORS]
        unknown = [k for k in item if k != "setting" and k not in _OPERATORS]
        if unknown or len(operators) != 1:
            raise RuleError(
                f"{at}: a condition has 'setting' and exactly one of {', '.join(_OPERATORS)}"
                + (f"; unknown field(s) {', '.join(map(repr, unknown))}" if unknown else "")
            )
        setting, operator = item.get("setting"), operators[0]
        if not isinstance(setting, str) or setting not in setting_types:
            raise RuleError(f"{at}.setting: {setting!r} is not a setting of this job type")
        operand = item[operator]
        if operator in ("is_true", "relative_path", "share_path") and not isinstance(operand, bool):
            raise RuleError(f"{at}.{operator}: expected true or false")
        if operator in ("in", "not_in"):
            if not isinstance(operand, list) or not all(_scalar(v) for v in operand):
                raise RuleError(f"{at}.{operator}: expected a list of plain values")
            operand = tuple(operand)
        elif not _scalar(operand):
            raise RuleError(f"{at}.{operator}: expected a plain value")
        conditions.append(Condition(setting, operator, operand))
    return tuple(conditions)


# --- rules -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CommandRule:
    name: str
    parameters: dict[str, Any]  # JSON values, with Template in place of each string
    total_step_count: int | Template


@dataclass(frozen=True)
class TaskGroup:
    id: str
    name: Template
    task_type: str
    priority: int
    commands: tuple[CommandRule, ...]
    when: tuple[Condition, ...] = ()
    after: tuple[str, ...] = ()
    frames_setting: str | None = None
    chunk_size: str | int = 1
    repeat: str | int | None = None
    level: int = 0  # how many dependency steps from a task without dependencies


@dataclass(frozen=True)
class RejectRule:
    when: tuple[Condition, ...]
    message: Template


@dataclass(frozen=True)
class CompileRules:
    values: tuple[tuple[str, Template], ...]
    rejects: tuple[RejectRule, ...]
    groups: tuple[TaskGroup, ...]
    frames_setting: str | None  # the one frames setting behind {job.frames}, if any

    def uses(self, name: str) -> bool:
        """Whether a value or a command parameter refers to the placeholder ``name``."""

        def refers(node: Any) -> bool:
            if isinstance(node, Template):
                return any(isinstance(p, Ref) and p.name == name for p in node.parts)
            if isinstance(node, dict):
                return any(refers(v) for v in node.values())
            if isinstance(node, list):
                return any(refers(v) for v in node)
            return False

        return any(refers(t) for _, t in self.values) or any(
            refers(c.parameters) for g in self.groups for c in g.commands
        )


def _parameters(raw: Any, scope: _Scope, where: str) -> Any:
    if isinstance(raw, str):
        return parse_template(raw, scope, where)
    if isinstance(raw, list):
        return [_parameters(v, scope, f"{where}[{i}]") for i, v in enumerate(raw)]
    if isinstance(raw, dict):
        if not all(isinstance(k, str) for k in raw):
            raise RuleError(f"{where}: parameter names must be text")
        return {k: _parameters(v, scope, f"{where}.{k}") for k, v in raw.items()}
    if not _scalar(raw) or (isinstance(raw, float) and raw != raw):
        raise RuleError(f"{where}: {raw!r} is not a JSON value")
    return raw


def _setting_or_int(raw: Any, types: Mapping[str, str], minimum: int, where: str) -> str | int:
    if isinstance(raw, int) and not isinstance(raw, bool):
        if raw < minimum:
            raise RuleError(f"{where}: must be at least {minimum}")
        return raw
    if isinstance(raw, str) and types.get(raw) == "int32":
        return raw
    raise RuleError(f"{where}: expected a number or the key of an int32 setting, got {raw!r}")


def _parse_group(
    raw: Any, where: str, base: _Scope, settings: Mapping[str, str], earlier: dict[str, TaskGroup]
) -> TaskGroup:
    if not isinstance(raw, dict):
        raise RuleError(f"{where}: expected a mapping")
    unknown = [k for k in raw if k not in _GROUP_KEYS]
    if unknown:
        raise RuleError(
            f"{where}: unknown field(s) {', '.join(map(repr, unknown))}; "
            f"known are {', '.join(_GROUP_KEYS)}"
        )
    group_id = raw.get("id")
    if not isinstance(group_id, str) or not _GROUP_ID.fullmatch(group_id):
        raise RuleError(f"{where}.id: expected a name like 'render', got {group_id!r}")
    if group_id in earlier:
        raise RuleError(f"{where}.id: {group_id!r} is used by two task groups")
    where = f"{where} ({group_id!r})"
    task_type = raw.get("type")
    if not isinstance(task_type, str) or not _GROUP_ID.fullmatch(task_type):
        raise RuleError(f"{where}.type: expected a task type like 'blender', got {task_type!r}")
    priority = raw.get("priority", DEFAULT_TASK_PRIORITY)
    if isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= 100:
        raise RuleError(f"{where}.priority: expected a whole number 0..100, got {priority!r}")
    extra: dict[str, str] = {}
    frames_setting: str | None = None
    chunk_size: str | int = 1
    repeat: str | int | None = None
    if "chunks" in raw and "repeat" in raw:
        raise RuleError(f"{where}: a task group has 'chunks' or 'repeat', not both")
    if "chunks" in raw:
        chunks = raw["chunks"]
        if not isinstance(chunks, dict) or set(chunks) - {"frames", "size"}:
            raise RuleError(f"{where}.chunks: expected {{frames: <setting>, size: <setting or n>}}")
        frames_setting = chunks.get("frames")
        if not isinstance(frames_setting, str) or settings.get(frames_setting) != "string":
            raise RuleError(
                f"{where}.chunks.frames: expected the key of a string setting, "
                f"got {frames_setting!r}"
            )
        chunk_size = _setting_or_int(chunks.get("size", 1), settings, 1, f"{where}.chunks.size")
        extra = {name: "int32" if name in _INT_BUILTINS else "string" for name in CHUNK_BUILTINS}
    elif "repeat" in raw:
        repeat = _setting_or_int(raw["repeat"], settings, 0, f"{where}.repeat")
        extra = {name: "int32" for name in REPEAT_BUILTINS}
    scope = _Scope({**base.types, **extra}, base.worker_variables)

    name = raw.get("name", group_id)
    if not isinstance(name, str):
        raise RuleError(f"{where}.name: expected text")
    after = raw.get("after", [])
    after = [after] if isinstance(after, str) else after
    if not isinstance(after, list) or any(a not in earlier for a in after):
        raise RuleError(
            f"{where}.after: expected ids of task groups listed above this one, "
            f"got {raw.get('after')!r}"
        )
    commands = raw.get("commands")
    if not isinstance(commands, list) or not commands:
        raise RuleError(f"{where}.commands: expected a list of at least one command")
    return TaskGroup(
        id=group_id,
        name=parse_template(name, scope, f"{where}.name"),
        task_type=task_type,
        priority=priority,
        commands=tuple(
            _parse_command(c, scope, f"{where}.commands[{i}]") for i, c in enumerate(commands)
        ),
        when=parse_conditions(raw["when"], settings, f"{where}.when") if "when" in raw else (),
        after=tuple(dict.fromkeys(after)),
        frames_setting=frames_setting,
        chunk_size=chunk_size,
        repeat=repeat,
        level=1 + max((earlier[a].level for a in after), default=-1),
    )


def _parse_command(raw: Any, scope: _Scope, where: str) -> CommandRule:
    if not isinstance(raw, dict) or set(raw) - set(_COMMAND_KEYS):
        raise RuleError(f"{where}: expected a mapping with {', '.join(_COMMAND_KEYS)}")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise RuleError(f"{where}.name: expected the command's name, like 'blender-render'")
    parameters = raw.get("parameters", {})
    if not isinstance(parameters, dict):
        raise RuleError(f"{where}.parameters: expected a mapping")
    steps = raw.get("total_step_count", 0)
    if isinstance(steps, str):
        template = parse_template(steps, scope, f"{where}.total_step_count")
        whole = template.whole
        if whole is None or scope.types.get(whole.name) != "int32":
            raise RuleError(
                f"{where}.total_step_count: expected a number or one placeholder of "
                f"a whole number, like '{{chunk.count}}', got {steps!r}"
            )
        steps = template
    elif isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise RuleError(f"{where}.total_step_count: expected a whole number, got {steps!r}")
    return CommandRule(name, _parameters(parameters, scope, f"{where}.parameters"), steps)


def parse_compile_rules(
    raw: Mapping[str, Any], setting_types: Mapping[str, str], worker_variables: tuple[str, ...]
) -> CompileRules:
    unknown = [k for k in raw if k not in _RULE_KEYS]
    if unknown:
        # No field path: the message is about the compile section itself.
        raise RuleError(
            f": unknown field(s) {', '.join(map(repr, unknown))}; known are {', '.join(_RULE_KEYS)}"
        )
    types: dict[str, str] = dict(setting_types)
    types.update({name: "int32" if name in _INT_BUILTINS else "string" for name in JOB_BUILTINS})
    types[OVERRIDES_BUILTIN] = _MAPPING
    raw_groups = raw.get("tasks")
    if not isinstance(raw_groups, list) or not raw_groups:
        raise RuleError("tasks: expected a list of at least one task group")
    frames_settings = {
        g["chunks"].get("frames")
        for g in raw_groups
        if isinstance(g, dict)
        and isinstance(g.get("chunks"), dict)
        and isinstance(g["chunks"].get("frames"), str)
    }
    frames_setting = frames_settings.pop() if len(frames_settings) == 1 else None
    if frames_setting in setting_types:
        types.update({n: "int32" if n in _INT_BUILTINS else "string" for n in FRAMES_BUILTINS})
    workers = frozenset(worker_variables)

    values: list[tuple[str, Template]] = []
    raw_values = raw.get("values", {})
    if not isinstance(raw_values, dict):
        raise RuleError("values: expected a mapping of names to templates")
    for name, text in raw_values.items():
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise RuleError(f"values: {name!r} is not a name like 'render_dir'")
        if name in types or name in workers:
            raise RuleError(f"values.{name}: the name is taken by a setting or a built-in")
        if not isinstance(text, str):
            raise RuleError(f"values.{name}: expected a text template")
        template = parse_template(text, _Scope(types, workers), f"values.{name}")
        whole = template.whole
        values.append((name, template))
        types[name] = types[whole.name] if whole is not None else "string"

    scope = _Scope(types, workers)
    rejects = []
    raw_rejects = raw.get("reject", [])
    if not isinstance(raw_rejects, list):
        raise RuleError("reject: expected a list of {when, message}")
    for index, item in enumerate(raw_rejects):
        where = f"reject[{index}]"
        if not isinstance(item, dict) or set(item) != {"when", "message"}:
            raise RuleError(f"{where}: expected a mapping with 'when' and 'message'")
        if not isinstance(item["message"], str):
            raise RuleError(f"{where}.message: expected text")
        rejects.append(
            RejectRule(
                parse_conditions(item["when"], setting_types, f"{where}.when"),
                parse_template(item["message"], scope, f"{where}.message"),
            )
        )

    groups: dict[str, TaskGroup] = {}
    for index, item in enumerate(raw_groups):
        group = _parse_group(item, f"tasks[{index}]", scope, setting_types, groups)
        groups[group.id] = group
    return CompileRules(tuple(values), tuple(rejects), tuple(groups.values()), frames_setting)
