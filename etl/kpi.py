"""Tabs -> the KPI rows the executives read: per month, and per month and value. Pure pandas.

``in_progress_pct = in_progress x 100 / total``, rounded half-up to two
decimals, exactly as the office computed it by hand (April 2566:
10 x 100 / 398 = 2.51). The rounding is done in integers, so 0.125 -> 0.13
and no binary-float surprise can flip a reported figure.

Every measure is defined once, in :func:`measures`, and described with its
formula in ``etl/tabs.py`` (hence ``schemas/`` and the ``dictionary`` tab).
The breakdowns are long format (one row per month and value) so Looker Studio
filters them without a schema change when a new value appears.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from etl.frames import bangkok_wall_time, by_creation
from etl.settings import STATE_GROUPS
from etl.tabs import NOT_GIVEN, TABS
from etl.thai import month_th_series

OPEN_GROUPS = ("waiting", "in_progress", "forwarded", "following", "unknown")
"""State groups of a ticket not yet closed (finished or irrelevant)."""

AGE_BUCKETS = ((7, "0-7"), (30, "8-30"), (90, "31-90"), (None, "over 90"))
"""Upper bound in whole days (inclusive) and label of each open-ticket age band."""

_COUNTS = (*STATE_GROUPS, "total", "finished_timed", "reopened", "rated")


def percent_half_up(part: pd.Series, whole: pd.Series) -> pd.Series:
    """``part x 100 / whole`` rounded half-up to 2 decimals (0 when whole is 0)."""
    part = part.astype("int64")
    whole = whole.astype("int64")
    safe = whole.where(whole > 0, 1)
    hundredths = (2 * part * 10_000 + safe) // (2 * safe)
    return (hundredths / 100).where(whole > 0, 0.0).astype("float64")


def days_to_finish(complaints: pd.DataFrame, fixes: pd.DataFrame | None = None) -> pd.Series:
    """Days from reporting to the fix, per ticket; NaN when the fix is not known.

    The staff's ``fixed_on`` date (tab ``actions``) wins: staff record the real
    fix even when Traffy still shows the ticket open. Otherwise Traffy's
    ``finished_at`` counts, for tickets now finished only (a reopened ticket's
    old finish time is no fix). A date counts from its midnight, so a fix dated
    the day of reporting is 0 days; one dated before that day is a typo and
    Traffy's time is used instead.
    """
    created = complaints["created_at"]
    end = complaints["finished_at"].where(complaints["state_group"] == "finished")
    known = None if fixes is None else fixes.dropna(subset=["fixed_on"])
    if known is not None and not known.empty:
        known = known.drop_duplicates("ticket_id", keep="last")
        fixed_on = pd.to_datetime(known.set_index("ticket_id")["fixed_on"])
        staff = pd.to_datetime(complaints["ticket_id"].map(fixed_on)).astype("datetime64[ns]")
        staff = staff.where(staff >= created.dt.normalize())
        end = staff.where(staff.notna(), end)
    end = pd.to_datetime(end).astype("datetime64[ns]")
    days = (end - created).dt.total_seconds() / 86_400
    return days.clip(lower=0).astype("float64")


def measures(
    tickets: pd.DataFrame,
    by: Sequence[str],
    as_of: datetime,
    fixes: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The KPI measures of each creation month (and each value of ``by``).

    ``tickets`` holds the ``complaints`` tab's columns, plus the ``by`` columns;
    a ticket appears once per value it has. Groups with no ticket are absent.
    """
    keys = ["month", *by]
    frame = tickets.assign(
        _days=days_to_finish(tickets, fixes),
        _reopened=tickets["count_reopen"].fillna(0).astype("int64") > 0,
        _star=tickets["star"].astype("float64"),
    )
    groups = frame.groupby(keys, sort=True)
    out = _state_counts(groups, frame["state_group"])
    out["total"] = groups.size()
    out["finished_timed"] = groups["_days"].count()
    out["days_to_finish_median"] = groups["_days"].median().round(2)
    out["days_to_finish_p90"] = groups["_days"].quantile(0.9).round(2)
    out["reopened"] = groups["_reopened"].sum()
    out["rated"] = groups["_star"].count()
    out["star_mean"] = groups["_star"].mean().round(2)
    out = out.reset_index()
    out["month_th"] = month_th_series(out["month"])
    out["in_progress_pct"] = percent_half_up(out["in_progress"], out["total"])
    out["in_progress_ratio"] = (out["in_progress"] / out["total"]).astype("float64")
    out["reopened_ratio"] = (out["reopened"] / out["total"]).astype("float64")
    out["as_of"] = bangkok_wall_time(pd.Series([as_of] * len(out), dtype=object))
    for name in _COUNTS:
        out[name] = out[name].astype("int64")
    for name in ("days_to_finish_median", "days_to_finish_p90", "star_mean"):
        out[name] = out[name].astype("float64")
    return out


def _state_counts(groups: Any, state_group: pd.Series) -> pd.DataFrame:
    """Tickets of each group per state group (``STATE_GROUPS`` columns, zeros included):
    ``value_counts().unstack()``, counted with one ``bincount`` over the group numbers
    (a breakdown by agency has 3 million rows)."""
    size = groups.size()
    number = groups.ngroup()
    names = list(STATE_GROUPS)
    codes = pd.Categorical(state_group, categories=names).codes  # -1: not a known group
    known = number.notna().to_numpy() & (codes >= 0)
    flat = number.to_numpy()[known].astype("int64") * len(names) + codes[known]
    counts = np.bincount(flat, minlength=len(size) * len(names)).reshape(len(size), len(names))
    return pd.DataFrame(counts.astype("int64"), index=size.index, columns=names)


def kpi_monthly(
    complaints: pd.DataFrame, as_of: datetime, fixes: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Tab ``kpi_monthly``: one row per creation month; months with no ticket are absent.

    ``fixes`` is the staff's (ticket_id, fixed_on) frame, None when there is none.
    """
    return _tab("kpi_monthly", complaints, [], as_of, fixes)


def kpi_monthly_by_org(
    complaints: pd.DataFrame,
    complaint_orgs: pd.DataFrame,
    as_of: datetime,
    fixes: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Tab ``kpi_monthly_by_org``: per month and agency the tickets were routed to."""
    orgs = complaint_orgs[["ticket_id", "organization", "is_section"]]
    tickets = _measured(complaints).merge(orgs, on="ticket_id", how="left")
    tickets["is_section"] = tickets["is_section"].fillna(False).astype(bool)
    tickets["organization"] = tickets["organization"].fillna(NOT_GIVEN)
    return _tab("kpi_monthly_by_org", tickets, ["organization", "is_section"], as_of, fixes)


def kpi_monthly_by_type(
    complaints: pd.DataFrame,
    complaint_types: pd.DataFrame,
    as_of: datetime,
    fixes: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Tab ``kpi_monthly_by_type``: per month and complaint type."""
    types = complaint_types[["ticket_id", "type"]]
    tickets = _measured(complaints).merge(types, on="ticket_id", how="left")
    tickets["type"] = tickets["type"].fillna(NOT_GIVEN)
    return _tab("kpi_monthly_by_type", tickets, ["type"], as_of, fixes)


def kpi_monthly_by_subdistrict(
    complaints: pd.DataFrame, as_of: datetime, fixes: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Tab ``kpi_monthly_by_subdistrict``: per month and sub-district."""
    tickets = _measured(complaints).assign(subdistrict=complaints["subdistrict"].fillna(NOT_GIVEN))
    return _tab("kpi_monthly_by_subdistrict", tickets, ["subdistrict"], as_of, fixes)


MEASURED = [
    "ticket_id",
    "month",
    "state_group",
    "created_at",
    "finished_at",
    "count_reopen",
    "star",
]
"""The ``complaints`` columns :func:`measures` reads."""


def _measured(complaints: pd.DataFrame) -> pd.DataFrame:
    """Only the columns the measures read: a breakdown joins a row per ticket and value
    (3 million for the agencies of all of Bangkok), and copying the texts along cost
    more than the measures."""
    return complaints[MEASURED]


def open_tickets(complaints: pd.DataFrame, as_of: datetime) -> pd.DataFrame:
    """Tab ``open_tickets``: tickets not finished nor irrelevant, oldest first, with their age."""
    spec = TABS["open_tickets"]
    open_ = complaints[complaints["state_group"].isin(OPEN_GROUPS)]
    if open_.empty:
        return spec.empty()
    now = bangkok_wall_time(pd.Series([as_of], dtype=object))[0]
    out = open_.copy()
    out["age_days"] = ((now - out["created_at"]).dt.total_seconds() // 86_400).clip(lower=0)
    out["age_days"] = out["age_days"].astype("int64")
    bounds = [-1, *(upper for upper, _ in AGE_BUCKETS[:-1]), np.inf]
    order = pd.cut(out["age_days"], bounds, labels=False) + 1
    out["age_bucket_order"] = order.astype("int64")
    out["age_bucket"] = out["age_bucket_order"].map(
        {i + 1: label for i, (_, label) in enumerate(AGE_BUCKETS)}
    )
    out["as_of"] = now
    out = out.iloc[by_creation(out)].reset_index(drop=True)
    return _conform(spec.name, out)


def _tab(
    tab: str,
    tickets: pd.DataFrame,
    by: list[str],
    as_of: datetime,
    fixes: pd.DataFrame | None,
) -> pd.DataFrame:
    if tickets.empty:
        return TABS[tab].empty()
    return _conform(tab, measures(tickets, by, as_of, fixes))


def _conform(tab: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Exactly the tab's columns in order; missing text is ``None``."""
    spec = TABS[tab]
    out = frame[spec.column_names].reset_index(drop=True)
    for column in spec.columns:
        if column.kind == "text":
            values = out[column.name].astype(object)
            out[column.name] = values.where(values.notna(), None)
    return out
