"""Extract a district's tickets for a list of creation-date windows, and validate them.

Paging is by ascending creation time inside date windows, so tickets created
while we page land after the cursor instead of shifting pages we have not
read yet. Each window is scanned page by page; a scan that sees drift (a
page that starts with a ticket already read, ``total`` changing between
pages) is thrown away and the window scanned again. A window too big to page
safely is split in two.
Windows are independent, so a small thread pool fetches several at once.
Records repeated across pages or windows are de-duplicated by ticket
identity, keeping the most recently active copy.
"""

from __future__ import annotations

import gc
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Protocol

from etl.errors import TraffyUnreachable
from etl.models import Complaint, Reject
from etl.traffy import feed_search, feed_v1
from etl.traffy.client import TraffyClient

log = logging.getLogger(__name__)

MAX_SCANS = 3
"""Scans of one window before drift is declared persistent."""


class Feed(Protocol):
    """What extraction needs of a feed module (``feed_v1``, ``feed_search``)."""

    NAME: str
    PATH: str

    def page_params(
        self, start: date, end: date, limit: int, offset: int, district: str
    ) -> dict[str, str | int]: ...

    def records_of(self, body: dict[str, Any]) -> list[Any] | None: ...

    def total_of(self, body: dict[str, Any]) -> int | None: ...

    def check_page(self, body: dict[str, Any]) -> None: ...

    def in_district(self, record: Any, district: str) -> bool: ...

    def to_complaint(self, record: Any) -> Complaint: ...

    def ticket_id_of(self, record: Any) -> str | None: ...

    def unknown_fields(self, record: Any) -> list[str]: ...


FEEDS: dict[str, Feed] = {feed_v1.NAME: feed_v1, feed_search.NAME: feed_search}
"""Feed modules by the ``feed`` setting's value."""


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
    windows: int = 0
    rescans: int = 0
    splits: int = 0
    unknown_fields: dict[str, int] = field(default_factory=dict)
    validate_seconds: float = 0.0
    """Of the extraction's time, spent validating records (the rest is paging)."""


@dataclass
class Extraction:
    complaints: list[Complaint]
    rejects: list[Reject]
    info: ExtractInfo = field(default_factory=ExtractInfo)
    windows: list[tuple[date, date]] = field(default_factory=list)
    """The windows scanned in full: authoritative for the tickets created in them."""


def windows(since: date, until: date, days: int) -> Iterator[tuple[date, date]]:
    """Consecutive inclusive ``(first, last)`` date windows covering since..until."""
    first = since
    while first <= until:
        last = min(first + timedelta(days=days - 1), until)
        yield first, last
        first = last + timedelta(days=1)


@dataclass
class _Scan:
    """The raw records of one window, scanned without drift."""

    first: date
    last: date
    records: list[Any]
    pages: int
    rescans: int = 0
    splits: int = 0
    parts: list[_Scan] = field(default_factory=list)


class _Pager:
    """Scans windows of one feed; shared by the worker threads (no mutable state)."""

    def __init__(
        self, client: TraffyClient, feed: Feed, district: str, page_size: int, max_pages: int
    ) -> None:
        self.client = client
        self.feed = feed
        self.district = district
        self.page_size = page_size
        self.max_pages = max_pages
        self.on_page: Callable[[int], None] | None = None
        self._lock = threading.Lock()

    def scan(self, first: date, last: date) -> _Scan:
        """All records of the window, re-scanned on drift, split when too big."""
        previous: list[str] | None = None
        for attempt in range(MAX_SCANS):
            outcome = self._scan_once(first, last)
            if isinstance(outcome, _TooBig):
                return self._split(first, last)
            records, pages, drift = outcome
            if not drift:
                return _Scan(first, last, records, pages, rescans=attempt)
            keys = [_raw_key(self.feed, r) for r in records]
            # A stable repeat (the same answer twice) is the server's, not drift: accept it.
            if keys == previous:
                return _Scan(first, last, records, pages, rescans=attempt)
            log.info("Drift while paging %s..%s (%s); scanning it again", first, last, drift)
            previous = keys
        raise TraffyUnreachable(
            f"Tickets created {first}..{last} kept changing while being paged "
            f"({MAX_SCANS} scans of {self.client.base_url}{self.feed.PATH}). "
            "Traffy is being updated heavily: try again in a few minutes."
        )

    def _split(self, first: date, last: date) -> _Scan:
        middle = first + (last - first) // 2
        log.info("Window %s..%s holds too many tickets to page safely; splitting", first, last)
        left, right = self.scan(first, middle), self.scan(middle + timedelta(days=1), last)
        return _Scan(first, last, [], 0, splits=1, parts=[left, right])

    def _scan_once(self, first: date, last: date) -> tuple[list[Any], int, str] | _TooBig:
        """One pass over the window's pages: its records, pages and the drift seen.

        Drift is what a shifted list looks like. The list is in ascending creation
        order and an updated ticket does not move (TRAFFY_API.md, "Paging hazard");
        tickets inserted before the cursor push the last records already read onto
        the head of the next page, so a shift always shows as a page whose *first*
        record was read before (for one insert, exactly the previous page's last
        record). A ticket seen again further into a page cannot come from a shift:
        it is the server serving a ticket twice, kept once by de-duplication; it
        costs no second scan (in the synthetic bench that was every window).
        A shift backwards (tickets deleted before the cursor) skips records
        without repeating any: only a ``total`` that changes shows it.
        """
        # `end` is sent one day late: whether the API reads it as inclusive or
        # exclusive, the window's last day is covered; the overlap is filtered out.
        end = last + timedelta(days=1)
        records: list[Any] = []
        seen: set[str] = set()
        totals: set[int] = set()
        offset = pages = 0
        drift = ""
        while True:
            if pages >= self.max_pages and first < last:
                return _TooBig()
            params = self.feed.page_params(first, end, self.page_size, offset, self.district)
            body = self.client.get_json(self.feed.PATH, params, check=self.feed.check_page)
            page = self.feed.records_of(body) or []
            pages += 1
            if self.on_page:
                with self._lock:
                    self.on_page(len(page))
            total = self.feed.total_of(body)
            if total is not None:
                totals.add(total)
                if pages == 1 and total > self.page_size * self.max_pages and first < last:
                    return _TooBig()
            keys = [_raw_key(self.feed, r) for r in page]
            # Pages on to the end even after drift: two full scans that agree
            # are a stable answer, whatever it repeats.
            if keys and keys[0] in seen and not drift:
                drift = "a page starts with a ticket of an earlier page"
            if len(totals) > 1 and not drift:
                drift = f"total changed between pages: {sorted(totals)}"
            seen.update(keys)
            records.extend(page)
            if len(page) < self.page_size:
                return records, pages, drift
            offset += len(page)


class _TooBig:
    """The window needs more pages than ``max_pages``: split it."""


def extract(
    client: TraffyClient,
    *,
    district: str | None,
    spans: Sequence[tuple[date, date]],
    feed: Feed = feed_v1,
    page_size: int = 1000,
    max_window_pages: int = 20,
    concurrency: int = 2,
    on_page: Callable[[int], None] | None = None,
) -> Extraction:
    """All valid tickets of ``district`` created in the ``spans`` (inclusive Bangkok dates).

    Nothing is written anywhere: a failure raises before the caller loads.
    ``district=None`` keeps every district (all of Bangkok, as the benchmarks do).
    """
    info = ExtractInfo(windows=len(spans))
    pager = _Pager(client, feed, district or "", page_size, max_window_pages)
    pager.on_page = on_page
    requests_before = client.requests
    latest: dict[str, Complaint] = {}
    rejects: dict[str, Reject] = {}  # by raw JSON: a record seen twice is one reject
    unknown: dict[str, set[str]] = {}  # field -> records carrying it, each counted once
    with gc_paused():
        for scan in _leaves(_scan_all(pager, spans, concurrency), info):
            info.pages += scan.pages
            info.records += len(scan.records)
            source = f"{feed.NAME} {scan.first}..{scan.last}"
            started = time.perf_counter()
            for record in scan.records:
                for name in feed.unknown_fields(record):
                    unknown.setdefault(name, set()).add(_raw_key(feed, record))
                _take(feed, record, district, scan, source, latest, rejects, info)
            info.validate_seconds += time.perf_counter() - started
            scan.records = []  # validated: the raw page data can go (memory stays flat)
    info.requests = client.requests - requests_before
    info.valid = len(latest)
    info.rejected = len(rejects)
    info.unknown_fields = {name: len(records) for name, records in sorted(unknown.items())}
    complaints = sorted(latest.values(), key=lambda c: (c.created_at, c.ticket_id))
    return Extraction(complaints, list(rejects.values()), info, list(spans))


def _scan_all(
    pager: _Pager, spans: Sequence[tuple[date, date]], concurrency: int
) -> Iterator[_Scan]:
    """Scan every window, ``concurrency`` at a time, yielding them in order as they are
    done, so the caller validates and drops each window's raw records before the last
    window arrives; the first failure cancels the rest."""
    if concurrency <= 1 or len(spans) <= 1:
        for first, last in spans:
            yield pager.scan(first, last)
        return
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="traffy") as pool:
        futures: list[Future[_Scan]] = [pool.submit(pager.scan, f, last) for f, last in spans]
        try:
            for index, future in enumerate(futures):
                yield future.result()
                futures[index] = _DONE  # let the scan (its raw records) be freed
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise


_DONE: Future[_Scan] = Future()


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector during a bulk job that makes no cycles.

    Parsing and validating pages makes thousands of short-lived containers per page,
    which keeps triggering full collections, and each walks every object kept so far:
    for a million tickets that was 30 s of 70 (86 full collections, measured).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _leaves(scans: Iterable[_Scan], info: ExtractInfo) -> Iterator[_Scan]:
    for scan in scans:
        info.rescans += scan.rescans
        info.splits += scan.splits
        if scan.parts:
            yield from _leaves(scan.parts, info)
        else:
            yield scan


def _take(
    feed: Feed,
    record: Any,
    district: str | None,
    scan: _Scan,
    source: str,
    latest: dict[str, Complaint],
    rejects: dict[str, Reject],
    info: ExtractInfo,
) -> None:
    """Filter one record to the district and window, validate, de-duplicate."""
    if district is not None and not feed.in_district(record, district):
        info.other_districts += 1
        return
    try:
        complaint = feed.to_complaint(record)
    except ValueError as error:
        rejects.setdefault(
            raw_json(record),
            Reject(
                ticket_id=feed.ticket_id_of(record),
                reason=_reason(error),
                raw=record,
                source=source,
            ),
        )
        return
    if not scan.first <= complaint.created_at.date() <= scan.last:
        info.outside_window += 1
        return
    key = identity(complaint)
    previous = latest.get(key)
    if previous is not None:
        info.duplicates += 1
        if activity(previous) >= activity(complaint):
            return
    latest[key] = complaint


def identity(complaint: Complaint) -> str:
    """What makes two records the same ticket.

    A full ``YYYY-XXXXXX`` id is unique. Six-character hotline ids and
    anonymous reports are not trusted alone: ``message_id`` (unique where
    present), else the id with the creation second and the location.
    """
    ticket_id = complaint.ticket_id
    if len(ticket_id) >= 11 and ticket_id[4] == "-":
        return ticket_id
    if complaint.message_id is not None:
        return f"#{complaint.message_id}"
    second = complaint.created_at.replace(microsecond=0).isoformat()
    return f"{ticket_id}|{second}|{complaint.lat}|{complaint.lon}"


def activity(complaint: Complaint) -> tuple[float, int]:
    """Order of two copies of a ticket: the most recently active one wins."""
    moment = complaint.last_activity or complaint.created_at
    return moment.timestamp(), complaint.message_id or 0


def _raw_key(feed: Feed, record: Any) -> str:
    """A record's identity before validation, for drift checks between pages."""
    return feed.ticket_id_of(record) or raw_json(record)


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
