"""A fake Traffy server: feed 1, feed 2 and the monthly CSV files, with faults on demand.

Feed 1 honours ``limit`` (capped at 1000), ``offset``, ``sort`` (``asc``, else
newest first), ``start`` and ``end`` (creation dates, inclusive, used as a
pair) and ignores ``district`` as the real feed does. Feed 2 (``search``)
serves the same tickets as rows of its own shape with HTTP 201 and filters
``district`` on the server. The CSV download serves a month's tickets in the
24-column layout (or the legacy 16), BOM first, and the HTTP-200 "File not
found" page for a month it has no tickets of. Faults are scripted per request
with :meth:`FakeTraffy.script`; every request is logged.
"""

from __future__ import annotations

import csv
import io
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import orjson

FEED1_PATH = "/teamchadchart-stat-api/geojson/v1"
SEARCH_PATH = "/share/teamchadchart/search"
CSV_PATH = "/teamchadchart-stat-api/download/bangkok_monthly"
MAX_LIMIT = 1000
CSV_COLUMNS = (
    "ticket_id", "type", "organization", "comment", "coords", "photo", "photo_after",
    "address", "subdistrict", "district", "province", "timestamp", "state", "star",
    "count_reopen", "last_activity", "organization_action", "duration_minutes_inprogress",
    "duration_minutes_finished", "duration_minutes_total", "timestamp_inprogress",
    "timestamp_finished", "message_id", "problemtype_tag",
)  # fmt: skip
NOT_FOUND_PAGE = (
    b"<html><head><title>File not found</title></head><body>File not found</body></html>"
)


@dataclass
class Fault:
    """What to do instead of (or to) the next matching request.

    ``status``: answer with this HTTP status and ``body``; ``hang``: sleep
    this long first (past the client's timeout); ``reset``: close the
    connection without answering; ``body``: raw bytes to send with 200;
    ``repeat_previous``: from this page on, the window's list is shifted by
    one, as when a ticket is inserted before the cursor: this page starts with
    the previous page's last record (drift); ``rewrite``: the JSON page the
    server would send (feed 1 or 2), changed by this function (see
    :func:`error_page`, :func:`short_page`, :func:`empty_page`); ``truncate``:
    a CSV file that stops this many bytes early while its ``Content-Length``
    announces all of it.

    ``match`` aims the fault at requests whose query has these values (e.g.
    ``{"offset": "200"}``, ``{"start": "2023-04-01"}``) and ``path`` at one
    endpoint; a fault serves ``times`` requests before it is used up.
    """

    status: int | None = None
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    hang: float = 0.0
    reset: bool = False
    repeat_previous: bool = False
    rewrite: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    truncate: int = 0
    match: dict[str, str] = field(default_factory=dict)
    path: str | None = None
    times: int = 1

    def matches(self, path: str, query: dict[str, list[str]]) -> bool:
        if self.path is not None and path != self.path:
            return False
        return all(query.get(name, [""])[0] == value for name, value in self.match.items())


ERROR_MESSAGE = (
    "sum_state_by_group_tag cache memory error. Please contact an administrator | "
    "เกิดความผิดพลาดที่หน่วยความจำแคช กรุณาติดต่อผู้ดูแลระบบ"
)
"""An error message as Traffy words it (the cache error of the captured feed-1 sample)."""


def error_page(body: dict[str, Any]) -> dict[str, Any]:
    """The documented error envelope (TRAFFY_API.md): HTTP 200, ``status: "success"``,
    an error ``message``, ``total: 0`` and an empty list, every other field as usual."""
    records = "results" if "results" in body else "features"
    failed = {**body, "message": ERROR_MESSAGE, "total": 0, records: []}
    if "count" in failed:
        failed.update(count=0, count_total=0)
    return failed


def short_page(body: dict[str, Any]) -> dict[str, Any]:
    """A well-formed page holding half its records: empty ``message``, the real ``total``."""
    records = "results" if "results" in body else "features"
    kept = body[records][: len(body[records]) // 2]
    cut = {**body, records: kept}
    if "count" in cut:
        cut["count"] = len(kept)
    return cut


def empty_page(body: dict[str, Any]) -> dict[str, Any]:
    """A well-formed page with no records while ``total`` still counts the window."""
    records = "results" if "results" in body else "features"
    emptied = {**body, records: []}
    if "count" in emptied:
        emptied["count"] = 0
    return emptied


class FakeTraffy:
    """Serves ``features`` (feed-1 GeoJSON features) as the real API would page them."""

    def __init__(
        self, features: Iterable[dict[str, Any]], latency: float = 0.0, csv_columns: int = 24
    ) -> None:
        self.features = sorted(features, key=lambda f: str(f["properties"].get("timestamp")))
        self.latency = latency
        self.csv_columns = csv_columns
        self.requests: list[dict[str, list[str]]] = []
        self._faults: list[Fault] = []
        self._shifts: dict[tuple[str, str], int] = {}
        self._on_request: Callable[[int], None] | None = None
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> FakeTraffy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def script(self, *faults: Fault) -> None:
        """Queue faults: the next requests get them, one each, in order."""
        with self._lock:
            self._faults.extend(faults)

    def _take_fault(self, path: str, query: dict[str, list[str]]) -> Fault | None:
        """The first queued fault aimed at this request (called under the lock)."""
        for index, fault in enumerate(self._faults):
            if fault.matches(path, query):
                fault.times -= 1
                if fault.times <= 0:
                    del self._faults[index]
                return fault
        return None

    def on_request(self, hook: Callable[[int], None]) -> None:
        """Call ``hook(request_number)`` before answering, e.g. to add tickets (drift)."""
        self._on_request = hook

    def page(self, query: dict[str, list[str]], district: str = "") -> dict[str, Any]:
        """The envelope the real feed returns for this query (``district``: feed 2's filter)."""
        limit = min(int(query.get("limit", ["300"])[0]), MAX_LIMIT)
        window = (query.get("start", [""])[0], query.get("end", [""])[0])
        offset = max(0, int(query.get("offset", ["0"])[0]) - self._shifts.get(window, 0))
        selected = self.features
        if "start" in query and "end" in query:
            first = date.fromisoformat(query["start"][0])
            last = date.fromisoformat(query["end"][0])
            selected = [f for f in selected if _in_window(f, first, last)]
        if district:
            selected = [f for f in selected if _district_of(f) == district]
        if query.get("sort", [""])[0].lower() != "asc":
            selected = selected[::-1]
        return envelope(selected[offset : offset + limit], total=len(selected))

    def add(self, *features: dict[str, Any]) -> None:
        """Insert tickets (kept in creation order), e.g. between two page requests."""
        with self._lock:
            self.features = sorted(
                [*self.features, *features], key=lambda f: str(f["properties"].get("timestamp"))
            )

    def search_page(self, query: dict[str, list[str]]) -> dict[str, Any]:
        """Feed 2's answer: the district's tickets as search rows, filtered on the server."""
        district = query.get("district", [""])[0].removeprefix("เขต")
        envelope = self.page({**query, "sort": [query.get("sort", ["ASC"])[0]]}, district)
        return {"status": "success", "total": envelope["total"], "results": [
            search_row(f) for f in envelope["features"]
        ]}  # fmt: skip

    def csv_month(self, file_name: str) -> bytes | None:
        """The month's CSV file (BOM first), or ``None`` when the month has no tickets."""
        chunks = self.csv_chunks(file_name)
        return None if chunks is None else b"".join(chunks)

    def csv_chunks(self, file_name: str, rows_per_chunk: int = 200) -> Iterator[bytes] | None:
        """The month's CSV file in chunks, as a server streams it (``None``: no such month)."""
        month = file_name.removeprefix("bangkok_")
        rows = [f for f in self.features if str(f["properties"].get("timestamp", ""))[:7] == month]
        if not rows:
            return None
        columns = CSV_COLUMNS[: self.csv_columns]

        def generate() -> Iterator[bytes]:
            out = io.StringIO(newline="")
            writer = csv.writer(out, lineterminator="\n")
            out.write("\ufeff")
            writer.writerow(columns)
            for index, feature in enumerate(rows, 1):
                row = csv_row(feature)
                writer.writerow([row.get(c, "") for c in columns])
                if index % rows_per_chunk == 0:
                    yield out.getvalue().encode("utf-8")
                    out.seek(0)
                    out.truncate()
            yield out.getvalue().encode("utf-8")

        return generate()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                try:
                    self._get()
                except Exception as error:  # a bug in a fake must not look like a network fault
                    self._send(500, repr(error).encode())

            def _get(self) -> None:
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                with fake._lock:
                    fake.requests.append(query)
                    number = len(fake.requests)
                    fault = fake._take_fault(parts.path, query)
                if fake._on_request:
                    fake._on_request(number)
                if fake.latency:
                    time.sleep(fake.latency)
                if parts.path not in (FEED1_PATH, SEARCH_PATH, CSV_PATH):
                    self._send(404, b'{"detail":"Not Found"}')
                    return
                if fault and fault.hang:
                    time.sleep(fault.hang)
                if fault and fault.reset:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if fault and fault.status is not None:
                    self._send(fault.status, fault.body or b"{}", fault.headers)
                    return
                if fault and fault.body is not None:
                    self._send(200, fault.body, fault.headers)
                    return
                if fault and fault.repeat_previous:
                    window = (query.get("start", [""])[0], query.get("end", [""])[0])
                    with fake._lock:
                        fake._shifts[window] = fake._shifts.get(window, 0) + 1
                rewrite = fault.rewrite if fault and fault.rewrite else (lambda body: body)
                if parts.path == SEARCH_PATH:
                    self._send(201, orjson.dumps(rewrite(fake.search_page(query))))
                elif parts.path == CSV_PATH:
                    chunks = fake.csv_chunks(query.get("file_name", [""])[0])
                    if chunks is None:
                        self._send(200, NOT_FOUND_PAGE, {"Content-Type": "text/html"})
                    elif fault and fault.truncate:
                        self._cut_short(b"".join(chunks), fault.truncate)
                    else:
                        self._stream(chunks)
                else:
                    self._send(200, orjson.dumps(rewrite(fake.page(query))))

            def _cut_short(self, body: bytes, missing: int) -> None:
                """Announce the whole file, send all but its last ``missing`` bytes, hang up."""
                self.send_response(200)
                self.send_header("Content-Type", "text/csv; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                self.wfile.write(body[: max(0, len(body) - missing)])

            def _stream(self, chunks: Iterator[bytes]) -> None:
                """A file of unknown length: no Content-Length, the end is the close."""
                self.send_response(200)
                self.send_header("Content-Type", "text/csv; charset=utf-8")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                for chunk in chunks:
                    self.wfile.write(chunk)

            def _send(
                self, status: int, body: bytes, headers: dict[str, str] | None = None
            ) -> None:
                self.send_response(status)
                content_type = (headers or {}).get("Content-Type", "application/json")
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in (headers or {}).items():
                    if name != "Content-Type":
                        self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

        return Handler


def envelope(chunk: list[dict[str, Any]], total: int) -> dict[str, Any]:
    """A feed-1 page as the real feed wraps it: ``total`` counts the whole selection."""
    return {
        "type": "FeatureCollection",
        "status": "success",
        "message": "",
        "exec_time": "0.010s",
        "source": "geojson cache (fake) (expire 1800s)",
        "total": total,
        "sum_state": [],
        "count_total": total,
        "count": len(chunk),
        "features": chunk,
    }


def _in_window(feature: dict[str, Any], first: date, last: date) -> bool:
    """Creation date within the window; a record with a broken timestamp is served
    with every window, so the client sees it (and must reject it)."""
    try:
        created = date.fromisoformat(str(feature["properties"]["timestamp"])[:10])
    except ValueError:
        return True
    return first <= created <= last


BANGKOK = ZoneInfo("Asia/Bangkok")


def _district_of(feature: dict[str, Any]) -> str:
    """The district the real server would file a ticket under."""
    properties = feature.get("properties") or {}
    value = properties.get("district")
    if isinstance(value, str) and value.strip():
        return value.strip().removeprefix("เขต")
    address = str(properties.get("address") or "").replace("เขต ", "เขต")
    for part in address.split():
        if part.startswith("เขต"):
            return part.removeprefix("เขต")
    return ""


def utc_text(value: Any) -> Any:
    """Feed 1's naive Bangkok time as feed 2's ``2023-05-16 07:59:20.000000+00``."""
    if not isinstance(value, str) or not value.strip():
        return value
    try:
        moment = datetime.fromisoformat(value).replace(tzinfo=BANGKOK).astimezone(UTC)
    except ValueError:
        return value  # a broken timestamp stays broken
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f") + "+00"


def _types(p: dict[str, Any]) -> list[str]:
    """A feature's types: the fondue list, else feed 1's comma-joined ``type``."""
    listed = p.get("problem_type_fondue")
    if listed:
        return list(listed)
    return [t.strip() for t in str(p.get("type") or "").split(",") if t.strip()]


def _pg_array(items: Any) -> str:
    if not items:
        return "{}"
    return "{" + ",".join('"' + str(i).replace('"', '\\"') + '"' for i in items) + "}"


def search_row(feature: dict[str, Any]) -> dict[str, Any]:
    """A feed-1 feature in feed 2's 2023 row shape: UTC times, strings, no district."""
    p = dict(feature.get("properties") or {})
    point = (feature.get("geometry") or {}).get("coordinates")
    row: dict[str, Any] = {
        "type": _pg_array(_types(p)),
        "org": ",".join(p.get("org") or []),
        "description": p.get("description"),
        "ticket_id": p.get("ticket_id"),
        "coords": [f"{point[0]:.5f}", f"{point[1]:.5f}"] if point else None,
        "photo_url": p.get("photo_url"),
        "after_photo": p.get("after_photo"),
        "address": p.get("address"),
        "timestamp": utc_text(p.get("timestamp")),
        "problem_type_abdul": _types(p) or [""],
        "star": None if p.get("star") is None else str(p.get("star")),
        "count_reopen": None if p.get("count_reopen") is None else str(p.get("count_reopen")),
        "note": p.get("note"),
        "state": p.get("state"),
        "last_activity": utc_text(p.get("last_activity")),
        "message_id": p.get("message_id"),
    }
    return row


def csv_row(feature: dict[str, Any]) -> dict[str, Any]:
    """A feed-1 feature as a row of the monthly CSV file."""
    p = feature.get("properties") or {}
    point = (feature.get("geometry") or {}).get("coordinates") or [0, 0]
    return {
        "ticket_id": p.get("ticket_id") or "",
        "type": _pg_array(_types(p)),
        "organization": ",".join(p.get("org") or []),
        "comment": p.get("description") or "",
        "coords": f"{point[0]:.5f},{point[1]:.5f}",
        "photo": p.get("photo_url") or "",
        "photo_after": p.get("after_photo") or "",
        "address": p.get("address") or "",
        "subdistrict": p.get("subdistrict") or "",
        "district": p.get("district") or "",
        "province": p.get("province") or "",
        "timestamp": utc_text(p.get("timestamp")),
        "state": p.get("state") or "",
        "star": "" if p.get("star") is None else p.get("star"),
        "count_reopen": p.get("count_reopen") if p.get("count_reopen") is not None else "",
        "last_activity": utc_text(p.get("last_activity")) or "",
        "organization_action": ",".join(p.get("org_action") or []),
        "timestamp_inprogress": utc_text(p.get("timestamp_inprogress")) or "",
        "timestamp_finished": utc_text(p.get("timestamp_finished")) or "",
        "message_id": "" if p.get("message_id") is None else p.get("message_id"),
        "problemtype_tag": "",
    }
