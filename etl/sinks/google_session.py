"""The HTTP session every Google Sheets call goes through.

gspread imports the endpoint `https://sheets.googleapis.com` as a constant, so
the only clean way to point real gspread code at another server (the fake in
`etl.fakes.sheets`, or a proxy) is the session it is handed. This session
rewrites that prefix to `base_url` and applies a default timeout, because
gspread sends none. `SheetsHTTPClient` adds our retry policy and counts calls.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from typing import Any

import requests
from google.auth.credentials import AnonymousCredentials, Credentials
from google.auth.transport.requests import AuthorizedSession
from gspread.exceptions import APIError
from gspread.http_client import HTTPClient
from tenacity import Retrying, retry_if_exception, stop_after_attempt, stop_after_delay

from etl.sinks.sheets_quota import RequestLimiter

GOOGLE_SHEETS_URL = "https://sheets.googleapis.com"
DEFAULT_TIMEOUT_SECONDS = 60.0


class SheetsSession(AuthorizedSession):
    """An authorized `requests.Session` that can send Sheets calls elsewhere."""

    def __init__(
        self,
        credentials: Credentials | None = None,
        *,
        base_url: str = GOOGLE_SHEETS_URL,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        creds = credentials if credentials is not None else AnonymousCredentials()  # type: ignore[no-untyped-call]
        # Anonymous credentials cannot be refreshed: a 401 must surface, not loop.
        refresh_codes: tuple[int, ...] = () if isinstance(creds, AnonymousCredentials) else (401,)
        super().__init__(creds, refresh_status_codes=refresh_codes)  # type: ignore[no-untyped-call]
        self.base_url = base_url.rstrip("/")
        self.default_timeout = timeout

    def rewrite(self, url: str) -> str:
        if url.startswith(GOOGLE_SHEETS_URL) and self.base_url != GOOGLE_SHEETS_URL:
            return self.base_url + url[len(GOOGLE_SHEETS_URL) :]
        return url

    def request(  # type: ignore[override]
        self, method: str, url: str, *args: Any, **kwargs: Any
    ) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        return super().request(method, self.rewrite(url), *args, **kwargs)  # type: ignore[no-untyped-call, no-any-return]


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long to retry one Sheets request (429 quota, 5xx, network)."""

    attempts: int = 7
    initial: float = 1.0
    maximum: float = 64.0
    total: float = 600.0

    def wait_seconds(self, attempt: int, error: BaseException | None) -> float:
        """Retry-After when Google sends one, else exponential backoff with full jitter."""
        retry_after = _retry_after(error)
        if retry_after is not None:
            return min(retry_after, self.maximum)
        return random.uniform(0, min(self.maximum, self.initial * 2 ** (attempt - 1)))


def _retry_after(error: BaseException | None) -> float | None:
    if isinstance(error, APIError):
        value = error.response.headers.get("Retry-After")
        if value:
            try:
                return max(0.0, float(value))
            except ValueError:
                return None
    return None


def is_retriable(error: BaseException) -> bool:
    if isinstance(error, APIError):
        # The HTTP status, not error.code: a proxy's HTML 502 has no JSON code.
        status = error.response.status_code
        return status == 429 or status >= 500
    return isinstance(error, requests.ConnectionError | requests.Timeout)


class SheetsHTTPClient(HTTPClient):
    """gspread's plain HTTPClient with our retry policy and a request counter.

    Not `BackOffHTTPClient`: it has no jitter, ignores Retry-After and never
    gives up. `calls` counts every HTTP request, retries included, by kind.
    """

    def __init__(
        self,
        session: SheetsSession,
        policy: RetryPolicy | None = None,
        limiter: RequestLimiter | None = None,
    ) -> None:
        super().__init__(session.credentials, session)
        self.policy = policy or RetryPolicy()
        self.limiter = limiter
        """Shared by every sink of the process (``sheets_quota``): each attempt waits its turn."""
        self.calls: Counter[str] = Counter()
        self.set_timeout(session.default_timeout)

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    def request(self, method: str, endpoint: str, *args: Any, **kwargs: Any) -> requests.Response:
        kind = "read" if method.lower() == "get" else "write"

        def attempt() -> requests.Response:
            if self.limiter is not None:
                self.limiter.acquire()
            self.calls[kind] += 1
            return super(SheetsHTTPClient, self).request(method, endpoint, *args, **kwargs)

        policy = self.policy
        retrying = Retrying(
            retry=retry_if_exception(is_retriable),
            stop=stop_after_attempt(policy.attempts) | stop_after_delay(policy.total),
            wait=lambda state: policy.wait_seconds(
                state.attempt_number,
                state.outcome.exception() if state.outcome is not None else None,
            ),
            reraise=True,
        )
        return retrying(attempt)
