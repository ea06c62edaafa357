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
    bytes_processed: int | None = None
    """Bytes the load's queries processed (BigQuery bills them); None where no query runs."""

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
    mode: str = "sync"
    """``sync``, ``verify`` or ``backfill``."""
    windows_read: int = 0
    windows_rescanned: int = 0
    records_expected: int = 0
    """What the Traffy server counted in the windows read; ``records_read`` must reach it."""
    records_read: int = 0

    def row(self) -> dict[str, object]:
        """The run as one row of the ``_runs`` tab (``etl.tabs.RunRow``), times as given."""
        load = self.load or LoadInfo()
        return {
            "run_id": self.run_id,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "outcome": self.outcome,
            "tickets_fetched": self.tickets_fetched,
            "rejects": self.rejects,
            "inserted": sum(w.inserted for w in load.tabs.values()),
            "updated": sum(w.updated for w in load.tabs.values()),
            "deleted": sum(w.deleted for w in load.tabs.values()),
            "per_tab": "; ".join(
                f"{tab}: +{w.inserted} ~{w.updated} -{w.deleted}" for tab, w in load.tabs.items()
            ),
            "api_calls": load.api_calls,
            "message": (self.message or "")[:1000] or None,
            "mode": self.mode,
            "windows_read": self.windows_read,
            "windows_rescanned": self.windows_rescanned,
            "records_expected": self.records_expected,
            "records_read": self.records_read,
        }


class Sink(Protocol):
    """A destination for the pipeline's tabs.

    Frames are keyed by tab id (see ``etl.tabs.TABS``) and hold exactly the
    tab's columns in order; date and datetime columns are naive datetime64 in
    Bangkok wall time. ``read_tabs`` returns the same shape, leaving out tabs
    that do not exist yet.
    """

    description: str
    """Where the output goes, for the run summary (a folder, a spreadsheet)."""

    def check_ready(self) -> None:
        """Raise ``SinkError`` now if a load could not be written: called before the
        run spends minutes paging Traffy."""
        ...

    def read_tabs(self, names: Sequence[str]) -> dict[str, pd.DataFrame]: ...

    def write_tabs(
        self, tabs: Mapping[str, pd.DataFrame], run: RunRecord | None = None
    ) -> LoadInfo:
        """Make the tabs hold these frames and, given a ``run``, log it in ``_runs``.

        The run is logged with the same write (its ``load`` filled in by the
        sink), so a sync costs no extra request for its log line.
        """
        ...

    def preview(self, tabs: Mapping[str, pd.DataFrame]) -> str:
        """What ``write_tabs`` would change, for ``--dry-run``; writes nothing."""
        ...

    def record_run(self, run: RunRecord) -> None:
        """Log a run that wrote nothing (a failed one) where ``etl doctor`` can find it."""
        ...
