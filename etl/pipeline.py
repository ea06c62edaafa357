"""``run_sync`` and ``run_backfill``: extract -> validate -> transform -> load, for one
district or for many from one extraction (``run_city_sync``, ``run_city_backfill``).

Every run goes the same way, whatever it serves:

1. read each served district's output and plan its windows: its own cursor,
   open tickets and district binding (``etl.publish.read_stored``, ``plan_for``);
2. page the windows once. Feed 1 and the monthly files hold all of Bangkok,
   so they are read for every district at once; feed ``search`` filters one
   district on the server, so it serves one district at a time;
3. give each district the tickets of its own windows, merged with what its
   output holds (see ``etl.traffy.incremental`` and ``docs/extraction.md``);
4. publish each district's tabs (``etl.publish.publish``): the same tabs,
   history, staff ``actions`` and ``_runs`` log for every output, and, when
   the extraction saw the whole city, the comparison ``kpi_monthly_by_district``.

Extraction and validation finish before anything is written: a run that fails
there leaves every output as it was. A district refused after the extraction
(its output, its invalid records, the publish guard) fails alone; a run
serving one district raises its error.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
import requests

from etl import city, ranking, transform
from etl.districts import bangkok
from etl.errors import ConfigError, EtlError
from etl.models import BANGKOK, Reject
from etl.outputs import district_sinks, make_sink
from etl.publish import (
    Progress,
    Run,
    SyncResult,
    checked_and_merged,
    publish,
    read_stored,
    record_failure,
    run_logged,
)
from etl.settings import Settings
from etl.sinks import LoadInfo, Sink
from etl.traffy import ExtractInfo, Extraction, TraffyClient, extract, monthly_csv
from etl.traffy.client import RetryPolicy
from etl.traffy.extract import FEEDS
from etl.traffy.incremental import (
    SyncPlan,
    SyncState,
    days_of,
    district_rate,
    feed1_rate,
    observed_rate,
    plan_sync,
)
from etl.verify import compare

log = logging.getLogger(__name__)


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
    return _alone(
        run_city_sync(
            settings, sinks=_one_sink(settings, sink), session=session, now=now,
            dry_run=dry_run, full_refresh=full_refresh, verify=verify,
            allow_removals=allow_removals, progress=progress,
        )
    )  # fmt: skip


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
    return _alone(
        run_city_backfill(
            settings, first_month=first_month, last_month=last_month,
            sinks=_one_sink(settings, sink), session=session, now=now, dry_run=dry_run,
            allow_removals=allow_removals, progress=progress,
        )
    )  # fmt: skip


def _one_sink(settings: Settings, sink: Sink | None) -> dict[str, Sink]:
    if len(settings.served_districts) != 1:
        raise ConfigError(
            f"district {settings.district!r} serves several districts: "
            "use run_city_sync (etl sync --district takes them all at once)."
        )
    return {settings.district: sink or make_sink(settings)}


def _alone(result: city.CityResult) -> SyncResult:
    """The result of a run serving one district, or its error."""
    (outcome,) = result.districts
    if outcome.exception is not None:
        raise outcome.exception
    assert outcome.result is not None
    return outcome.result


def run_city_sync(
    settings: Settings,
    *,
    sinks: Mapping[str, Sink] | None = None,
    local_rest: bool = False,
    session: requests.Session | None = None,
    now: datetime | None = None,
    dry_run: bool = False,
    full_refresh: bool = False,
    verify: bool = False,
    allow_removals: bool = False,
    progress: Progress | None = None,
    client: TraffyClient | None = None,
) -> city.CityResult:
    """Sync every served district (``settings.served_districts``) from one extraction.

    ``sinks``: the output of each district (default: ``outputs.district_sinks``);
    ``client``: Traffy (default: ``make_client``; the bench gives local pages).
    ``verify`` and ``allow_removals`` as for ``run_sync``, for every district.
    Raises only when nothing could be published (the extraction failed);
    a district's own failure is in its outcome (see ``CityResult.failed``).
    """
    feed = FEEDS[settings.feed]
    whole_city = settings.feed == "v1"  # feed 1 has no district filter
    if not whole_city and len(settings.served_districts) > 1:
        raise ConfigError(
            f"A run serving several districts reads feed v1 (all of Bangkok at once); "
            f"feed {settings.feed} filters one district on the server: run one district "
            "at a time with it."
        )
    started_run = time.perf_counter()
    now = _second(now)
    since, until = default_window(settings, now.date())
    mode = "verify" if verify else "sync"
    served = _served(settings, sinks, local_rest, progress)

    for one in served:  # 1. each district's output and windows
        try:
            _plan(one, since, until, full_refresh, verify)
        except EtlError as error:
            one.fail(error, now, dry_run, mode=mode)
    planned = [one for one in served if one.plan is not None]
    if not planned:  # no output to write to: nothing to page for
        return city.CityResult([one.outcome for one in served], ExtractInfo())
    spans = city.covering_windows(
        [one.plan for one in planned if one.plan],
        [one.state for one in planned],
        settings.page_size,
        settings.window_days,
    )

    if progress:
        progress.stage("extract")
    started = time.perf_counter()
    try:  # 2. one extraction for every district
        extraction = extract(
            client or make_client(settings, session),
            # Serving several districts, every ticket is kept whole. Serving one,
            # the other districts' tickets are kept only as far as the comparison
            # reads them (extract's ``others``); feed search has none to keep.
            district=None if whole_city and len(planned) > 1 else planned[0].name,
            spans=spans,
            feed=feed,
            page_size=settings.page_size,
            max_window_pages=settings.max_window_pages,
            concurrency=settings.concurrency,
            on_page=progress.page if progress else None,
            others=whole_city,
        )
    except EtlError as error:
        for one in planned:
            record_failure(one.sink, now, dry_run, error, mode=mode)
        raise
    return _publish_all(
        extraction, served, planned, spans, (since, until), feed.in_district if whole_city
        else None, started, now, dry_run, mode, allow_removals, started_run,
    )  # fmt: skip


def run_city_backfill(
    settings: Settings,
    *,
    first_month: str,
    last_month: str,
    sinks: Mapping[str, Sink] | None = None,
    local_rest: bool = False,
    session: requests.Session | None = None,
    now: datetime | None = None,
    dry_run: bool = False,
    allow_removals: bool = False,
    progress: Progress | None = None,
) -> city.CityResult:
    """``run_backfill`` for every served district: each monthly file is read once.

    The files hold all of Bangkok; each district keeps its own tickets, merged
    with its output as ``run_backfill`` merges them.
    """
    started_run = time.perf_counter()
    now = _second(now)
    try:
        month_list = monthly_csv.months(first_month, last_month)
    except ValueError as error:
        raise ConfigError(f"Invalid months (use YYYY-MM): {error}") from None
    served = _served(settings, sinks, local_rest, progress)
    for one in served:
        started = time.perf_counter()
        try:
            one.previous, one.state, one.kept = read_stored(one.sink, one.settings, one.progress)
        except EtlError as error:
            one.fail(error, now, dry_run, mode="backfill")
            continue
        one.plan = SyncPlan("backfill", [])
        one.stages["read"] = time.perf_counter() - started
    planned = [one for one in served if one.plan is not None]
    if not planned:
        return city.CityResult([one.outcome for one in served], ExtractInfo())

    if progress:
        progress.stage("extract")
    started = time.perf_counter()
    registration = {
        "name": settings.backfill_name,
        "org": settings.backfill_org,
        "purpose": settings.backfill_purpose,
        "email": settings.backfill_email,
    }
    try:
        extraction = monthly_csv.extract_months(
            make_client(settings, session),
            month_list,
            None,  # every file holds all of Bangkok: read it once for every district
            registration,
            concurrency=settings.concurrency,
            on_page=progress.page if progress else None,
        )
    except EtlError as error:
        for one in planned:
            record_failure(one.sink, now, dry_run, error, mode="backfill")
        raise
    spans = list(extraction.windows)
    for one in planned:
        one.plan = SyncPlan("backfill", spans)
    window = (spans[0][0], spans[-1][1])
    return _publish_all(
        extraction, served, planned, spans, window, monthly_csv.in_district, started, now,
        dry_run, "backfill", allow_removals, started_run,
    )  # fmt: skip


def _second(now: datetime | None) -> datetime:
    """The run's clock in Bangkok, to whole seconds: stamps must survive a round trip
    through any sink unchanged."""
    return (now or datetime.now(BANGKOK)).astimezone(BANGKOK).replace(microsecond=0)


@dataclass
class _Served:
    """One district of the run, from its read to its publish."""

    name: str
    settings: Settings
    sink: Sink
    progress: Progress | None
    alone: bool
    """The run serves this district only: its error is the run's (raised, not logged)."""
    outcome: city.DistrictOutcome
    previous: dict[str, pd.DataFrame] = field(default_factory=dict)
    state: SyncState = field(default_factory=SyncState)
    kept: pd.DataFrame | None = None
    plan: SyncPlan | None = None
    stages: dict[str, float] = field(default_factory=dict)
    complaints: pd.DataFrame | None = None
    extraction: Extraction | None = None

    def fail(
        self,
        error: EtlError,
        now: datetime,
        dry_run: bool,
        extraction: Extraction | None = None,
        *,
        mode: str,
    ) -> None:
        """The district publishes nothing this run; it is logged in its output when
        possible."""
        self.plan = None
        self.complaints = None
        self.refused(error)
        record_failure(self.sink, now, dry_run, error, extraction, mode=mode)

    def refused(self, error: EtlError) -> None:
        self.outcome.exception = error
        if not self.alone:  # alone, the error is the run's: said once, by the caller
            log.error("%s: not published: %s", self.name, error)


def _served(
    settings: Settings,
    sinks: Mapping[str, Sink] | None,
    local_rest: bool,
    progress: Progress | None,
) -> list[_Served]:
    outputs = dict(sinks) if sinks is not None else district_sinks(settings, local_rest=local_rest)
    names = settings.served_districts
    alone = len(names) == 1
    return [
        _Served(
            name,
            settings.model_copy(update={"district": name}),
            outputs[name],
            progress if alone else _Prefixed(progress, name),
            alone,
            city.DistrictOutcome(name, outputs[name].description),
        )
        for name in names
    ]


def _plan(one: _Served, since: date, until: date, full_refresh: bool, verify: bool) -> None:
    """Read the district's output and plan its windows (the output reachable, writable
    and bound to this district, or the district fails)."""
    started = time.perf_counter()
    one.previous, one.state, one.kept = read_stored(one.sink, one.settings, one.progress)
    one.plan = plan_for(
        one.settings, one.state, one.kept, (since, until), full_refresh=full_refresh,
        verify=verify,
    )  # fmt: skip
    one.stages["read"] = time.perf_counter() - started


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


def _publish_all(
    extraction: Extraction,
    served: Sequence[_Served],
    planned: Sequence[_Served],
    spans: Sequence[tuple[date, date]],
    window: tuple[date, date],
    in_district: Callable[[Any, str], bool] | None,
    started: float,
    now: datetime,
    dry_run: bool,
    mode: str,
    allow_removals: bool,
    started_run: float,
) -> city.CityResult:
    """Steps 3 and 4: each district's tickets merged with its output's, the comparison
    when the extraction saw the whole city (``in_district``: its rule for a raw
    record; None when the server filtered one district), and each district's load."""
    frame, rejects, info = extraction.frame, extraction.rejects, extraction.info
    del extraction  # the city's frame is split below; keep one copy of it, not two
    # Every district's rows, found once: the served ones are split off, the others
    # counted in the comparison.
    rows = city.district_rows(frame, [d.name for d in bangkok()]) if in_district else {}
    _split(frame, rows, rejects, info, planned, spans, in_district, started, now, dry_run, mode)
    merged = [one for one in planned if one.complaints is not None]
    comparison = None
    if in_district is not None:
        settings = planned[0].settings
        comparison = city.comparison(
            frame,
            rows,
            {one.name: one.complaints for one in merged if one.complaints is not None},
            settings.state_group_of(),
            spans,
            window[1],
            now,
            settings.rank_min_tickets,
        )
    del frame
    for one in merged:
        _publish_district(
            one, comparison, info, spans, window, now, dry_run, mode=mode,
            allow_removals=allow_removals,
        )  # fmt: skip
    return city.CityResult(
        [one.outcome for one in served], info, list(spans), time.perf_counter() - started_run
    )


def _split(
    frame: pd.DataFrame,
    rows: Mapping[str, np.ndarray],
    rejects: Sequence[Reject],
    info: ExtractInfo,
    planned: Sequence[_Served],
    spans: Sequence[tuple[date, date]],
    in_district: Callable[[Any, str], bool] | None,
    started: float,
    now: datetime,
    dry_run: bool,
    mode: str,
) -> None:
    """Give each district its tickets and rejects of the extraction, merged with its
    output's (``one.complaints``); a district refused here fails alone.

    ``rows``: each district's positions in ``frame`` (``city.district_rows``).
    ``in_district`` None: the server filtered the one planned district, so all
    of the extraction is its own."""
    for one in planned:
        assert one.plan is not None
        if in_district is None:
            mine, own_rejects, own_info = frame, list(rejects), info
        else:
            own = frame.take(rows[one.name])
            mine = city.within(own, one.plan.spans, spans)
            own_rejects = [r for r in rejects if in_district(r.raw, one.name)]
            own_info = replace(
                info,
                valid=len(mine),
                rejected=len(own_rejects),
                other_districts=len(frame) - len(own) + len(rejects) - len(own_rejects),
            )
        one.extraction = Extraction(
            mine.reset_index(drop=True), own_rejects, own_info, list(one.plan.spans)
        )
        try:
            one.complaints = checked_and_merged(
                one.extraction, started, one.stages, one.settings, one.previous, one.kept
            )
        except EtlError as error:
            one.fail(error, now, dry_run, one.extraction, mode=mode)


def _publish_district(
    one: _Served,
    comparison: city.Comparison | None,
    info: ExtractInfo,
    spans: Sequence[tuple[date, date]],
    window: tuple[date, date],
    now: datetime,
    dry_run: bool,
    *,
    mode: str,
    allow_removals: bool,
) -> None:
    """The district's tabs and load, with the comparison when there is one."""
    assert one.plan is not None
    assert one.complaints is not None
    assert one.extraction is not None
    plan, state, settings, extraction = one.plan, one.state, one.settings, one.extraction
    complaints = one.complaints
    since, until = window
    extra = {}
    if comparison is not None:
        extra[ranking.TAB] = comparison.tab(one.previous.get(ranking.TAB))
    backfill = mode == "backfill"

    def work(run: Run) -> SyncResult:
        run.extraction = extraction
        first = min((f for f, _ in plan.spans), default=since)
        # The observed density prices later refresh windows; an incremental
        # run's few windows say little about it, so only full scans update it.
        density = state.records_per_day
        if plan.mode not in ("incremental", "backfill") and plan.spans:
            density = round(info.records / days_of(spans), 1)
        new_state = next_state(
            state, complaints, first, district=one.name,
            feed=(state.feed or settings.feed) if backfill else settings.feed,
            records_per_day=density,
        )  # fmt: skip
        result = SyncResult(
            district=one.name,
            since=first,
            until=until,
            output=one.sink.description,
            extract=extraction.info,
            load=LoadInfo(),
            plan=plan,
            feed="csv" if backfill else settings.feed,
        )
        if mode == "verify":
            result.verification = compare(one.kept, extraction.frame, plan.spans)
            run.message = result.verification.describe()
        return publish(
            settings, one.sink, complaints, one.kept, extraction.rejects, one.previous,
            new_state, now, dict(one.stages), result, dry_run, allow_removals, run,
            one.progress, extra_tabs=extra,
        )  # fmt: skip

    try:
        one.outcome.result = run_logged(one.sink, now, dry_run, mode, work)
    except EtlError as error:
        one.refused(error)
    finally:
        one.complaints = None  # the district is done: its frames can go


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


class _Prefixed:
    """A district's stages, named after it on the shared progress display."""

    def __init__(self, progress: Progress | None, district: str) -> None:
        self.progress = progress
        self.district = district

    def stage(self, name: str) -> None:
        if self.progress:
            self.progress.stage(f"{self.district}: {name}")

    def page(self, records: int) -> None:
        if self.progress:
            self.progress.page(records)
