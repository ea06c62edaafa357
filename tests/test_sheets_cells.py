"""The diff behind the Sheets sink: applying its runs always yields the new tab."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from etl.sinks.sheets_cells import Block, Cell, blocks, diff_owned, encode_column, same, to_serial
from etl.tabs import TABS

SPEC = TABS["complaint_types"]  # key: ticket_id, type
HEADER = SPEC.column_names

keys = st.tuples(st.sampled_from(["T1", "T2", "T3", "T4", "T5", "T6"]), st.sampled_from(["a", "b"]))
tables = st.lists(keys, max_size=12)


def apply(current: list[list[Cell]], runs_blocks: list[Block]) -> list[list[Cell]]:
    grid = [list(r) for r in current]
    for block in runs_blocks:
        for i, row in enumerate(block.rows):
            r = block.row + i
            while len(grid) <= r:
                grid.append([])
            while len(grid[r]) < block.col + len(row):
                grid[r].append(None)
            for j, value in enumerate(row):
                grid[r][block.col + j] = value
    trimmed = [list(r) for r in grid]
    while trimmed and all(v is None for v in trimmed[-1]):
        trimmed.pop()
    return trimmed


@settings(max_examples=300, deadline=None)
@given(old=tables, new=tables)
def test_runs_turn_the_old_tab_into_the_new_one(
    old: list[tuple[str, str]], new: list[tuple[str, str]]
) -> None:
    current: list[list[Cell]] = [list(HEADER), *[list(k) for k in old]]
    desired: list[list[Cell]] = [list(k) for k in dict.fromkeys(new)]
    diff = diff_owned(SPEC, current, desired)
    result = apply(current, blocks(diff.runs))
    assert result[0] == HEADER
    body = [tuple(r[:2]) for r in result[1:]]
    assert sorted(body) == sorted(tuple(r) for r in desired)
    assert len(result) - 1 == len(desired)  # compact: no stale or empty rows
    # Only cells that differ are written.
    for run in diff.runs:
        for j, value in enumerate(run.values):
            r, c = run.row, run.col + j
            old_value = current[r][c] if r < len(current) and c < len(current[r]) else None
            assert not same(old_value, value)
    second = diff_owned(SPEC, result, desired)
    assert second.runs == []
    assert (second.inserted, second.updated, second.deleted) == (0, 0, 0)


def test_kept_rows_do_not_move() -> None:
    current: list[list[Cell]] = [list(HEADER), ["T1", "a"], ["T2", "a"], ["T3", "a"], ["T4", "a"]]
    diff = diff_owned(SPEC, current, [["T1", "a"], ["T3", "a"], ["T4", "a"]])
    # T2's hole is filled by T4 from the end; row 5 is cleared.
    assert (diff.inserted, diff.updated, diff.deleted) == (0, 0, 1)
    written = {(r.row, r.col): r.values for r in diff.runs}
    assert written == {(2, 0): ("T4",), (4, 0): (None, None)}


def test_date_columns_encode_as_to_serial_does_cell_by_cell() -> None:
    """The vectorised encoding must give the very numbers (and int/float types) of
    ``to_serial``: a last-bit difference would rewrite every date cell each sync."""

    rng = np.random.default_rng(7)
    nanos = rng.integers(pd.Timestamp("1990-01-01").value, pd.Timestamp("2031-01-01").value, 5000)
    stamps = pd.Series(pd.to_datetime(nanos // 1000 * 1000)).astype("datetime64[ns]")
    stamps[::5] = pd.NaT
    stamps[1::7] = stamps[1::7].dt.floor("D")
    stamps[2::11] = stamps[2::11].dt.floor("s")
    for kind in ("date", "datetime"):
        cells, _ = encode_column(stamps, kind)
        expected = [to_serial(v, kind) for v in stamps.tolist()]
        assert [(type(c), c) for c in cells] == [(type(e), e) for e in expected]
