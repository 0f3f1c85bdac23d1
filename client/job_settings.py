"""A job type's settings, evaluated for one .blend: defaults, ``eval`` expressions, coercion.

The manager serves each job type's settings (the spec's ``AvailableJobSetting``). Settings
with an ``eval`` are Python expressions that the *submitting* Blender evaluates in the scene's
context, as Flamenco's add-on does: the artist's own Blender running the studio's presets. The
manager never evaluates them. The names offered to an expression are Flamenco's: ``C``,
``bpy``, ``Path``, ``abspath``, ``last_n_dir_parts``, ``jobname`` and ``settings``.

No bpy import here: the caller passes bpy and the context in, so the add-on and the CLI's
headless evaluation share this code, and tests can run it with plain objects.
"""

from __future__ import annotations

import ntpath
import posixpath
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

#: Setting types of the spec and the Python type a value of each must have.
PYTHON_TYPES: dict[str, type] = {"string": str, "int32": int, "float": float, "bool": bool}

#: Where a setting is shown: everywhere, only when submitting, only on the dashboard, nowhere.
SHOWN_IN_ADDON = frozenset({"visible", "submission"})


class SettingEvalError(Exception):
    """An ``eval`` expression failed; names the setting and the expression."""

    def __init__(self, key: str, expression: str, error: BaseException) -> None:
        super().__init__(f"setting {key!r}: evaluating {expression!r} failed: {error}")
        self.key = key
        self.expression = expression
        self.error = error


@dataclass(frozen=True)
class Setting:
    """One ``AvailableJobSetting``, with the defaults of the spec filled in."""

    key: str
    type: str
    subtype: str = ""
    choices: tuple[str, ...] = ()
    propargs: Mapping[str, Any] | None = None
    default: Any = None
    eval: str = ""
    show_link_button: bool = False
    eval_description: str = ""
    visible: str = "visible"
    required: bool = False
    editable: bool = True
    label: str = ""
    description: str = ""

    @classmethod
    def from_api(cls, raw: Mapping[str, Any]) -> Setting:
        info = raw.get("evalInfo") or {}
        visible = raw.get("visible", "visible")
        if visible is True:
            visible = "visible"
        elif visible is False:
            visible = "hidden"
        return cls(
            key=str(raw["key"]),
            type=str(raw.get("type", "string")),
            subtype=str(raw.get("subtype") or ""),
            choices=tuple(str(c) for c in raw.get("choices") or ()),
            propargs=dict(raw.get("propargs") or {}),
            default=raw.get("default"),
            eval=str(raw.get("eval") or ""),
            show_link_button=bool(info.get("showLinkButton", False)),
            eval_description=str(info.get("description") or ""),
            visible=str(visible),
            required=bool(raw.get("required", False)),
            editable=bool(raw.get("editable", True)),
            label=str(raw.get("label") or ""),
            description=str(raw.get("description") or ""),
        )

    @property
    def shown_in_addon(self) -> bool:
        return self.visible in SHOWN_IN_ADDON

    @property
    def display_name(self) -> str:
        """'render_output_root' → 'Render Output Root', unless the preset gives a label."""
        return self.label or self.key.replace("_", " ").title()

    @property
    def minimum(self) -> Any:
        return (self.propargs or {}).get("min")

    @property
    def maximum(self) -> Any:
        return (self.propargs or {}).get("max")

    def coerce(self, value: Any) -> Any:
        """A value of this setting's type; JSON and expressions blur int/float and str/Path."""
        if value is None:
            return None
        if self.type == "string":
            return str(value)
        if self.type == "int32":
            return int(value)
        if self.type == "float":
            return float(value)
        if self.type == "bool":
            if isinstance(value, str):
                return parse_bool(value)
            return bool(value)
        return value

    def blank(self) -> Any:
        """The value a setting has before anything fills it: its default or its type's zero."""
        if self.default is not None:
            return self.coerce(self.default)
        if self.choices:
            return self.choices[0]
        return PYTHON_TYPES.get(self.type, str)()


@dataclass(frozen=True)
class JobType:
    name: str
    label: str
    etag: str
    description: str
    settings: tuple[Setting, ...]

    @classmethod
    def from_api(cls, raw: Mapping[str, Any]) -> JobType:
        return cls(
            name=str(raw["name"]),
            label=str(raw.get("label") or raw["name"]),
            etag=str(raw.get("etag") or ""),
            description=str(raw.get("description") or ""),
            settings=tuple(Setting.from_api(s) for s in raw.get("settings") or ()),
        )

    def setting(self, key: str) -> Setting | None:
        return next((s for s in self.settings if s.key == key), None)


class SettingsView:
    """``settings`` inside an expression: the values worked out so far, as attributes."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._values = values

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"no setting {name!r} (yet)") from None

    def __getitem__(self, name: str) -> Any:
        return self._values[name]


def last_n_dir_parts(n: int, filepath: str | PurePath) -> Path:
    """The last ``n`` folder names of ``filepath``'s folder, as a relative path.

    ``last_n_dir_parts(2, "/projects/film/shot/scene.blend")`` is ``film/shot``; 0 gives ``.``;
    asking for more parts than there are gives them all (still relative).
    """
    if n <= 0:
        return Path()
    text = str(filepath)
    flavour = ntpath if ("\\" in text and "/" not in text) else posixpath
    parts = [p for p in flavour.dirname(text).replace("\\", "/").split("/") if p]
    if parts and parts[0].endswith(":"):  # a Windows drive is not a folder name
        parts = parts[1:]
    return Path(*parts[-n:]) if parts else Path()


def eval_namespace(
    *,
    context: Any,
    bpy: Any,
    blendfile: str,
    jobname: str,
    values: Mapping[str, Any],
    abspath: Callable[[str], str] | None = None,
) -> dict[str, Any]:
    """The names an ``eval`` expression sees (Flamenco's, so presets work in both add-ons)."""
    if abspath is None:
        abspath = bpy.path.abspath if bpy is not None else (lambda p: str(Path(p).absolute()))

    def last_parts(n: int, filepath: str | PurePath | None = None) -> Path:
        return last_n_dir_parts(n, blendfile if filepath is None else filepath)

    return {
        "C": context,
        "bpy": bpy,
        "Path": Path,
        "abspath": abspath,
        "last_n_dir_parts": last_parts,
        "jobname": jobname,
        "settings": SettingsView(values),
    }


def evaluate_setting(setting: Setting, namespace: Mapping[str, Any]) -> Any:
    """The value of one setting's ``eval`` in ``namespace``, coerced to the setting's type."""
    try:
        # The artist's own Blender evaluating the studio's preset, as in Flamenco's add-on;
        # the manager only serves the text and never runs it.
        value = eval(setting.eval, {"__builtins__": __builtins__}, dict(namespace))
        return setting.coerce(value)
    except Exception as exc:  # any error in a preset's expression is the preset's, reported
        raise SettingEvalError(setting.key, setting.eval, exc) from exc


def evaluate_settings(
    job_type: JobType,
    *,
    make_namespace: Callable[[Mapping[str, Any]], Mapping[str, Any]],
    given: Mapping[str, Any] | None = None,
    evaluate: Callable[[Setting], bool] | None = None,
) -> dict[str, Any]:
    """All settings' values, in the preset's order, so later ones see earlier ones.

    ``given`` values win (the artist typed them, or the CLI's ``--set``); otherwise a setting
    whose ``eval`` should be used (``evaluate(setting)``, default: every one with an ``eval``)
    is evaluated; otherwise it gets its default. Settings left without a value are left out,
    so the manager applies its own default or says that a required one is missing.
    """
    given = dict(given or {})
    should_eval = evaluate or (lambda s: bool(s.eval))
    values: dict[str, Any] = {}
    for setting in job_type.settings:
        if setting.key in given:
            values[setting.key] = setting.coerce(given.pop(setting.key))
        elif setting.eval and should_eval(setting):
            values[setting.key] = evaluate_setting(setting, make_namespace(values))
        elif setting.default is not None:
            values[setting.key] = setting.coerce(setting.default)
    values.update(given)  # extra settings the type does not declare are kept, as on the manager
    return values


def parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"{text!r} is not true or false")


def missing_required(job_type: JobType, values: Mapping[str, Any]) -> list[str]:
    """Required settings that have no value (in the preset's order)."""
    return [s.key for s in job_type.settings if s.required and values.get(s.key) in (None, "")]


def by_key(settings: Iterable[Setting]) -> dict[str, Setting]:
    return {s.key: s for s in settings}
