"""In-memory sink: keeps the frames, for tests and for library callers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from etl.sinks.base import LoadInfo, TabWrite


class MemorySink:
    """Holds the last frame written to each tab. Write mode: replace."""

    write_mode = "replace"
    description = "memory"

    def __init__(self) -> None:
        self.tabs: dict[str, pd.DataFrame] = {}
        self.loads = 0

    def read_tabs(self, names: Sequence[str]) -> dict[str, pd.DataFrame]:
        return {name: self.tabs[name].copy() for name in names if name in self.tabs}

    def write_tabs(self, tabs: Mapping[str, pd.DataFrame]) -> LoadInfo:
        self.loads += 1
        info = LoadInfo()
        for name, frame in tabs.items():
            self.tabs[name] = frame.copy()
            info.tabs[name] = TabWrite(
                inserted=len(frame), cells_written=len(frame) * len(frame.columns)
            )
        return info
