"""What one scenario process reports about itself: CPU, peak RSS, wall time."""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident set size of this process, or of its largest finished child
    (``RUSAGE_CHILDREN``; Linux reports KiB)."""
    peak = resource.getrusage(who).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def cpu_seconds() -> float:
    """CPU of this process and of its finished children: a child the pipeline starts
    (none since the CSV writer stopped forking) works for it too."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


class Stopwatch:
    """Wall and CPU seconds of named stages, in order."""

    def __init__(self) -> None:
        self.stages: dict[str, float] = {}
        self.started = time.perf_counter()
        self.cpu_started = cpu_seconds()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.stages[name] = self.stages.get(name, 0.0) + time.perf_counter() - started

    def report(self, **extra: Any) -> dict[str, Any]:
        """The row a scenario prints: wall/CPU since the stopwatch started, peak RSS."""
        return {
            "wall_s": round(time.perf_counter() - self.started, 3),
            "cpu_s": round(cpu_seconds() - self.cpu_started, 3),
            "peak_rss_mb": round(peak_rss_mb(), 1),
            # A forked child shares the parent's pages copy-on-write: its peak is
            # reported apart, not added (that would count the shared pages twice).
            "child_peak_rss_mb": round(peak_rss_mb(resource.RUSAGE_CHILDREN), 1),
            "stages": {k: round(v, 3) for k, v in self.stages.items()},
            **extra,
        }
