"""Which job types a submitter offers: artist types first, the farm's render type by default,
broken presets named rather than hidden.

The manager says what each type is for at ``/api/farmhand/job-types``; a Flamenco manager,
which has no such list, gets every type it serves offered as it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: The render type a manager that does not name one is assumed to have (Flamenco's too).
DEFAULT_RENDER_TYPE = "simple-blender-render"


@dataclass(frozen=True)
class CatalogType:
    name: str
    label: str
    description: str = ""
    category: str = "render"
    artists: bool = True
    #: Task types of the job type that no worker on the farm runs now.
    unrun_task_types: tuple[str, ...] = ()

    @classmethod
    def from_api(cls, raw: Mapping[str, Any]) -> CatalogType:
        return cls(
            name=str(raw["name"]),
            label=str(raw.get("label") or raw["name"]),
            description=str(raw.get("description") or ""),
            category=str(raw.get("category") or "render"),
            artists=bool(raw.get("artists", True)),
            unrun_task_types=tuple(str(t) for t in raw.get("unrun_task_types") or ()),
        )

    @property
    def unrun_note(self) -> str:
        """'no connected worker runs misc tasks', or '' when the farm can run it."""
        if not self.unrun_task_types:
            return ""
        return f"no connected worker runs {', '.join(self.unrun_task_types)} tasks"


@dataclass(frozen=True)
class BrokenPreset:
    """A preset file the manager could not load; ``name`` when the file says it."""

    name: str
    path: str
    message: str

    @property
    def title(self) -> str:
        return self.name or self.path.rsplit("/", 1)[-1]

    def describe(self) -> str:
        return f"job type {self.title!r} is broken on the manager: {self.message}"


@dataclass(frozen=True)
class JobCatalog:
    types: tuple[CatalogType, ...]
    render_type: str = DEFAULT_RENDER_TYPE
    broken: tuple[BrokenPreset, ...] = ()
    #: False for a manager without Farmhand's list (every type is then offered).
    knows_purposes: bool = True
    _by_name: dict[str, CatalogType] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {t.name: t for t in self.types})

    @classmethod
    def from_api(cls, raw: Mapping[str, Any]) -> JobCatalog:
        return cls(
            types=tuple(CatalogType.from_api(t) for t in raw.get("job_types") or ()),
            render_type=str(raw.get("render_type") or DEFAULT_RENDER_TYPE),
            broken=tuple(
                BrokenPreset(str(e.get("name") or ""), str(e.get("path") or ""),
                             str(e.get("message") or ""))
                for e in raw.get("errors") or ()
            ),
        )

    @classmethod
    def from_flamenco(cls, served: Iterable[Mapping[str, Any]]) -> JobCatalog:
        """Every type of a manager that does not say what its types are for."""
        return cls(types=tuple(CatalogType.from_api(t) for t in served), knows_purposes=False)

    def get(self, name: str) -> CatalogType | None:
        return self._by_name.get(name)

    def broken_type(self, name: str) -> BrokenPreset | None:
        return next((b for b in self.broken if b.name == name), None)

    def offered(self, everything: bool = False) -> list[CatalogType]:
        """Artist types (all with ``everything``), the render type first, then by name."""
        chosen = [t for t in self.types if everything or t.artists]
        return sorted(chosen, key=lambda t: (t.name != self.render_type, t.name))

    def default_type(self) -> CatalogType | None:
        """The render type when it is offered, else the first artist type, else None."""
        offered = self.offered()
        return offered[0] if offered else None

    def why_not_offered(self, name: str) -> str:
        """Why ``name`` cannot be chosen: broken, unknown, or not an artist type."""
        broken = self.broken_type(name)
        if broken is not None:
            return broken.describe()
        if name not in self._by_name:
            known = ", ".join(t.name for t in self.offered()) or "none"
            return f"the manager has no job type {name!r} (offered: {known})"
        return ""
