"""What a run that sees all of Bangkok does for the city: each district's share of
one extraction, the windows that serve many districts at once, the comparison
tab ``kpi_monthly_by_district``, and the summary of a run serving several.

Feed 1 has no district filter: a district's sync pages all of Bangkok in its
windows and keeps about 2 % of what it reads. Fifty district syncs would page
the same windows fifty times (docs/scaling.md); one run serving them pages
them once (``etl.pipeline.run_city_sync``). And since every feed-1 run sees
the whole city, every district's output gets the city comparison, a single
district's too. Pure pandas: the I/O is the pipeline's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

import numpy as np
import pandas as pd

from etl import ranking, transform
from etl.districts import bangkok
from etl.errors import EtlError
from etl.publish import SyncResult
from etl.traffy import ExtractInfo
from etl.traffy.incremental import SyncPlan, SyncState, feed1_rate, observed_rate, refresh_windows


@dataclass
class DistrictOutcome:
    """One served district: its sync's result, or why it failed."""

    district: str
    output: str
    result: SyncResult | None = None
    exception: EtlError | None = field(default=None, repr=False)
    """Why the district published nothing (a run serving one district raises it)."""

    @property
    def error(self) -> str | None:
        """``ErrorClass: message`` of a district that published nothing."""
        if self.exception is None:
            return None
        return f"{type(self.exception).__name__}: {self.exception}"


@dataclass
class CityResult:
    """What a run serving several districts did: one outcome per district, and the one
    extraction."""

    districts: list[DistrictOutcome]
    extract: ExtractInfo
    spans: list[tuple[date, date]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> list[DistrictOutcome]:
        return [d for d in self.districts if d.exception is not None]

    @property
    def output_calls(self) -> int:
        return sum(d.result.load.api_calls for d in self.districts if d.result)

    def to_dict(self) -> dict[str, object]:
        """The summary as JSON-ready data, for ``--log-format json``."""
        return {
            "districts": [
                {
                    "district": d.district,
                    "output": d.output,
                    "ok": d.exception is None,
                    "error": d.error,
                    "result": d.result.to_dict() if d.result else None,
                }
                for d in self.districts
            ],
            "traffy_requests": self.extract.requests,
            "records": self.extract.records,
            "windows": len(self.spans),
            "output_api_calls": self.output_calls,
            "failed": [d.district for d in self.failed],
            "seconds": round(self.seconds, 3),
        }


def covering_windows(
    plans: Sequence[SyncPlan], states: Sequence[SyncState], page_size: int, window_days: int
) -> list[tuple[date, date]]:
    """Windows covering every day any plan fetches, each day once.

    One plan is fetched as planned: a district served alone makes the requests
    its own sync always made. Several are covered as ``refresh_windows`` covers
    open tickets' days: neighbours merged while that costs no more pages, at
    most ``window_days`` long, each day priced at the busiest rate any served
    output observed (``states``). For plans of consecutive windows (first
    syncs) these are the same windows, so a city run costs one district's
    requests.
    """
    if len(plans) == 1:
        return list(plans[0].spans)
    days = sorted(
        {
            pd.Timestamp(d).date()
            for plan in plans
            for first, last in plan.spans
            for d in pd.date_range(first, last, freq="D")
        }
    )
    known = [rate for rate in map(observed_rate, states) if rate is not None]
    rate: Callable[[date], float] = (
        (lambda day: max(r(day) for r in known)) if known else feed1_rate
    )
    return refresh_windows(days, rate, page_size, window_days)


def district_rows(frame: pd.DataFrame, names: Sequence[str]) -> dict[str, np.ndarray]:
    """Positions in ``frame`` (canonical complaints) of each district's tickets, in order.

    The same rule as feed 1's ``in_district`` on the raw record: the ``district``
    field without ``เขต``; when it is blank, the address names the district.
    """
    named = frame["district"].fillna("").astype(str).str.strip().str.removeprefix("เขต")
    groups = named.groupby(named, sort=False).indices
    blank = np.flatnonzero((named == "").to_numpy())
    address = frame["address"].take(blank).fillna("").astype(str).str.replace("เขต ", "เขต")
    rows: dict[str, np.ndarray] = {}
    for name in names:
        own = np.asarray(groups.get(name, []), dtype=np.intp)
        by_address = blank[address.str.contains(f"เขต{name}", regex=False).to_numpy()]
        rows[name] = np.sort(np.concatenate([own, by_address])) if len(by_address) else own
    return rows


def within(
    frame: pd.DataFrame, own: Sequence[tuple[date, date]], scanned: Sequence[tuple[date, date]]
) -> pd.DataFrame:
    """The tickets created in the district's own windows: a district keeps to its plan,
    so its tabs are what its own sync would write."""
    if sorted(own) == sorted(scanned) or frame.empty:
        return frame
    days = frame["created_at"].dt.normalize()
    inside = pd.Series(False, index=frame.index)
    for first, last in own:
        inside |= (days >= pd.Timestamp(first)) & (days <= pd.Timestamp(last))
    return frame[inside]


@dataclass
class Comparison:
    """The city comparison one extraction can vouch for: fresh rows, and the months
    they are complete for (None: every month)."""

    fresh: pd.DataFrame
    complete: set[pd.Timestamp] | None

    def tab(self, stored: pd.DataFrame | None) -> pd.DataFrame:
        """The tab for an output that holds ``stored``: fresh rows for complete months,
        the stored rows for the others, unchanged rows keeping their ``as_of``."""
        tab = ranking.with_stored_months(self.fresh, stored, self.complete)
        return transform.carry_stamps(tab, stored, list(ranking.KEY), "as_of")


def comparison(
    frame: pd.DataFrame,
    rows: Mapping[str, np.ndarray],
    served: Mapping[str, pd.DataFrame],
    groups: Mapping[str, str],
    spans: Sequence[tuple[date, date]],
    until: date,
    now: datetime,
    min_tickets: int,
) -> Comparison:
    """Every district against the city, from one extraction (``frame``, all of Bangkok;
    ``rows``: ``district_rows`` of every district) and the served districts' merged
    tickets (``served``, by district).

    Served districts count with everything their output holds; the others with
    what the extraction read, so only the months it read in full are complete.
    """
    parts = [
        ranking.measured_tickets(complaints, groups, name)
        for name, complaints in served.items()
        if not complaints.empty
    ]
    others = [d.name for d in bangkok() if d.name not in served]
    for name in others:
        if len(rows[name]):
            parts.append(ranking.measured_tickets(frame.take(rows[name]), groups, name))
    if not parts:
        parts = [ranking.measured_tickets(frame.head(0), groups, "")]
    fresh = ranking.kpi_monthly_by_district(pd.concat(parts, ignore_index=True), now, min_tickets)
    return Comparison(fresh, ranking.months_within(spans, until) if others else None)


def summary_lines(result: CityResult) -> list[str]:
    """One line per district, then the totals: what a person reads after a city run."""
    e = result.extract
    lines = [
        f"Bangkok: {len(result.districts)} districts from one extraction: "
        f"{e.records} records in {e.pages} pages, {e.requests} Traffy requests, "
        f"{len(result.spans)} windows"
    ]
    width = max((len(d.district) for d in result.districts), default=0)
    for one in result.districts:
        if one.exception is not None:
            lines.append(f"  {one.district:<{width}}  FAILED  {one.error}")
            continue
        assert one.result is not None
        r = one.result
        complaints = r.load.tabs.get("complaints")
        changed = (
            f"+{complaints.inserted} ~{complaints.updated} -{complaints.deleted}"
            if complaints
            else "dry run"
        )
        mode = r.plan.mode if r.plan else "-"
        lines.append(
            f"  {one.district:<{width}}  ok  {mode:<11} {r.complaints_total} tickets "
            f"({changed}), {r.extract.rejected} rejected, {r.load.rows_written} rows written, "
            f"{r.load.api_calls} output calls -> {one.output}"
            + (f"; verify: {r.verification.describe()}" if r.verification else "")
        )
    failed = result.failed
    lines.append(
        f"  total      {len(result.districts) - len(failed)} published, {len(failed)} failed; "
        f"API calls {e.requests + result.output_calls} ({e.requests} Traffy, "
        f"{result.output_calls} output); {result.seconds:.1f}s"
    )
    return lines
