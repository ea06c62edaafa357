"""Pure functions between pandas frames and Sheets cells: encoding and the diff.

Everything here works in the *cell domain*: the JSON values written with
``valueInputOption=RAW`` and read back with ``UNFORMATTED_VALUE`` /
``SERIAL_NUMBER``. Text stays text, numbers stay numbers, dates and
datetimes are serial numbers (days since 1899-12-30). Comparing encoded new
values with what was read back, rather than decoded timestamps, means a value
that round-trips is never seen as a change.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from etl.tabs import ColumnKind, TabSpec

Cell = str | int | float | bool | None
"""One cell as sent or read: `None` is an empty cell."""

MAX_CELL_CHARS = 50_000
TRUNCATION_MARKER = " …[truncated by traffy-etl]"
SERIAL_EPOCH = pd.Timestamp("1899-12-30")
_SECONDS_PER_DAY = 86_400


# ---------------------------------------------------------------------------
# Encoding


def to_serial(value: Any, kind: ColumnKind) -> Cell:
    """A date or datetime as a Sheets serial number (None for missing)."""
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    stamp = pd.Timestamp(value)
    if kind == "date":
        return int((stamp.normalize() - SERIAL_EPOCH).days)
    seconds = (stamp - SERIAL_EPOCH).total_seconds()
    serial = seconds / _SECONDS_PER_DAY
    return int(serial) if serial.is_integer() else serial


def _serials(stamps: pd.Series, kind: ColumnKind) -> list[Cell]:
    """``to_serial`` over a column, vectorised with the same arithmetic (so a value
    read back compares equal to the one written: no spurious rewrites)."""
    if kind == "date":
        days = (stamps.dt.normalize() - SERIAL_EPOCH).dt.days
        return [None if d != d else int(d) for d in days.astype("float64").tolist()]
    serial = (stamps - SERIAL_EPOCH).dt.total_seconds() / _SECONDS_PER_DAY
    return [None if v != v else (int(v) if v.is_integer() else v) for v in serial.tolist()]


def encode_column(values: pd.Series, kind: ColumnKind) -> tuple[list[Cell], int]:
    """A frame column as cells, and how many texts were truncated."""
    truncated = 0
    out: list[Cell] = []
    if kind in ("date", "datetime"):
        return _serials(pd.to_datetime(values), kind), 0
    for v in values.astype(object).tolist():
        if _missing(v):
            out.append(None)
        elif kind == "text":
            text = str(v)
            if text == "":
                out.append(None)
            elif len(text) > MAX_CELL_CHARS:
                out.append(text[: MAX_CELL_CHARS - len(TRUNCATION_MARKER)] + TRUNCATION_MARKER)
                truncated += 1
            else:
                out.append(text)
        elif kind == "bool":
            out.append(bool(v))
        elif kind == "int":
            out.append(int(v))
        else:
            number = float(v)
            out.append(number if math.isfinite(number) else None)
    return out, truncated


def _missing(value: Any) -> bool:
    """None, NA, NaT and NaN (pandas 3 text columns hold NaN for missing)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def encode_frame(spec: TabSpec, frame: pd.DataFrame) -> tuple[list[list[Cell]], int]:
    """Rows of cells in the tab's column order, and the count of truncated texts."""
    columns: list[list[Cell]] = []
    truncated = 0
    for column in spec.columns:
        cells, cut = encode_column(frame[column.name], column.kind)
        columns.append(cells)
        truncated += cut
    return [list(row) for row in zip(*columns, strict=True)] if columns else [], truncated


def wire(value: Cell) -> str | int | float | bool:
    """A cell as sent with RAW: an empty string clears the cell."""
    return "" if value is None else value


# ---------------------------------------------------------------------------
# Decoding


def normalize(value: Any) -> Cell:
    """A value read back from Sheets: "" is an empty cell."""
    if value == "" or value is None:
        return None
    if isinstance(value, str | bool | int | float):
        return value
    return str(value)


_PLAIN = (str, int, float, bool)


def normalized(row: Sequence[Any]) -> list[Cell]:
    """``normalize`` over a row; the common JSON values skip the call (every cell of
    a read spreadsheet passes here)."""
    return [(v if v != "" else None) if type(v) in _PLAIN else normalize(v) for v in row]


def same(a: Cell, b: Cell) -> bool:
    """Equal as cells: a number never equals a boolean or a string."""
    if a is None or b is None:
        return a is b
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    return a == b


def cell_key(value: Cell) -> tuple[str, Any]:
    """A hashable form of a cell for row keys, consistent with `same`."""
    if value is None:
        return ("", None)
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, int | float):
        return ("n", float(value))
    return ("s", value)


def from_serial(value: Cell, kind: ColumnKind) -> Any:
    """A serial number (or date text a person typed) back to a timestamp."""
    if value is None or isinstance(value, bool):
        return pd.NaT
    if isinstance(value, int | float):
        stamp = SERIAL_EPOCH + pd.to_timedelta(round(float(value) * _SECONDS_PER_DAY, 3), unit="s")
        stamp = stamp.round("ms")
        return stamp.normalize() if kind == "date" else stamp
    try:
        stamp = pd.Timestamp(str(value))
    except (ValueError, TypeError):
        return pd.NaT
    return stamp.normalize() if kind == "date" else stamp


def _stamps(values: Sequence[Cell], kind: ColumnKind) -> pd.Series:
    """A column of serials (and the odd typed date text) as timestamps, vectorised:
    ``from_serial`` per cell took most of a 20,000-ticket read."""
    numeric = [isinstance(v, int | float) and not isinstance(v, bool) for v in values]
    serials = pd.Series([v if n else math.nan for v, n in zip(values, numeric, strict=True)],
                        dtype="float64")  # fmt: skip
    seconds = (serials * _SECONDS_PER_DAY).round(3)
    stamps = (SERIAL_EPOCH + pd.to_timedelta(seconds, unit="s")).dt.round("ms")
    if kind == "date":
        stamps = stamps.dt.normalize()
    stamps = stamps.astype("datetime64[ns]")
    for i, (value, is_number) in enumerate(zip(values, numeric, strict=True)):
        if not is_number and value is not None and not isinstance(value, bool):
            stamps.iloc[i] = from_serial(value, kind)
    return stamps


def decode_rows(
    spec: TabSpec, header: Sequence[Cell], rows: Iterable[Sequence[Cell]]
) -> pd.DataFrame:
    """Rows read back (columns found by header name) as a typed frame of the tab."""
    position = {name: i for i, name in reversed(list(enumerate(header))) if isinstance(name, str)}
    columns = spec.columns
    places = [position.get(column.name) for column in columns]
    data: list[list[Any]] = [[] for _ in columns]
    for row in rows:
        width = len(row)
        for values, i in zip(data, places, strict=True):
            values.append(normalize(row[i]) if i is not None and i < width else None)
    frame = pd.DataFrame(index=range(len(data[0])) if columns else None)
    for column, values in zip(columns, data, strict=True):
        if column.kind in ("date", "datetime"):
            frame[column.name] = _stamps(values, column.kind)
        elif column.kind == "int":
            frame[column.name] = pd.array(
                [None if v is None else int(float(v)) for v in values], dtype="Int64"
            )
        elif column.kind == "float":
            frame[column.name] = pd.Series(
                [math.nan if v is None else float(v) for v in values], dtype="float64"
            )
        elif column.kind == "bool":
            frame[column.name] = pd.Series(
                [v is True or (isinstance(v, str) and v.lower() == "true") for v in values],
                dtype="bool",
            )
        else:
            frame[column.name] = pd.Series(
                [None if v is None else str(v) for v in values], dtype="object"
            )
    return frame


# ---------------------------------------------------------------------------
# The diff


@dataclass(frozen=True)
class CellRun:
    """Consecutive cells of one row to write, 0-based sheet coordinates."""

    row: int
    col: int
    values: tuple[Cell, ...]


@dataclass
class TabDiff:
    """What one tab needs: cells to write and the grid it needs."""

    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    runs: list[CellRun] = field(default_factory=list)
    rows_needed: int = 1
    columns_needed: int = 1
    samples: list[str] = field(default_factory=list)

    @property
    def cells(self) -> int:
        return sum(len(r.values) for r in self.runs)

    @property
    def changed(self) -> bool:
        return bool(self.runs)


def _runs_of(row: int, current: Sequence[Cell], desired: Sequence[Cell]) -> list[CellRun]:
    """Runs of cells where `desired` differs from `current` (missing = empty)."""
    runs: list[CellRun] = []
    start: int | None = None
    width = max(len(current), len(desired))
    for j in range(width + 1):
        differs = False
        if j < width:
            old = current[j] if j < len(current) else None
            new = desired[j] if j < len(desired) else None
            differs = not same(old, new)
        if differs and start is None:
            start = j
        elif not differs and start is not None:
            values = tuple(desired[k] if k < len(desired) else None for k in range(start, j))
            runs.append(CellRun(row, start, values))
            start = None
    return runs


def _equal_rows(a: Sequence[Cell], b: Sequence[Cell]) -> bool:
    """The fast test a daily sync needs for most rows: the same cells, the same types
    (``same`` per cell, at C speed). Trailing empty cells count as missing."""
    a, b = _trimmed(a), _trimmed(b)
    return len(a) == len(b) and a == b and list(map(type, a)) == list(map(type, b))


def _trimmed(row: Sequence[Cell]) -> Sequence[Cell]:
    end = len(row)
    while end and row[end - 1] is None:
        end -= 1
    return row if end == len(row) else row[:end]


def _keys(
    rows: Sequence[Sequence[Cell]], positions: Sequence[int | None]
) -> list[tuple[Any, ...] | None]:
    """Each row's key (None when a key cell is missing); repeats get an occurrence number.

    ``rows`` are cells already (``normalized`` sheet rows, or encoded ones)."""
    seen: dict[tuple[Any, ...], int] = {}
    keys: list[tuple[Any, ...] | None] = []
    for row in rows:
        parts = []
        for p in positions:
            parts.append(cell_key(row[p] if p is not None and p < len(row) else None))
        if all(part == ("", None) for part in parts):
            keys.append(None)
            continue
        base = tuple(parts)
        n = seen.get(base, 0)
        seen[base] = n + 1
        keys.append((*base, n))
    return keys


def diff_owned(
    spec: TabSpec,
    current: Sequence[Sequence[Any]],
    desired: Sequence[Sequence[Cell]],
    *,
    sample_limit: int = 5,
) -> TabDiff:
    """Cells to write so a pipeline-owned tab holds `desired` under its header.

    Rows are matched by the tab's key. Kept rows stay where they are; new rows
    fill the holes left by removed rows, then rows from the end of the tab move
    into the remaining holes, so the tab ends compact with few cells written.
    A key repeated in the sheet (left by an interrupted run) is removed.
    """
    names = spec.column_names
    current_rows = [normalized(row) for row in current]
    header = current_rows[0] if current_rows else []
    body = current_rows[1:]
    diff = TabDiff(rows_needed=1 + len(desired), columns_needed=len(names))
    diff.runs.extend(_runs_of(0, header, list(names)))

    position = {name: i for i, name in reversed(list(enumerate(header))) if isinstance(name, str)}
    key_positions = [position.get(k) for k in spec.key]
    old_keys = _keys(body, key_positions)
    key_index = [names.index(k) for k in spec.key]
    new_keys = _keys(desired, key_index)
    wanted = {k: i for i, k in enumerate(new_keys) if k is not None}

    kept_at: dict[tuple[Any, ...], int] = {}
    for slot, key in enumerate(old_keys):
        if key is not None and key in wanted and key not in kept_at:
            kept_at[key] = slot
    diff.deleted = sum(1 for k in old_keys if k is not None and k not in kept_at)

    m = len(desired)
    final: list[int | None] = [None] * m  # slot -> index into desired
    movers: list[int] = []
    for key, slot in kept_at.items():
        if slot < m:
            final[slot] = wanted[key]
        else:
            movers.append(wanted[key])
    for i, key in enumerate(new_keys):
        if key is None or key not in kept_at:
            movers.append(i)
            diff.inserted += 1
    free = (slot for slot in range(m) if final[slot] is None)
    for mover, slot in zip(sorted(movers), free, strict=False):
        final[slot] = mover

    # Which kept rows changed content (wherever they end up).
    in_order = [position.get(n) for n in names] == list(range(len(names)))
    for key, slot in kept_at.items():
        old = body[slot]
        new = desired[wanted[key]]
        if in_order and _equal_rows(old, new):
            continue
        old_by_name = [
            old[position[n]] if n in position and position[n] < len(old) else None for n in names
        ]
        if any(not same(a, b) for a, b in zip(old_by_name, new, strict=True)):
            diff.updated += 1
            if len(diff.samples) < sample_limit:
                changed = [
                    n for n, a, b in zip(names, old_by_name, new, strict=True) if not same(a, b)
                ]
                diff.samples.append(f"update {key[:-1]!s}: {', '.join(changed)}")

    for slot in range(m):
        index = final[slot]
        row = desired[index] if index is not None else []
        old_row = body[slot] if slot < len(body) else []
        if not _equal_rows(old_row, row):
            diff.runs.extend(_runs_of(slot + 1, old_row, row))
        if (
            index is not None
            and new_keys[index] not in kept_at
            and len(diff.samples) < sample_limit
        ):
            diff.samples.append(f"insert {row[key_index[0]]!s}")
    for slot in range(m, len(body)):
        diff.runs.extend(_runs_of(slot + 1, body[slot], []))
    diff.columns_needed = max(len(names), 1)
    return diff


def diff_actions(
    spec: TabSpec,
    reference: Sequence[str],
    current: Sequence[Sequence[Any]],
    desired: Sequence[Sequence[Cell]],
    *,
    sample_limit: int = 5,
) -> TabDiff:
    """Cells to write in the staff tab: reference columns only, rows by ticket id.

    Columns are found by header name (missing ones are added on the right);
    rows by the first key column. New tickets are appended after the last
    used row with their staff columns empty; rows are never removed.
    """
    names = spec.column_names
    rows = [normalized(row) for row in current]
    header = list(rows[0]) if rows else []
    body = rows[1:]
    diff = TabDiff()
    position = {name: i for i, name in reversed(list(enumerate(header))) if isinstance(name, str)}
    for name in names:
        if name not in position:
            position[name] = len(header)
            header.append(name)
            diff.runs.append(CellRun(0, position[name], (name,)))
    key_col = position[spec.key[0]]
    row_of: dict[tuple[str, Any], int] = {}
    for slot, row in enumerate(body):
        value = row[key_col] if key_col < len(row) else None
        if value is not None and cell_key(value) not in row_of:
            row_of[cell_key(value)] = slot
    ref_index = [names.index(n) for n in reference]
    next_slot = len(body)
    width = len(header)
    for new in desired:
        key = cell_key(new[names.index(spec.key[0])])
        if key in row_of:
            old = body[row_of[key]]
            changed = []
            for i in ref_index:
                p = position[names[i]]
                old_value = old[p] if p < len(old) else None
                if not same(old_value, new[i]):
                    diff.runs.append(CellRun(row_of[key] + 1, p, (new[i],)))
                    changed.append(names[i])
            if changed:
                diff.updated += 1
                if len(diff.samples) < sample_limit:
                    diff.samples.append(f"update {key[1]!s}: {', '.join(changed)}")
        else:
            dense: list[Cell] = [None] * width
            for i in ref_index:
                dense[position[names[i]]] = new[i]
            row_of[key] = next_slot
            diff.runs.append(CellRun(next_slot + 1, 0, tuple(dense)))
            next_slot += 1
            diff.inserted += 1
            if len(diff.samples) < sample_limit:
                diff.samples.append(f"insert {key[1]!s}")
    diff.rows_needed = 1 + next_slot
    diff.columns_needed = width
    diff.runs = _merge_runs_in_rows(diff.runs)
    return diff


def _merge_runs_in_rows(runs: list[CellRun]) -> list[CellRun]:
    """Join runs of one row that touch (cells found one by one by header)."""
    merged: list[CellRun] = []
    for run in sorted(runs, key=lambda r: (r.row, r.col)):
        last = merged[-1] if merged else None
        if last is not None and last.row == run.row and last.col + len(last.values) == run.col:
            merged[-1] = CellRun(last.row, last.col, last.values + run.values)
        else:
            merged.append(run)
    return merged


@dataclass(frozen=True)
class Block:
    """A rectangle of cells to write: rows of equal width starting at (row, col)."""

    row: int
    col: int
    rows: tuple[tuple[Cell, ...], ...]


def blocks(runs: Iterable[CellRun]) -> list[Block]:
    """Stack runs on consecutive rows with the same columns into rectangles.

    New rows and a rewritten tab become one range instead of one per row,
    which keeps the request small without writing a single extra cell.
    """
    stacks: list[tuple[int, int, list[tuple[Cell, ...]]]] = []  # row, col, rows
    for run in sorted(runs, key=lambda r: (r.col, len(r.values), r.row)):
        if stacks:
            row, col, rows = stacks[-1]
            if col == run.col and len(rows[0]) == len(run.values) and row + len(rows) == run.row:
                rows.append(run.values)  # in place: a first load stacks 100,000s of rows
                continue
        stacks.append((run.row, run.col, [run.values]))
    return [Block(row, col, tuple(rows)) for row, col, rows in stacks]
