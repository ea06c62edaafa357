"""One limit on Sheets API requests for the whole process, whatever the spreadsheet.

Google counts the Sheets API's per-minute quota per user: one service account
writing 50 district spreadsheets shares 60 requests a minute among them. The
retries on HTTP 429 (``google_session.RetryPolicy``) recover from a burst, but
a city-wide run that leans on them spends its minutes in back-off; so every
request first waits its turn here, ``sheets_requests_per_minute`` in any 60
seconds, counted over every sink of the process.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

WINDOW_SECONDS = 60.0


class RequestLimiter:
    """At most ``per_minute`` requests in any ``window`` seconds (a sliding window).

    ``clock`` and ``sleep`` are injectable so tests can run an hour of quota in
    no time; every thread calling :meth:`acquire` shares the one window.
    """

    def __init__(
        self,
        per_minute: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        window: float = WINDOW_SECONDS,
    ) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self.per_minute = per_minute
        self.clock = clock
        self.sleep = sleep
        self.window = window
        self.waited = 0.0
        """Seconds spent waiting for the quota, in all."""
        self.granted: list[float] = []
        """When each request was let through (the clock's time): a few thousand a run."""
        self._recent: deque[float] = deque()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Wait until one more request fits in the window; returns the seconds waited."""
        waited = 0.0
        with self._lock:  # held while sleeping: requests go out in turn
            while True:
                now = self.clock()
                while self._recent and self._recent[0] <= now - self.window:
                    self._recent.popleft()
                if len(self._recent) < self.per_minute:
                    break
                pause = self._recent[0] + self.window - now
                self.sleep(pause)
                waited += pause
            self._recent.append(now)
            self.granted.append(now)
            self.waited += waited
        return waited


_PROCESS: RequestLimiter | None = None
_PROCESS_LOCK = threading.Lock()


def process_limiter(per_minute: int) -> RequestLimiter:
    """The limiter every Sheets sink of this process shares (the latest limit applies)."""
    global _PROCESS
    with _PROCESS_LOCK:
        if _PROCESS is None:
            _PROCESS = RequestLimiter(per_minute)
        _PROCESS.per_minute = per_minute
        return _PROCESS
