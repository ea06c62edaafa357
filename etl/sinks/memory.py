"""In-memory sink: keeps the frames, for tests and for library callers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from etl.sinks.base import LoadInfo, RunRecord
from etl.sinks.frames import diff_rows
from etl.tabs import TABS


class MemorySink:
    """Holds the last frame written to each tab. Write mode: replace."""

    write_mode = "replace"
    description = "memory"

    def __init__(self) -> None:
        self.tabs: dict[str, pd.DataFrame] = {}
        self.runs: list[RunRecord] = []
        self.loads = 0

    def check_ready(self) -> None:
        """Memory always takes a write."""

    def read_tabs(self, names: Sequence[str]) -> dict[str, pd.DataFrame]:
        return {name: self.tabs[name].copy() for name in names if name in self.tabs}

    def write_tabs(
        self, tabs: Mapping[str, pd.DataFrame], run: RunRecord | None = None
    ) -> LoadInfo:
        self.loads += 1
        info = self._diff(tabs)
        for name, frame in tabs.items():
            self.tabs[name] = frame.copy()
        if run is not None:
            run.load = info
            self.runs.append(run)
        return info

    def preview(self, tabs: Mapping[str, pd.DataFrame]) -> str:
        return "\n".join(
            f"{tab}: +{w.inserted} ~{w.updated} -{w.deleted}"
            for tab, w in self._diff(tabs).tabs.items()
        )

    def record_run(self, run: RunRecord) -> None:
        self.runs.append(run)

    def _diff(self, tabs: Mapping[str, pd.DataFrame]) -> LoadInfo:
        return LoadInfo(
            tabs={name: diff_rows(TABS[name], self.tabs.get(name), f) for name, f in tabs.items()}
        )
