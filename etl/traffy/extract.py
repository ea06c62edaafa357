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

Valid records become rows of the canonical complaints frame directly (the
frame ``canonical.complaints_frame`` builds from :class:`Complaint` objects):
feed 1's common records through ``feed_v1.fast_row``, every other record
through the feed's ``to_complaint``, which also gives invalid records their
reason. No Complaint object is kept per ticket: for all of Bangkok they cost
more time and memory than everything else of the extraction.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import compress, islice
from typing import Any, Protocol

import numpy as np
import pandas as pd

from etl.canonical import COLUMNS, TEXT_COLUMNS, TIME_COLUMNS, complaints_frame, raw_json
from etl.errors import IncompleteWindow, TraffyUnreachable
from etl.frames import by_creation, gc_paused
from etl.models import BANGKOK, Complaint, Reject
from etl.traffy import feed_search, feed_v1
from etl.traffy.client import TraffyClient

log = logging.getLogger(__name__)

MAX_SCANS = 3
"""Scans of one window before drift, or a shortfall against the server's count, is
declared persistent."""


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
    """Windows read in full (a split window counts as its parts)."""
    rescans: int = 0
    splits: int = 0
    expected: int = 0
    """Records the server counted (``total``) in the windows that gave a count: the
    proof of completeness. A day shared by two windows counts in both, as in ``read``."""
    read: int = 0
    """Records paged in those same windows, without page shifts' repeats; never below
    ``expected``."""
    uncounted_windows: int = 0
    """Windows whose server gave no count (``total`` 0 or absent): read to their end,
    with nothing to check them against."""
    unknown_fields: dict[str, int] = field(default_factory=dict)
    validate_seconds: float = 0.0
    """Of the extraction's time, spent validating records (the rest is paging)."""


class Extraction:
    """The valid tickets, the rejects, what was seen, and the windows scanned in full.

    ``frame`` is the canonical complaints frame (``canonical.complaints_frame``'s
    columns and dtypes, one row per ticket, ordered by creation then id);
    ``complaints`` the same tickets as :class:`Complaint` objects. Either can be
    given; the other is built on first use (building objects for a million
    tickets is slow: prefer ``frame``).
    """

    def __init__(
        self,
        tickets: pd.DataFrame | Sequence[Complaint],
        rejects: list[Reject],
        info: ExtractInfo | None = None,
        windows: list[tuple[date, date]] | None = None,
    ) -> None:
        self._frame = tickets if isinstance(tickets, pd.DataFrame) else None
        self._complaints = None if isinstance(tickets, pd.DataFrame) else list(tickets)
        self.rejects = rejects
        self.info = info if info is not None else ExtractInfo()
        self.windows: list[tuple[date, date]] = windows if windows is not None else []
        """The windows scanned in full: authoritative for the tickets created in them."""

    @property
    def frame(self) -> pd.DataFrame:
        if self._frame is None:
            self._frame = complaints_frame(self._complaints or [])
        return self._frame

    @property
    def complaints(self) -> list[Complaint]:
        if self._complaints is None:
            self._complaints = complaints_of(self.frame)
        return self._complaints


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
    expected: int | None = None
    """The server's count of the window (its first page's ``total``), when it gave one."""
    paged: int = 0
    """Records paged: at least ``expected``, or the scan would have failed."""


@dataclass
class _Pass:
    """One pass over a window's pages."""

    records: list[Any]
    pages: int
    paged: int
    """Records the pages held. A pass is kept only without drift, or when two passes
    agree (the server's own answer): then no record is a page shift's repeat, and
    what was paged is what the server counts. A ticket the server holds twice is
    two records in ``total`` as in the pages."""
    expected: int | None
    drift: str = ""

    @property
    def shortfall(self) -> bool:
        """Fewer records paged than the server counted: pages were cut short or empty."""
        return self.expected is not None and self.paged < self.expected


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
        self._ids = feed.ticket_id_of

    def _key(self, record: Any) -> str:
        """``_raw_key``, bound once: it runs for every record of every page."""
        return self._ids(record) or raw_json(record)

    def scan(self, first: date, last: date) -> _Scan:
        """All records of the window, re-scanned on drift or shortfall, split when too big.

        A window is complete when the records paged reach the server's own count
        of it (TRAFFY_API.md: ``total``; new tickets arriving while we page can only
        raise it). A pass that falls short was served pages cut short or empty: it is
        read again, and a shortfall that persists fails the run before anything is
        written, rather than publish a month with tickets missing.
        """
        previous: list[str] | None = None
        short: _Pass | None = None
        for attempt in range(MAX_SCANS):
            outcome = self._scan_once(first, last)
            if isinstance(outcome, _TooBig):
                return self._split(first, last)
            if outcome.shortfall:
                log.info(
                    "Window %s..%s: %d of the %d tickets the server counts were paged; "
                    "scanning it again",
                    first, last, outcome.paged, outcome.expected,
                )  # fmt: skip
                short, previous = outcome, None
                continue
            scan = _Scan(
                first, last, outcome.records, outcome.pages, rescans=attempt,
                expected=outcome.expected, paged=outcome.paged,
            )  # fmt: skip
            if not outcome.drift:
                return scan
            keys = [_raw_key(self.feed, r) for r in outcome.records]
            # A stable repeat (the same answer twice) is the server's, not drift: accept it.
            if keys == previous:
                return scan
            log.info(
                "Drift while paging %s..%s (%s); scanning it again", first, last, outcome.drift
            )
            previous = keys
        if short is not None:
            raise IncompleteWindow(
                f"Tickets created {first}..{last}: the Traffy server counts {short.expected} "
                f"but {short.paged} were paged ({MAX_SCANS} scans of "
                f"{self.client.base_url}{self.feed.PATH}); nothing was written. Pages came "
                "back short or empty: Traffy may be failing, try again later."
            )
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

    def _scan_once(self, first: date, last: date) -> _Pass | _TooBig:
        """One pass over the window's pages: its records, pages, the server's count of
        the window and the drift seen.

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
        expected: int | None = None
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
                if pages == 1:
                    expected = total
                    if total > self.page_size * self.max_pages and first < last:
                        return _TooBig()
            keys = list(map(self._key, page))
            # Pages on to the end even after drift: two full scans that agree
            # are a stable answer, whatever it repeats.
            if keys and keys[0] in seen and not drift:
                drift = "a page starts with a ticket of an earlier page"
            if len(totals) > 1 and not drift:
                drift = f"total changed between pages: {sorted(totals)}"
            seen.update(keys)
            records.extend(page)
            if len(page) < self.page_size:
                return _Pass(records, pages, len(records), expected, drift)
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
    others: bool = False,
) -> Extraction:
    """All valid tickets of ``district`` created in the ``spans`` (inclusive Bangkok dates).

    Nothing is written anywhere: a failure raises before the caller loads.
    ``district=None`` keeps every district (all of Bangkok, as the benchmarks do).
    ``others``: with a district, keep the other districts' tickets too, but only
    what the city comparison reads of them (``slim``): a one-district run of
    feed 1 ranks its district among the 50 at a fraction of the memory of
    keeping all of Bangkok whole.
    """
    info = ExtractInfo()
    pager = _Pager(client, feed, district or "", page_size, max_window_pages)
    pager.on_page = on_page
    requests_before = client.requests
    columns = _Columns()
    rejects: dict[str, Reject] = {}  # by raw JSON: a record seen twice is one reject
    unknown: dict[str, set[str]] = {}  # field -> records carrying it, each counted once
    fast: Callable[[Any, dict[Any, Any]], tuple[Any, ...] | None] | None = getattr(
        feed, "fast_row", None
    )
    with gc_paused():
        for scan in _leaves(_scan_all(pager, spans, concurrency), info):
            info.pages += scan.pages
            info.records += len(scan.records)
            source = f"{feed.NAME} {scan.first}..{scan.last}"
            started = time.perf_counter()
            rows: list[tuple[Any, ...]] = []
            for record in scan.records:
                for name in feed.unknown_fields(record):
                    unknown.setdefault(name, set()).add(_raw_key(feed, record))
                theirs = district is not None and not feed.in_district(record, district)
                if theirs:
                    info.other_districts += 1
                    if not others:
                        continue
                row = fast(record, columns.share) if fast is not None else None
                if row is None:
                    row = _validated(feed, record, source, rejects)
                if row is not None:
                    rows.append(slim(row) if theirs else row)
            scan.records = []  # validated: the raw page data can go (memory stays flat)
            info.outside_window += columns.add(rows, scan.first, scan.last)
            info.validate_seconds += time.perf_counter() - started
        started = time.perf_counter()
        frame = latest_of(columns.frame(), info)
        info.validate_seconds += time.perf_counter() - started
    info.requests = client.requests - requests_before
    info.valid = len(frame)
    info.rejected = len(rejects)
    info.unknown_fields = {name: len(records) for name, records in sorted(unknown.items())}
    return Extraction(frame, list(rejects.values()), info, list(spans))


def _scan_all(
    pager: _Pager, spans: Sequence[tuple[date, date]], concurrency: int
) -> Iterator[_Scan]:
    """Scan every window, ``concurrency`` at a time, yielding them in order as they are
    done, so the caller validates and drops each window's raw records before the last
    window arrives; the first failure cancels the rest.

    At most ``concurrency`` windows are paged ahead of the one being validated: with a
    fast server, submitting every window at once let finished windows pile up in
    memory (a third more peak RSS over 252 pages)."""
    if concurrency <= 1 or len(spans) <= 1:
        for first, last in spans:
            yield pager.scan(first, last)
        return
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="traffy") as pool:
        pending = iter(spans)
        ahead: deque[Future[_Scan]] = deque(
            pool.submit(pager.scan, first, last) for first, last in islice(pending, concurrency)
        )
        try:
            while ahead:
                scan = ahead.popleft().result()
                for first, last in islice(pending, 1):
                    ahead.append(pool.submit(pager.scan, first, last))
                yield scan
                del scan  # let the window's raw records go before the next one arrives
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def _leaves(scans: Iterable[_Scan], info: ExtractInfo) -> Iterator[_Scan]:
    """The windows read in full, split windows replaced by their parts; counts each
    window's proof of completeness into ``info``."""
    for scan in scans:
        info.rescans += scan.rescans
        info.splits += scan.splits
        if scan.parts:
            yield from _leaves(scan.parts, info)
            continue
        info.windows += 1
        if scan.expected is None:
            info.uncounted_windows += 1
        else:
            info.expected += scan.expected
            info.read += scan.paged
        yield scan


def _validated(
    feed: Feed, record: Any, source: str, rejects: dict[str, Reject]
) -> tuple[Any, ...] | None:
    """The record through the feed's model: its row, or ``None`` once it is quarantined."""
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
        return None
    return row_of(complaint)


_TIME_INDEX = tuple(COLUMNS.index(name) for name in TIME_COLUMNS)
_TEXTS = tuple(COLUMNS.index(n) for n in ("description", "note", "photo_url", "after_photo_url"))
_DISTRICT, _ADDRESS = COLUMNS.index("district"), COLUMNS.index("address")


def slim(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """Another district's ticket as the city comparison needs it: without the texts that
    are each ticket's own (description, note, photos, and the address when the district
    field names the district). They are most of a ticket's memory; the states, times,
    ids and locations that count, de-duplicate and place it are kept."""
    values = list(row)
    for index in _TEXTS:
        values[index] = None
    if values[_DISTRICT]:
        values[_ADDRESS] = None
    return tuple(values)


def row_of(complaint: Complaint) -> tuple[Any, ...]:
    """A complaint as a row of :data:`COLUMNS`, times as naive Bangkok wall time."""
    return tuple(
        _wall(getattr(complaint, name)) if name in TIME_COLUMNS else getattr(complaint, name)
        for name in COLUMNS
    )


def _wall(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.astimezone(BANGKOK).replace(tzinfo=None)


class _Columns:
    """Valid rows of every window, as columns in arrival order (copies of a ticket kept)."""

    def __init__(self) -> None:
        self.values: dict[str, list[Any]] = {name: [] for name in COLUMNS}
        self.times: dict[str, list[np.ndarray[Any, np.dtype[np.datetime64]]]] = {
            name: [] for name in TIME_COLUMNS
        }
        self.share: dict[Any, Any] = {}
        """One copy of each repeated text or list, for every ticket that holds it."""

    def add(self, rows: list[tuple[Any, ...]], first: date, last: date) -> int:
        """Add a window's rows created in ``first..last``; returns how many were not."""
        created = _TIME_INDEX[0]  # naive Bangkok wall time: its date is the Bangkok date
        inside = [first <= row[created].date() <= last for row in rows]
        outside: int = len(rows) - sum(inside)
        if outside:  # the day sent past the window, mostly: filter rows once, not columns
            rows = list(compress(rows, inside))
        if not rows:
            return outside
        columns = list(zip(*rows, strict=True))
        for name, values in zip(COLUMNS, columns, strict=True):
            if name in TIME_COLUMNS:
                self.times[name].append(_datetimes(values))
            else:
                self.values[name].extend(values)
        return outside

    def frame(self) -> pd.DataFrame:
        """Every row so far, with ``complaints_frame``'s dtypes (texts as objects)."""
        if not self.values["ticket_id"]:
            return complaints_frame([])
        data: dict[str, Any] = {}
        for name in COLUMNS:
            if name in TIME_COLUMNS:
                data[name] = np.concatenate(self.times[name])
            elif name in TEXT_COLUMNS:  # see TEXT_COLUMNS
                data[name] = pd.Series(self.values[name], dtype=object)
            else:
                data[name] = self.values[name]
        return pd.DataFrame(data, columns=list(COLUMNS))


def _datetimes(values: Sequence[datetime | None]) -> np.ndarray[Any, np.dtype[np.datetime64]]:
    """Naive datetimes (or None) as ``datetime64[ns]`` (NaT for None)."""
    moments = pd.to_datetime(pd.Series(list(values), dtype=object))
    return moments.to_numpy(dtype="datetime64[ns]")


def latest_of(frame: pd.DataFrame, info: ExtractInfo) -> pd.DataFrame:
    """One row per ticket identity, the most recently active copy (by last activity, then
    message id; the first seen on a tie), ordered by creation then ticket id; ties in
    the order their ticket was first seen (what de-duplicating one by one gives).

    ``frame`` holds the rows in arrival order, copies included.
    """
    if frame.empty:
        return frame
    seen, _ = pd.factorize(frame_identities(frame))  # codes in order of first appearance
    activity = frame["last_activity"].fillna(frame["created_at"]).to_numpy("datetime64[ns]")
    message = pd.to_numeric(frame["message_id"], errors="coerce").fillna(0).to_numpy()
    position = np.arange(len(frame))
    # The last of each identity in (activity, message, -position) order wins.
    order = np.lexsort((-position, message, activity.astype("int64")))
    _, last = np.unique(seen[order][::-1], return_index=True)  # indexed by identity code
    winners = order[len(order) - 1 - last]  # in first-seen order of their identity
    info.duplicates += len(frame) - len(winners)
    rows = winners[by_creation(frame[["created_at", "ticket_id"]].take(winners))]
    return frame.take(rows).reset_index(drop=True)


def frame_identities(frame: pd.DataFrame) -> pd.Series:
    """:func:`identity` of each row of a canonical complaints frame (the same texts)."""
    tickets = frame["ticket_id"].to_numpy(dtype=object)
    keys = tickets.copy()
    weak = [i for i, t in enumerate(tickets) if not (len(t) >= 11 and t[4] == "-")]
    if weak:
        messages = frame["message_id"].to_numpy(dtype=object)[weak]
        created = frame["created_at"].to_numpy()[weak]
        lats = frame["lat"].to_numpy(dtype=object)[weak]
        lons = frame["lon"].to_numpy(dtype=object)[weak]
        for i, message, moment, lat, lon in zip(weak, messages, created, lats, lons, strict=True):
            if not pd.isna(message):
                keys[i] = f"#{int(message)}"
                continue
            second = pd.Timestamp(moment).to_pydatetime().replace(microsecond=0, tzinfo=BANGKOK)
            keys[i] = f"{tickets[i]}|{second.isoformat()}|{_number(lat)}|{_number(lon)}"
    return pd.Series(keys, index=frame.index, dtype=object)


def _number(value: Any) -> str:
    """A coordinate as :func:`identity` writes it (``None`` when missing)."""
    return "None" if pd.isna(value) else f"{float(value)}"


def complaints_of(frame: pd.DataFrame) -> list[Complaint]:
    """Rows of a canonical complaints frame back to :class:`Complaint` objects."""
    complaints = []
    records = frame.astype(object).to_dict("records")
    with gc_paused():
        for record in records:
            row: dict[str, Any] = {}
            for name, value in record.items():
                if name in TIME_COLUMNS:
                    row[str(name)] = (
                        None
                        if pd.isna(value)
                        else pd.Timestamp(value).to_pydatetime().replace(tzinfo=BANGKOK)
                    )
                elif isinstance(value, tuple):
                    row[str(name)] = value
                elif pd.isna(value):
                    row[str(name)] = None
                elif isinstance(value, float) and name in _INTEGER_FIELDS:
                    row[str(name)] = int(value)
                else:
                    row[str(name)] = value
            complaints.append(Complaint(**row))
    return complaints


_INTEGER_FIELDS = frozenset({"message_id", "count_reopen", "star", "view_count"})


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
