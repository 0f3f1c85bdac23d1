"""Job type presets: loading and checking the YAML files, their served form, and settings.

A preset is data a technical director edits (see ``manager/job_types/README.md``). Nothing in
a preset or a submission is ever executed: ``eval`` strings are only served to the submitting
add-on, and compile rules are templates with plain ``{name}`` placeholders.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from manager.core.bounds import INT32_MAX, INT32_MIN
from manager.core.compile_rules import (
    OVERRIDES_BUILTIN,
    CompileRules,
    RuleError,
    Template,
    parse_compile_rules,
)
from worker_mode.blender_args import refused_argument
from worker_mode.render_overrides import RENDER_SETTINGS, OverrideError, check_override

log = logging.getLogger(__name__)

SETTING_TYPES = ("string", "int32", "float", "bool")
SETTING_SUBTYPES = ("file_path", "dir_path", "file_name", "hashed_file_path")
SETTING_VISIBILITIES = ("visible", "hidden", "submission", "web")

#: Job type names appear in URLs and file names, so they are kept plain.
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]*")
#: Setting keys are placeholders in compile rules, so they must be identifiers.
KEY_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: Setting keys that would shadow a built-in placeholder of the compile rules.
RESERVED_KEYS = frozenset({"timestamp", "chunk", OVERRIDES_BUILTIN})
#: Larger preset files are refused unread; a real preset is a few kilobytes.
MAX_PRESET_BYTES = 1_000_000
#: Most values (after YAML aliases are expanded) and deepest nesting a preset may have; both
#: stop a small file from making loading or hashing it take forever.
MAX_PRESET_VALUES = 100_000
MAX_PRESET_DEPTH = 32
#: Seconds between two looks at the preset folders.
RELOAD_INTERVAL = 1.0

_TOP_KEYS = (
    "name",
    "label",
    "description",
    "category",
    "artists",
    "settings",
    "worker_variables",
    "compile",
)
#: What a preset is for when it does not say: the farm exists to render.
DEFAULT_CATEGORY = "render"
# The order of AvailableJobSetting's properties in the spec; the served form follows it.
_SETTING_KEYS = (
    "key",
    "type",
    "subtype",
    "choices",
    "propargs",
    "description",
    "label",
    "default",
    "eval",
    "evalInfo",
    "visible",
    "required",
    "editable",
)
#: Farmhand's own fields of a setting, not served in Flamenco's form.
_FARMHAND_SETTING_KEYS = ("override",)
_MISSING: Any = object()
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class PresetError(Exception):
    """A preset file that cannot be used; ``name`` is its job type's name when it is known."""

    def __init__(self, path: Path, message: str, name: str | None = None) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message
        self.name = name


class InvalidPreset(ValueError):
    """A problem inside a preset's data; the message starts with the field's path."""


class SettingError(ValueError):
    """A submitted setting that does not fit its job type; ``key`` names the setting."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True)
class SettingDef:
    key: str
    type: str
    required: bool = False
    default: Any = _MISSING
    choices: tuple[str, ...] | None = None
    minimum: int | float | None = None
    maximum: int | float | None = None
    #: The render setting (an RNA path of ``worker_mode.render_overrides``) this setting's
    #: value overrides in the scene, or None.
    override: str | None = None
    api: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def has_default(self) -> bool:
        return self.default is not _MISSING


@dataclass
class JobType:
    name: str
    label: str
    description: str | None
    settings: list[SettingDef]
    rules: CompileRules
    etag: str
    source: Path
    worker_variables: tuple[str, ...] = ()
    #: What the type is for (``render``, ``test``, ``protocol``...), and whether submitters
    #: offer it to artists; neither is part of Flamenco's served form.
    category: str = DEFAULT_CATEGORY
    artists: bool = True
    _api: dict[str, Any] = field(default_factory=dict, repr=False)
    _by_key: dict[str, SettingDef] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._by_key = {s.key: s for s in self.settings}

    def setting(self, key: str) -> SettingDef | None:
        return self._by_key.get(key)

    @property
    def task_types(self) -> tuple[str, ...]:
        """The task types its jobs may have, in the order the rules list them."""
        return tuple(dict.fromkeys(group.task_type for group in self.rules.groups))

    def to_api(self) -> dict[str, Any]:
        """The ``AvailableJobType`` form; a copy, so callers may change it freely."""
        return copy.deepcopy(self._api)


# --- checking values ---------------------------------------------------------------------


def _type_problem(setting_type: str, value: Any) -> str | None:
    """Why ``value`` is not of ``setting_type``, or None when it is."""
    if setting_type == "string":
        ok = isinstance(value, str)
    elif setting_type == "bool":
        ok = isinstance(value, bool)
    elif setting_type == "int32":
        if isinstance(value, int) and not isinstance(value, bool):
            if INT32_MIN <= value <= INT32_MAX:
                return None
            return f"{value} does not fit in 32 bits"
        ok = False
    else:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if ok and not math.isfinite(value):
            return f"{value} is not a finite number"
    if ok:
        return None
    wanted = {"string": "text", "bool": "true or false", "int32": "a whole number"}
    return f"expected {wanted.get(setting_type, 'a number')}, got {_describe(value)}"


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    kind = {str: "text", int: "whole number", float: "number", list: "list", dict: "mapping"}
    return f"{kind.get(type(value), type(value).__name__)} {value!r}"[:120]


def _is_json(value: Any) -> bool:
    if value is None or isinstance(value, str | bool | int):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_is_json(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_json(v) for k, v in value.items())
    return False


def _range_problem(definition: SettingDef, value: Any) -> str | None:
    if definition.minimum is not None and value < definition.minimum:
        return f"must be at least {definition.minimum}, got {value}"
    if definition.maximum is not None and value > definition.maximum:
        return f"must be at most {definition.maximum}, got {value}"
    return None


def validate_settings(job_type: JobType, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The complete settings of a submission, defaults filled in; SettingError when unfit."""
    if not isinstance(settings, Mapping):
        raise SettingError("", f"settings must be a mapping of names to values, not {settings!r}")
    result: dict[str, Any] = {}
    for definition in job_type.settings:
        key = definition.key
        value = settings.get(key)
        if value is None:
            # A null is how JSON clients say "not set"; it gets the default like a missing key.
            if definition.required:
                raise SettingError(key, f"'{key}' is required by job type {job_type.name!r}")
            if definition.has_default:
                result[key] = copy.deepcopy(definition.default)
            continue
        problem = _type_problem(definition.type, value)
        if problem is not None:
            raise SettingError(key, f"'{key}' must be {definition.type}: {problem}")
        if definition.type == "float":
            value = float(value)
        overrides = ""
        if definition.override is not None:
            overrides = f" (it overrides render setting {definition.override})"
            try:
                value = check_override(definition.override, value)
            except OverrideError as exc:
                raise SettingError(key, f"'{key}': {exc}") from None
        if definition.choices is not None and value not in definition.choices:
            options = ", ".join(repr(c) for c in definition.choices)
            raise SettingError(key, f"'{key}' must be one of {options}, not {value!r}{overrides}")
        if definition.type in ("int32", "float"):
            problem = _range_problem(definition, value)
            if problem is not None:
                raise SettingError(key, f"'{key}' {problem}{overrides}")
        result[key] = value
    for key, value in settings.items():
        if not isinstance(key, str):
            raise SettingError(str(key), f"setting names must be text, not {key!r}")
        if job_type.setting(key) is not None:
            continue
        # Submitters (the Flamenco add-on among them) send extra hidden keys; they are kept
        # as they are, but only as plain values so nothing nested hides in the job record.
        if value is not None and not (_is_json(value) and not isinstance(value, list | dict)):
            raise SettingError(
                key,
                f"'{key}' is not a setting of {job_type.name!r}, so it may only be text, "
                f"a number, true/false or null, not {_describe(value)}",
            )
        result[key] = value
    return result


# --- parsing presets ---------------------------------------------------------------------


def _expect(value: Any, kind: Any, where: str, wanted: str) -> Any:
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise InvalidPreset(f"{where}: expected {wanted}, got {_describe(value)}")
    return value


#: ``bpy.props`` arguments Blender takes only as integers, by setting type. Flamenco's add-on
#: turns every number of ``propargs`` into a float and only ``min`` and ``max`` back.
_INTEGER_ONLY_PROPARGS = {
    "int32": {"soft_min", "soft_max", "step"},
    "float": {"precision", "step"},
}


def _parse_setting(raw: Any, where: str) -> SettingDef:
    _expect(raw, dict, where, "a mapping")
    key = raw.get("key")
    if not isinstance(key, str) or not KEY_PATTERN.fullmatch(key):
        raise InvalidPreset(f"{where}.key: expected a name like 'chunk_size', got {key!r}")
    where = f"{where} ({key!r})"
    unknown = [k for k in raw if k not in _SETTING_KEYS and k not in _FARMHAND_SETTING_KEYS]
    if unknown:
        raise InvalidPreset(
            f"{where}: unknown field(s) {', '.join(map(repr, unknown))}; "
            f"known are {', '.join(_SETTING_KEYS + _FARMHAND_SETTING_KEYS)}"
        )
    setting_type = raw.get("type")
    if setting_type not in SETTING_TYPES:
        raise InvalidPreset(
            f"{where}.type: must be one of {', '.join(SETTING_TYPES)}, got {setting_type!r}"
        )
    api: dict[str, Any] = {"key": key, "type": setting_type}
    if "subtype" in raw:
        if raw["subtype"] not in SETTING_SUBTYPES:
            raise InvalidPreset(
                f"{where}.subtype: must be one of {', '.join(SETTING_SUBTYPES)}, "
                f"got {raw['subtype']!r}"
            )
        if setting_type != "string":
            raise InvalidPreset(f"{where}.subtype: only string settings have a subtype")
        api["subtype"] = raw["subtype"]
    choices: tuple[str, ...] | None = None
    if "choices" in raw:
        if setting_type != "string":
            raise InvalidPreset(f"{where}.choices: only string settings can have choices")
        items = _expect(raw["choices"], list, f"{where}.choices", "a list of text")
        if not items or not all(isinstance(c, str) for c in items):
            raise InvalidPreset(f"{where}.choices: expected a non-empty list of text")
        if len(set(items)) != len(items):
            raise InvalidPreset(f"{where}.choices: a choice is listed twice")
        choices = tuple(items)
        api["choices"] = list(items)
    minimum = maximum = None
    if "propargs" in raw:
        propargs = _expect(raw["propargs"], dict, f"{where}.propargs", "a mapping")
        if not _is_json(propargs):
            raise InvalidPreset(f"{where}.propargs: only plain values are allowed")
        refused = sorted(set(propargs) & _INTEGER_ONLY_PROPARGS.get(setting_type, set()))
        if refused:
            raise InvalidPreset(
                f"{where}.propargs.{refused[0]}: Flamenco's add-on receives every number of "
                "propargs as a float and Blender takes this one only as an integer, so the "
                "job type would not show there; leave it out"
            )
        for bound in ("min", "max"):
            if bound in propargs and setting_type in ("int32", "float"):
                number = int | float if setting_type == "float" else int
                _expect(propargs[bound], number, f"{where}.propargs.{bound}", "a number")
        minimum, maximum = propargs.get("min"), propargs.get("max")
        if setting_type not in ("int32", "float"):
            minimum = maximum = None
        if minimum is not None and maximum is not None and minimum > maximum:
            raise InvalidPreset(f"{where}.propargs: min {minimum} is above max {maximum}")
        api["propargs"] = dict(propargs)
    for text_field in ("description", "label", "eval"):
        if text_field in raw:
            api[text_field] = _expect(raw[text_field], str, f"{where}.{text_field}", "text")
    default = _MISSING
    if "default" in raw:
        default = raw["default"]
        problem = _type_problem(setting_type, default)
        if problem is not None:
            raise InvalidPreset(f"{where}.default: {problem}")
        if setting_type == "float":
            default = float(default)
        if choices is not None and default not in choices:
            raise InvalidPreset(f"{where}.default: {default!r} is not one of the choices")
        if setting_type in ("int32", "float"):
            bounds = SettingDef(key, setting_type, minimum=minimum, maximum=maximum)
            problem = _range_problem(bounds, default)
            if problem is not None:
                raise InvalidPreset(f"{where}.default: {problem}")
        api["default"] = default
    if "evalInfo" in raw:
        info = _expect(raw["evalInfo"], dict, f"{where}.evalInfo", "a mapping")
        extra = [k for k in info if k not in ("showLinkButton", "description")]
        if extra:
            raise InvalidPreset(f"{where}.evalInfo: unknown field(s) {', '.join(map(repr, extra))}")
        show = _expect(
            info.get("showLinkButton", False),
            bool,
            f"{where}.evalInfo.showLinkButton",
            "true or false",
        )
        text = _expect(info.get("description", ""), str, f"{where}.evalInfo.description", "text")
        # The spec requires both fields of evalInfo, so the served form always has them.
        api["evalInfo"] = {"showLinkButton": show, "description": text}
    if "visible" in raw:
        if raw["visible"] not in SETTING_VISIBILITIES:
            raise InvalidPreset(
                f"{where}.visible: must be one of {', '.join(SETTING_VISIBILITIES)}, "
                f"got {raw['visible']!r}"
            )
        api["visible"] = raw["visible"]
    for flag in ("required", "editable"):
        if flag in raw:
            api[flag] = _expect(raw[flag], bool, f"{where}.{flag}", "true or false")
    # The served form lists the fields in the spec's order.
    api = {k: api[k] for k in _SETTING_KEYS if k in api}
    override = (
        _parse_override(raw, where, setting_type, choices, default) if "override" in raw else None
    )
    return SettingDef(
        key=key,
        type=setting_type,
        required=bool(raw.get("required", False)),
        default=default,
        choices=choices,
        minimum=minimum,
        maximum=maximum,
        override=override,
        api=api,
    )


def _parse_override(
    raw: dict[str, Any],
    where: str,
    setting_type: str,
    choices: tuple[str, ...] | None,
    default: Any,
) -> str:
    """The render setting a setting overrides, checked against the worker's allow-list."""
    path = raw["override"]
    render_setting = RENDER_SETTINGS.get(path) if isinstance(path, str) else None
    if render_setting is None:
        raise InvalidPreset(
            f"{where}.override: {path!r} is not a render setting a job may override; "
            f"known are {', '.join(RENDER_SETTINGS)}"
        )
    if setting_type != render_setting.setting_type:
        raise InvalidPreset(
            f"{where}.override: {path} takes {render_setting.setting_type} values, "
            f"but the setting is {setting_type}"
        )
    for value in [*(choices or ()), *([] if default is _MISSING else [default])]:
        try:
            check_override(path, value)
        except OverrideError as exc:
            raise InvalidPreset(f"{where}.override: {exc}") from None
    return path


def parse_job_type(data: Any, source: Path) -> JobType:
    """Check a preset's data and build its job type; InvalidPreset names the bad field."""
    _expect(data, dict, "preset", "a mapping at the top of the file")
    unknown = [k for k in data if k not in _TOP_KEYS]
    if unknown:
        raise InvalidPreset(
            f"unknown field(s) {', '.join(map(repr, unknown))}; known are {', '.join(_TOP_KEYS)}"
        )
    name = data.get("name")
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise InvalidPreset(
            f"name: expected lowercase letters, digits and dashes like 'simple-blender-render', "
            f"got {name!r}"
        )
    label = data.get("label", name.replace("-", " ").title())
    _expect(label, str, "label", "text")
    description = data.get("description")
    if description is not None:
        _expect(description, str, "description", "text")
    category = data.get("category", DEFAULT_CATEGORY)
    if not isinstance(category, str) or not NAME_PATTERN.fullmatch(category):
        raise InvalidPreset(
            f"category: expected a word like 'render', 'test' or 'protocol', got {category!r}"
        )
    # Unless it says otherwise, a preset is offered to artists when it renders.
    artists = _expect(
        data.get("artists", category == DEFAULT_CATEGORY), bool, "artists", "true or false"
    )

    raw_settings = _expect(data.get("settings", []), list, "settings", "a list of settings")
    settings: list[SettingDef] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_settings):
        definition = _parse_setting(raw, f"settings[{index}]")
        if definition.key in seen:
            raise InvalidPreset(f"settings[{index}].key: {definition.key!r} is defined twice")
        if definition.key in RESERVED_KEYS:
            raise InvalidPreset(
                f"settings[{index}].key: {definition.key!r} is a built-in placeholder's name"
            )
        seen.add(definition.key)
        settings.append(definition)

    worker_variables = _expect(
        data.get("worker_variables", []), list, "worker_variables", "a list of names"
    )
    for variable in worker_variables:
        if not isinstance(variable, str) or not KEY_PATTERN.fullmatch(variable):
            raise InvalidPreset(f"worker_variables: {variable!r} is not a name like 'blender'")
        if variable in seen:
            raise InvalidPreset(f"worker_variables: {variable!r} is also a setting's key")

    raw_rules = data.get("compile")
    _expect(raw_rules, dict, "compile", "a mapping with the compile rules")
    try:
        rules = parse_compile_rules(
            raw_rules, {s.key: s.type for s in settings}, tuple(worker_variables)
        )
    except RuleError as exc:
        where = str(exc)
        raise InvalidPreset(f"compile{'' if where.startswith(':') else '.'}{where}") from None
    _check_overrides_reach_a_command(settings, rules)
    _refuse_python_in_blender_args(rules)

    api: dict[str, Any] = {"name": name, "label": label}
    if description is not None:
        api["description"] = description
    api["settings"] = [s.api for s in settings]
    # The etag covers what is served plus the rules, so a change in how jobs compile also
    # makes submitters refresh; sorted keys make it independent of the YAML's key order.
    canonical = json.dumps(
        {"type": api, "compile": raw_rules, "worker_variables": worker_variables},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    etag = hashlib.sha1(canonical.encode("utf-8")).hexdigest()
    api["etag"] = etag
    return JobType(
        name=name,
        label=label,
        description=description,
        settings=settings,
        rules=rules,
        etag=etag,
        source=source,
        worker_variables=tuple(worker_variables),
        category=category,
        artists=artists,
        _api=api,
    )


def _check_overrides_reach_a_command(settings: list[SettingDef], rules: CompileRules) -> None:
    overriding: dict[str, str] = {}
    for index, setting in enumerate(settings):
        if setting.override is None:
            continue
        if setting.override in overriding:
            raise InvalidPreset(
                f"settings[{index}] ({setting.key!r}).override: {setting.override} is "
                f"already overridden by {overriding[setting.override]!r}"
            )
        overriding[setting.override] = setting.key
    if overriding and not rules.uses(OVERRIDES_BUILTIN):
        # Otherwise the values would be checked, stored and silently not rendered.
        keys = ", ".join(overriding.values())
        raise InvalidPreset(
            f"settings: {keys} override render settings, but no command of the compile rules "
            f"is given them; add 'overrides: \"{{{OVERRIDES_BUILTIN}}}\"' to the parameters of "
            "its blender-render command"
        )


def _refuse_python_in_blender_args(rules: CompileRules) -> None:
    """A ``blender-render`` argument that runs Python (Flamenco's ``--python-expr`` presets)
    breaks the preset when it loads, not every task on the workers, which refuse it."""
    for group_index, group in enumerate(rules.groups):
        for command_index, command in enumerate(group.commands):
            if command.name != "blender-render":
                continue
            for key in ("argsBefore", "args"):
                items = command.parameters.get(key)
                for index, item in enumerate(items if isinstance(items, list) else ()):
                    if not isinstance(item, Template) or not all(
                        isinstance(part, str) for part in item.parts
                    ):
                        continue
                    text = "".join(item.parts)  # type: ignore[arg-type]
                    why = refused_argument(text)
                    if why is not None:
                        raise InvalidPreset(
                            f"compile.tasks[{group_index}] ({group.id!r}).commands"
                            f"[{command_index}].parameters.{key}[{index}]: {text!r} {why}, "
                            "which workers refuse; presets are data: change render settings "
                            "with a setting's 'override:' (see 'Render-setting overrides')"
                        )


def _shape_problem(data: Any) -> str | None:
    # Walked without recursion and stopped at the limit, so it is safe on any input.
    stack = [(data, 0)]
    count = 0
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_PRESET_VALUES:
            return f"more than {MAX_PRESET_VALUES:,} values (YAML aliases count once per use)"
        if depth > MAX_PRESET_DEPTH:
            return f"nested deeper than {MAX_PRESET_DEPTH} levels"
        if isinstance(node, dict):
            stack.extend((value, depth + 1) for value in node.values())
        elif isinstance(node, list):
            stack.extend((value, depth + 1) for value in node)
    return None


def load_job_type(path: Path) -> JobType:
    """Read and check one preset file; PresetError says what is wrong with it."""
    try:
        size = path.stat().st_size
        if size > MAX_PRESET_BYTES:
            raise PresetError(
                path, f"file is {size:,} bytes; presets are limited to {MAX_PRESET_BYTES:,}"
            )
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PresetError(path, f"cannot read: {exc}") from None
    try:
        # A safe loader: YAML tags cannot construct Python objects.
        data = yaml.load(text, Loader=_YAML_LOADER)
    except yaml.YAMLError as exc:
        raise PresetError(path, f"not valid YAML: {exc}") from None
    problem = _shape_problem(data)
    if problem is not None:
        raise PresetError(path, problem)
    try:
        return parse_job_type(data, path)
    except InvalidPreset as exc:
        name = data.get("name") if isinstance(data, dict) else None
        raise PresetError(path, str(exc), name if isinstance(name, str) else None) from None


# --- the registry ------------------------------------------------------------------------


@dataclass
class _FileState:
    signature: tuple[int, int, int]
    job_type: JobType | None
    error: PresetError | None


class JobTypeRegistry:
    """The job types of some folders, reloaded when their files change.

    Later folders override earlier ones by job type name (shipped presets first, then the
    user's). Every access looks at the folders at most once per ``RELOAD_INTERVAL`` and
    rereads only files whose modification time, size or inode changed.
    """

    def __init__(self, folders: list[Path], clock: Callable[[], float] = time.monotonic) -> None:
        self._folders = [Path(f) for f in folders]
        self._clock = clock
        self._lock = threading.RLock()
        self._files: dict[Path, _FileState] = {}
        self._types: dict[str, JobType] = {}
        self._errors: list[PresetError] = []
        self._checked_at = 0.0
        self.refresh()

    def get(self, name: str) -> JobType | None:
        with self._lock:
            self._refresh_if_due()
            return self._types.get(name)

    def all(self) -> list[JobType]:
        with self._lock:
            self._refresh_if_due()
            return [self._types[name] for name in sorted(self._types)]

    def errors(self) -> list[PresetError]:
        with self._lock:
            self._refresh_if_due()
            return list(self._errors)

    def refresh(self) -> None:
        """Look at the folders now and reload what changed."""
        with self._lock:
            self._checked_at = self._clock()
            files = self._scan()
            changed = files.keys() != self._files.keys()
            states: dict[Path, _FileState] = {}
            for path, signature in files.items():
                old = self._files.get(path)
                if old is not None and old.signature == signature:
                    states[path] = old
                    continue
                changed = True
                states[path] = self._load(path, signature, old)
            for path in self._files.keys() - states.keys():
                log.info("job type preset %s was removed", path)
            self._files = states
            if changed:
                self._rebuild()

    def _refresh_if_due(self) -> None:
        if self._clock() - self._checked_at >= RELOAD_INTERVAL:
            self.refresh()

    def _scan(self) -> dict[Path, tuple[int, int, int]]:
        found: dict[Path, tuple[int, int, int]] = {}
        for folder in self._folders:
            try:
                # Dot files are editors' backups and lock files, not presets.
                paths = sorted(
                    p for p in folder.glob("*.yaml") if p.is_file() and not p.name.startswith(".")
                )
            except OSError as exc:
                log.warning("cannot list job type folder %s: %s", folder, exc)
                continue
            for path in paths:
                try:
                    st = path.stat()
                except FileNotFoundError:
                    continue  # deleted between the listing and now
                found[path] = (st.st_mtime_ns, st.st_size, st.st_ino)
        return found

    @staticmethod
    def _load(path: Path, signature: tuple[int, int, int], old: _FileState | None) -> _FileState:
        try:
            job_type = load_job_type(path)
        except PresetError as exc:
            log.warning("job type preset %s is broken and not used: %s", path, exc.message)
            if exc.name is None and old is not None:
                # Too broken to name its type: the type it defined before is the one dropped.
                if old.job_type is not None:
                    exc.name = old.job_type.name
                elif old.error is not None:
                    exc.name = old.error.name
            return _FileState(signature, None, exc)
        verb = "reloaded" if old is not None else "loaded"
        log.info("%s job type %r from %s", verb, job_type.name, path)
        return _FileState(signature, job_type, None)

    def _rebuild(self) -> None:
        types: dict[str, JobType] = {}
        errors: list[PresetError] = []
        for path, state in self._files.items():
            if state.error is not None:
                errors.append(state.error)
                # A broken file still names its type when the YAML is readable: that type
                # is dropped rather than silently falling back to an overridden version.
                if state.error.name is not None:
                    types.pop(state.error.name, None)
                continue
            assert state.job_type is not None
            earlier = types.get(state.job_type.name)
            if earlier is not None and earlier.source.parent == path.parent:
                error = PresetError(
                    path,
                    f"job type {state.job_type.name!r} is already defined in "
                    f"{earlier.source.name}; this file is ignored",
                    state.job_type.name,
                )
                log.warning("%s", error)
                errors.append(error)
                continue
            types[state.job_type.name] = state.job_type
        self._types = types
        self._errors = errors
