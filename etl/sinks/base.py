"""The interface every destination implements, and what a load reports."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import pandas as pd


@dataclass
class TabWrite:
    """What one load did to one tab."""

    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    cells_written: int = 0


@dataclass
class LoadInfo:
    """What one load did, per tab, and what it cost."""

    tabs: dict[str, TabWrite] = field(default_factory=dict)
    api_calls: int = 0

    @property
    def rows_written(self) -> int:
        return sum(t.inserted + t.updated for t in self.tabs.values())


@dataclass
class RunRecord:
    """One run of the pipeline, as sinks log it (tab ``_runs``)."""

    run_id: str
    started_at: datetime
    finished_at: datetime
    outcome: str = "ok"
    tickets_fetched: int = 0
    rejects: int = 0
    load: LoadInfo | None = None
    message: str | None = None


class Sink(Protocol):
    """A destination for the pipeline's tabs.

    Frames are keyed by tab id (see ``etl.tabs.TABS``) and hold exactly the
    tab's columns in order; date and datetime columns are naive datetime64 in
    Bangkok wall time. ``read_tabs`` returns the same shape, leaving out tabs
    that do not exist yet.
    """

    description: str
    """Where the output goes, for the run summary (a folder, a spreadsheet)."""

    def read_tabs(self, names: Sequence[str]) -> dict[str, pd.DataFrame]: ...

    def write_tabs(self, tabs: Mapping[str, pd.DataFrame]) -> LoadInfo: ...

    def preview(self, tabs: Mapping[str, pd.DataFrame]) -> str:
        """What ``write_tabs`` would change, for ``--dry-run``; writes nothing."""
        ...

    def record_run(self, run: RunRecord) -> None:
        """Log one run (its outcome and counts) where ``etl doctor`` can find it."""
        ...
