"""A stateful fake of the Google Sheets API v4, served over real HTTP on 127.0.0.1.

Google ships no Sheets emulator, so tests and benchmarks point real gspread code
at this server (through `etl.sinks.google_session.SheetsSession`). It owns:

- the state: spreadsheets, tabs (sheet ids that never change, grid sizes,
  frozen rows), cell values, number formats and protected ranges;
- the limits that shape the sink: 10 M cells per spreadsheet, 50,000
  characters per cell, a request payload limit, grid bounds, A1 ranges;
- faults on demand (HTTP 429/5xx, optionally with Retry-After, optionally
  after the request took effect: a lost response) and request, cell and
  payload counters;
- Google's own schema: every request's query parameters and body are checked
  against the Sheets v4 discovery document (`etl.fakes.sheets_schema`), so an
  unknown field, a bad enum value or a wrong JSON type gets Google's HTTP 400
  ``INVALID_ARGUMENT`` answer instead of being silently ignored;
- a ``POST /token`` OAuth endpoint, so service-account credentials whose
  ``token_uri`` points here work offline.

Deliberate simplifications: formulas are never evaluated (a USER_ENTERED string
starting with ``=`` is stored as a `Formula` so tests can detect injection);
USER_ENTERED parses numbers and booleans but not dates; number formats are
kept as ranges and not shifted when rows are inserted or deleted; writes with
`values.update`/`values.batchUpdate` that reach beyond the grid are rejected
(the real API is at least as strict for ranges that start outside it).
"""

from __future__ import annotations

import json
import random
import re
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, unquote, urlsplit

from etl.fakes.sheets_schema import Violation, check_request, check_response

MAX_CELLS = 10_000_000
MAX_CELL_CHARS = 50_000
DEFAULT_MAX_PAYLOAD_BYTES = 10 * 1024 * 1024
DEFAULT_ROWS = 1000
DEFAULT_COLUMNS = 26
_SERIAL_EPOCH = datetime(1899, 12, 30)

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


@dataclass(frozen=True)
class Formula:
    """A cell holding a formula (stored, never evaluated)."""

    text: str


CellValue = str | int | float | bool | Formula | None


class FakeApiError(Exception):
    """An error answered to the client in Google's JSON error shape.

    `violations` become the ``google.rpc.BadRequest`` detail Google attaches
    to a request its schema refuses (field path, description).
    """

    def __init__(self, code: int, message: str, violations: Sequence[Violation] = ()) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.violations = tuple(violations)


@dataclass(frozen=True)
class Box:
    """A 0-based, end-exclusive rectangle; `None` ends are unbounded."""

    start_row: int
    end_row: int | None
    start_col: int
    end_col: int | None


@dataclass
class Tab:
    """One tab (sheet) of a fake spreadsheet."""

    sheet_id: int
    title: str
    row_count: int = DEFAULT_ROWS
    column_count: int = DEFAULT_COLUMNS
    frozen_rows: int = 0
    frozen_columns: int = 0
    rows: list[list[CellValue]] = field(default_factory=list)
    number_formats: list[tuple[Box, dict[str, Any]]] = field(default_factory=list)
    hidden: bool = False

    def copy(self) -> Tab:
        return Tab(
            self.sheet_id,
            self.title,
            self.row_count,
            self.column_count,
            self.frozen_rows,
            self.frozen_columns,
            [list(r) for r in self.rows],
            list(self.number_formats),
            self.hidden,
        )

    def get(self, row: int, col: int) -> CellValue:
        if row < len(self.rows) and col < len(self.rows[row]):
            return self.rows[row][col]
        return None

    def set(self, row: int, col: int, value: CellValue) -> None:
        while len(self.rows) <= row:
            self.rows.append([])
        cells = self.rows[row]
        if value is None and col >= len(cells):
            return
        while len(cells) <= col:
            cells.append(None)
        cells[col] = value

    def used_rows(self) -> int:
        """Rows up to the last one holding a value."""
        n = len(self.rows)
        while n and all(v is None for v in self.rows[n - 1]):
            n -= 1
        return n

    def used_columns(self) -> int:
        return max((_row_width(r) for r in self.rows), default=0)

    def clip_cells(self) -> None:
        del self.rows[self.row_count :]
        for r in self.rows:
            del r[self.column_count :]

    def number_format(self, row: int, col: int) -> dict[str, Any] | None:
        found = None
        for box, fmt in self.number_formats:
            if _inside(box, row, col):
                found = fmt
        return found


@dataclass
class Spreadsheet:
    spreadsheet_id: str
    title: str
    tabs: list[Tab]
    protected_ranges: list[dict[str, Any]] = field(default_factory=list)
    next_protected_id: int = 1

    def copy(self) -> Spreadsheet:
        return Spreadsheet(
            self.spreadsheet_id,
            self.title,
            [t.copy() for t in self.tabs],
            [json.loads(json.dumps(p)) for p in self.protected_ranges],
            self.next_protected_id,
        )

    def cells(self) -> int:
        return sum(t.row_count * t.column_count for t in self.tabs)

    def tab(self, title: str) -> Tab:
        for t in self.tabs:
            if t.title == title:
                return t
        raise FakeApiError(400, f"Unable to parse range: {title}")

    def tab_by_id(self, sheet_id: int) -> Tab:
        for t in self.tabs:
            if t.sheet_id == sheet_id:
                return t
        raise FakeApiError(400, f"No grid with id: {sheet_id}")


@dataclass
class Stats:
    """What clients asked for since the last `reset_stats()`."""

    requests: int = 0
    reads: int = 0
    writes: int = 0
    faults: int = 0
    cells_written: int = 0
    bytes_received: int = 0
    max_payload_bytes: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)


@dataclass
class _Fault:
    status: int
    kind: str
    skip: int
    remaining: int | None
    retry_after: float | None
    message: str
    applied: bool = False


# ---------------------------------------------------------------------------
# A1 notation


def column_letter(index: int) -> str:
    """0-based column index -> letters (0 -> A, 26 -> AA)."""
    letters = ""
    n = index + 1
    while n:
        n, rem = divmod(n - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _column_index(letters: str) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + (ord(ch) - 64)
    return n - 1


_ENDPOINT = re.compile(r"^([A-Za-z]{0,3})(\d*)$")


def _split_sheet(a1: str) -> tuple[str | None, str]:
    if a1.startswith("'"):
        i, name = 1, []
        while i < len(a1):
            if a1[i] == "'":
                if a1[i + 1 : i + 2] == "'":
                    name.append("'")
                    i += 2
                    continue
                break
            name.append(a1[i])
            i += 1
        rest = a1[i + 1 :]
        if rest and not rest.startswith("!"):
            raise FakeApiError(400, f"Unable to parse range: {a1}")
        return "".join(name), rest[1:]
    if "!" in a1:
        sheet, _, cells = a1.rpartition("!")
        return sheet, cells
    return None, a1


def _parse_box(cells: str, a1: str) -> Box:
    parts = cells.split(":")
    if len(parts) > 2 or not all(parts):
        raise FakeApiError(400, f"Unable to parse range: {a1}")
    ends = []
    for p in parts:
        m = _ENDPOINT.match(p)
        if not m or not (m.group(1) or m.group(2)):
            raise FakeApiError(400, f"Unable to parse range: {a1}")
        col = _column_index(m.group(1)) if m.group(1) else None
        row = int(m.group(2)) - 1 if m.group(2) else None
        if row is not None and row < 0:
            raise FakeApiError(400, f"Unable to parse range: {a1}")
        ends.append((col, row))
    (c1, r1) = ends[0]
    (c2, r2) = ends[-1]
    if len(parts) == 1:
        if c1 is None or r1 is None:
            raise FakeApiError(400, f"Unable to parse range: {a1}")
        return Box(r1, r1 + 1, c1, c1 + 1)
    start_row = r1 if r1 is not None else 0
    start_col = c1 if c1 is not None else 0
    end_row = r2 + 1 if r2 is not None else None
    end_col = c2 + 1 if c2 is not None else None
    # "A:C" and "1:3" are whole columns / rows; "A2:C" runs to the last row.
    if r1 is None and r2 is not None:
        raise FakeApiError(400, f"Unable to parse range: {a1}")
    return Box(
        min(start_row, end_row - 1) if end_row is not None else start_row,
        max(end_row, start_row + 1) if end_row is not None else None,
        min(start_col, end_col - 1) if end_col is not None else start_col,
        max(end_col, start_col + 1) if end_col is not None else None,
    )


def quote_title(title: str) -> str:
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", title):
        return title
    return "'" + title.replace("'", "''") + "'"


def _a1(tab: Tab, box: Box) -> str:
    end_row = box.end_row if box.end_row is not None else tab.row_count
    end_col = box.end_col if box.end_col is not None else tab.column_count
    start = f"{column_letter(box.start_col)}{box.start_row + 1}"
    end = f"{column_letter(max(end_col, box.start_col + 1) - 1)}{max(end_row, box.start_row + 1)}"
    return f"{quote_title(tab.title)}!{start}:{end}"


def _inside(box: Box, row: int, col: int) -> bool:
    return (
        box.start_row <= row
        and (box.end_row is None or row < box.end_row)
        and box.start_col <= col
        and (box.end_col is None or col < box.end_col)
    )


def _row_width(row: list[CellValue]) -> int:
    n = len(row)
    while n and row[n - 1] is None:
        n -= 1
    return n


# ---------------------------------------------------------------------------
# Values in and out


def _serial_to_datetime(serial: float) -> datetime:
    return _SERIAL_EPOCH + timedelta(days=serial)


def _format_serial(serial: float, pattern: str) -> str:
    py = pattern.replace("yyyy", "%Y").replace("dd", "%d").replace("hh", "%H")
    py = py.replace("ss", "%S").replace("%H:mm", "%H:%M").replace("mm", "%m")
    return _serial_to_datetime(serial).strftime(py)


def _formatted(value: CellValue, fmt: dict[str, Any] | None) -> str:
    if isinstance(value, Formula):
        return value.text
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        kind = (fmt or {}).get("type")
        if kind in ("DATE", "DATE_TIME", "TIME"):
            default = {"DATE": "yyyy-mm-dd", "TIME": "hh:mm:ss"}.get(kind, "yyyy-mm-dd hh:mm:ss")
            return _format_serial(float(value), (fmt or {}).get("pattern") or default)
        if float(value).is_integer():
            return str(int(value))
        return repr(float(value))
    return "" if value is None else str(value)


def _unformatted(value: CellValue, formula: bool) -> Any:
    if isinstance(value, Formula):
        return value.text
    if isinstance(value, float) and value.is_integer() and not formula:
        return int(value)
    return value


_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def _parse_input(value: Any, option: str) -> CellValue:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value
    if not isinstance(value, str):
        raise FakeApiError(400, f"Invalid value: {json.dumps(value)[:100]}")
    if len(value) > MAX_CELL_CHARS:
        raise FakeApiError(
            400,
            f"Your input contains more than the maximum of {MAX_CELL_CHARS} "
            "characters in a single cell.",
        )
    if value == "":
        return None
    if option == "RAW":
        return value
    if value.startswith("="):
        return Formula(value)
    if value.startswith("'"):
        return value[1:]
    if value.upper() in ("TRUE", "FALSE"):
        return value.upper() == "TRUE"
    if _NUMBER.match(value.strip()):
        num = float(value)
        return int(num) if num.is_integer() and "." not in value and "e" not in value else num
    return value


# ---------------------------------------------------------------------------
# The server


class FakeSheetsServer:
    """Fake Sheets API v4 over HTTP; use as a context manager, then `.url`."""

    def __init__(self, *, max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES) -> None:
        self.max_payload_bytes = max_payload_bytes
        self._lock = threading.RLock()
        self._spreadsheets: dict[str, Spreadsheet] = {}
        self._faults: list[_Fault] = []
        self._denied: set[str] = set()
        self._rng = random.Random(4)
        self.stats = Stats()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> Self:
        handler = _make_handler(self)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-sheets",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("FakeSheetsServer is not running")
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    # -- helpers for tests ("staff" edits bypass the API and its counters) --

    def create_spreadsheet(
        self,
        spreadsheet_id: str | None = None,
        *,
        title: str = "Traffy",
        tabs: Sequence[str] = ("Sheet1",),
    ) -> str:
        with self._lock:
            sid = spreadsheet_id or f"fake-{len(self._spreadsheets) + 1}"
            book = Spreadsheet(sid, title, [])
            for i, name in enumerate(tabs):
                book.tabs.append(Tab(0 if i == 0 else self._new_sheet_id(book), name))
            self._spreadsheets[sid] = book
            return sid

    def tab_titles(self, spreadsheet_id: str) -> list[str]:
        with self._lock:
            return [t.title for t in self._book(spreadsheet_id).tabs]

    def tab_values(self, spreadsheet_id: str, title: str) -> list[list[CellValue]]:
        """The tab's stored values, trimmed like the API trims them.

        Empty cells inside the used area are `None`; formulas are `Formula`.
        """
        with self._lock:
            tab = self._book(spreadsheet_id).tab(title)
            width = tab.used_columns()
            return [
                [tab.get(r, c) for c in range(width)][: _row_width(tab.rows[r])]
                for r in range(tab.used_rows())
            ]

    def tab_properties(self, spreadsheet_id: str, title: str) -> dict[str, Any]:
        with self._lock:
            book = self._book(spreadsheet_id)
            return self._sheet_properties(book, book.tab(title))

    def number_format(
        self, spreadsheet_id: str, title: str, row: int, col: int
    ) -> dict[str, Any] | None:
        """Number format at 0-based (row, col), as set by repeatCell."""
        with self._lock:
            return self._book(spreadsheet_id).tab(title).number_format(row, col)

    def protected_ranges(self, spreadsheet_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return json.loads(json.dumps(self._book(spreadsheet_id).protected_ranges))  # type: ignore[no-any-return]

    def cell_count(self, spreadsheet_id: str) -> int:
        with self._lock:
            return self._book(spreadsheet_id).cells()

    def formulas(self, spreadsheet_id: str) -> list[tuple[str, str, str]]:
        """Every formula cell as (tab, A1, text): an injection detector."""
        with self._lock:
            found = []
            for tab in self._book(spreadsheet_id).tabs:
                for r, row in enumerate(tab.rows):
                    for c, v in enumerate(row):
                        if isinstance(v, Formula):
                            found.append((tab.title, f"{column_letter(c)}{r + 1}", v.text))
            return found

    def set_values(
        self,
        spreadsheet_id: str,
        title: str,
        a1: str,
        rows: Sequence[Sequence[CellValue]],
    ) -> None:
        """Edit cells as a person would (the grid grows if needed); "" clears."""
        with self._lock:
            tab = self._book(spreadsheet_id).tab(title)
            box = _parse_box(a1, a1)
            for i, row in enumerate(rows):
                for j, value in enumerate(row):
                    r, c = box.start_row + i, box.start_col + j
                    tab.row_count = max(tab.row_count, r + 1)
                    tab.column_count = max(tab.column_count, c + 1)
                    tab.set(r, c, None if value == "" else value)

    def add_tab(
        self, spreadsheet_id: str, title: str, *, rows: int = DEFAULT_ROWS, columns: int = 26
    ) -> int:
        with self._lock:
            book = self._book(spreadsheet_id)
            tab = Tab(self._new_sheet_id(book), title, rows, columns)
            book.tabs.append(tab)
            return tab.sheet_id

    def sort_rows(
        self,
        spreadsheet_id: str,
        title: str,
        column: int,
        *,
        header_rows: int = 1,
        reverse: bool = False,
    ) -> None:
        """Sort the rows below the header by a 0-based column, as staff would."""
        with self._lock:
            tab = self._book(spreadsheet_id).tab(title)
            used = tab.used_rows()
            body = [list(r) for r in tab.rows[header_rows:used]]
            body.sort(key=lambda r: str(r[column] if column < len(r) else ""), reverse=reverse)
            tab.rows[header_rows:used] = body

    def delete_rows(self, spreadsheet_id: str, title: str, start: int, end: int) -> None:
        """Delete 0-based rows [start, end) as staff would."""
        with self._lock:
            tab = self._book(spreadsheet_id).tab(title)
            del tab.rows[start:end]
            tab.row_count -= max(0, min(end, tab.row_count) - start)

    # -- faults and counters ---------------------------------------------

    def fail_next(
        self,
        status: int = 429,
        count: int | None = 1,
        retry_after: float | None = None,
        *,
        kind: str = "any",
        message: str | None = None,
        applied: bool = False,
    ) -> None:
        """Answer the next `count` requests of `kind` (any, read, write) with an error.

        `count=None` fails every such request until `clear_faults()`.
        """
        self.fail_write(1, status, count, retry_after, kind=kind, message=message, applied=applied)

    def fail_write(
        self,
        nth: int,
        status: int = 500,
        count: int | None = 1,
        retry_after: float | None = None,
        *,
        kind: str = "write",
        message: str | None = None,
        applied: bool = False,
    ) -> None:
        """Let `nth - 1` requests of `kind` pass, then fail `count` of them.

        `applied=True`: each failed request takes effect first, as when Google
        did the work and the response was lost; a client that retries it does
        the work twice unless the request is idempotent.
        """
        if kind not in ("any", "read", "write"):
            raise ValueError(f"kind must be any, read or write, not {kind!r}")
        with self._lock:
            self._faults.append(
                _Fault(
                    status,
                    kind,
                    nth - 1,
                    count,
                    retry_after,
                    message or f"Injected fault ({status})",
                    applied,
                )
            )

    def deny(self, spreadsheet_id: str) -> None:
        """Answer every request for this spreadsheet 403, as Google does when it was
        not shared with the service account."""
        with self._lock:
            self._denied.add(spreadsheet_id)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._denied.clear()

    def reset_stats(self) -> None:
        with self._lock:
            self.stats = Stats()

    # -- request handling -------------------------------------------------

    def handle(
        self, method: str, raw_path: str, body: bytes
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        """Answer one HTTP request: (status, JSON body, extra headers)."""
        parts = urlsplit(raw_path)
        query = parse_qs(parts.query, keep_blank_values=True)
        if method == "POST" and parts.path == "/token":
            # An OAuth token endpoint, so service-account credentials work offline.
            with self._lock:
                self.stats.by_kind["token"] += 1
            return (
                200,
                {"access_token": "fake-token", "expires_in": 3600, "token_type": "Bearer"},
                {},
            )
        is_read = method == "GET"
        with self._lock:
            st = self.stats
            st.requests += 1
            st.bytes_received += len(body)
            st.max_payload_bytes = max(st.max_payload_bytes, len(body))
            if is_read:
                st.reads += 1
            else:
                st.writes += 1
            try:
                kind, sid, rng = _route(method, parts.path)
            except FakeApiError as e:
                return e.code, _error_body(e.code, e.message), {}
            st.by_kind[kind] += 1
            if sid in self._denied:
                message = "The caller does not have permission"
                return 403, _error_body(403, message), {}
            fault = self._take_fault(is_read)
            headers: dict[str, str] = {}
            if fault is not None:
                st.faults += 1
                if fault.retry_after is not None:
                    headers["Retry-After"] = f"{fault.retry_after:g}"
                if not fault.applied:
                    return fault.status, _error_body(fault.status, fault.message), headers
            try:
                if len(body) > self.max_payload_bytes:
                    raise FakeApiError(
                        400,
                        f"Request payload size exceeds the limit: {self.max_payload_bytes} bytes.",
                    )
                try:
                    payload = json.loads(body, parse_constant=_refuse_constant) if body else {}
                except ValueError as e:
                    raise FakeApiError(400, f"Invalid JSON payload received. {e}") from None
                violations = check_request(kind, query, payload, bool(body))
                if violations:
                    raise FakeApiError(
                        400, "\n".join(v.description for v in violations), violations
                    )
                book = self._book(sid)
                result = self._dispatch(kind, book, rng, query, payload)
                wrong = check_response(kind, result)
                if wrong:
                    raise FakeApiError(
                        500,
                        "The fake's answer is outside Google's schema (a bug of the fake): "
                        + "\n".join(v.description for v in wrong),
                    )
            except FakeApiError as e:
                return e.code, _error_body(e.code, e.message, e.violations), {}
            if fault is not None:  # done, but the client hears of a failure
                return fault.status, _error_body(fault.status, fault.message), headers
            return 200, result, {}

    def _take_fault(self, is_read: bool) -> _Fault | None:
        for fault in self._faults:
            if fault.kind == "any" or (fault.kind == "read") == is_read:
                if fault.skip > 0:
                    fault.skip -= 1
                    return None
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                return fault
        return None

    def _book(self, sid: str) -> Spreadsheet:
        try:
            return self._spreadsheets[sid]
        except KeyError:
            raise FakeApiError(404, "Requested entity was not found.") from None

    def _new_sheet_id(self, book: Spreadsheet) -> int:
        used = {t.sheet_id for t in book.tabs}
        while True:
            candidate = self._rng.randrange(1, 2**31 - 1)
            if candidate not in used:
                return candidate

    def _dispatch(
        self,
        kind: str,
        book: Spreadsheet,
        rng: str | None,
        query: dict[str, list[str]],
        payload: dict[str, Any],
    ) -> dict[str, Any]:
        if kind == "spreadsheets.get":
            return self._metadata(book)
        if kind == "spreadsheets.batchUpdate":
            return self._batch_update(book, payload)
        if kind == "values.get":
            assert rng is not None
            return self._read(book, rng, query)
        if kind == "values.batchGet":
            ranges = query.get("ranges", [])
            return {
                "spreadsheetId": book.spreadsheet_id,
                "valueRanges": [self._read(book, r, query) for r in ranges],
            }
        if kind == "values.update":
            assert rng is not None
            option = _input_option(query.get("valueInputOption", [""])[0])
            data = [{**payload, "range": payload.get("range", rng)}]
            return {"spreadsheetId": book.spreadsheet_id, **self._write(book, data, option)[0]}
        if kind == "values.batchUpdate":
            option = _input_option(payload.get("valueInputOption", ""))
            responses = self._write(book, payload.get("data", []), option)
            return {
                "spreadsheetId": book.spreadsheet_id,
                "totalUpdatedRows": sum(r.get("updatedRows", 0) for r in responses),
                "totalUpdatedColumns": sum(r.get("updatedColumns", 0) for r in responses),
                "totalUpdatedCells": sum(r.get("updatedCells", 0) for r in responses),
                "totalUpdatedSheets": len({r["updatedRange"].split("!")[0] for r in responses}),
                "responses": responses,
            }
        if kind == "values.append":
            assert rng is not None
            return self._append(book, rng, query, payload)
        if kind == "values.clear":
            assert rng is not None
            return {"spreadsheetId": book.spreadsheet_id, "clearedRange": self._clear(book, rng)}
        if kind == "values.batchClear":
            cleared = [self._clear(book, r) for r in payload.get("ranges", [])]
            return {"spreadsheetId": book.spreadsheet_id, "clearedRanges": cleared}
        raise FakeApiError(404, f"Unknown method {kind}")  # pragma: no cover

    # -- metadata --------------------------------------------------------

    def _sheet_properties(self, book: Spreadsheet, tab: Tab) -> dict[str, Any]:
        grid: dict[str, Any] = {"rowCount": tab.row_count, "columnCount": tab.column_count}
        if tab.frozen_rows:
            grid["frozenRowCount"] = tab.frozen_rows
        if tab.frozen_columns:
            grid["frozenColumnCount"] = tab.frozen_columns
        properties: dict[str, Any] = {
            "sheetId": tab.sheet_id,
            "title": tab.title,
            "index": book.tabs.index(tab),
            "sheetType": "GRID",
            "gridProperties": grid,
        }
        if tab.hidden:  # Google leaves the field out when false
            properties["hidden"] = True
        return properties

    def _metadata(self, book: Spreadsheet) -> dict[str, Any]:
        sheets = []
        for tab in book.tabs:
            sheet: dict[str, Any] = {"properties": self._sheet_properties(book, tab)}
            protected = [
                p for p in book.protected_ranges if p["range"].get("sheetId", 0) == tab.sheet_id
            ]
            if protected:
                sheet["protectedRanges"] = json.loads(json.dumps(protected))
            sheets.append(sheet)
        return {
            "spreadsheetId": book.spreadsheet_id,
            "properties": {
                "title": book.title,
                "locale": "en_US",
                "timeZone": "Asia/Bangkok",
                "autoRecalc": "ON_CHANGE",
            },
            "sheets": sheets,
            "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{book.spreadsheet_id}/edit",
        }

    # -- values ----------------------------------------------------------

    def _resolve(self, book: Spreadsheet, a1: str) -> tuple[Tab, Box]:
        if not a1:
            raise FakeApiError(400, "Unable to parse range: ")
        titles = {t.title for t in book.tabs}
        if a1 in titles:
            return book.tab(a1), Box(0, None, 0, None)
        sheet, cells = _split_sheet(a1)
        if sheet is None:
            if not book.tabs:
                raise FakeApiError(400, f"Unable to parse range: {a1}")
            tab = book.tabs[0]
        elif sheet not in titles:
            raise FakeApiError(400, f"Unable to parse range: {a1}")
        else:
            tab = book.tab(sheet)
        if not cells:
            return tab, Box(0, None, 0, None)
        return tab, _parse_box(cells, a1)

    def _read(self, book: Spreadsheet, a1: str, query: dict[str, list[str]]) -> dict[str, Any]:
        tab, box = self._resolve(book, a1)
        render = query.get("valueRenderOption", ["FORMATTED_VALUE"])[0]
        major = query.get("majorDimension", ["ROWS"])[0] or "ROWS"
        if render not in ("FORMATTED_VALUE", "UNFORMATTED_VALUE", "FORMULA"):
            raise FakeApiError(400, f"Invalid valueRenderOption: {render}")
        if box.start_row >= tab.row_count or box.start_col >= tab.column_count:
            raise FakeApiError(
                400,
                f"Range ({_a1(tab, box)}) exceeds grid limits. Max rows: {tab.row_count}, "
                f"max columns: {tab.column_count}",
            )
        end_row = min(box.end_row or tab.row_count, tab.row_count, tab.used_rows())
        end_col = min(box.end_col or tab.column_count, tab.column_count)
        values: list[list[Any]] = []
        for r in range(box.start_row, end_row):
            raw = tab.rows[r][box.start_col : end_col] if r < len(tab.rows) else []
            out: list[Any] = []
            for c, v in enumerate(raw, start=box.start_col):
                if v is None:
                    out.append("")
                elif render == "FORMATTED_VALUE":
                    out.append(_formatted(v, tab.number_format(r, c)))
                else:
                    out.append(_unformatted(v, render == "FORMULA"))
            while out and out[-1] == "" and (raw[len(out) - 1] is None):
                out.pop()
            values.append(out)
        while values and not values[-1]:
            values.pop()
        full = Box(
            box.start_row,
            min(box.end_row or tab.row_count, tab.row_count),
            box.start_col,
            min(box.end_col or tab.column_count, tab.column_count),
        )
        result: dict[str, Any] = {"range": _a1(tab, full), "majorDimension": major}
        if values:
            if major == "COLUMNS":
                width = max(len(v) for v in values)
                values = [[row[c] if c < len(row) else "" for row in values] for c in range(width)]
                for col in values:
                    while col and col[-1] == "":
                        col.pop()
            result["values"] = values
        return result

    def _write(
        self, book: Spreadsheet, data: list[dict[str, Any]], option: str
    ) -> list[dict[str, Any]]:
        # Validate everything first: a batch is atomic.
        plans = []
        for item in data:
            a1 = item.get("range", "")
            tab, box = self._resolve(book, a1)
            rows = item.get("values") or []
            if item.get("majorDimension", "ROWS") == "COLUMNS" and rows:
                width = max(len(r) for r in rows)
                rows = [[c[i] if i < len(c) else None for c in rows] for i in range(width)]
            height = len(rows)
            width = max((len(r) for r in rows), default=0)
            anchor = box.end_row == box.start_row + 1 and box.end_col == box.start_col + 1
            whole = box == Box(0, None, 0, None)
            if not (anchor or whole):
                limit_r = box.end_row - box.start_row if box.end_row is not None else None
                limit_c = box.end_col - box.start_col if box.end_col is not None else None
                if (limit_r is not None and height > limit_r) or (
                    limit_c is not None and width > limit_c
                ):
                    raise FakeApiError(
                        400,
                        f"Requested writing within range [{a1}], but tried writing "
                        f"{height} rows and {width} columns",
                    )
            if box.start_row + height > tab.row_count or box.start_col + width > tab.column_count:
                end = Box(
                    box.start_row,
                    box.start_row + max(height, 1),
                    box.start_col,
                    box.start_col + max(width, 1),
                )
                raise FakeApiError(
                    400,
                    f"Range ({_a1(tab, end)}) exceeds grid limits. Max rows: {tab.row_count}, "
                    f"max columns: {tab.column_count}",
                )
            parsed = [[_parse_input(v, option) for v in row] for row in rows]
            skip = [[v is None for v in row] for row in rows]
            plans.append((tab, box, parsed, skip, height, width))
        responses = []
        for tab, box, parsed, skip, height, width in plans:
            cells = 0
            for i, row in enumerate(parsed):
                for j, value in enumerate(row):
                    if skip[i][j]:
                        continue
                    tab.set(box.start_row + i, box.start_col + j, value)
                    cells += 1
            self.stats.cells_written += cells
            written = Box(
                box.start_row,
                box.start_row + max(height, 1),
                box.start_col,
                box.start_col + max(width, 1),
            )
            responses.append(
                {
                    "spreadsheetId": book.spreadsheet_id,
                    "updatedRange": _a1(tab, written),
                    "updatedRows": height,
                    "updatedColumns": width,
                    "updatedCells": cells,
                }
            )
        return responses

    def _append(
        self,
        book: Spreadsheet,
        a1: str,
        query: dict[str, list[str]],
        payload: dict[str, Any],
    ) -> dict[str, Any]:
        option = _input_option(query.get("valueInputOption", [""])[0])
        insert = query.get("insertDataOption", ["OVERWRITE"])[0] == "INSERT_ROWS"
        tab, box = self._resolve(book, a1)
        rows = payload.get("values") or []
        parsed = [[_parse_input(v, option) for v in row] for row in rows]
        start = max(tab.used_rows(), box.start_row)
        width = max((len(r) for r in parsed), default=0)
        needed_rows = start + len(parsed)
        grow_rows = len(parsed) if insert else max(0, needed_rows - tab.row_count)
        grow_cols = max(0, box.start_col + width - tab.column_count)
        extra = (tab.row_count + grow_rows) * (tab.column_count + grow_cols) - (
            tab.row_count * tab.column_count
        )
        _check_cells(book.cells() + extra)
        if insert:
            for _ in parsed:
                tab.rows.insert(start, [])
        tab.row_count += grow_rows
        tab.column_count += grow_cols
        cells = 0
        for i, row in enumerate(parsed):
            for j, value in enumerate(row):
                if value is not None:
                    tab.set(start + i, box.start_col + j, value)
                    cells += 1
        self.stats.cells_written += cells
        written = Box(
            start, start + max(len(parsed), 1), box.start_col, box.start_col + max(width, 1)
        )
        return {
            "spreadsheetId": book.spreadsheet_id,
            "tableRange": _a1(tab, Box(0, max(start, 1), 0, max(tab.used_columns(), 1))),
            "updates": {
                "spreadsheetId": book.spreadsheet_id,
                "updatedRange": _a1(tab, written),
                "updatedRows": len(parsed),
                "updatedColumns": width,
                "updatedCells": cells,
            },
        }

    def _clear(self, book: Spreadsheet, a1: str) -> str:
        tab, box = self._resolve(book, a1)
        end_row = min(box.end_row or len(tab.rows), len(tab.rows))
        for r in range(box.start_row, end_row):
            row = tab.rows[r]
            end_col = min(box.end_col or len(row), len(row))
            for c in range(box.start_col, end_col):
                row[c] = None
        return _a1(tab, box)

    # -- structure -------------------------------------------------------

    def _batch_update(self, book: Spreadsheet, payload: dict[str, Any]) -> dict[str, Any]:
        requests = payload.get("requests") or []
        if len(requests) > 100_000:
            raise FakeApiError(400, "Too many requests in one batch (limit 100000).")
        snapshot = book.copy()
        replies: list[dict[str, Any]] = []
        try:
            for i, request in enumerate(requests):
                if len(request) != 1:
                    raise FakeApiError(400, f"Invalid requests[{i}]: exactly one kind expected")
                (name, body), *_ = request.items()
                replies.append(self._structure(book, i, name, body))
            _check_cells(book.cells())
        except FakeApiError:
            book.tabs = snapshot.tabs
            book.protected_ranges = snapshot.protected_ranges
            book.next_protected_id = snapshot.next_protected_id
            raise
        return {"spreadsheetId": book.spreadsheet_id, "replies": replies}

    def _structure(
        self, book: Spreadsheet, i: int, name: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        if name == "addSheet":
            props = body.get("properties", {})
            title = props.get("title") or f"Sheet{len(book.tabs) + 1}"
            if any(t.title == title for t in book.tabs):
                raise FakeApiError(
                    400,
                    f'Invalid requests[{i}].addSheet: A sheet with the name "{title}" '
                    "already exists. Please enter another name.",
                )
            sheet_id = props.get("sheetId")
            if sheet_id is None:
                sheet_id = self._new_sheet_id(book)
            elif any(t.sheet_id == sheet_id for t in book.tabs):
                raise FakeApiError(400, f"Invalid requests[{i}].addSheet: duplicate sheetId")
            grid = props.get("gridProperties", {})
            tab = Tab(
                int(sheet_id),
                title,
                int(grid.get("rowCount", DEFAULT_ROWS)),
                int(grid.get("columnCount", DEFAULT_COLUMNS)),
                int(grid.get("frozenRowCount", 0)),
                int(grid.get("frozenColumnCount", 0)),
                hidden=bool(props.get("hidden", False)),
            )
            index = props.get("index")
            book.tabs.insert(len(book.tabs) if index is None else int(index), tab)
            _check_cells(book.cells())
            return {"addSheet": {"properties": self._sheet_properties(book, tab)}}
        if name == "updateSheetProperties":
            props = body.get("properties", {})
            tab = book.tab_by_id(int(props.get("sheetId", 0)))
            fields = [f.strip().replace("/", ".") for f in body.get("fields", "").split(",")]
            if not fields or fields == [""]:
                raise FakeApiError(400, f"Invalid requests[{i}].updateSheetProperties: no fields")
            grid = props.get("gridProperties", {})
            every = "*" in fields

            def wanted(key: str) -> bool:
                return every or key in fields or key.split(".")[0] in fields

            if wanted("title") and "title" in props:
                tab.title = props["title"]
            if wanted("gridProperties.rowCount") and "rowCount" in grid:
                tab.row_count = int(grid["rowCount"])
                # Google checks the new row count before columns shrink.
                _check_cells(book.cells())
            if wanted("gridProperties.columnCount") and "columnCount" in grid:
                tab.column_count = int(grid["columnCount"])
            if wanted("gridProperties.frozenRowCount"):
                tab.frozen_rows = int(grid.get("frozenRowCount", 0))
            if wanted("gridProperties.frozenColumnCount"):
                tab.frozen_columns = int(grid.get("frozenColumnCount", 0))
            if wanted("hidden"):
                tab.hidden = bool(props.get("hidden", False))
            if wanted("index") and "index" in props:
                book.tabs.remove(tab)
                book.tabs.insert(int(props["index"]), tab)
            if tab.row_count < 1 or tab.column_count < 1:
                raise FakeApiError(400, f"Invalid requests[{i}]: a sheet needs a row and a column")
            tab.clip_cells()
            return {}
        if name == "appendDimension":
            tab = book.tab_by_id(int(body.get("sheetId", 0)))
            if body.get("dimension") == "ROWS":
                tab.row_count += int(body["length"])
            else:
                tab.column_count += int(body["length"])
            _check_cells(book.cells())
            return {}
        if name in ("deleteDimension", "insertDimension"):
            rng = body["range"]
            tab = book.tab_by_id(int(rng.get("sheetId", 0)))
            start, end = int(rng["startIndex"]), int(rng["endIndex"])
            rows = rng.get("dimension") == "ROWS"
            limit = tab.row_count if rows else tab.column_count
            if start < 0 or end <= start or (name == "deleteDimension" and end > limit):
                raise FakeApiError(400, f"Invalid requests[{i}].{name}: range out of bounds")
            if name == "deleteDimension":
                if rows:
                    del tab.rows[start:end]
                    tab.row_count -= end - start
                else:
                    for r in tab.rows:
                        del r[start:end]
                    tab.column_count -= end - start
                if tab.row_count < 1 or tab.column_count < 1:
                    raise FakeApiError(
                        400,
                        f"Invalid requests[{i}].deleteDimension: "
                        "You can't delete all the rows on the sheet.",
                    )
            else:
                if start > limit:
                    raise FakeApiError(400, f"Invalid requests[{i}].{name}: range out of bounds")
                if rows:
                    for _ in range(end - start):
                        if start < len(tab.rows):
                            tab.rows.insert(start, [])
                    tab.row_count += end - start
                else:
                    for r in tab.rows:
                        if start < len(r):
                            r[start:start] = [None] * (end - start)
                    tab.column_count += end - start
                _check_cells(book.cells())
            return {}
        if name == "repeatCell":
            rng = body["range"]
            tab = book.tab_by_id(int(rng.get("sheetId", 0)))
            box = _grid_box(rng)
            fields = body.get("fields", "")
            fmt = body.get("cell", {}).get("userEnteredFormat", {})
            if "numberFormat" in fields or fields == "*" or fields == "userEnteredFormat":
                tab.number_formats.append((box, dict(fmt.get("numberFormat", {}))))
            return {}
        if name == "addProtectedRange":
            protected = json.loads(json.dumps(body["protectedRange"]))
            book.tab_by_id(int(protected.get("range", {}).get("sheetId", 0)))
            protected["protectedRangeId"] = book.next_protected_id
            book.next_protected_id += 1
            book.protected_ranges.append(protected)
            return {"addProtectedRange": {"protectedRange": protected}}
        if name == "deleteProtectedRange":
            pid = body.get("protectedRangeId")
            before = len(book.protected_ranges)
            book.protected_ranges = [
                p for p in book.protected_ranges if p["protectedRangeId"] != pid
            ]
            if len(book.protected_ranges) == before:
                raise FakeApiError(400, f"No protected range with id: {pid}")
            return {}
        if name == "updateCells":
            return self._update_cells(book, i, body)
        raise FakeApiError(400, f"Invalid requests[{i}]: {name} is not supported by the fake")

    def _update_cells(self, book: Spreadsheet, i: int, body: dict[str, Any]) -> dict[str, Any]:
        if "start" in body:
            start = body["start"]
            tab = book.tab_by_id(int(start.get("sheetId", 0)))
            row0, col0 = int(start.get("rowIndex", 0)), int(start.get("columnIndex", 0))
        else:
            tab = book.tab_by_id(int(body["range"].get("sheetId", 0)))
            box = _grid_box(body["range"])
            row0, col0 = box.start_row, box.start_col
        fields = body.get("fields", "")
        cells = 0
        for r, row in enumerate(body.get("rows", [])):
            for c, cell in enumerate(row.get("values", [])):
                if row0 + r >= tab.row_count or col0 + c >= tab.column_count:
                    raise FakeApiError(400, f"Invalid requests[{i}].updateCells: exceeds grid")
                if "userEnteredValue" in fields or fields == "*":
                    entered = cell.get("userEnteredValue", {})
                    value: CellValue = None
                    if "formulaValue" in entered:
                        value = Formula(entered["formulaValue"])
                    else:
                        for key in ("stringValue", "numberValue", "boolValue"):
                            if key in entered:
                                value = _parse_input(entered[key], "RAW")
                    tab.set(row0 + r, col0 + c, value)
                    cells += 1
        self.stats.cells_written += cells
        return {}


def _grid_box(rng: dict[str, Any]) -> Box:
    return Box(
        int(rng.get("startRowIndex", 0)),
        int(rng["endRowIndex"]) if "endRowIndex" in rng else None,
        int(rng.get("startColumnIndex", 0)),
        int(rng["endColumnIndex"]) if "endColumnIndex" in rng else None,
    )


def _check_cells(total: int) -> None:
    if total > MAX_CELLS:
        raise FakeApiError(
            400,
            "This action would increase the number of cells in the workbook above the "
            f"limit of {MAX_CELLS} cells.",
        )


def _input_option(option: str) -> str:
    if not option:
        raise FakeApiError(400, "'valueInputOption' is required but not specified")
    if option not in ("RAW", "USER_ENTERED"):
        raise FakeApiError(400, f"Invalid valueInputOption: {option}")
    return option


def _refuse_constant(token: str) -> Any:
    """NaN and Infinity are not JSON: Python's parser takes them, Google's does not."""
    raise ValueError(f"Unexpected token: {token}")


def _error_body(code: int, message: str, violations: Sequence[Violation] = ()) -> dict[str, Any]:
    error: dict[str, Any] = {
        "code": code,
        "message": message,
        "status": _STATUS_NAMES.get(code, "UNKNOWN"),
    }
    if violations:
        error["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [
                    {"field": v.field, "description": v.description} for v in violations
                ],
            }
        ]
    return {"error": error}


_PATH = re.compile(r"^/v4/spreadsheets/([^/:]+)(.*)$")


def _route(method: str, path: str) -> tuple[str, str, str | None]:
    """(kind, spreadsheet id, A1 range or None) for a request path."""
    m = _PATH.match(path)
    if not m:
        raise FakeApiError(404, f"No such endpoint: {method} {path}")
    sid, rest = unquote(m.group(1)), m.group(2)
    simple = {
        ("GET", ""): "spreadsheets.get",
        ("POST", ":batchUpdate"): "spreadsheets.batchUpdate",
        ("GET", "/values:batchGet"): "values.batchGet",
        ("POST", "/values:batchUpdate"): "values.batchUpdate",
        ("POST", "/values:batchClear"): "values.batchClear",
    }
    if (method, rest) in simple:
        return simple[(method, rest)], sid, None
    if rest.startswith("/values/"):
        target = rest[len("/values/") :]
        for suffix, kind, verb in (
            (":append", "values.append", "POST"),
            (":clear", "values.clear", "POST"),
        ):
            if target.endswith(suffix) and method == verb:
                return kind, sid, unquote(target[: -len(suffix)])
        if method == "GET":
            return "values.get", sid, unquote(target)
        if method == "PUT":
            return "values.update", sid, unquote(target)
    raise FakeApiError(404, f"No such endpoint: {method} {path}")


def _make_handler(server: FakeSheetsServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            status, payload, headers = server.handle(self.command, self.path, body)
            data = json.dumps(payload).encode()
            self.send_response(status, HTTPStatus(status).phrase if status in _PHRASES else None)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: tests read counters, not logs."""

    return Handler


_PHRASES = {s.value for s in HTTPStatus}
