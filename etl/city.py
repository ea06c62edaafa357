"""Many districts from one extraction: ``etl sync --district all`` (or a comma list).

Feed 1 has no district filter: a district's sync pages all of Bangkok in its
windows and keeps about 2 % of what it reads. Fifty district syncs would page
the same windows fifty times (docs/scaling.md). A city run instead

1. reads each served district's output and plans its windows exactly as
   ``run_sync`` does (its own cursor, open tickets, district binding);
2. pages the union of those windows once, for every district (``district=None``);
3. gives each district the tickets of its own windows, merged with what its
   output holds, and publishes them through the same ``_publish`` as
   ``run_sync``: the same tabs, history, staff ``actions`` and ``_runs`` log,
   one sink per district;
4. adds the city comparison (``kpi_monthly_by_district``) to every output.

A district that fails (a spreadsheet not shared, a 403, too many invalid
records) does not stop the others; the run reports each failure. Only a
failed extraction stops every district, before anything is written.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import requests

from etl import ranking, transform
from etl.districts import bangkok
from etl.errors import ConfigError, EtlError
from etl.models import BANGKOK, Reject
from etl.pipeline import (
    Progress,
    SyncResult,
    _checked_and_merged,
    _logged,
    _publish,
    _read_stored,
    _Run,
    default_window,
    make_client,
    make_sink,
    next_state,
    plan_for,
)
from etl.settings import Settings
from etl.sinks import LoadInfo, LocalSink, Sink
from etl.traffy import ExtractInfo, Extraction, TraffyClient, extract, monthly_csv
from etl.traffy.extract import FEEDS
from etl.traffy.incremental import (
    SyncPlan,
    SyncState,
    days_of,
    feed1_rate,
    observed_rate,
    refresh_windows,
)
from etl.verify import compare

log = logging.getLogger(__name__)


@dataclass
class DistrictOutcome:
    """One served district: its sync's result, or why it failed."""

    district: str
    output: str
    result: SyncResult | None = None
    error: str | None = None
    """``ErrorClass: message`` of a district that published nothing."""


@dataclass
class CityResult:
    """What a city run did: one outcome per district, and the one extraction."""

    districts: list[DistrictOutcome]
    extract: ExtractInfo
    spans: list[tuple[date, date]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> list[DistrictOutcome]:
        return [d for d in self.districts if d.error is not None]

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
                    "ok": d.error is None,
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


def district_sinks(settings: Settings, *, local_rest: bool) -> dict[str, Sink]:
    """The output of each served district: its spreadsheet from ``[spreadsheets]``, else
    the folder ``out/<district>/`` (named as Traffy writes the district).

    With spreadsheets configured, a district without one is a usage error unless
    ``local_rest`` (``--out`` given): a forgotten id must not send an office's
    report to a folder on the runner that nobody reads.
    """
    if settings.spreadsheet_id and settings.spreadsheet_id not in settings.spreadsheets.values():
        raise ConfigError(
            "spreadsheet_id (--spreadsheet-id, ETL_SPREADSHEET_ID) names one spreadsheet; "
            "a run serving several districts takes one per district from [spreadsheets] "
            "in the config file or ETL_SPREADSHEETS (a JSON object)."
        )
    served = settings.served_districts
    if settings.bigquery_dataset:  # one dataset, a district column (docs/bigquery.md)
        return {name: make_sink(settings.model_copy(update={"district": name})) for name in served}
    missing = [name for name in served if name not in settings.spreadsheets]
    if settings.spreadsheets and missing and not local_rest:
        shown = ", ".join(missing[:5]) + (
            f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        )
        raise ConfigError(
            f"No spreadsheet for {len(missing)} served district(s): {shown}. Add them to "
            "[spreadsheets] (or ETL_SPREADSHEETS), or give --out DIR for their CSV files."
        )
    sinks: dict[str, Sink] = {}
    for name in served:
        if name in settings.spreadsheets:
            from etl.sinks.sheets import SheetsSink  # gspread is only loaded when used

            one = settings.model_copy(update={"spreadsheet_id": settings.spreadsheets[name]})
            sinks[name] = SheetsSink.from_settings(one)
        else:
            sinks[name] = LocalSink(settings.out / name, names=settings.tabs)
    return sinks


def spreadsheets_to_init(settings: Settings) -> dict[str, str]:
    """The spreadsheets ``etl init`` prepares: the one ``spreadsheet_id`` names, or, when
    it is unset or one of ``[spreadsheets]``, every spreadsheet there (by district)."""
    if settings.spreadsheet_id and settings.spreadsheet_id not in settings.spreadsheets.values():
        return {settings.spreadsheet_id: settings.spreadsheet_id}
    return dict(settings.spreadsheets)


def district_output(settings: Settings) -> Sink:
    """Where one district's tabs are (``etl report --district``): its spreadsheet, else
    the folder a city run wrote for it (``out/<district>/``), else ``out`` itself."""
    if len(settings.served_districts) != 1:
        raise ConfigError("Name one district: each district's output is read on its own.")
    folder = settings.out / settings.district
    if not settings.spreadsheet_id and folder.is_dir():
        return LocalSink(folder, names=settings.tabs)
    return make_sink(settings)


def report_outputs(settings: Settings, html: Path) -> list[tuple[Sink, Path]]:
    """``etl report`` of a city-wide configuration: each served district's output and
    its page, ``report-<district>.html`` beside ``html`` (the workflow keeps the folder)."""
    pages = []
    for name in settings.served_districts:
        one = settings.model_copy(
            update={"district": name, "spreadsheet_id": settings.spreadsheets.get(name)}
        )
        pages.append((district_output(one), html.with_name(f"{html.stem}-{name}{html.suffix}")))
    return pages


@dataclass
class _Served:
    """One district of the run, from its read to its publish."""

    name: str
    settings: Settings
    sink: Sink
    previous: dict[str, pd.DataFrame] = field(default_factory=dict)
    state: SyncState = field(default_factory=SyncState)
    kept: pd.DataFrame | None = None
    plan: SyncPlan | None = None
    stages: dict[str, float] = field(default_factory=dict)
    complaints: pd.DataFrame | None = None
    extraction: Extraction | None = None
    outcome: DistrictOutcome = field(default_factory=lambda: DistrictOutcome("", ""))


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
) -> CityResult:
    """Sync every served district (``settings.served_districts``) from one extraction.

    ``sinks``: the output of each district (default: ``district_sinks``);
    ``client``: Traffy (default: ``make_client``; the bench gives local pages).
    ``verify`` and ``allow_removals`` as for ``run_sync``, for every district.
    Raises only when nothing could be published (the extraction failed);
    a district's own failure is in its outcome (see ``CityResult.failed``).
    """
    if settings.feed != "v1":
        raise ConfigError(
            f"A run serving several districts reads feed v1 (all of Bangkok at once); "
            f"feed {settings.feed} filters one district on the server: run one district "
            "at a time with it."
        )
    started_run = time.perf_counter()
    now = (now or datetime.now(BANGKOK)).astimezone(BANGKOK).replace(microsecond=0)
    since, until = default_window(settings, now.date())
    mode = "verify" if verify else "sync"
    served = _served(settings, sinks, local_rest)

    for one in served:  # 1. each district's output and windows
        try:
            _plan(one, since, until, full_refresh, verify, _Prefixed(progress, one.name))
        except EtlError as error:
            _fail(one, error, now, dry_run, mode=mode)
    planned = [one for one in served if one.plan is not None]
    if not planned:  # no output to write to: nothing to page for
        return CityResult([one.outcome for one in served], ExtractInfo())
    spans = covering_windows([one.plan for one in planned if one.plan], settings, planned)

    if progress:
        progress.stage("extract")
    started = time.perf_counter()
    try:  # 2. one extraction for every district
        extraction = extract(
            client or make_client(settings, session),
            district=None,
            spans=spans,
            feed=FEEDS[settings.feed],
            page_size=settings.page_size,
            max_window_pages=settings.max_window_pages,
            concurrency=settings.concurrency,
            on_page=progress.page if progress else None,
        )
    except EtlError as error:
        for one in planned:
            _record_failure(one.sink, now, dry_run, error, mode=mode)
        raise
    info = extraction.info

    # 3. each district's tickets, merged with its output's
    frame, rejects = extraction.frame, extraction.rejects
    del extraction  # the city's frame is split below; keep one copy of it, not two
    feed = FEEDS[settings.feed]
    _split(frame, rejects, info, planned, spans, feed.in_district, started, now, dry_run, mode)
    merged = [one for one in planned if one.complaints is not None]

    # 4. the city comparison, then each district's tabs and load
    comparison = _comparison(settings, frame, merged, spans, until, now)
    del frame
    for one in merged:
        _publish_district(
            one, comparison, info, spans, (since, until), now, dry_run, progress,
            mode=mode, allow_removals=allow_removals,
        )  # fmt: skip
    return CityResult(
        [one.outcome for one in served], info, spans, time.perf_counter() - started_run
    )


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
) -> CityResult:
    """``run_backfill`` for every served district: each monthly file is read once.

    The files hold all of Bangkok; each district keeps its own tickets, merged
    with its output as ``run_backfill`` merges them.
    """
    started_run = time.perf_counter()
    now = (now or datetime.now(BANGKOK)).astimezone(BANGKOK).replace(microsecond=0)
    try:
        month_list = monthly_csv.months(first_month, last_month)
    except ValueError as error:
        raise ConfigError(f"Invalid months (use YYYY-MM): {error}") from None
    served = _served(settings, sinks, local_rest)
    for one in served:
        started = time.perf_counter()
        try:
            one.previous, one.state, one.kept = _read_stored(
                one.sink, one.settings, _Prefixed(progress, one.name)
            )
        except EtlError as error:
            _fail(one, error, now, dry_run, mode="backfill")
            continue
        one.plan = SyncPlan("backfill", [])
        one.stages["read"] = time.perf_counter() - started
    planned = [one for one in served if one.plan is not None]
    if not planned:
        return CityResult([one.outcome for one in served], ExtractInfo())

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
            None,
            registration,
            concurrency=settings.concurrency,
        )
    except EtlError as error:
        for one in planned:
            _record_failure(one.sink, now, dry_run, error, mode="backfill")
        raise
    spans = list(extraction.windows)
    for one in planned:
        one.plan = SyncPlan("backfill", spans)
    frame, rejects, info = extraction.frame, extraction.rejects, extraction.info
    del extraction
    _split(
        frame, rejects, info, planned, spans, monthly_csv.in_district, started, now, dry_run,
        "backfill",
    )  # fmt: skip
    merged = [one for one in planned if one.complaints is not None]
    comparison = _comparison(settings, frame, merged, spans, spans[-1][1], now)
    del frame
    for one in merged:
        window = (spans[0][0], spans[-1][1])
        _publish_district(
            one, comparison, info, spans, window, now, dry_run, progress,
            mode="backfill", allow_removals=allow_removals,
        )  # fmt: skip
    return CityResult(
        [one.outcome for one in served], info, spans, time.perf_counter() - started_run
    )


def _served(
    settings: Settings, sinks: Mapping[str, Sink] | None, local_rest: bool
) -> list[_Served]:
    outputs = dict(sinks) if sinks is not None else district_sinks(settings, local_rest=local_rest)
    return [
        _Served(
            name,
            settings.model_copy(update={"district": name}),
            outputs[name],
            outcome=DistrictOutcome(name, outputs[name].description),
        )
        for name in settings.served_districts
    ]


def _split(
    frame: pd.DataFrame,
    rejects: Sequence[Reject],
    info: ExtractInfo,
    planned: Sequence[_Served],
    spans: Sequence[tuple[date, date]],
    in_district: Callable[[Any, str], bool],
    started: float,
    now: datetime,
    dry_run: bool,
    mode: str,
) -> None:
    """Give each district its tickets and rejects of the city's extraction, merged with
    its output's (``one.complaints``); a district refused here fails alone."""
    rows = district_rows(frame, [one.name for one in planned])
    for one in planned:
        assert one.plan is not None
        mine = _within(frame.take(rows[one.name]), one.plan.spans, spans)
        own_rejects = [r for r in rejects if in_district(r.raw, one.name)]
        one.extraction = Extraction(
            mine.reset_index(drop=True),
            own_rejects,
            replace(
                info,
                valid=len(mine),
                rejected=len(own_rejects),
                other_districts=max(0, info.records - len(mine) - len(own_rejects)),
            ),
            list(one.plan.spans),
        )
        try:
            one.complaints = _checked_and_merged(
                one.extraction, started, one.stages, one.settings, one.previous, one.kept
            )
        except EtlError as error:
            _fail(one, error, now, dry_run, one.extraction, mode=mode)


def _plan(
    one: _Served,
    since: date,
    until: date,
    full_refresh: bool,
    verify: bool,
    progress: Progress | None,
) -> None:
    """Read the district's output and plan its windows: ``run_sync``'s first steps
    (the output reachable, writable and bound to this district, or the district fails)."""
    started = time.perf_counter()
    settings = one.settings
    one.previous, one.state, one.kept = _read_stored(one.sink, settings, progress)
    one.plan = plan_for(
        settings, one.state, one.kept, (since, until), full_refresh=full_refresh, verify=verify
    )
    one.stages["read"] = time.perf_counter() - started


def covering_windows(
    plans: Sequence[SyncPlan], settings: Settings, served: Sequence[_Served] = ()
) -> list[tuple[date, date]]:
    """Windows covering every day any plan fetches, each day once.

    The days are covered as ``refresh_windows`` covers open tickets' days:
    neighbours merged while that costs no more pages, at most ``window_days``
    long. For one plan of consecutive windows (a full sync) these are the same
    windows, so a city run costs the requests of one district's run.
    """
    days = sorted(
        {
            pd.Timestamp(d).date()
            for plan in plans
            for first, last in plan.spans
            for d in pd.date_range(first, last, freq="D")
        }
    )
    rates = [observed_rate(one.state) for one in served]
    known = [rate for rate in rates if rate is not None]
    rate: Callable[[date], float] = (
        (lambda day: max(r(day) for r in known)) if known else feed1_rate
    )
    return refresh_windows(days, rate, settings.page_size, settings.window_days)


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


def _within(
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


def _comparison(
    settings: Settings,
    frame: pd.DataFrame,
    merged: Sequence[_Served],
    spans: Sequence[tuple[date, date]],
    until: date,
    now: datetime,
) -> tuple[pd.DataFrame, set[pd.Timestamp] | None]:
    """The fresh comparison rows, and the months they are complete for (None: all).

    Served districts count with everything their output holds; the others with
    what the extraction read, so only the months it read in full are complete.
    """
    groups = settings.state_group_of()
    parts = [
        ranking.measured_tickets(one.complaints, groups, one.name)
        for one in merged
        if one.complaints is not None and not one.complaints.empty
    ]
    served = {one.name for one in merged}
    others = [d.name for d in bangkok() if d.name not in served]
    if others:
        positions = district_rows(frame, others)
        for name in others:
            if len(positions[name]):
                parts.append(ranking.measured_tickets(frame.take(positions[name]), groups, name))
    if not parts:
        return ranking.kpi_monthly_by_district(
            ranking.measured_tickets(frame.head(0), groups, ""), now, settings.rank_min_tickets
        ), None
    tickets = pd.concat(parts, ignore_index=True)
    fresh = ranking.kpi_monthly_by_district(tickets, now, settings.rank_min_tickets)
    return fresh, (ranking.months_within(spans, until) if others else None)


def _publish_district(
    one: _Served,
    comparison: tuple[pd.DataFrame, set[pd.Timestamp] | None],
    info: ExtractInfo,
    spans: Sequence[tuple[date, date]],
    window: tuple[date, date],
    now: datetime,
    dry_run: bool,
    progress: Progress | None,
    *,
    mode: str,
    allow_removals: bool,
) -> None:
    """The district's tabs and load, as ``run_sync`` (or ``run_backfill``) does them,
    plus the comparison."""
    assert one.plan is not None
    assert one.complaints is not None
    assert one.extraction is not None
    plan, state, settings, extraction = one.plan, one.state, one.settings, one.extraction
    complaints = one.complaints
    since, until = window
    fresh, complete = comparison
    tab = ranking.with_stored_months(fresh, one.previous.get(ranking.TAB), complete)
    tab = transform.carry_stamps(tab, one.previous.get(ranking.TAB), list(ranking.KEY), "as_of")

    backfill = mode == "backfill"

    def work(run: _Run) -> SyncResult:
        run.extraction = extraction
        first = min((f for f, _ in plan.spans), default=since)
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
        return _publish(
            settings, one.sink, complaints, one.kept, extraction.rejects, one.previous,
            new_state, now, dict(one.stages), result, dry_run, allow_removals, run,
            _Prefixed(progress, one.name),
            extra_tabs={} if _one_table_for_all(one.sink) else {ranking.TAB: tab},
        )  # fmt: skip

    try:
        one.outcome.result = _logged(one.sink, now, dry_run, mode, work)
    except EtlError as error:
        one.outcome.error = f"{type(error).__name__}: {error}"
        log.error("%s: not published: %s", one.name, error)
    finally:
        one.complaints = None  # the district is done: its frames can go


def _one_table_for_all(sink: Sink) -> bool:
    """BigQuery keeps every district in one table per tab, owned by its ``district``
    column: the comparison is a query there, and this tab's own ``district`` column
    (the district compared) would be taken for the owner's."""
    return type(sink).__module__ == "etl.sinks.bigquery"


def _fail(
    one: _Served,
    error: EtlError,
    now: datetime,
    dry_run: bool,
    extraction: Extraction | None = None,
    *,
    mode: str,
) -> None:
    """The district publishes nothing this run; it is logged in its output when possible."""
    one.plan = None
    one.complaints = None
    one.outcome.error = f"{type(error).__name__}: {error}"
    log.error("%s: not published: %s", one.name, error)
    _record_failure(one.sink, now, dry_run, error, extraction, mode=mode)


def _record_failure(
    sink: Sink,
    now: datetime,
    dry_run: bool,
    error: EtlError,
    extraction: Extraction | None = None,
    *,
    mode: str,
) -> None:
    if dry_run:
        return
    run = _Run(started_at=now, mode=mode, extraction=extraction)
    try:
        sink.record_run(run.record(type(error).__name__, str(error)))
    except EtlError as failure:  # never hide the run's own error
        log.warning("Could not record the run in %s: %s", sink.description, failure)


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
        if one.error is not None:
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
