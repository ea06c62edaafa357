"""Extract a district's tickets for a creation-date range, and validate them.

Paging is by ascending creation time inside date windows, so tickets created
while we page land after the cursor instead of shifting pages we have not
read yet. Records repeated across pages or windows are de-duplicated by
ticket id, keeping the most recently active copy.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from etl.models import Complaint, Reject
from etl.traffy import feed_v1
from etl.traffy.client import TraffyClient


@dataclass
class ExtractInfo:
    """What extraction saw, for the run summary."""

    requests: int = 0
    pages: int = 0
    records: int = 0
    other_districts: int = 0
    outside_window: int = 0
    duplicates: int = 0
    valid: int = 0
    rejected: int = 0


@dataclass
class Extraction:
    complaints: list[Complaint]
    rejects: list[Reject]
    info: ExtractInfo = field(default_factory=ExtractInfo)


def windows(since: date, until: date, days: int) -> Iterator[tuple[date, date]]:
    """Consecutive inclusive ``(first, last)`` date windows covering since..until."""
    first = since
    while first <= until:
        last = min(first + timedelta(days=days - 1), until)
        yield first, last
        first = last + timedelta(days=1)


def extract(
    client: TraffyClient,
    *,
    district: str,
    since: date,
    until: date,
    page_size: int = 1000,
    window_days: int = 31,
    on_page: Callable[[int], None] | None = None,
) -> Extraction:
    """All valid tickets of ``district`` created from ``since`` to ``until`` (Bangkok dates).

    Nothing is written anywhere: a failure raises before the caller loads.
    """
    info = ExtractInfo()
    latest: dict[str, Complaint] = {}
    rejects: dict[str, Reject] = {}  # by raw JSON: a record seen twice is one reject
    requests_before = client.requests
    for first, last in windows(since, until, window_days):
        # `end` is sent one day late: whether the API reads it as inclusive or
        # exclusive, the window's last day is covered; the overlap is de-duplicated.
        end = last + timedelta(days=1)
        offset = 0
        while True:
            params = feed_v1.page_params(first, end, page_size, offset)
            body = client.get_json(feed_v1.PATH, params, check=feed_v1.check_page)
            records = feed_v1.features_of(body) or []
            info.pages += 1
            info.records += len(records)
            source = f"{feed_v1.NAME} {first}..{end} offset {offset}"
            _take(records, district, since, until, source, latest, rejects, info)
            if on_page:
                on_page(len(records))
            if len(records) < page_size:
                break
            offset += len(records)
    info.requests = client.requests - requests_before
    info.valid = len(latest)
    info.rejected = len(rejects)
    complaints = sorted(latest.values(), key=lambda c: (c.created_at, c.ticket_id))
    return Extraction(complaints, list(rejects.values()), info)


def _take(
    records: list[Any],
    district: str,
    since: date,
    until: date,
    source: str,
    latest: dict[str, Complaint],
    rejects: dict[str, Reject],
    info: ExtractInfo,
) -> None:
    """Filter one page to the district and window, validate, de-duplicate."""
    for record in records:
        if not feed_v1.in_district(record, district):
            info.other_districts += 1
            continue
        try:
            complaint = feed_v1.to_complaint(record)
        except ValueError as error:
            rejects.setdefault(
                raw_json(record),
                Reject(
                    ticket_id=feed_v1.ticket_id_of(record),
                    reason=_reason(error),
                    raw=record,
                    source=source,
                ),
            )
            continue
        if not since <= complaint.created_at.date() <= until:
            info.outside_window += 1
            continue
        previous = latest.get(complaint.ticket_id)
        if previous is not None:
            info.duplicates += 1
            if _activity(previous) >= _activity(complaint):
                continue
        latest[complaint.ticket_id] = complaint


def _activity(complaint: Complaint) -> tuple[float, int]:
    moment = complaint.last_activity or complaint.created_at
    return moment.timestamp(), complaint.message_id or 0


def _reason(error: ValueError) -> str:
    """pydantic's multi-line message as one line: ``field: problem; ...``."""
    errors = getattr(error, "errors", None)
    if callable(errors):
        parts = []
        for item in errors():
            where = ".".join(str(p) for p in item["loc"] if p != "properties")
            parts.append(f"{where}: {item['msg']}" if where else str(item["msg"]))
        return "; ".join(parts)
    return str(error)


def raw_json(record: Any) -> str:
    """The raw record as compact JSON text, Thai kept readable."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str)
