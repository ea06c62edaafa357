"""What the tabs looked like before: state changes and KPI snapshots. Pure pandas.

Each sync reads these tabs back from the sink, appends what changed and
writes them whole. A sync that sees nothing new appends nothing, so re-running
it leaves both tabs exactly as they were, and any past meeting's numbers can
be rebuilt with :func:`kpi_as_of`.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from etl.frames import bangkok_wall_time
from etl.tabs import TABS

SNAPSHOT_MEASURES = [
    name
    for name in TABS["kpi_snapshots"].column_names
    if name not in ("month", "month_th", "as_of")
]
"""The columns whose change makes a new snapshot (all numeric)."""


def status_history(
    previous: pd.DataFrame | None, complaints: pd.DataFrame, observed_at: datetime
) -> pd.DataFrame:
    """Tab ``status_history``: the previous rows plus each ticket whose state changed.

    A ticket the history has not seen yet gets its first row; tickets outside
    this sync's window are not seen and get nothing.
    """
    spec = TABS["status_history"]
    before = spec.empty() if previous is None else previous[spec.column_names]
    last = (
        before.sort_values("observed_at", kind="stable")
        .drop_duplicates("ticket_id", keep="last")
        .set_index("ticket_id")["state"]
    )
    seen = complaints[["ticket_id", "state", "state_group"]]
    if last.empty:  # nothing seen before: every ticket gets its first row
        changed = seen.copy()
    else:
        changed = seen[seen["ticket_id"].map(last).ne(seen["state"])].copy()
    changed["observed_at"] = _wall_time(observed_at)
    return _append(spec.name, before, changed)


def kpi_snapshots(previous: pd.DataFrame | None, kpi_monthly: pd.DataFrame) -> pd.DataFrame:
    """Tab ``kpi_snapshots``: the previous rows plus each month whose numbers changed.

    ``kpi_monthly`` is this sync's tab; its ``as_of`` becomes the snapshot time.
    """
    spec = TABS["kpi_snapshots"]
    before = spec.empty() if previous is None else previous[spec.column_names]
    last = (
        before.sort_values("as_of", kind="stable")
        .drop_duplicates("month", keep="last")
        .set_index("month")
    )
    now = kpi_monthly[spec.column_names]
    then = last.reindex(now["month"])
    changed = np.zeros(len(now), dtype=bool)
    for name in SNAPSHOT_MEASURES:
        ours = now[name].to_numpy(dtype="float64", na_value=np.nan)
        theirs = then[name].to_numpy(dtype="float64", na_value=np.nan)
        changed |= ~np.isclose(ours, theirs, rtol=1e-9, atol=1e-12, equal_nan=True)
    return _append(spec.name, before, now[changed])


def kpi_as_of(snapshots: pd.DataFrame, moment: datetime) -> pd.DataFrame:
    """The ``kpi_monthly`` rows as a sync at ``moment`` had written them."""
    return _latest(snapshots[snapshots["as_of"] <= _wall_time(moment)])


def _latest(snapshots: pd.DataFrame) -> pd.DataFrame:
    """Each month's last snapshot, as ``kpi_monthly`` rows."""
    known = snapshots.sort_values("as_of", kind="stable")
    rows = known.drop_duplicates("month", keep="last").sort_values("month")
    return rows[TABS["kpi_monthly"].column_names].reset_index(drop=True)


def with_past_months(kpi_monthly: pd.DataFrame, snapshots: pd.DataFrame) -> pd.DataFrame:
    """``kpi_monthly`` plus the last snapshot of each month this sync did not cover.

    A sync only sees its window (three months by default), yet the executives'
    table runs back over the fiscal year: earlier months keep the row their
    last sync computed, and their ``as_of`` says when that was.
    """
    past = snapshots[~snapshots["month"].isin(kpi_monthly["month"])]
    if past.empty:
        return kpi_monthly
    rows = _latest(past)
    if kpi_monthly.empty:
        return rows
    return (
        pd.concat([rows, kpi_monthly], ignore_index=True)
        .sort_values("month")
        .reset_index(drop=True)
    )


def _wall_time(moment: datetime) -> pd.Timestamp:
    stamp: pd.Timestamp = bangkok_wall_time(pd.Series([moment], dtype=object))[0]
    return stamp


def _append(tab: str, before: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """``before`` then ``new``, in the tab's columns; ``before`` untouched when nothing is new."""
    if new.empty:
        return before.reset_index(drop=True)
    new = new[TABS[tab].column_names]
    if before.empty:
        return new.reset_index(drop=True)
    return pd.concat([before, new], ignore_index=True)
