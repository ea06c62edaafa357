"""A fake Traffy feed-1 server: recorded-shape pages, with faults on demand.

It honours ``limit`` (capped at 1000), ``offset``, ``sort`` (``asc``, else
newest first), ``start`` and ``end`` (creation dates, inclusive, used as a
pair) and ignores ``district`` as the real feed does. Faults are scripted
per request with :meth:`FakeTraffy.script`; every request is logged.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

FEED1_PATH = "/teamchadchart-stat-api/geojson/v1"
MAX_LIMIT = 1000


@dataclass
class Fault:
    """What to do instead of (or to) the next matching request.

    ``status``: answer with this HTTP status and ``body``; ``hang``: sleep
    this long first (past the client's timeout); ``reset``: close the
    connection without answering; ``body``: raw bytes to send with 200;
    ``repeat_previous``: from this page on, the window's list is shifted by
    one, as when a ticket is inserted before the cursor: this page starts with
    the previous page's last record (drift).
    """

    status: int | None = None
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    hang: float = 0.0
    reset: bool = False
    repeat_previous: bool = False


class FakeTraffy:
    """Serves ``features`` (feed-1 GeoJSON features) as the real API would page them."""

    def __init__(self, features: Iterable[dict[str, Any]], latency: float = 0.0) -> None:
        self.features = sorted(features, key=lambda f: str(f["properties"].get("timestamp")))
        self.latency = latency
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

    def on_request(self, hook: Callable[[int], None]) -> None:
        """Call ``hook(request_number)`` before answering, e.g. to add tickets (drift)."""
        self._on_request = hook

    def page(self, query: dict[str, list[str]]) -> dict[str, Any]:
        """The envelope the real feed returns for this query."""
        limit = min(int(query.get("limit", ["300"])[0]), MAX_LIMIT)
        window = (query.get("start", [""])[0], query.get("end", [""])[0])
        offset = max(0, int(query.get("offset", ["0"])[0]) - self._shifts.get(window, 0))
        selected = self.features
        if "start" in query and "end" in query:
            first = date.fromisoformat(query["start"][0])
            last = date.fromisoformat(query["end"][0])
            selected = [f for f in selected if _in_window(f, first, last)]
        if query.get("sort", [""])[0].lower() != "asc":
            selected = selected[::-1]
        chunk = selected[offset : offset + limit]
        return {
            "type": "FeatureCollection",
            "status": "success",
            "message": "",
            "exec_time": "0.010s",
            "source": "geojson cache (fake) (expire 1800s)",
            "total": len(selected),
            "sum_state": [],
            "count_total": len(selected),
            "count": len(chunk),
            "features": chunk,
        }

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
                    fault = fake._faults.pop(0) if fake._faults else None
                if fake._on_request:
                    fake._on_request(number)
                if fake.latency:
                    time.sleep(fake.latency)
                if parts.path != FEED1_PATH:
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
                self._send(200, orjson.dumps(fake.page(query)))

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


def _in_window(feature: dict[str, Any], first: date, last: date) -> bool:
    """Creation date within the window; a record with a broken timestamp is served
    with every window, so the client sees it (and must reject it)."""
    try:
        created = date.fromisoformat(str(feature["properties"]["timestamp"])[:10])
    except ValueError:
        return True
    return first <= created <= last
