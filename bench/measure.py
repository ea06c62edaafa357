"""What one scenario process reports about itself: CPU, peak RSS, wall time."""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def peak_rss_mb() -> float:
    """This process's peak resident set size (Linux reports KiB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


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
            "stages": {k: round(v, 3) for k, v in self.stages.items()},
            **extra,
        }
