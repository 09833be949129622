"""A progress line for long command-line runs: files done of total, rate, errors.

On a terminal the line is redrawn in place; in a log file (spark-submit,
cron, CI) a full line is printed at most every ``log_interval`` seconds, so
logs stay short. Only counts are shown, never a file name.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from sparkdeid.jobs.batch import BatchProgress


class ProgressLine:
    """Callable given to :func:`sparkdeid.jobs.batch.run_batch` as ``progress``."""

    def __init__(self, stream: TextIO | None = None, log_interval: float = 30.0) -> None:
        self.stream = stream or sys.stderr
        self.redraw = bool(getattr(self.stream, "isatty", lambda: False)())
        self.log_interval = log_interval
        self._last_printed = -float("inf")
        self._last_width = 0

    def __call__(self, progress: BatchProgress) -> None:
        line = describe(progress)
        finished = progress.done >= progress.total
        if self.redraw:
            padding = " " * max(0, self._last_width - len(line))
            self.stream.write(f"\r{line}{padding}" + ("\n" if finished else ""))
            self._last_width = len(line)
        elif finished or time.monotonic() - self._last_printed >= self.log_interval:
            self.stream.write(line + "\n")
            self._last_printed = time.monotonic()
        self.stream.flush()


def describe(progress: BatchProgress) -> str:
    """``sparkdeid: 120/1000 files (12 %), 3.4 files/s, 2 errors, about 4 min left``."""
    share = 100.0 * progress.done / progress.total if progress.total else 100.0
    parts = [f"sparkdeid: {progress.done}/{progress.total} files ({share:.0f} %)"]
    if progress.skipped:
        parts.append(f"{progress.skipped} done before")
    parts.append(f"{progress.rate:.1f} files/s" if progress.done > progress.skipped
                 else "starting")
    parts.append(f"{progress.errors} error{'s' if progress.errors != 1 else ''}")
    left = progress.total - progress.done
    if left and progress.rate > 0:
        parts.append(f"about {_duration(left / progress.rate)} left")
    return ", ".join(parts)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
