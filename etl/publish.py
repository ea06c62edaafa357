"""One district's output, read before a run and published after it.

Every run, whatever it serves (one district, a list, all 50) and whatever it
reads (a feed, the monthly files), goes through the same steps for each
output: ``read_stored`` (reachable, writable, bound to this district), then,
after the extraction, ``checked_and_merged`` (too many new invalid records
refuse the district) and ``publish`` (every tab from the merged tickets, the
publish guard, one load that also logs the run in ``_runs``). ``run_logged``
records a failed run in the output it failed to change.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol

import pandas as pd

from etl import guard, history, kpi, looker, stored, transform
from etl.errors import EtlError, ValidationFailed
from etl.frames import gc_paused
from etl.models import Reject
from etl.settings import Settings
from etl.sinks import LoadInfo, RunRecord, Sink
from etl.tabs import ACTIONS, TABS
from etl.traffy import ExtractInfo, Extraction
from etl.traffy.incremental import SyncPlan, SyncState, merge
from etl.verify import Verification

log = logging.getLogger(__name__)


@dataclass
class SyncResult:
    """What one sync did: the run summary's numbers."""

    district: str
    since: date
    until: date
    output: str
    extract: ExtractInfo
    load: LoadInfo
    unknown_states: dict[str, int] = field(default_factory=dict)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    run_id: str = ""
    preview: str | None = None
    """With ``dry_run``: what the load would have changed; nothing was written."""
    plan: SyncPlan | None = None
    """What was fetched: ``full``, ``range``, ``incremental`` or ``backfill`` windows."""
    feed: str = "v1"
    complaints_total: int = 0
    """Tickets in the tabs after the merge with earlier runs."""
    removed: list[guard.MonthLoss] = field(default_factory=list)
    """Months that lost tickets the output held, each within the guard's limit
    (or past it, with ``--allow-removals``)."""
    verification: Verification | None = None
    """With ``--verify``: what the full re-read found wrong in the output, and repaired."""

    @property
    def seconds(self) -> float:
        return sum(self.stage_seconds.values())

    @property
    def api_calls(self) -> int:
        """Requests to Traffy plus calls to the sink's API (quota is counted in these)."""
        return self.extract.requests + self.load.api_calls

    @property
    def rejected_share(self) -> float:
        """Share of the district's records that were invalid (quarantined in ``rejects``)."""
        seen = self.extract.valid + self.extract.rejected
        return self.extract.rejected / seen if seen else 0.0

    def to_dict(self) -> dict[str, Any]:
        """The summary as plain JSON-ready data, for ``--log-format json``."""
        data = asdict(self)
        data.update(
            since=self.since.isoformat(),
            until=self.until.isoformat(),
            seconds=round(self.seconds, 3),
            api_calls=self.api_calls,
            rejected_share=round(self.rejected_share, 6),
            rows_written=self.load.rows_written,
        )
        return data


class Progress(Protocol):
    """Who watches a run: told when a stage starts and when a Traffy page arrives."""

    def stage(self, name: str) -> None: ...

    def page(self, records: int) -> None: ...


def build_tabs(
    canonical: pd.DataFrame,
    settings: Settings,
    rejects_tab: pd.DataFrame,
    as_of: datetime,
    *,
    previous: Mapping[str, pd.DataFrame] | None = None,
    fixes: pd.DataFrame | None = None,
    window: tuple[date, date] | None = None,
) -> dict[str, pd.DataFrame]:
    """Every tab from the canonical complaints frame: the pure middle of the pipeline.

    ``previous`` holds the history tabs as the sink has them (``HISTORY_TABS``);
    ``fixes`` the staff's (ticket_id, fixed_on) frame, None when there is none.
    The garbage collector is paused (see ``gc_paused``): no cycles are made here.
    """
    with gc_paused():
        complaints = transform.complaints_tab(canonical, settings.state_group_of())
        tabs = {
            "complaints": complaints,
            "complaint_types": transform.complaint_types_tab(canonical),
            "complaint_orgs": transform.complaint_orgs_tab(canonical),
            "kpi_monthly": kpi.kpi_monthly(complaints, as_of, fixes),
            "rejects": rejects_tab,
        }
        tabs.update(_report_tabs(tabs, settings, as_of, previous or {}, fixes, window))
        tabs["kpi_monthly"] = history.with_past_months(tabs["kpi_monthly"], tabs["kpi_snapshots"])
    return tabs


HISTORY_TABS = ("status_history", "kpi_snapshots")
"""Tabs each sync appends to: read back from the sink before writing."""

BREAKDOWN_TABS = ("kpi_monthly_by_org", "kpi_monthly_by_type", "kpi_monthly_by_subdistrict")
"""Stamped like ``kpi_monthly`` (and ``open_tickets``): an unchanged row keeps its ``as_of``.
Only ``meta`` changes on every sync: its ``last_sync`` is the data's freshness."""


def _report_tabs(
    tabs: Mapping[str, pd.DataFrame],
    settings: Settings,
    as_of: datetime,
    previous: Mapping[str, pd.DataFrame],
    fixes: pd.DataFrame | None,
    window: tuple[date, date] | None,
) -> dict[str, pd.DataFrame]:
    """The executives' breakdowns, ageing view, history and the Looker Studio contract."""
    complaints = tabs["complaints"]
    since, until = window or (None, None)
    return {
        "kpi_monthly_by_org": kpi.kpi_monthly_by_org(
            complaints, tabs["complaint_orgs"], as_of, fixes
        ),
        "kpi_monthly_by_type": kpi.kpi_monthly_by_type(
            complaints, tabs["complaint_types"], as_of, fixes
        ),
        "kpi_monthly_by_subdistrict": kpi.kpi_monthly_by_subdistrict(complaints, as_of, fixes),
        "open_tickets": kpi.open_tickets(complaints, as_of),
        "status_history": history.status_history(previous.get("status_history"), complaints, as_of),
        "kpi_snapshots": history.kpi_snapshots(previous.get("kpi_snapshots"), tabs["kpi_monthly"]),
        "meta": looker.meta_tab(
            last_sync=as_of,
            district=settings.district,
            tickets=len(complaints),
            rejected=len(tabs["rejects"]),
            since=since,
            until=until,
        ),
        "dictionary": looker.dictionary_tab(),
    }


def staff_fixes(previous: Mapping[str, pd.DataFrame]) -> pd.DataFrame | None:
    """The staff's (ticket_id, fixed_on) from the ``actions`` tab; None where there is none.

    Only the Google Sheets sink keeps ``actions``; the local sink has no staff tab.
    """
    actions = previous.get(ACTIONS.name)
    return None if actions is None else actions[["ticket_id", "fixed_on"]]


TABS_READ = (
    *stored.TABS_READ, *HISTORY_TABS, *BREAKDOWN_TABS, "open_tickets", "meta", ACTIONS.name,
    "kpi_monthly_by_district",
)  # fmt: skip
"""Everything a run reads back from the sink before writing (one read in Sheets)."""


@dataclass
class Run:
    """What a run's log needs to know, filled in as the run goes."""

    started_at: datetime
    mode: str = "sync"
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    clock: float = field(default_factory=time.monotonic)
    """The end is the start plus the time the run took: a run on a given clock (the
    demo's 15 September 2566) ends on that clock too."""
    extraction: Extraction | None = None
    logged: bool = False
    message: str | None = None
    """What a successful run has to say in ``_runs`` (a verification's findings)."""

    def record(self, outcome: str, message: str | None = None) -> RunRecord:
        """The run's ``_runs`` row (the sink fills in what the load did)."""
        info = self.extraction.info if self.extraction else ExtractInfo()
        return RunRecord(
            run_id=self.run_id,
            started_at=self.started_at,
            finished_at=self.started_at + timedelta(seconds=time.monotonic() - self.clock),
            outcome=outcome,
            mode=self.mode,
            tickets_fetched=info.records,
            rejects=info.rejected,
            windows_read=info.windows,
            windows_rescanned=info.rescans,
            records_expected=info.expected,
            records_read=info.read,
            message=message if message is not None else self.message,
        )


def run_logged(
    sink: Sink, now: datetime, dry_run: bool, mode: str, work: Callable[[Run], SyncResult]
) -> SyncResult:
    """Run ``work``; a failed run is logged in the sink too (a dry run changes nothing).

    A successful run is logged by its own write (``publish``), which costs
    the Sheets sink no extra request.
    """
    run = Run(started_at=now, mode=mode)
    try:
        result = work(run)
    except EtlError as error:
        if not dry_run and not run.logged:
            try:
                sink.record_run(run.record(type(error).__name__, str(error)))
            except EtlError as failure:  # never hide the run's own error
                log.warning("Could not record the run in %s: %s", sink.description, failure)
        raise
    result.run_id = run.run_id
    return result


def publish(
    settings: Settings,
    sink: Sink,
    complaints: pd.DataFrame,
    held: pd.DataFrame | None,
    rejects: Sequence[Reject],
    previous: dict[str, pd.DataFrame],
    state: SyncState,
    now: datetime,
    stages: dict[str, float],
    result: SyncResult,
    dry_run: bool,
    allow_removals: bool,
    run: Run,
    progress: Progress | None = None,
    extra_tabs: Mapping[str, pd.DataFrame] | None = None,
) -> SyncResult:
    """Transform the merged complaints (canonical frame) into every tab, check them
    against what the output ``held`` (the publish guard), and write them in one load.
    ``extra_tabs``: tabs built elsewhere, written with the rest (the city comparison
    of ``etl.city``, when the extraction saw all of Bangkok)."""
    if progress:
        progress.stage("transform")
    started = time.perf_counter()
    ids = set(complaints["ticket_id"].tolist())
    rejects_tab = _merged_rejects(previous.get("rejects"), transform.rejects_tab(rejects, now), ids)
    tabs = build_tabs(
        complaints,
        settings,
        rejects_tab,
        now,
        previous=previous,
        fixes=staff_fixes(previous),
        window=(result.since, result.until),
    )
    for name in ("kpi_monthly", *BREAKDOWN_TABS, "open_tickets"):
        tabs[name] = transform.carry_stamps(
            tabs[name], previous.get(name), list(TABS[name].key), "as_of"
        )
    tabs["rejects"] = transform.carry_stamps(
        tabs["rejects"], previous.get("rejects"), ["reject_id"], "rejected_at"
    )
    tabs.update(extra_tabs or {})
    tabs[stored.SYNC_TAB] = state.to_frame()
    result.removed = guard.check_removals(
        held,
        complaints,
        max_share=1.0 if allow_removals else settings.max_removed_share,
        allowed=settings.removed_tickets_allowed,
    )
    guard.check_history(previous, tabs)
    stages["transform"] = time.perf_counter() - started

    if progress:
        progress.stage("load")
    started = time.perf_counter()
    if dry_run:
        result.preview = sink.preview(tabs)
    else:
        # The write logs the run; if it fails, run_logged logs the failure instead.
        result.load = sink.write_tabs(tabs, run=run.record("ok"))
        run.logged = True
    stages["load"] = time.perf_counter() - started

    complaints_tab = tabs["complaints"]
    unknown = complaints_tab.loc[complaints_tab["state_group"] == "unknown", "state"]
    result.unknown_states = dict(Counter(unknown.fillna("")))
    result.stage_seconds = stages
    result.complaints_total = len(complaints_tab)
    return result


def _merged_rejects(
    previous: pd.DataFrame | None, current: pd.DataFrame, valid_ids: set[str]
) -> pd.DataFrame:
    """Earlier runs' rejects stay quarantined until their ticket comes back valid."""
    if previous is None or previous.empty:
        return current
    still = previous[~previous["ticket_id"].isin(valid_ids)]
    if current.empty:
        return still.reset_index(drop=True)
    merged = pd.concat([still, current], ignore_index=True)
    return merged.drop_duplicates(subset=["reject_id"], keep="first").reset_index(drop=True)


def read_stored(
    sink: Sink, settings: Settings, progress: Progress | None
) -> tuple[dict[str, pd.DataFrame], SyncState, pd.DataFrame | None]:
    """What earlier runs left in the sink: its tabs, the sync state, the tickets.

    Runs before the first Traffy request, so it is where a run fails fast: the
    output must be reachable (reading a spreadsheet proves its sharing),
    writable, and hold this run's district (``guard.check_district``).
    """
    if progress:
        progress.stage("read")
    sink.check_ready()
    previous = sink.read_tabs(TABS_READ)
    state = SyncState.from_frame(previous.get(stored.SYNC_TAB))
    guard.check_district(_held_district(state, previous), settings.district, sink.description)
    return previous, state, stored.complaints_from_tabs(previous)


def _held_district(state: SyncState, previous: Mapping[str, pd.DataFrame]) -> str | None:
    """The district an output holds: its ``_sync`` state says, else its ``meta`` tab."""
    if state.district:
        return state.district
    meta = previous.get("meta")
    if meta is not None and not meta.empty and isinstance(meta["district"].iloc[0], str):
        return str(meta["district"].iloc[0]) or None
    return None


def checked_and_merged(
    extraction: Extraction,
    started: float,
    stages: dict[str, float],
    settings: Settings,
    previous: Mapping[str, pd.DataFrame],
    kept: pd.DataFrame | None,
) -> pd.DataFrame:
    """After any extraction: time its stages, refuse a run with too many new invalid
    records, and merge the fresh tickets with those the sink already holds."""
    stages["extract"] = time.perf_counter() - started - extraction.info.validate_seconds
    stages["validate"] = extraction.info.validate_seconds
    _check_invalid_share(
        extraction.info,
        settings.max_invalid_share,
        _new_rejects(extraction.rejects, previous.get("rejects")),
    )
    return merge(kept, extraction.frame, extraction.windows)


def _new_rejects(rejects: Sequence[Reject], quarantined: pd.DataFrame | None) -> list[Reject]:
    """Rejects not already in the sink's ``rejects`` tab.

    An incremental run re-reads few records; a record that is invalid in every
    scan was judged when it first appeared, and must not fail every later run.
    """
    if quarantined is None or quarantined.empty:
        return list(rejects)
    known = set(quarantined["reject_id"])
    return [r for r in rejects if transform.reject_id(r.raw) not in known]


def _check_invalid_share(info: ExtractInfo, limit: float, rejects: Sequence[Reject]) -> None:
    """``rejects``: the run's new invalid records (see ``_new_rejects``)."""
    seen = info.valid + len(rejects)
    if seen and len(rejects) / seen > limit:
        first = rejects[0].reason if rejects else ""
        raise ValidationFailed(
            f"{len(rejects)} of {seen} district records are invalid "
            f"({len(rejects) / seen:.1%}, limit {limit:.0%}); nothing was written. "
            f"First reason: {first}. If the feed changed, update the feed module; "
            "to publish anyway raise max_invalid_share."
        )


def record_failure(
    sink: Sink,
    now: datetime,
    dry_run: bool,
    error: EtlError,
    extraction: Extraction | None = None,
    *,
    mode: str,
) -> None:
    """Log in ``sink``'s ``_runs`` a run that failed before its own work began (the
    shared extraction failed, or the district was refused after it)."""
    if dry_run:
        return
    run = Run(started_at=now, mode=mode, extraction=extraction)
    try:
        sink.record_run(run.record(type(error).__name__, str(error)))
    except EtlError as failure:  # never hide the run's own error
        log.warning("Could not record the run in %s: %s", sink.description, failure)
