"""``run_sync``: extract -> validate -> transform -> load, with counts for each step.

Extraction and validation finish before anything is written: a run that
fails there leaves every tab as it was.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

import pandas as pd
import requests

from etl import kpi, transform
from etl.errors import EtlError, ValidationFailed
from etl.models import BANGKOK, Reject
from etl.settings import Settings
from etl.sinks import LoadInfo, LocalSink, RunRecord, Sink
from etl.traffy import ExtractInfo, Extraction, TraffyClient, extract
from etl.traffy.client import RetryPolicy

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
    """``since``/``until`` from the flags, else whole months back from today."""
    until = settings.until or today
    if settings.since is not None:
        return settings.since, until
    months_back = settings.window_months - 1
    year, month = divmod(today.year * 12 + today.month - 1 - months_back, 12)
    return date(year, month + 1, 1), until


def make_sink(settings: Settings) -> Sink:
    """The sink the settings ask for: the spreadsheet when one is configured, else local files."""
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
        ),
    )


def build_tabs(
    canonical: pd.DataFrame,
    settings: Settings,
    rejects_tab: pd.DataFrame,
    as_of: datetime,
) -> dict[str, pd.DataFrame]:
    """Every tab from the canonical complaints frame: the pure middle of the pipeline."""
    complaints = transform.complaints_tab(canonical, settings.state_group_of())
    return {
        "complaints": complaints,
        "complaint_types": transform.complaint_types_tab(canonical),
        "complaint_orgs": transform.complaint_orgs_tab(canonical),
        "kpi_monthly": kpi.kpi_monthly(complaints, as_of),
        "rejects": rejects_tab,
    }


def run_sync(
    settings: Settings,
    *,
    sink: Sink | None = None,
    session: requests.Session | None = None,
    now: datetime | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> SyncResult:
    """Sync the district's tickets of the window into the sink and return the counts.

    Every run, failed ones included, is logged with ``sink.record_run`` (not a
    dry run: it changes nothing).
    """
    # Whole seconds: stamps must survive a round trip through any sink unchanged.
    now = (now or datetime.now(BANGKOK)).astimezone(BANGKOK).replace(microsecond=0)
    since, until = default_window(settings, now.date())
    sink = sink or make_sink(settings)
    run_id = uuid.uuid4().hex[:12]
    stages: dict[str, float] = {}
    extraction: Extraction | None = None
    try:
        if progress:
            progress.stage("extract")
        started = time.perf_counter()
        client = make_client(settings, session)
        extraction = extract(
            client,
            district=settings.district,
            since=since,
            until=until,
            page_size=settings.page_size,
            window_days=settings.window_days,
            on_page=progress.page if progress else None,
        )
        stages["extract"] = time.perf_counter() - started
        _check_invalid_share(extraction.info, settings.max_invalid_share, extraction.rejects)

        if progress:
            progress.stage("transform")
        started = time.perf_counter()
        previous = sink.read_tabs(["kpi_monthly", "rejects"])
        frame = transform.complaints_frame(extraction.complaints)
        tabs = build_tabs(frame, settings, transform.rejects_tab(extraction.rejects, now), now)
        tabs["kpi_monthly"] = transform.carry_stamps(
            tabs["kpi_monthly"], previous.get("kpi_monthly"), ["month"], "as_of"
        )
        tabs["rejects"] = transform.carry_stamps(
            tabs["rejects"], previous.get("rejects"), ["reject_id"], "rejected_at"
        )
        stages["transform"] = time.perf_counter() - started

        if progress:
            progress.stage("load")
        started = time.perf_counter()
        preview = sink.preview(tabs) if dry_run else None
        load = LoadInfo() if dry_run else sink.write_tabs(tabs)
        stages["load"] = time.perf_counter() - started
    except EtlError as error:
        if not dry_run:
            _record(sink, run_id, now, extraction, None, type(error).__name__, str(error))
        raise
    if not dry_run:
        _record(sink, run_id, now, extraction, load, "ok", None)

    complaints = tabs["complaints"]
    unknown = complaints.loc[complaints["state_group"] == "unknown", "state"]
    return SyncResult(
        district=settings.district,
        since=since,
        until=until,
        output=sink.description,
        extract=extraction.info,
        load=load,
        unknown_states=dict(Counter(unknown.fillna(""))),
        stage_seconds=stages,
        run_id=run_id,
        preview=preview,
    )


def _record(
    sink: Sink,
    run_id: str,
    started: datetime,
    extraction: Extraction | None,
    load: LoadInfo | None,
    outcome: str,
    message: str | None,
) -> None:
    """Log the run in the sink; a failure to log never hides the run's own error."""
    run = RunRecord(
        run_id=run_id,
        started_at=started,
        finished_at=datetime.now(BANGKOK),
        outcome=outcome,
        tickets_fetched=extraction.info.records if extraction else 0,
        rejects=extraction.info.rejected if extraction else 0,
        load=load,
        message=message,
    )
    try:
        sink.record_run(run)
    except EtlError as error:
        log.warning("Could not record the run in %s: %s", sink.description, error)


def _check_invalid_share(info: ExtractInfo, limit: float, rejects: Sequence[Reject]) -> None:
    seen = info.valid + info.rejected
    if seen and info.rejected / seen > limit:
        first = rejects[0].reason if rejects else ""
        raise ValidationFailed(
            f"{info.rejected} of {seen} district records are invalid "
            f"({info.rejected / seen:.1%}, limit {limit:.0%}); nothing was written. "
            f"First reason: {first}. If the feed changed, update the feed module; "
            "to publish anyway raise max_invalid_share."
        )
