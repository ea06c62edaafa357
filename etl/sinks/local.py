"""Local sink: one CSV per tab in a folder, the default when no spreadsheet is set.

Files are UTF-8 with a BOM so Excel shows Thai; dates are ISO text
(``YYYY-MM-DD`` and ``YYYY-MM-DD HH:MM:SS``, Bangkok time) which Looker Studio
and pandas type on read. Write mode: replace, one whole file per tab, written
to a temporary file and renamed so a crash never leaves half a file; the files
get the permissions a plain write would give (see `_temporary_beside`).
"""

from __future__ import annotations

import codecs
import csv
import errno
import io
import os
import re
import secrets
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd

from etl.errors import SinkError
from etl.frames import gc_paused
from etl.models import BANGKOK
from etl.sinks.base import LoadInfo, RunRecord, TabWrite
from etl.sinks.frames import RowHashes, count_changes, first_load, typed_frame
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

    def check_ready(self) -> None:
        """The folder, or the nearest folder above it that exists, takes new files.

        Checked without creating anything: a run that fails later leaves no trace.
        """
        existing = self.folder.absolute()
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir():
            raise SinkError(
                f"Cannot write the output folder {self.folder}: {existing} is a file. "
                "Choose another --out."
            )
        if not os.access(existing, os.W_OK | os.X_OK):
            raise SinkError(
                f"Cannot write in {existing} (permission denied) for the output folder "
                f"{self.folder}. Choose another --out, or fix the folder's permissions."
            )

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
        with gc_paused():  # millions of row texts, no cycles: see gc_paused
            # Every stored version is read before the first file is replaced: a tab
            # that cannot be read stops the load with all files as they were.
            stored = {name: self._stored_hashes(name) for name in tabs}
            info = LoadInfo()
            for name, frame in tabs.items():
                spec, old = TABS[name], stored[name]
                if old is None:
                    self._write_atomically(self.path(name), spec, frame)
                    info.tabs[name] = first_load(spec, frame)
                else:
                    new = RowTexts(spec)  # the rows hashed as they are written
                    self._write_atomically(self.path(name), spec, frame, new)
                    info.tabs[name] = count_changes(spec, old, new.hashes())
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
        changes: dict[str, TabWrite] = {}
        for name, frame in tabs.items():
            spec, old = TABS[name], self._stored_hashes(name)
            changes[name] = (
                count_changes(spec, old, RowTexts.of(spec, frame))
                if old is not None
                else first_load(spec, frame)
            )
        return LoadInfo(tabs=changes)

    def _stored_hashes(self, name: str) -> RowHashes | None:
        """The stored tab's row hashes, from its rows as this sink would write them
        (so a diff compares the CSV texts), or ``None`` when there is no file."""
        path = self.path(name)
        if not path.is_file():
            return None
        stored = self._read(name, path)
        return RowTexts.of(TABS[name], stored) if len(stored) else None

    def _make_folder(self) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise SinkError(
                f"Cannot create output folder {self.folder}: {error.strerror}"
            ) from None

    def _write_atomically(
        self, path: Path, spec: TabSpec, frame: pd.DataFrame, rows: RowTexts | None = None
    ) -> None:
        try:
            handle, temporary = _temporary_beside(path)
        except OSError as error:
            raise SinkError(f"Cannot write {path}: {error.strerror}") from None
        try:
            with os.fdopen(handle, "wb") as file:
                write_csv(spec, frame, file, rows)
            os.replace(temporary, path)
        except OSError as error:
            Path(temporary).unlink(missing_ok=True)
            raise SinkError(f"Cannot write {path}: {error.strerror}") from None
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def _temporary_beside(path: Path) -> tuple[int, str]:
    """A new file next to `path` (same folder, so the rename is atomic), opened for writing.

    Its permissions are those a plain ``open(path, "w")`` would give, so an
    analyst on another account can read the CSV as with any file they save:
    a new file gets ``0o666`` less the umask (the kernel applies the umask and
    any default ACL, as for any new file; ``tempfile.mkstemp`` would force
    ``0o600``), and a file being replaced keeps the permission bits it had.
    """
    try:
        mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = None
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        temporary = str(path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            handle = os.open(temporary, flags, 0o666)
        except FileExistsError:
            continue
        if mode is not None:
            try:
                os.fchmod(handle, mode)
            except BaseException:
                os.close(handle)
                Path(temporary).unlink(missing_ok=True)
                raise
        return handle, temporary
    raise FileExistsError(errno.EEXIST, "No unused temporary file name", str(path.parent))


def _spec(tab: str) -> TabSpec:
    return RUNS if tab == RUNS.name else TABS[tab]


def _wall_time(moment: datetime) -> datetime:
    return moment.astimezone(BANGKOK).replace(tzinfo=None)


CHUNK_ROWS = 50_000
"""Rows formatted at a time: the CSV text of a whole large tab is never held in memory."""


def to_csv_text(spec: TabSpec, frame: pd.DataFrame) -> str:
    """The tab as CSV text: ISO dates, empty cells for missing values."""
    return "".join(csv_chunks(spec, frame, header=True))


def write_csv(
    spec: TabSpec, frame: pd.DataFrame, file: BinaryIO, rows: RowTexts | None = None
) -> None:
    """Write the tab to a binary ``file`` as UTF-8 CSV with a BOM (Excel then shows Thai);
    ``rows`` hashes the rows written, for a diff.

    One core for the text, on purpose: a forked writer took the second half on the
    other core, but its reads of the strings it wrote copied their pages (1.1 GB for
    all of Bangkok), which put the process tree over the 3 GB the pipeline may use.
    """
    file.write(codecs.BOM_UTF8)
    # The operating system's writes release the GIL: a thread does them while the next
    # chunk is formatted. One chunk in flight at most, so memory stays flat.
    with ThreadPoolExecutor(1, thread_name_prefix="csv-write") as writer:
        pending: Future[int] | None = None
        for text in csv_chunks(spec, frame, header=True, rows=rows):
            data = text.encode("utf-8")
            if pending is not None:
                pending.result()
            pending = writer.submit(file.write, data)
        if pending is not None:
            pending.result()


def csv_chunks(
    spec: TabSpec, frame: pd.DataFrame, *, header: bool, rows: RowTexts | None = None
) -> Iterator[str]:
    """The rows as ``DataFrame.to_csv`` writes them (byte for byte), ``CHUNK_ROWS`` at a time.

    ``to_csv`` hands every cell to the ``csv`` module, which copies it character by
    character: 25 s for all of Bangkok. Here each column becomes its cells' text at once
    (missing as empty, quoted exactly where the ``csv`` writer quotes) and each row is one
    ``str.join``: a fifth of the time.
    """
    if header:
        yield ",".join(_quoted(spec.column_names)) + "\n"
    for cells in _chunk_cells(spec, frame):
        if rows is None:
            yield "\n".join(map(",".join, zip(*cells, strict=True))) + "\n"
        else:
            yield "\n".join(rows.add(cells)) + "\n"


def _chunk_cells(spec: TabSpec, frame: pd.DataFrame) -> Iterator[list[list[str]]]:
    """Each chunk's columns as their CSV cell texts, in the tab's column order."""
    for start in range(0, len(frame), CHUNK_ROWS):
        chunk = frame.iloc[start : start + CHUNK_ROWS]
        yield [_cells(chunk[column.name], column.kind) for column in spec.columns]


class RowTexts:
    """Hashes of the rows of a tab as written, and of their keys' cells, for a diff.

    Python's string hash: both versions of a tab are hashed in the same process, and a
    row's text is already at hand when it is written, so the diff costs a lookup a row.
    The diff only counts changes (the file is always written whole): a 64-bit collision
    could miscount one row, never lose one.
    """

    def __init__(self, spec: TabSpec) -> None:
        self._key_at = [spec.column_names.index(name) for name in spec.key]
        self._keys: list[int] = []
        self._rows: list[int] = []

    @classmethod
    def of(cls, spec: TabSpec, frame: pd.DataFrame) -> RowHashes:
        """The hashes of ``frame`` as it would be written (no chunk text is joined)."""
        rows = cls(spec)
        for cells in _chunk_cells(spec, frame):
            rows.add(cells)
        return rows.hashes()

    def add(self, cells: list[list[str]]) -> list[str]:
        """Hash a chunk's rows (given as its columns' cells); returns the rows' texts."""
        texts = list(map(",".join, zip(*cells, strict=True)))
        self._rows.extend(map(hash, texts))
        keys = [cells[at] for at in self._key_at]
        if len(keys) == 1:
            self._keys.extend(map(hash, keys[0]))
        else:  # a separator no cell holds unquoted: keys ("a,b", "c") and ("a", "b,c") differ
            self._keys.extend(map(hash, map("\n".join, zip(*keys, strict=True))))
        return texts

    def hashes(self) -> RowHashes:
        return np.array(self._keys, dtype=np.int64), np.array(self._rows, dtype=np.int64)


def _cells(values: pd.Series, kind: str) -> list[str]:
    """A column's cells as ``to_csv`` writes them: pandas' conversion (numbers through
    numpy's ``astype(str)``, other values through the ``csv`` writer's ``str``/``repr``),
    empty for missing values, dates as ISO text, quoted where the ``csv`` writer quotes."""
    dtype = values.dtype
    if (isinstance(dtype, np.dtype) and dtype.kind == "O") or isinstance(dtype, pd.StringDtype):
        return _text_cells(values)
    missing = values.isna().to_numpy()
    plain = _PLAIN_SAFE  # dates and numbers hold no character the writer quotes
    if kind in ("date", "datetime") and dtype.kind == "M" and values.dt.tz is None:
        cells: list[Any] = _iso_cells(values.to_numpy(), kind)
    elif kind in ("date", "datetime"):
        cells = _iso_text(values, kind).tolist()
    elif dtype == np.float64:
        # pandas: numpy's astype(str), which prints float64 as repr does (checked on
        # 2.3 million values, random bit patterns included), at half the speed.
        cells = list(map(float.__repr__, values.to_numpy().tolist()))
    elif isinstance(dtype, np.dtype) and dtype.kind in "fiub":
        cells = values.to_numpy().astype(str).tolist()
    elif isinstance(dtype, pd.Int64Dtype):
        cells = list(map(str, values.to_numpy(dtype="int64", na_value=0).tolist()))
    else:  # text, other extension arrays: their values, as the csv writer prints them
        cells, plain = values.to_numpy(dtype=object).tolist(), False
    for index in np.flatnonzero(missing).tolist():
        cells[index] = ""
    return cells if plain else _quoted(cells)


def _text_cells(values: pd.Series) -> list[str]:
    """A text column's cells: as they are when none holds a character the writer quotes
    (one search over the joined column finds out), quoted per distinct value when few
    values repeat (sections, types), else cell by cell."""
    objects = values.to_numpy(dtype=object)
    cells = objects.tolist()
    try:
        joined = _SEPARATOR.join(cells)
    except TypeError:  # missing values (blanked here) or values that are not text
        blanked = objects.copy()
        blanked[pd.isna(objects)] = ""
        blanks = blanked.tolist()
        try:
            joined = _SEPARATOR.join(blanks)
        except TypeError:  # not text: the writer's str or repr, cell by cell
            return _quoted(cells)
        objects, cells = blanked, blanks
    if not _needs_quotes(joined):
        return cells
    codes, distinct = pd.factorize(objects)  # the array at hand, not the list again
    if 4 * len(distinct) > len(cells):
        return _quoted(cells)
    quoted = np.asarray(_quoted(distinct.tolist()), dtype=object)
    texts: list[str] = quoted[codes].tolist()
    return texts


def _needs_quotes(text: str) -> bool:
    if _QUOTE_CHARS == ',"\n':  # the csv module of Python 3.11: three ``in`` beat a regex
        return "," in text or '"' in text or "\n" in text
    return _SPECIAL.search(text) is not None


def _iso_cells(moments: np.ndarray[Any, Any], kind: str) -> list[Any]:
    """``strftime`` ISO text of naive datetime64 values (seconds floored, as strftime does),
    digit by digit in numpy: ``datetime_as_string`` costs a microsecond a value."""
    seconds = moments.astype("datetime64[s]").astype("int64")  # numpy floors
    days, clock = np.divmod(seconds, 86_400)
    year, month, day = _civil(days)
    fields = [(year, 4), (month, 2), (day, 2)]
    if kind == "datetime":
        hour, rest = np.divmod(clock, 3600)
        fields += [(hour, 2), (rest // 60, 2), (rest % 60, 2)]
    width = 10 if kind == "date" else 19
    codes = np.empty((len(seconds), width), dtype=np.uint32)
    at = 0
    for index, (number, digits) in enumerate(fields):
        if index:
            codes[:, at] = ord("-" if index < 3 else " " if index == 3 else ":")
            at += 1
        for place in range(digits - 1, -1, -1):
            codes[:, at + place] = number % 10 + ord("0")
            number = number // 10
        at += digits
    cells: list[Any] = codes.view(f"<U{width}").ravel().tolist()
    return cells


def _civil(days: np.ndarray[Any, Any]) -> tuple[np.ndarray[Any, Any], ...]:
    """Year, month, day of days since 1970-01-01 (proleptic Gregorian, H. Hinnant's
    ``civil_from_days``), vectorized."""
    z = days + 719_468
    era = np.floor_divide(z, 146_097)
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    year = yoe + era * 400 + (month <= 2)
    return year, month, day


def _quoted(cells: list[Any]) -> list[str]:
    """Cells as the ``csv`` writer renders them (``QUOTE_MINIMAL``, doubled quotes; floats
    by ``repr``, other values by ``str``), missing values (None, NaN, NA) as empty."""
    if _QUOTE_CHARS == ',"\n':  # see _needs_quotes
        return [
            ('"' + cell.replace('"', '""') + '"' if "," in cell or '"' in cell or "\n" in cell
             else cell)
            if cell.__class__ is str
            else _other_cell(cell)
            for cell in cells
        ]  # fmt: skip
    special = _SPECIAL.search
    return [
        ('"' + cell.replace('"', '""') + '"' if special(cell) else cell)
        if cell.__class__ is str
        else _other_cell(cell)
        for cell in cells
    ]


def _other_cell(cell: Any) -> str:
    """A cell that is not a text: empty when missing, else as the ``csv`` writer prints it."""
    if cell is None or pd.isna(cell):
        return ""
    return _quoted([repr(cell) if isinstance(cell, float) else str(cell)])[0]


def _csv_quotes(char: str) -> bool:
    """Whether this Python's ``csv`` writer (pandas' dialect) quotes a field holding ``char``."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow([f"a{char}b", "x"])
    return buffer.getvalue().startswith('"')


_QUOTE_CHARS = "".join(c for c in ",\"\n\r\t\x00\x0b\x0c\x1c\x1d\x1e\x85\u2028 '" if _csv_quotes(c))
_SPECIAL = re.compile("[" + re.escape(_QUOTE_CHARS) + "]")
"""Characters that make the ``csv`` writer quote a field (``\\r`` only from Python 3.12)."""

_SEPARATOR = "\x1f"
"""Joins a column's cells for one search: a character the writer never quotes for."""

_PLAIN_SAFE = not _SPECIAL.search("0123456789-+:. eEnaifNTrueFls")
"""Whether number and date cells never need quotes (true unless ``csv`` changes a lot)."""


def _iso_text(values: pd.Series, kind: str) -> pd.Series:
    """``strftime`` of dates that are not naive datetime64 (never in the tabs: a fallback)."""
    text: pd.Series = values.dt.strftime("%Y-%m-%d" if kind == "date" else "%Y-%m-%d %H:%M:%S")
    return text
