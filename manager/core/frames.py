"""Frame ranges: parsing the artist's text, chunking it into tasks, and the order chunks go out."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Sequence

from manager.core.bounds import FRAME_MAX, FRAME_MIN

#: Most frames one range may name. Checked before any list is built, so "1-999999999" is
#: refused in microseconds instead of allocating gigabytes.
DEFAULT_MAX_FRAMES = 1_000_000

# One comma-separated part: a frame, or "first-last" / "first..last". Frames may be negative
# (Blender allows it); the sign binds to the number, so "-5--1" and "-5..-1" read one way only.
_PART = re.compile(r"\s*(-?[0-9]+)\s*(?:(\.\.|-)\s*(-?[0-9]+)\s*)?")


class FrameRangeError(ValueError):
    """A frame range that cannot be read; the message names the offending part."""


def parse_frame_range(text: str, max_frames: int = DEFAULT_MAX_FRAMES) -> list[int]:
    """Read "1-10,20..25,40" into frames, in the order written, without duplicates."""
    if not isinstance(text, str):
        raise FrameRangeError(f"a frame range must be text, not {type(text).__name__}")
    if not text.strip():
        raise FrameRangeError("the frame range is empty")
    bounds: list[tuple[int, int]] = []
    total = 0
    for raw in text.split(","):
        part = raw.strip()
        if not part:
            raise FrameRangeError(f"empty part in frame range {text.strip()!r} (two commas?)")
        match = _PART.fullmatch(raw)
        if match is None:
            raise FrameRangeError(
                f"{part!r} is not a frame or a range; write e.g. '47', '1-30' or '1..30'"
            )
        first = _frame(match.group(1), part)
        last = _frame(match.group(3), part) if match.group(3) is not None else first
        if last < first:
            raise FrameRangeError(f"{part!r} runs backwards; write the lower frame first")
        total += last - first + 1
        if total > max_frames:
            raise FrameRangeError(
                f"{text.strip()!r} names more than {max_frames:,} frames (at {part!r})"
            )
        bounds.append((first, last))
    if len(bounds) == 1:
        first, last = bounds[0]
        return list(range(first, last + 1))
    # dict keeps the first occurrence of each frame, in order.
    seen: dict[int, None] = {}
    for first, last in bounds:
        seen.update(dict.fromkeys(range(first, last + 1)))
    return list(seen)


def _frame(digits: str, part: str) -> int:
    # Measured as text first: int() of thousands of digits is slow, and refused past 4,300.
    frame = int(digits) if len(digits.lstrip("-")) <= len(str(FRAME_MAX)) else None
    if frame is None or not FRAME_MIN <= frame <= FRAME_MAX:
        raise FrameRangeError(
            f"{part[:40]!r} names a frame outside {FRAME_MIN:,}..{FRAME_MAX:,}, "
            "the frames Blender can render"
        )
    return frame


def chunk_frames(frames: Sequence[int], chunk_size: int) -> list[list[int]]:
    """Split frames into runs of ``chunk_size`` consecutive entries (the last may be shorter)."""
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk size must be a whole number of at least 1, not {chunk_size!r}")
    if chunk_size == 1:
        return [[frame] for frame in frames]
    return [list(frames[i : i + chunk_size]) for i in range(0, len(frames), chunk_size)]


def format_frames(frames: Sequence[int], range_sep: str = "-") -> str:
    """Compact text for frames: [1, 2, 3, 7] -> "1-3,7"; range_sep=".." gives Blender's form."""
    if not frames:
        return ""
    if len(frames) == 1:
        return str(frames[0])
    parts: list[str] = []
    start = prev = frames[0]
    for frame in frames[1:]:
        if frame == prev + 1:
            prev = frame
            continue
        parts.append(_run(start, prev, range_sep))
        start = prev = frame
    parts.append(_run(start, prev, range_sep))
    return ",".join(parts)


def _run(first: int, last: int, range_sep: str) -> str:
    return str(first) if first == last else f"{first}{range_sep}{last}"


def dispatch_ranks(n: int) -> list[int]:
    """A rank per chunk index: first, last, middle, then midpoints of halves, quarters, ...

    Rendering the extremes and the middle early shows a broken file, a missing texture or an
    impossible frame range within minutes instead of at frame 200. Breadth-first bisection
    visits every index exactly once, so this is O(n).
    """
    if n < 0:
        raise ValueError(f"n must not be negative, got {n}")
    ranks = [0] * n
    if n == 0:
        return ranks
    next_rank = 1
    if n > 1:
        ranks[n - 1] = 1
        next_rank = 2
    # Open intervals (lo, hi) whose ends already have a rank.
    gaps: deque[tuple[int, int]] = deque([(0, n - 1)])
    while gaps:
        lo, hi = gaps.popleft()
        if hi - lo < 2:
            continue
        mid = (lo + hi) // 2
        ranks[mid] = next_rank
        next_rank += 1
        gaps.append((lo, mid))
        gaps.append((mid, hi))
    return ranks
