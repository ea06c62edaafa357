"""HTTP to the Traffy API: timeouts, retries, and errors sorted by what to do.

Retriable (retried with exponential backoff and jitter, ``Retry-After``
honoured): connection errors, timeouts, 429, 5xx, and bodies that are not the
JSON we asked for (the API answers some failures with HTTP 200). Anything
else is fatal. When retries run out, the error names the URL and the fix.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import orjson
import requests
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

from etl.errors import TraffyFatal, TraffyUnreachable

log = logging.getLogger(__name__)

T = TypeVar("T")

USER_AGENT = "traffy-etl (+https://github.com/; district office report)"


class RetriableResponse(Exception):
    """A response worth asking again for: 429, 5xx, or a body that is not our JSON."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


@dataclass
class RetryPolicy:
    """How hard to try one request before giving up."""

    attempts: int = 5
    backoff_initial: float = 1.0
    backoff_max: float = 30.0
    budget: float = 300.0
    """Seconds one request may spend in all, retries and waits included."""


class TraffyClient:
    """GETs JSON from the Traffy API; counts requests for the run summary.

    The ``requests.Session`` is handed in so callers (and tests) choose the
    transport; nothing here is patched in tests.
    """

    def __init__(
        self,
        base_url: str,
        *,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = (10.0, 60.0),
        retry: RetryPolicy | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session or requests.Session()
        self.session.headers.setdefault("User-Agent", USER_AGENT)
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.requests = 0
        self._count_lock = threading.Lock()  # pages of several windows run in threads

    def get_json(
        self,
        path: str,
        params: Mapping[str, Any],
        check: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """GET ``path`` and return the decoded JSON object, retrying what can be retried.

        ``check`` inspects a decoded body and raises ``RetriableResponse`` or a
        fatal error when the feed says something went wrong inside a 200.
        """
        url = f"{self.base_url}{path}"
        return self._retrying(url, lambda: self._get_once(url, params, check))

    def get_stream(
        self,
        path: str,
        params: Mapping[str, Any],
        consume: Callable[[requests.Response], T],
    ) -> T:
        """GET ``path`` as a stream and return ``consume(response)``, retrying the whole read.

        For large files: the body is never held in memory by the client.
        ``consume`` may raise ``RetriableResponse`` or a fatal error itself.
        """
        url = f"{self.base_url}{path}"

        def attempt() -> T:
            with self._count_lock:
                self.requests += 1
            with self.session.get(
                url, params=dict(params), timeout=self.timeout, stream=True
            ) as response:
                self._check_status(url, response)
                try:
                    return consume(response)
                except requests.exceptions.ChunkedEncodingError:
                    raise RetriableResponse("the download broke off") from None

        return self._retrying(url, attempt)

    def _retrying(self, url: str, attempt: Callable[[], T]) -> T:
        """Run ``attempt`` under the retry policy; map what is left to our errors."""
        retrying = Retrying(
            retry=retry_if_exception_type(
                (requests.ConnectionError, requests.Timeout, RetriableResponse)
            ),
            stop=stop_after_attempt(self.retry.attempts) | stop_after_delay(self.retry.budget),
            wait=self._wait,
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            return retrying(attempt)
        except (requests.ConnectionError, requests.Timeout) as error:
            raise TraffyUnreachable(
                f"Could not reach the Traffy API at {_public(url)} "
                f"({type(error).__name__}, gave up after {_attempts(retrying)} attempts). "
                "Check the network connection, or point --traffy-url at a reachable host."
            ) from None
        except requests.RequestException as error:
            raise TraffyFatal(
                f"Cannot request {_public(url)}: {type(error).__name__}. Check --traffy-url."
            ) from None
        except RetriableResponse as error:
            raise TraffyUnreachable(
                f"The Traffy API at {_public(url)} kept failing ({error.reason}, "
                f"{_attempts(retrying)} attempts). It may be overloaded: try again later."
            ) from None

    @staticmethod
    def _check_status(url: str, response: requests.Response) -> None:
        status = response.status_code
        if status == 429 or status >= 500:
            raise RetriableResponse(f"HTTP {status}", _retry_after(response))
        if status >= 400:
            raise TraffyFatal(
                f"The Traffy API refused {_public(url)} with HTTP {status}. "
                "The API may have changed: check --traffy-url and the feed setting."
            )

    def _get_once(
        self,
        url: str,
        params: Mapping[str, Any],
        check: Callable[[dict[str, Any]], None] | None,
    ) -> dict[str, Any]:
        with self._count_lock:
            self.requests += 1
        response = self.session.get(url, params=dict(params), timeout=self.timeout)
        self._check_status(url, response)
        status = response.status_code
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            kind = response.headers.get("Content-Type", "unknown content type")
            raise RetriableResponse(
                f"HTTP {status} with a body that is not JSON ({kind})"
            ) from None
        if not isinstance(body, dict):
            raise RetriableResponse(f"HTTP {status} with JSON that is not an object")
        if check is not None:
            check(body)
        return body

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, RetriableResponse) and error.retry_after is not None:
            return min(error.retry_after, self.retry.backoff_max)
        backoff = wait_random_exponential(
            multiplier=self.retry.backoff_initial, max=self.retry.backoff_max
        )
        return float(backoff(state))

    @staticmethod
    def _log_retry(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.info(
            "Traffy request failed (%s), attempt %d; retrying in %.1f s",
            error.__class__.__name__ if not isinstance(error, RetriableResponse) else error.reason,
            state.attempt_number,
            wait,
        )


def _attempts(retrying: Retrying) -> int:
    return int(retrying.statistics.get("attempt_number", 1))


def _retry_after(response: requests.Response) -> float | None:
    """Seconds from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def _public(url: str) -> str:
    """The URL without query string: registration fields and the like stay out of logs."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"
