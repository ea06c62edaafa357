"""Tab ``kpi_monthly_by_district``: every district against the city, by month. Pure pandas.

Feed 1 pages all of Bangkok whatever district a run serves, so every run sees
the whole city: each district office gets, beside its own ``kpi_monthly``, the
same measures for each of the 50 districts and for the city, and its rank by
the share of tickets still in progress (1 = the smallest share). Districts
with too few tickets in a month get no rank: two tickets make a share of 0 %
or 50 % that says nothing about an office.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime

import pandas as pd

from etl import kpi, transform
from etl.districts import bangkok
from etl.tabs import CITY, TABS

TAB = "kpi_monthly_by_district"
KEY = TABS[TAB].key

MEASURED_COLUMNS = (*kpi.MEASURED, "district")
"""What :func:`kpi_monthly_by_district` reads of each ticket."""


def measured_tickets(
    canonical: pd.DataFrame, groups: Mapping[str, str], district: str | pd.Series
) -> pd.DataFrame:
    """The columns the measures read (``MEASURED_COLUMNS``) from a canonical complaints
    frame, without building the whole ``complaints`` tab (a million tickets for the city).

    ``district`` is the district of every row, or a Series of them.
    """
    created = canonical["created_at"]
    return pd.DataFrame(
        {
            "ticket_id": canonical["ticket_id"],
            "month": created.dt.to_period("M").dt.to_timestamp(),
            "state_group": transform.state_groups(
                canonical["state"], canonical["state_type"], groups
            ),
            "created_at": created,
            "finished_at": canonical["finished_at"],
            "count_reopen": canonical["count_reopen"].astype("Int64"),
            "star": canonical["star"].astype("Int64"),
            "district": district,
        },
        index=canonical.index,
    ).reset_index(drop=True)


def kpi_monthly_by_district(
    tickets: pd.DataFrame, as_of: datetime, min_tickets: int
) -> pd.DataFrame:
    """One row per month and Bangkok district, plus the city's row (``CITY``) per month.

    ``tickets``: ``MEASURED_COLUMNS``; tickets of a district not among the 50
    (or of none) are left out, of the city row too: it is the 50 together.
    ``in_progress_rank`` ranks, per month, the districts with at least
    ``min_tickets`` tickets by ``in_progress_pct`` ascending; equal shares
    share the best rank (1, 1, 3). ``districts_ranked`` is how many were ranked.
    """
    spec = TABS[TAB]
    known = tickets[tickets["district"].isin([d.name for d in bangkok()])]
    if known.empty:
        return spec.empty()
    by_district = kpi.measures(known, ["district"], as_of)
    city = kpi.measures(known.drop(columns="district"), [], as_of).assign(district=CITY)
    ranked = by_district["total"] >= min_tickets
    ranks = (
        by_district["in_progress_pct"]
        .where(ranked)
        .groupby(by_district["month"])
        .rank(method="min", ascending=True)
    )
    by_district["in_progress_rank"] = ranks.astype("Int64")
    counts = ranked.groupby(by_district["month"]).sum()
    city["in_progress_rank"] = pd.array([pd.NA] * len(city), dtype="Int64")
    both = pd.concat([city, by_district], ignore_index=True)
    both["districts_ranked"] = both["month"].map(counts).fillna(0).astype("int64")
    order = both.assign(_city=both["district"] != CITY).sort_values(
        ["month", "_city", "district"], kind="stable"
    )
    return kpi._conform(TAB, order)


def months_within(scanned: Iterable[tuple[date, date]], until: date) -> set[pd.Timestamp]:
    """First days of the months whose every day up to ``until`` lies in a scanned window:
    the months whose city-wide numbers one extraction knows completely."""
    days: set[date] = set()
    for first, last in scanned:
        days.update(d.date() for d in pd.date_range(first, last, freq="D"))
    complete = set()
    for month in {date(d.year, d.month, 1) for d in days}:
        end = (pd.Timestamp(month) + pd.offsets.MonthEnd(0)).date()
        span = pd.date_range(month, min(end, until), freq="D")
        if all(d.date() in days for d in span):
            complete.add(pd.Timestamp(month))
    return complete


def with_stored_months(
    fresh: pd.DataFrame, stored: pd.DataFrame | None, complete: set[pd.Timestamp] | None
) -> pd.DataFrame:
    """``fresh`` rows for the ``complete`` months (None: every month), the ``stored`` tab's
    rows for the others: an incremental run re-reads a few days of a month, too few
    to count the city, so such a month keeps the numbers of the last run that read it all."""
    if complete is not None:
        fresh = fresh[fresh["month"].isin(complete)]
    if stored is None or stored.empty:
        return fresh.reset_index(drop=True)
    kept = stored[~stored["month"].isin(set(fresh["month"]))]
    if kept.empty:
        return fresh.reset_index(drop=True)
    both = pd.concat([kept, fresh], ignore_index=True)
    order = both.assign(_city=both["district"] != CITY).sort_values(
        ["month", "_city", "district"], kind="stable"
    )
    return kpi._conform(TAB, order)
