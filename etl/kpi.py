"""Tabs -> the monthly KPI rows the executives read. Pure pandas.

``in_progress_pct = in_progress x 100 / total``, rounded half-up to two
decimals, exactly as the office computed it by hand (April 2566:
10 x 100 / 398 = 2.51). The rounding is done in integers, so 0.125 -> 0.13
and no binary-float surprise can flip a reported figure.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from etl.settings import STATE_GROUPS
from etl.tabs import TABS
from etl.thai import month_th_series
from etl.transform import bangkok_wall_time


def percent_half_up(part: pd.Series, whole: pd.Series) -> pd.Series:
    """``part x 100 / whole`` rounded half-up to 2 decimals (0 when whole is 0)."""
    part = part.astype("int64")
    whole = whole.astype("int64")
    safe = whole.where(whole > 0, 1)
    hundredths = (2 * part * 10_000 + safe) // (2 * safe)
    return (hundredths / 100).where(whole > 0, 0.0).astype("float64")


def kpi_monthly(complaints: pd.DataFrame, as_of: datetime) -> pd.DataFrame:
    """One row per creation month: totals, state-group counts, the in-progress share.

    ``complaints`` is the ``complaints`` tab; months with no ticket are absent.
    """
    columns = TABS["kpi_monthly"].column_names
    if complaints.empty:
        return TABS["kpi_monthly"].empty()
    counts = pd.crosstab(complaints["month"], complaints["state_group"])
    counts = counts.reindex(columns=list(STATE_GROUPS), fill_value=0)
    out = counts.reset_index().rename(columns={"index": "month"})
    out.columns.name = None
    out["total"] = counts.sum(axis=1).to_numpy()
    out["month_th"] = month_th_series(out["month"])
    out["in_progress_pct"] = percent_half_up(out["in_progress"], out["total"])
    out["in_progress_ratio"] = (out["in_progress"] / out["total"]).astype("float64")
    out["as_of"] = bangkok_wall_time(pd.Series([as_of] * len(out)))
    for name in (*STATE_GROUPS, "total"):
        out[name] = out[name].astype("int64")
    out = out.sort_values("month").reset_index(drop=True)
    return out[columns]
