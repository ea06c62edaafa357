"""``run_sync``: extract -> validate -> transform -> load, with counts for each step.

Extraction and validation finish before anything is written: a run that
fails there leaves every tab as it was. Syncs are incremental: the sink's
``_sync`` tab holds the cursor, and the complaints already in the sink are
merged with the fresh ones so the tabs always cover every month
(see ``etl.traffy.incremental`` and ``docs/extraction.md``).
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
import requests

from etl import guard, history, kpi, looker, stored, transform
from etl.errors import ConfigError, EtlError, ValidationFailed
from etl.frames import gc_paused
from etl.models import BANGKOK, Reject
from etl.settings import Settings
from etl.sinks import LoadInfo, LocalSink, RunRecord, Sink
from etl.tabs import ACTIONS, TABS
from etl.traffy import ExtractInfo, Extraction, TraffyClient, extract, monthly_csv
from etl.traffy.client import RetryPolicy
from etl.traffy.extract import FEEDS
from etl.traffy.incremental import (
    SyncPlan,
    SyncState,
    days_of,
    district_rate,
    feed1_rate,
    merge,
    observed_rate,
    plan_sync,
)
from etl.verify import Verification, compare

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


def default_window(settings: Settings, today: date) -> tuple[date, date]:
    """``since``/``until`` from the flags, else whole months back from today.

    A window that ends before it starts is a usage error: it would read nothing
    and publish empty tabs.
    """
    until = settings.until or today
    if settings.since is not None:
        if settings.since > until:
            end = "--until" if settings.until else "today (Bangkok)"
            raise ConfigError(
                f"--since {settings.since} is after {end} {until}: the window would be empty."
            )
        return settings.since, until
    months_back = settings.window_months - 1
    year, month = divmod(today.year * 12 + today.month - 1 - months_back, 12)
    return date(year, month + 1, 1), until


def make_sink(settings: Settings) -> Sink:
    """The sink the settings ask for: the BigQuery dataset or the spreadsheet when one is
    configured, else local files."""
    if settings.bigquery_dataset:
        from etl.sinks.bigquery import BigQuerySink  # google-cloud-bigquery: an extra

        return BigQuerySink.from_settings(settings)
    if settings.spreadsheet_id:
        from etl.sinks.sheets import SheetsSink  # gspread is only loaded when used

        return SheetsSink.from_settings(settings)
    return LocalSink(settings.out, names=settings.tabs)


def make_client(settings: Settings, session: requests.Session | None = None) -> TraffyClient:
    return TraffyClient(
        settings.traffy_url,
        session=session,
        timeout=(settings.connect_timeout, settings.read_timeout),
        retry=RetryPolicy(
            attempts=settings.retry_attempts,
            backoff_initial=settings.retry_backoff_initial,
            backoff_max=settings.retry_backoff_max,
            budget=settings.retry_budget,
        ),
    )


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


def run_sync(
    settings: Settings,
    *,
    sink: Sink | None = None,
    session: requests.Session | None = None,
    now: datetime | None = None,
    dry_run: bool = False,
    full_refresh: bool = False,
    verify: bool = False,
    allow_removals: bool = False,
    progress: Progress | None = None,
) -> SyncResult:
    """Sync the district's new and still-open tickets into the sink and return the counts.

    The first run (or ``full_refresh``) fetches the whole window; later runs
    fetch what may have changed since the cursor in the sink's ``_sync`` tab.
    ``verify`` re-reads every window the output covers, like ``full_refresh``,
    and counts what it finds wrong. Every run, failed ones included, is logged
    in the sink's ``_runs`` (not a dry run: it changes nothing).

    Nothing is written unless every window was read in full (see
    ``etl.traffy.extract``) and the publish guard (``etl.guard``) passes: no
    month loses more than ``max_removed_share`` of the tickets the output holds
    (unless ``allow_removals``), and history tabs keep every row.
    """
    # Whole seconds: stamps must survive a round trip through any sink unchanged.
    now = (now or datetime.now(BANGKOK)).astimezone(BANGKOK).replace(microsecond=0)
    since, until = default_window(settings, now.date())
    target = sink or make_sink(settings)
    mode = "verify" if verify else "sync"

    def work(run: _Run) -> SyncResult:
        stages: dict[str, float] = {}
        started = time.perf_counter()
        previous, state, kept = _read_stored(target, settings, progress)
        plan = plan_for(
            settings, state, kept, (since, until), full_refresh=full_refresh, verify=verify
        )
        stages["read"] = time.perf_counter() - started

        if progress:
            progress.stage("extract")
        started = time.perf_counter()
        run.extraction = extract(
            make_client(settings, session),
            district=settings.district,
            spans=plan.spans,
            feed=FEEDS[settings.feed],
            page_size=settings.page_size,
            max_window_pages=settings.max_window_pages,
            concurrency=settings.concurrency,
            on_page=progress.page if progress else None,
        )
        extraction = run.extraction
        complaints = _checked_and_merged(extraction, started, stages, settings, previous, kept)
        verification = compare(kept, extraction.frame, plan.spans) if verify else None
        first = min((f for f, _ in plan.spans), default=since)
        # The observed density prices later refresh windows; an incremental
        # run's few windows say little about it, so only full scans update it.
        density = state.records_per_day
        if plan.mode != "incremental" and plan.spans:
            density = round(extraction.info.records / days_of(plan.spans), 1)
        new_state = next_state(
            state, complaints, first, district=settings.district, feed=settings.feed,
            records_per_day=density,
        )  # fmt: skip
        result = SyncResult(
            district=settings.district,
            since=first,
            until=until,
            output=target.description,
            extract=extraction.info,
            load=LoadInfo(),
            plan=plan,
            feed=settings.feed,
            verification=verification,
        )
        if verification is not None:
            run.message = verification.describe()
        return _publish(
            settings, target, complaints, kept, extraction.rejects, previous, new_state, now,
            stages, result, dry_run, allow_removals, run, progress,
        )  # fmt: skip

    return _logged(target, now, dry_run, mode, work)


def plan_for(
    settings: Settings,
    state: SyncState,
    kept: pd.DataFrame | None,
    window: tuple[date, date],
    *,
    full_refresh: bool,
    verify: bool,
) -> SyncPlan:
    """What one district's sync fetches, from its output's state and tickets (``kept``):
    ``plan_sync`` with the settings' windows and the feed's price of a window."""
    since, until = window
    return plan_sync(
        state,
        _open_days(kept, settings),
        district=settings.district,
        since=since,
        until=until,
        explicit_since=settings.since is not None and not verify,
        full_refresh=full_refresh or verify,
        window_days=settings.window_days,
        overlap_days=settings.sync_overlap_days,
        page_size=settings.page_size,
        records_per_day=observed_rate(state)
        or (feed1_rate if settings.feed == "v1" else district_rate(_days(kept))),
    )


def run_backfill(
    settings: Settings,
    *,
    first_month: str,
    last_month: str,
    sink: Sink | None = None,
    session: requests.Session | None = None,
    now: datetime | None = None,
    dry_run: bool = False,
    allow_removals: bool = False,
    progress: Progress | None = None,
) -> SyncResult:
    """Load whole months from the monthly CSV files, merged with what the sink holds.

    The months' files are authoritative for tickets created in those months;
    the sync cursor only moves forward, so a later ``etl sync`` continues
    incrementally. The publish guard applies as for ``run_sync``.
    """
    now = (now or datetime.now(BANGKOK)).astimezone(BANGKOK).replace(microsecond=0)
    try:
        month_list = monthly_csv.months(first_month, last_month)
    except ValueError as error:
        raise ConfigError(f"Invalid months (use YYYY-MM): {error}") from None
    target = sink or make_sink(settings)
    registration = {
        "name": settings.backfill_name,
        "org": settings.backfill_org,
        "purpose": settings.backfill_purpose,
        "email": settings.backfill_email,
    }

    def work(run: _Run) -> SyncResult:
        stages: dict[str, float] = {}
        started = time.perf_counter()
        previous, state, kept = _read_stored(target, settings, progress)
        stages["read"] = time.perf_counter() - started

        if progress:
            progress.stage("extract")
        started = time.perf_counter()
        run.extraction = monthly_csv.extract_months(
            make_client(settings, session),
            month_list,
            settings.district,
            registration,
            concurrency=settings.concurrency,
            on_page=progress.page if progress else None,
        )
        extraction = run.extraction
        complaints = _checked_and_merged(extraction, started, stages, settings, previous, kept)
        first, until = extraction.windows[0][0], extraction.windows[-1][1]
        new_state = next_state(
            state, complaints, first, district=settings.district,
            feed=state.feed or settings.feed, records_per_day=state.records_per_day,
        )  # fmt: skip
        result = SyncResult(
            district=settings.district,
            since=first,
            until=until,
            output=target.description,
            extract=extraction.info,
            load=LoadInfo(),
            plan=SyncPlan("backfill", list(extraction.windows)),
            feed="csv",
        )
        return _publish(
            settings, target, complaints, kept, extraction.rejects, previous, new_state, now,
            stages, result, dry_run, allow_removals, run, progress,
        )  # fmt: skip

    return _logged(target, now, dry_run, "backfill", work)


@dataclass
class _Run:
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


def _logged(
    sink: Sink, now: datetime, dry_run: bool, mode: str, work: Callable[[_Run], SyncResult]
) -> SyncResult:
    """Run ``work``; a failed run is logged in the sink too (a dry run changes nothing).

    A successful run is logged by its own write (``_publish``), which costs
    the Sheets sink no extra request.
    """
    run = _Run(started_at=now, mode=mode)
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


def _publish(
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
    run: _Run,
    progress: Progress | None = None,
    extra_tabs: Mapping[str, pd.DataFrame] | None = None,
) -> SyncResult:
    """Transform the merged complaints (canonical frame) into every tab, check them
    against what the output ``held`` (the publish guard), and write them in one load.
    ``extra_tabs``: tabs built elsewhere, written with the rest (the city comparison
    of ``etl.city``)."""
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
        # The write logs the run; if it fails, _logged logs the failure instead.
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


def _days(complaints: pd.DataFrame | None) -> list[date]:
    """Creation dates (Bangkok) of a canonical frame's tickets."""
    if complaints is None:
        return []
    return list(complaints["created_at"].dt.date)


def _open_days(complaints: pd.DataFrame | None, settings: Settings) -> list[date]:
    """Creation dates of the stored tickets still open: not finished, not irrelevant,
    by the configured state groups."""
    if complaints is None:
        return []
    groups = transform.state_groups(
        complaints["state"], complaints["state_type"], settings.state_group_of()
    )
    return _days(complaints[~groups.isin(["finished", "irrelevant"])])


def next_state(
    state: SyncState,
    complaints: pd.DataFrame,
    first: date,
    *,
    district: str,
    feed: str | None,
    records_per_day: float | None,
) -> SyncState:
    """The ``_sync`` state after a run: the cursor only moves forward, the covered range
    only grows back to ``first`` (the earliest day the run read)."""
    return SyncState(
        district=district,
        feed=feed,
        cursor=_newest(complaints, state.cursor),
        covered_since=min(first, state.covered_since or first),
        records_per_day=records_per_day,
    )


def _newest(complaints: pd.DataFrame, cursor: datetime | None) -> datetime | None:
    """The sync cursor: the newest creation time seen so far (aware, Bangkok)."""
    latest = complaints["created_at"].max() if len(complaints) else None
    newest: datetime | None = None
    if latest is not None and not pd.isna(latest):
        newest = pd.Timestamp(latest).to_pydatetime().replace(tzinfo=BANGKOK)
    if cursor is None or newest is None:
        return newest or cursor
    return max(newest, cursor)


def _read_stored(
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


def _checked_and_merged(
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
