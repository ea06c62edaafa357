"""Local sink: one CSV per tab in a folder, the default when no spreadsheet is set.

Files are UTF-8 with a BOM so Excel shows Thai; dates are ISO text
(``YYYY-MM-DD`` and ``YYYY-MM-DD HH:MM:SS``, Bangkok time) which Looker Studio
and pandas type on read. Write mode: replace, one whole file per tab, written
to a temporary file and renamed so a crash never leaves half a file.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TextIO

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
        # Tabs as last read, by file identity: a sync reads the tabs before it
        # transforms and diffs the same files when it writes; one parse serves both.
        self._read_cache: dict[str, tuple[tuple[int, int], pd.DataFrame]] = {}

    def path(self, tab: str) -> Path:
        return self.folder / f"{self.names.get(tab, tab)}.csv"

    def read_tabs(self, names: Sequence[str]) -> dict[str, pd.DataFrame]:
        tabs: dict[str, pd.DataFrame] = {}
        for name in names:
            path = self.path(name)
            if (name in TABS or name == RUNS.name) and path.is_file():
                tabs[name] = self._read(name, path).copy()
        return tabs

    def _read(self, name: str, path: Path) -> pd.DataFrame:
        stat = path.stat()
        identity = (stat.st_mtime_ns, stat.st_size)
        cached = self._read_cache.get(name)
        if cached is None or cached[0] != identity:
            text = pd.read_csv(path, dtype=str, keep_default_na=False, encoding=ENCODING)
            cached = identity, typed_frame(_spec(name), text)
            self._read_cache[name] = cached
        return cached[1]

    def write_tabs(
        self, tabs: Mapping[str, pd.DataFrame], run: RunRecord | None = None
    ) -> LoadInfo:
        self._make_folder()
        info = self._diff(tabs)
        for name, frame in tabs.items():
            self._write_atomically(self.path(name), TABS[name], frame)
        if run is not None:
            run.load = info
            self.record_run(run)
        return info

    def preview(self, tabs: Mapping[str, pd.DataFrame]) -> str:
        return "\n".join(
            f"{self.path(tab).name}: +{w.inserted} ~{w.updated} -{w.deleted}"
            for tab, w in self._diff(tabs).tabs.items()
        )

    def record_run(self, run: RunRecord) -> None:
        """Append the run to ``_runs.csv`` (rewritten atomically, like every tab)."""
        values = run.row()
        values["started_at"] = _wall_time(run.started_at)
        values["finished_at"] = _wall_time(run.finished_at)
        row = pd.DataFrame([values])
        old = self.read_tabs([RUNS.name]).get(RUNS.name)
        runs = row if old is None or old.empty else pd.concat([old, row], ignore_index=True)
        self._make_folder()
        self._write_atomically(self.path(RUNS.name), RUNS, runs)

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

    def _write_atomically(self, path: Path, spec: TabSpec, frame: pd.DataFrame) -> None:
        handle, temporary = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
        )
        try:
            with os.fdopen(handle, "w", encoding=ENCODING, newline="") as file:
                write_csv(spec, frame, file, scratch=path.parent)
            os.replace(temporary, path)
        except OSError as error:
            Path(temporary).unlink(missing_ok=True)
            raise SinkError(f"Cannot write {path}: {error.strerror}") from None
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def _spec(tab: str) -> TabSpec:
    return RUNS if tab == RUNS.name else TABS[tab]


def _wall_time(moment: datetime) -> datetime:
    return moment.astimezone(BANGKOK).replace(tzinfo=None)


CHUNK_ROWS = 50_000
"""Rows formatted at a time: the CSV text of a whole large tab is never held in memory."""

PARALLEL_ROWS = 200_000
"""From this many rows a tab's second half is written by a forked process (a second core):
``to_csv`` is pure Python per cell and the largest cost of loading all of Bangkok."""


def to_csv_text(spec: TabSpec, frame: pd.DataFrame) -> str:
    """The tab as CSV text: ISO dates, empty cells for missing values."""
    buffer = io.StringIO()
    _write_rows(spec, frame, buffer, header=True)
    return buffer.getvalue()


def write_csv(
    spec: TabSpec,
    frame: pd.DataFrame,
    file: TextIO,
    *,
    scratch: Path | None = None,
    parallel_rows: int = PARALLEL_ROWS,
) -> None:
    """Write the tab as CSV to ``file``, in chunks; from ``parallel_rows`` rows on two
    cores, the second half going through a file in ``scratch``."""
    if len(frame) < parallel_rows or (os.cpu_count() or 1) < 2 or not _can_fork():
        _write_rows(spec, frame, file, header=True)
        return
    middle = len(frame) // 2
    handle, second = tempfile.mkstemp(dir=scratch, prefix=".", suffix=".part")
    os.close(handle)
    try:
        worker = multiprocessing.get_context("fork").Process(
            target=_write_part, args=(spec, frame.iloc[middle:], second), daemon=True
        )
        worker.start()
        _write_rows(spec, frame.iloc[:middle], file, header=True)
        worker.join()
        if worker.exitcode != 0:
            raise SinkError(f"Writing the second half of tab {spec.name} failed.")
        file.flush()
        with open(second, encoding="utf-8", newline="") as part:
            shutil.copyfileobj(part, file, 16 * 1024 * 1024)
    finally:
        Path(second).unlink(missing_ok=True)


def _write_part(spec: TabSpec, frame: pd.DataFrame, path: str) -> None:
    with open(path, "w", encoding="utf-8", newline="") as file:
        _write_rows(spec, frame, file, header=False)


def _can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def _write_rows(spec: TabSpec, frame: pd.DataFrame, file: TextIO, *, header: bool) -> None:
    for start in range(0, max(len(frame), 1), CHUNK_ROWS):
        out = frame.iloc[start : start + CHUNK_ROWS].copy()
        for column in spec.columns:
            if column.kind == "date":
                out[column.name] = out[column.name].dt.strftime("%Y-%m-%d")
            elif column.kind == "datetime":
                out[column.name] = out[column.name].dt.strftime("%Y-%m-%d %H:%M:%S")
        out.to_csv(file, index=False, header=header and start == 0, lineterminator="\n")
