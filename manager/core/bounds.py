"""What every door accepts as a number, a name or a time: whole numbers that fit the columns
they go into on SQLite and PostgreSQL alike, finite floats, names without control characters,
and times with their time zone that fit a column in UTC.

PostgreSQL refuses what SQLite stores silently (a NUL in text, 2**31 in an INTEGER column),
so a value that passes here is one that both databases keep.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, Field

from manager.core.errors import BadInput

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
#: Blender's own frame limits (MINAFRAME, MAXFRAME): no frame outside them can be rendered.
FRAME_MIN, FRAME_MAX = -1_048_574, 1_048_574
#: Longest number, in characters, any parser reads; 2**64 has 20 digits and a float written
#: in full precision about 24, so this is room to spare and far below Python's 4,300.
MAX_NUMBER_CHARS = 40
#: Deepest nesting of lists and objects any JSON body may have; real bodies stay below 10.
MAX_JSON_DEPTH = 64

#: An INTEGER column (priorities, counters, numbers shown to people).
Int32 = Annotated[int, Field(ge=INT32_MIN, le=INT32_MAX)]
NonNegativeInt32 = Annotated[int, Field(ge=0, le=INT32_MAX)]
#: An id kept in an INTEGER column: positive, as the protocols number them.
Id32 = Annotated[int, Field(ge=1, le=INT32_MAX)]
#: A BIGINT column (file sizes).
NonNegativeInt64 = Annotated[int, Field(ge=0, le=INT64_MAX)]
Frame = Annotated[int, Field(ge=FRAME_MIN, le=FRAME_MAX)]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]

_WHOLE_NUMBER = re.compile(r"-?[0-9]+")
_DECIMAL = re.compile(r"-?[0-9]+(?:\.[0-9]*)?|-?\.[0-9]+")


class BadNumber(BadInput):
    """Text that is not a number in range; the message names the field."""
# C0 controls and DEL, and the C1 controls: never part of a name a person gave.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def parse_whole_number(
    text: str, field: str, minimum: int = INT32_MIN, maximum: int = INT32_MAX
) -> int:
    """A whole number written in ASCII digits within ``minimum..maximum``, or BadInput naming
    the field. ``str.isdigit`` and ``int`` also take '²' and Arabic-Indic digits."""
    _check_length(text, field)
    if not _WHOLE_NUMBER.fullmatch(text):
        raise BadNumber(f"{field}: {text!r} is not a whole number")
    value = int(text)
    if not minimum <= value <= maximum:
        raise BadNumber(f"{field}: {value} is outside {minimum}..{maximum}")
    return value


def parse_decimal(
    text: str, field: str, minimum: float = INT32_MIN, maximum: float = INT32_MAX
) -> float:
    """A number written as ASCII digits with an optional decimal point, within range; never
    'inf', 'nan' or an exponent."""
    _check_length(text, field)
    if not _DECIMAL.fullmatch(text):
        raise BadNumber(f"{field}: {text!r} is not a number")
    value = float(text)
    if not minimum <= value <= maximum:
        raise BadNumber(f"{field}: {text} is outside {minimum}..{maximum}")
    return value


def _check_length(text: str, field: str) -> None:
    if len(text) > MAX_NUMBER_CHARS:
        raise BadNumber(f"{field}: {text[:20]!r}... has more digits than any accepted number")


def check_finite(value: float, field: str) -> float:
    if not math.isfinite(value):
        raise BadInput(f"{field}: {value} is not a finite number")
    return value


def control_character(value: str) -> str | None:
    """The first control character in ``value``, shown as an escape, or None."""
    found = _CONTROL.search(value)
    return repr(found.group())[1:-1] if found else None


def check_name(value: str, field: str) -> str:
    """A name people gave (a worker, a job, a tag): text without control characters, which
    would break logs and listings, and which PostgreSQL refuses outright (NUL)."""
    try:
        return _plain_name(value)
    except ValueError as exc:
        raise BadInput(f"{field}: {exc}") from None


#: A worker runs a handful of task types; each name fits ``tasks.task_type``.
MAX_TASK_TYPES, MAX_TASK_TYPE_CHARS = 200, 100


def check_task_types(values: list[str], field: str) -> list[str]:
    """The task types a worker says it runs, each once, in the order given."""
    if len(values) > MAX_TASK_TYPES:
        raise BadInput(f"{field}: {len(values)} task types; a worker may name {MAX_TASK_TYPES}")
    for value in values:
        if len(value) > MAX_TASK_TYPE_CHARS:
            raise BadInput(f"{field}: a task type is at most {MAX_TASK_TYPE_CHARS} characters")
        check_name(value, field)
    return list(dict.fromkeys(values))


def _plain_name(value: str) -> str:
    bad = control_character(value)
    if bad is not None:
        raise ValueError(f"names may not contain control characters ({bad})")
    return value


#: A name in a request body, refused by validation with the field's name in the message.
Name = Annotated[str, AfterValidator(_plain_name)]


def _in_utc(value: datetime) -> datetime:
    # 9999-12-31T23:59-23:59 is a valid time that no database column can hold: in UTC it
    # falls in year 10000.
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("this time falls outside the years 1 to 9999 in UTC") from None


#: A point in time in a request body, with its time zone, that a database column can hold.
Instant = Annotated[AwareDatetime, AfterValidator(_in_utc)]
