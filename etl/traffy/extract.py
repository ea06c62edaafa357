"""Extract a district's tickets for a creation-date range, and validate them.

Paging is by ascending creation time inside date windows, so tickets created
while we page land after the cursor instead of shifting pages we have not
read yet. Records repeated across pages or windows are de-duplicated by
ticket id, keeping the most recently active copy.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from etl.models import BANGKOK, Complaint, Reject
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
    """The valid tickets as a frame (``transform.complaints_frame``'s shape), and rejects."""

    frame: pd.DataFrame
    rejects: list[Reject]
    info: ExtractInfo = field(default_factory=ExtractInfo)

    @property
    def complaints(self) -> list[Complaint]:
        """The tickets as :class:`Complaint` objects (slow for many: use ``frame``)."""
        return complaints_of(self.frame)


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
    district: str | None,
    since: date,
    until: date,
    page_size: int = 1000,
    window_days: int = 31,
    on_page: Callable[[int], None] | None = None,
) -> Extraction:
    """All valid tickets of ``district`` created from ``since`` to ``until`` (Bangkok dates).

    ``district=None`` keeps every district (all of Bangkok, as the benchmarks do).

    Nothing is written anywhere: a failure raises before the caller loads.
    """
    info = ExtractInfo()
    table = feed_v1.PageColumns()
    rejects: dict[str, Reject] = {}  # by raw JSON: a record seen twice is one reject
    requests_before = client.requests
    with gc_paused():
        _pages(
            client, district, since, until, page_size, window_days, on_page, table, rejects, info
        )
    info.requests = client.requests - requests_before
    frame = _latest(table.frame(), since, until, info)
    info.valid = len(frame)
    info.rejected = len(rejects)
    return Extraction(frame, list(rejects.values()), info)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for a bulk job that makes no cycles.

    Parsing a page makes thousands of short-lived dicts, which keeps triggering full
    collections, and each full collection walks every cell of the growing columns:
    for a million tickets that was 30 s of 70 (86 full collections, measured).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _pages(
    client: TraffyClient,
    district: str | None,
    since: date,
    until: date,
    page_size: int,
    window_days: int,
    on_page: Callable[[int], None] | None,
    table: feed_v1.PageColumns,
    rejects: dict[str, Reject],
    info: ExtractInfo,
) -> None:
    """Page through every window, validating each page into ``table``."""
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
            _take(records, district, source, table, rejects, info)
            if on_page:
                on_page(len(records))
            if len(records) < page_size:
                break
            offset += len(records)


def _take(
    records: list[Any],
    district: str | None,
    source: str,
    table: feed_v1.PageColumns,
    rejects: dict[str, Reject],
    info: ExtractInfo,
) -> None:
    """Filter one page to the district and validate it into ``table`` (a batch, not a loop
    of ``to_complaint``: see ``feed_v1.PageColumns``)."""
    if district is not None:
        mine = [r for r in records if feed_v1.in_district(r, district)]
        info.other_districts += len(records) - len(mine)
        records = mine
    for record, error in table.add_page(records):
        rejects.setdefault(
            raw_json(record),
            Reject(
                ticket_id=feed_v1.ticket_id_of(record),
                reason=_reason(error),
                raw=record,
                source=source,
            ),
        )


def _latest(frame: pd.DataFrame, since: date, until: date, info: ExtractInfo) -> pd.DataFrame:
    """Keep the window's tickets, one per ticket id: the most recently active copy (by
    last activity, then message id; the first seen on a tie), ordered by creation time
    then ticket id. Integer sorts only: sorting a million ticket-id strings (or making
    a million ``date`` objects) cost seconds."""
    created = frame["created_at"].to_numpy()
    inside = (created >= np.datetime64(since, "ns")) & (
        created < np.datetime64(until + timedelta(days=1), "ns")
    )
    outside = int((~inside).sum())
    info.outside_window += outside
    if outside:
        frame = frame[inside].reset_index(drop=True)
        created = frame["created_at"].to_numpy()
    if frame.empty:
        return frame
    activity = frame["last_activity"].to_numpy().copy()
    missing = np.isnat(activity)
    activity[missing] = created[missing]
    message = frame["message_id"].fillna(0).to_numpy(dtype="int64")
    tickets, _ = pd.factorize(frame["ticket_id"])
    seen = np.arange(len(frame))
    order = np.lexsort((-seen, message, activity.view("int64")))
    repeated = pd.Series(tickets[order]).duplicated(keep="last").to_numpy()
    chosen = order[~repeated]
    info.duplicates += len(frame) - len(chosen)
    by_creation = np.argsort(created[chosen], kind="stable")
    moments = created[chosen][by_creation]
    ties = np.flatnonzero(moments[1:] == moments[:-1])
    if ties.size:  # few: same second; the ticket id decides, as strings
        ids = frame["ticket_id"].to_numpy()
        for run in np.split(ties, np.flatnonzero(np.diff(ties) != 1) + 1):
            start, stop = int(run[0]), int(run[-1]) + 2
            part = by_creation[start:stop]
            by_creation[start:stop] = sorted(part, key=lambda k: str(ids[chosen[k]]))
    return frame.take(chosen[by_creation]).reset_index(drop=True)


def complaints_of(frame: pd.DataFrame) -> list[Complaint]:
    """Rows of a complaints frame back to :class:`Complaint` objects (Bangkok-aware times)."""
    complaints = []
    times = ("created_at", "last_activity", "inprogress_at", "finished_at")
    for record in frame.to_dict("records"):
        row = {str(name): value for name, value in record.items()}
        for name in times:
            value = row[name]
            row[name] = None if pd.isna(value) else value.to_pydatetime().replace(tzinfo=BANGKOK)
        for name, value in row.items():
            if name not in times and not isinstance(value, tuple | str) and pd.isna(value):
                row[name] = None
        complaints.append(Complaint(**row))
    return complaints


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
