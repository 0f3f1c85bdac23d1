"""A text progress bar for the terminal (the CLI's uploads and downloads), and the words for
progress that the CLI and the add-on share."""

from __future__ import annotations

import shutil
import sys
import time
from typing import TextIO


class ProgressBar:
    """``bar.update(step, fraction)``: redrawn in place on a terminal, as lines otherwise.

    Off a terminal (logs, CI) a line is written when the step changes or every 10 %, so the
    log shows progress without a flood.
    """

    def __init__(self, stream: TextIO | None = None, min_interval_s: float = 0.1) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.min_interval_s = min_interval_s
        self._last_draw = 0.0
        self._last_step = ""
        self._last_tenth = -1
        self._drawn = False

    def update(self, step: str, fraction: float) -> None:
        fraction = min(1.0, max(0.0, fraction))
        if self.tty:
            now = time.monotonic()
            if fraction < 1.0 and now - self._last_draw < self.min_interval_s:
                return
            self._last_draw = now
            width = shutil.get_terminal_size((80, 20)).columns
            self.stream.write("\r" + self._line(step, fraction, width).ljust(width - 1))
            self._drawn = True
        else:
            tenth = int(fraction * 10)
            if step == self._last_step and tenth == self._last_tenth:
                return
            self.stream.write(self._line(step, fraction, 80) + "\n")
            self._last_tenth = tenth
        self._last_step = step
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
        self._drawn = False

    @staticmethod
    def _line(step: str, fraction: float, width: int) -> str:
        bar_width = 30
        filled = int(round(fraction * bar_width))
        text = f"[{'#' * filled}{'.' * (bar_width - filled)}] {fraction:4.0%} {step}"
        return text[: max(10, width - 1)]


def human_bytes(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def eta_text(seconds: float | None) -> str:
    """'ETA 3m20s' for seconds left; 'ETA --' when nothing tells."""
    if seconds is None:
        return "ETA --"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"ETA {hours}h{minutes:02d}m"
    return f"ETA {minutes}m{secs:02d}s" if minutes else f"ETA {secs}s"
