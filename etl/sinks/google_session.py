"""The HTTP session every Google Sheets call goes through.

gspread imports the endpoint `https://sheets.googleapis.com` as a constant, so
the only clean way to point real gspread code at another server (the fake in
`etl.fakes.sheets`, or a proxy) is the session it is handed. This session
rewrites that prefix to `base_url` and applies a default timeout, because
gspread sends none.
"""

from __future__ import annotations

from typing import Any

import requests
from google.auth.credentials import AnonymousCredentials, Credentials
from google.auth.transport.requests import AuthorizedSession

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
