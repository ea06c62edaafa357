"""Which creation-date windows a sync fetches, and the sync state kept in the sink (``_sync``).

A daily run must not download years of tickets, yet must catch every state
change. Traffy has no "changed since" query and no "get by ids" call, and a
ticket's creation date never changes, so a run fetches:

* **new**: tickets created since the last run's newest ticket, minus
  ``sync_overlap_days`` (tickets can surface late);
* **refresh**: the creation days that hold a ticket still open (not
  finished, not irrelevant) in the sink, merged into windows when one
  window costs fewer pages than several (see :func:`refresh_windows`).

A scanned window is authoritative for the tickets created in it; tickets
created elsewhere are kept from the sink. ``--full-refresh``, ``--verify``
or a first run scans the whole range the output covers instead.
Cost in requests: the sum over windows of ``ceil((records + 1) / page_size)``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import pandas as pd

from etl.frames import by_creation
from etl.models import BANGKOK
from etl.traffy.extract import frame_identities, windows

FEED1_RECORDS_PER_DAY = 900.0
"""Feed 1 pages all of Bangkok: 17-27 thousand tickets a month in 2023 (inferred)."""


@dataclass
class SyncState:
    """What the last sync left for the next one (tab ``_sync``).

    Only values that change when the data changes: a sync that finds nothing
    new rewrites no cell of it (runs are logged in ``_runs``).
    """

    district: str | None = None
    feed: str | None = None
    cursor: datetime | None = None
    """Creation time of the newest ticket synced so far (Asia/Bangkok)."""
    covered_since: date | None = None
    """First creation date the tabs cover."""
    records_per_day: float | None = None
    """Records the feed served per day of window last time: prices refresh windows."""

    @classmethod
    def from_frame(cls, frame: pd.DataFrame | None) -> SyncState:
        if frame is None or frame.empty:
            return cls()
        values = {
            str(k): (None if v is None or pd.isna(v) else str(v))
            for k, v in zip(frame["key"], frame["value"], strict=True)
        }
        return cls(
            district=values.get("district"),
            feed=values.get("feed"),
            cursor=_moment(values.get("cursor")),
            covered_since=_day(values.get("covered_since")),
            records_per_day=_number(values.get("records_per_day")),
        )

    def to_frame(self) -> pd.DataFrame:
        rows = {
            "district": self.district,
            "feed": self.feed,
            "cursor": self.cursor.isoformat() if self.cursor else None,
            "covered_since": self.covered_since.isoformat() if self.covered_since else None,
            "records_per_day": (
                f"{self.records_per_day:.1f}" if self.records_per_day is not None else None
            ),
        }
        return pd.DataFrame({"key": list(rows), "value": list(rows.values())}, dtype=object)


@dataclass
class SyncPlan:
    """The windows one sync fetches, and why."""

    mode: str
    """``full`` (first run, ``--full-refresh``, ``--verify``), ``range`` (--since given)
    or ``incremental``."""
    new: list[tuple[date, date]]
    refresh: list[tuple[date, date]] = field(default_factory=list)
    open_tickets: int = 0

    @property
    def spans(self) -> list[tuple[date, date]]:
        return sorted(self.refresh + self.new)


def plan_sync(
    state: SyncState,
    open_days: Sequence[date],
    *,
    district: str,
    since: date,
    until: date,
    explicit_since: bool,
    full_refresh: bool,
    window_days: int,
    overlap_days: int,
    page_size: int,
    records_per_day: Callable[[date], float],
) -> SyncPlan:
    """Decide what to fetch. Pure: no I/O, no clock.

    ``open_days``: the creation dates (Bangkok) of the stored tickets still open.
    """
    if explicit_since:
        return SyncPlan("range", list(windows(since, until, window_days)))
    if full_refresh or state.cursor is None:
        first = min(since, state.covered_since) if state.covered_since else since
        return SyncPlan("full", list(windows(first, until, window_days)))
    start = min(state.cursor.astimezone(BANGKOK).date() - timedelta(days=overlap_days), until)
    new = list(windows(start, until, window_days))
    open_tickets = [day for day in open_days if day < start]
    refresh = refresh_windows(sorted(set(open_tickets)), records_per_day, page_size, window_days)
    plan = SyncPlan("incremental", new, refresh, open_tickets=len(open_tickets))
    # When open tickets are spread over every month, re-reading everything costs
    # no more and also catches finished tickets that were reopened.
    everything = list(windows(state.covered_since or since, until, window_days))
    if cost(everything, records_per_day, page_size) < cost(plan.spans, records_per_day, page_size):
        return SyncPlan("full", everything, open_tickets=len(open_tickets))
    return plan


def cost(
    spans: Iterable[tuple[date, date]], records_per_day: Callable[[date], float], size: int
) -> int:
    """Estimated requests to page every window."""
    return sum(pages(first, last, records_per_day, size) for first, last in spans)


def refresh_windows(
    days: Sequence[date],
    records_per_day: Callable[[date], float],
    page_size: int,
    max_days: int,
) -> list[tuple[date, date]]:
    """Cover ``days`` (sorted) with windows, merging neighbours when that costs fewer pages.

    Every window costs at least one request, so ten open tickets on ten
    neighbouring days are one window on a district-filtered feed, while on
    feed 1 (all of Bangkok, about a page a day) gaps are not worth paging.
    """
    merged: list[tuple[date, date]] = []
    for day in days:
        if merged:
            first, last = merged[-1]
            together = pages(first, day, records_per_day, page_size)
            apart = pages(first, last, records_per_day, page_size) + pages(
                day, day, records_per_day, page_size
            )
            if (day - first).days < max_days and together <= apart:
                merged[-1] = (first, day)
                continue
        merged.append((day, day))
    return merged


def pages(first: date, last: date, records_per_day: Callable[[date], float], size: int) -> int:
    """Requests to page a window: a full last page needs one more, empty, request."""
    records = sum(
        records_per_day(first + timedelta(days=i)) for i in range((last - first).days + 1)
    )
    return math.floor(records / size) + 1


def observed_rate(state: SyncState, margin: float = 1.2) -> Callable[[date], float] | None:
    """Records per day as the last run saw them (with a margin), when known."""
    if state.records_per_day is None:
        return None
    rate = state.records_per_day * margin
    return lambda _day: rate


def days_of(spans: Iterable[tuple[date, date]]) -> int:
    return sum((last - first).days + 1 for first, last in spans)


def district_rate(stored_days: Iterable[date], margin: float = 1.2) -> Callable[[date], float]:
    """Records per day of a district-filtered feed, from the creation dates of the
    tickets already stored."""
    per_day = Counter(stored_days)
    return lambda day: per_day.get(day, 0) * margin


def feed1_rate(_day: date) -> float:
    return FEED1_RECORDS_PER_DAY


def merge(
    stored: pd.DataFrame | None,
    fetched: pd.DataFrame,
    scanned: Sequence[tuple[date, date]],
) -> pd.DataFrame:
    """Stored tickets outside the scanned windows, plus every fetched ticket (canonical
    complaints frames, times in Bangkok wall time).

    A scanned window is authoritative: a stored ticket created in it that the
    scan did not return (moved district, deleted, now invalid) is dropped. A
    fetched ticket replaces the stored one of the same identity.
    """
    if stored is None or stored.empty:
        both = fetched
    else:
        days = stored["created_at"].dt.normalize()
        in_scan = pd.Series(False, index=stored.index)
        for first, last in scanned:
            in_scan |= (days >= pd.Timestamp(first)) & (days <= pd.Timestamp(last))
        kept = stored[~in_scan]
        if fetched.empty:
            both = kept
        elif kept.empty:
            both = fetched
        else:
            both = pd.concat([kept, fetched], ignore_index=True)
    both = both[~frame_identities(both).duplicated(keep="last")]
    return both.take(by_creation(both)).reset_index(drop=True)


def _moment(text: str | None) -> datetime | None:
    if not text:
        return None
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=BANGKOK)


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None
