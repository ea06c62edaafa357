"""Local sink: one CSV per tab in a folder, the default when no spreadsheet is set.

Files are UTF-8 with a BOM so Excel shows Thai; dates are ISO text
(``YYYY-MM-DD`` and ``YYYY-MM-DD HH:MM:SS``, Bangkok time) which Looker Studio
and pandas type on read. Write mode: replace, one whole file per tab, written
to a temporary file and renamed so a crash never leaves half a file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

import pandas as pd

from etl.errors import SinkError
from etl.models import BANGKOK
from etl.sinks.base import LoadInfo, RunRecord
from etl.sinks.frames import diff_rows, typed_frame
from etl.tabs import RUNS, TABS, TabSpec

ENCODING = "utf-8-sig"


class LocalSink:
    """Writes and reads tabs as ``<folder>/<tab name>.csv``."""

    write_mode = "replace"

    def __init__(self, folder: Path, names: Mapping[str, str] | None = None) -> None:
        self.folder = Path(folder)
        self.names = dict(names or {})
        self.description = f"{self.folder}/ (CSV files)"

    def path(self, tab: str) -> Path:
        return self.folder / f"{self.names.get(tab, tab)}.csv"

    def read_tabs(self, names: Sequence[str]) -> dict[str, pd.DataFrame]:
        tabs: dict[str, pd.DataFrame] = {}
        for name in names:
            path = self.path(name)
            if (name in TABS or name == RUNS.name) and path.is_file():
                text = pd.read_csv(path, dtype=str, keep_default_na=False, encoding=ENCODING)
                tabs[name] = typed_frame(_spec(name), text)
        return tabs

    def write_tabs(self, tabs: Mapping[str, pd.DataFrame]) -> LoadInfo:
        self._make_folder()
        info = self._diff(tabs)
        for name, frame in tabs.items():
            self._write_atomically(self.path(name), to_csv_text(TABS[name], frame))
        return info

    def preview(self, tabs: Mapping[str, pd.DataFrame]) -> str:
        return "\n".join(
            f"{self.path(tab).name}: +{w.inserted} ~{w.updated} -{w.deleted}"
            for tab, w in self._diff(tabs).tabs.items()
        )

    def record_run(self, run: RunRecord) -> None:
        """Append the run to ``_runs.csv`` (rewritten atomically, like every tab)."""
        load = run.load or LoadInfo()
        row = pd.DataFrame(
            [
                {
                    "run_id": run.run_id,
                    "started_at": _wall_time(run.started_at),
                    "finished_at": _wall_time(run.finished_at),
                    "outcome": run.outcome,
                    "tickets_fetched": run.tickets_fetched,
                    "rejects": run.rejects,
                    "inserted": sum(w.inserted for w in load.tabs.values()),
                    "updated": sum(w.updated for w in load.tabs.values()),
                    "deleted": sum(w.deleted for w in load.tabs.values()),
                    "per_tab": "; ".join(
                        f"{tab}: +{w.inserted} ~{w.updated} -{w.deleted}"
                        for tab, w in load.tabs.items()
                    ),
                    "api_calls": load.api_calls,
                    "message": run.message,
                }
            ]
        )
        old = self.read_tabs([RUNS.name]).get(RUNS.name)
        runs = row if old is None or old.empty else pd.concat([old, row], ignore_index=True)
        self._make_folder()
        self._write_atomically(self.path(RUNS.name), to_csv_text(RUNS, runs))

    def _diff(self, tabs: Mapping[str, pd.DataFrame]) -> LoadInfo:
        old = self.read_tabs(list(tabs))
        return LoadInfo(
            tabs={name: diff_rows(TABS[name], old.get(name), frame) for name, frame in tabs.items()}
        )

    def _make_folder(self) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise SinkError(
                f"Cannot create output folder {self.folder}: {error.strerror}"
            ) from None

    def _write_atomically(self, path: Path, text: str) -> None:
        handle, temporary = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
        )
        try:
            with os.fdopen(handle, "w", encoding=ENCODING, newline="") as file:
                file.write(text)
            os.replace(temporary, path)
        except OSError as error:
            Path(temporary).unlink(missing_ok=True)
            raise SinkError(f"Cannot write {path}: {error.strerror}") from None


def _spec(tab: str) -> TabSpec:
    return RUNS if tab == RUNS.name else TABS[tab]


def _wall_time(moment: datetime) -> datetime:
    return moment.astimezone(BANGKOK).replace(tzinfo=None)


def to_csv_text(spec: TabSpec, frame: pd.DataFrame) -> str:
    """The tab as CSV text: ISO dates, empty cells for missing values."""
    out = frame.copy()
    for column in spec.columns:
        if column.kind == "date":
            out[column.name] = out[column.name].dt.strftime("%Y-%m-%d")
        elif column.kind == "datetime":
            out[column.name] = out[column.name].dt.strftime("%Y-%m-%d %H:%M:%S")
    return str(out.to_csv(index=False, lineterminator="\n"))
