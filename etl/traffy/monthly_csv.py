"""The monthly CSV files (``etl backfill``): ``/teamchadchart-stat-api/download/bangkok_monthly``.

What this module knows of the files (TRAFFY_API.md): a UTF-8 BOM first; the
24-column layout, or the legacy 16 (no durations, times or ``message_id``);
``type`` and ``organization`` as Postgres array literals or comma-joined;
``coords`` as ``"lon,lat"`` text (``0,0`` = none); UTC ``+00`` timestamps;
only three states. A month that is not published answers HTTP 200 with an
HTML "File not found" page. Files are read as a stream, row by row, and only
the district's rows are kept, so memory stays flat whatever the file's size.
"""

from __future__ import annotations

import csv
import http.client
import io
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import requests
from pydantic import BaseModel, ConfigDict, Field, field_validator
from urllib3.exceptions import ProtocolError

from etl.errors import TraffyFatal
from etl.models import Complaint, Reject
from etl.traffy import parse
from etl.traffy.client import RetriableResponse, TraffyClient
from etl.traffy.extract import ExtractInfo, Extraction, activity, identity

PATH = "/teamchadchart-stat-api/download/bangkok_monthly"
NAME = "csv"
REQUIRED_COLUMNS = frozenset({"ticket_id", "type", "coords", "timestamp", "state", "district"})
KNOWN_COLUMNS = frozenset(
    {
        "ticket_id", "type", "organization", "comment", "coords", "photo", "photo_after",
        "address", "subdistrict", "district", "province", "timestamp", "state", "star",
        "count_reopen", "last_activity", "organization_action", "duration_minutes_inprogress",
        "duration_minutes_finished", "duration_minutes_total", "timestamp_inprogress",
        "timestamp_finished", "message_id", "problemtype_tag",
    }
)  # fmt: skip

csv.field_size_limit(16 * 1024 * 1024)  # free-text cells can be long; rows stay one at a time


def months(first: str, last: str) -> list[str]:
    """``YYYY-MM`` months from ``first`` to ``last`` inclusive (``ValueError`` if malformed)."""
    start, end = date.fromisoformat(f"{first}-01"), date.fromisoformat(f"{last}-01")
    if end < start:
        raise ValueError(f"--to {last} is before --from {first}")
    out = []
    year, month = start.year, start.month
    while (year, month) <= (end.year, end.month):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def month_span(month: str) -> tuple[date, date]:
    """First and last day of a ``YYYY-MM`` month."""
    first = date.fromisoformat(f"{month}-01")
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return first, date.fromordinal(following.toordinal() - 1)


def download_params(month: str, registration: Mapping[str, str]) -> dict[str, str]:
    """The query of one month's file; the registration fields are free text."""
    return {"file_name": f"bangkok_{month}", **registration}


@dataclass
class MonthRows:
    """The district's rows of one month's file, validated."""

    month: str
    complaints: list[Complaint] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    rows: int = 0
    other_districts: int = 0
    columns: int = 0
    unknown_columns: list[str] = field(default_factory=list)


def fetch_month(
    client: TraffyClient, month: str, district: str | None, registration: Mapping[str, str]
) -> MonthRows:
    """Download one month's file as a stream and keep the district's tickets."""

    def consume(response: requests.Response) -> MonthRows:
        return read_month(response, month, district, f"{client.base_url}{PATH}")

    return client.get_stream(PATH, download_params(month, registration), consume)


def read_month(
    response: requests.Response, month: str, district: str | None, url: str
) -> MonthRows:
    """Sort the answer (CSV, "File not found" page, other HTML) and read the rows."""
    response.raw.decode_content = True
    response.raw.auto_close = False  # io wrappers would see a closed file at the end
    stream = io.BufferedReader(response.raw, buffer_size=64 * 1024)
    head = stream.peek(512)[:512]
    kind = response.headers.get("Content-Type", "")
    sniff = head.lstrip(b"\xef\xbb\xbf \r\n\t")[:1]
    if "html" in kind or sniff == b"<":
        body = stream.read(4096)
        if b"file not found" in body.lower():
            raise TraffyFatal(
                f"The monthly file bangkok_{month} is not available at {url} (the server "
                "answered 'File not found'). Check --from/--to: months not yet published "
                "have no file."
            )
        raise RetriableResponse(f"an HTML page instead of the CSV of {month}")
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="", errors="replace")
    try:
        rows = read_rows(csv.reader(text), month, district)
    except (ProtocolError, http.client.IncompleteRead):
        raise RetriableResponse(f"the file of {month} broke off") from None
    _check_length(response, month)
    return rows


def _check_length(response: requests.Response, month: str) -> None:
    """A file shorter than its ``Content-Length`` lost its last rows: read it again.

    The server gives no row count; where it announces the length, every byte of
    it must have arrived (the stream is read to its end, so ``tell`` is the size).
    """
    announced = response.headers.get("Content-Length", "")
    received = response.raw.tell()
    if announced.isdigit() and received < int(announced):
        raise RetriableResponse(
            f"the file of {month} stopped at {received} of its {int(announced)} bytes"
        )


def read_rows(reader: Iterator[list[str]], month: str, district: str | None) -> MonthRows:
    """Rows of a file (the header first) -> the district's complaints and rejects
    (``district=None``: every district's, for a city run)."""
    out = MonthRows(month)
    header = next(reader, None)
    if header is None:
        raise RetriableResponse(f"an empty file for {month}")
    names = [name.strip().lstrip("\ufeff") for name in header]
    missing = REQUIRED_COLUMNS - set(names)
    if missing:
        raise TraffyFatal(
            f"The monthly file bangkok_{month} lacks columns {sorted(missing)}: the file "
            "layout changed. Update etl/traffy/monthly_csv.py or report it to the maintainers."
        )
    out.columns = len(names)
    out.unknown_columns = sorted(set(names) - KNOWN_COLUMNS)
    seen: set[str] = set()
    for cells in reader:
        if not cells:
            continue
        out.rows += 1
        row = dict(zip(names, cells, strict=False))
        if district is not None and not in_district(row, district):
            out.other_districts += 1
            continue
        try:
            complaint = to_complaint(row)
        except ValueError as error:
            out.rejects.append(
                Reject(
                    ticket_id=row.get("ticket_id") or None,
                    reason=_reason(error),
                    raw=row,
                    source=f"{NAME} bangkok_{month}",
                )
            )
            continue
        if complaint.ticket_id not in seen:  # the same file never needs two copies
            seen.add(complaint.ticket_id)
            out.complaints.append(complaint)
    return out


def in_district(row: Mapping[str, str], district: str) -> bool:
    """The file holds all of Bangkok: filter on ``district``, else the address."""
    value = (row.get("district") or "").strip()
    if value:
        return value.removeprefix("เขต") == district
    address = (row.get("address") or "").replace("เขต ", "เขต")
    return f"เขต{district}" in address


class CsvRow(BaseModel):
    """One CSV row's cells; blanks are ``None``; unknown columns are ignored."""

    model_config = ConfigDict(extra="ignore")

    ticket_id: str | None = None
    message_id: int | None = None
    timestamp: str
    last_activity: str | None = None
    timestamp_inprogress: str | None = None
    timestamp_finished: str | None = None
    state: str | None = None
    type: str | None = None
    organization: str | None = None
    organization_action: str | None = None
    comment: str | None = None
    coords: str | None = None
    photo: str | None = None
    photo_after: str | None = None
    address: str | None = None
    subdistrict: str | None = None
    district: str | None = None
    province: str | None = None
    star: int | None = None
    count_reopen: int | None = Field(default=None, ge=0)

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value


def to_complaint(row: Mapping[str, str]) -> Complaint:
    """Validate one CSV row and map it to a :class:`Complaint` (``ValueError`` if unusable)."""
    cells = CsvRow.model_validate(row)
    lat, lon = parse.coords_text(cells.coords)
    created_at = parse.parse_time(cells.timestamp)
    if created_at is None:
        raise ValueError("timestamp is empty")
    return Complaint(
        ticket_id=parse.ticket_key(cells.ticket_id, cells.message_id, created_at, lat, lon),
        message_id=cells.message_id,
        created_at=created_at,
        last_activity=parse.parse_time(cells.last_activity),
        inprogress_at=parse.parse_time(cells.timestamp_inprogress),
        finished_at=parse.parse_time(cells.timestamp_finished),
        state=(cells.state or "").strip(),
        types=parse.pg_array(cells.type),
        organizations=parse.pg_array(cells.organization),
        organizations_acting=parse.pg_array(cells.organization_action),
        district=parse.clean_text(cells.district),
        subdistrict=parse.clean_text(cells.subdistrict),
        province=parse.clean_text(cells.province),
        address=parse.clean_text(cells.address),
        description=parse.clean_text(cells.comment),
        lat=lat,
        lon=lon,
        photo_url=parse.clean_url(cells.photo),
        after_photo_url=parse.clean_url(cells.photo_after),
        count_reopen=cells.count_reopen or 0,
        star=cells.star,
    )


def extract_months(
    client: TraffyClient,
    month_list: Sequence[str],
    district: str | None,
    registration: Mapping[str, str],
    concurrency: int = 2,
    on_page: Callable[[int], None] | None = None,
) -> Extraction:
    """The district's tickets of every month, ``concurrency`` files at a time.

    The same ticket in two files (the legacy dump overlaps) is kept once,
    the most recently active copy.
    """
    before = client.requests

    lock = threading.Lock()

    def one(month: str) -> MonthRows:
        rows = fetch_month(client, month, district, registration)
        if on_page:  # a month's file is the backfill's page: progress counts its rows
            with lock:
                on_page(rows.rows)
        return rows

    if concurrency <= 1 or len(month_list) <= 1:
        results = [one(month) for month in month_list]
    else:
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="csv") as pool:
            futures = [pool.submit(one, month) for month in month_list]
            try:
                results = [future.result() for future in futures]
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
    info = ExtractInfo(windows=len(month_list), pages=len(month_list))
    latest: dict[str, Complaint] = {}
    rejects: list[Reject] = []
    unknown: dict[str, int] = {}
    for result in results:
        info.records += result.rows
        info.other_districts += result.other_districts
        rejects.extend(result.rejects)
        for column in result.unknown_columns:
            unknown[column] = unknown.get(column, 0) + 1
        for complaint in result.complaints:
            key = identity(complaint)
            previous = latest.get(key)
            if previous is not None:
                info.duplicates += 1
                if activity(previous) >= activity(complaint):
                    continue
            latest[key] = complaint
    info.requests = client.requests - before
    info.valid = len(latest)
    info.rejected = len(rejects)
    info.unknown_fields = unknown
    complaints = sorted(latest.values(), key=lambda c: (c.created_at, c.ticket_id))
    return Extraction(complaints, rejects, info, [month_span(m) for m in month_list])


def _reason(error: ValueError) -> str:
    errors = getattr(error, "errors", None)
    if callable(errors):
        return "; ".join(
            f"{'.'.join(str(p) for p in item['loc'])}: {item['msg']}" for item in errors()
        )
    return str(error)
