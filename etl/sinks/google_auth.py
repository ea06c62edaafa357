"""Which Google credential the Sheets sink uses, and how it says what is wrong.

Order: the service-account JSON in ``ETL_GOOGLE_SERVICE_ACCOUNT_JSON`` (a
secret held in memory, never written to disk or logged), the key file named
by ``GOOGLE_APPLICATION_CREDENTIALS`` (service account or Workload Identity
Federation), anonymous access when the API URL is a loopback address (the
local fake), then ``google.auth.default()``. Scope: spreadsheets only.
"""

from __future__ import annotations

import ipaddress
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import google.auth
from google.auth.credentials import AnonymousCredentials, Credentials
from google.auth.exceptions import DefaultCredentialsError
from google.oauth2 import service_account
from pydantic import SecretStr

from etl.errors import SheetsAuthError

SCOPES = ("https://www.googleapis.com/auth/spreadsheets",)


@dataclass(frozen=True)
class GoogleCredential:
    """A credential, where it came from, and who to share the spreadsheet with."""

    credentials: Credentials
    source: str
    email: str | None


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_credential(
    service_account_json: SecretStr | None,
    api_url: str,
    environ: dict[str, str] | None = None,
    *,
    scopes: tuple[str, ...] = SCOPES,
) -> GoogleCredential:
    """The first credential configured, in the documented order (``scopes``: the
    spreadsheets scope unless the BigQuery sink asks for its own)."""
    env = os.environ if environ is None else environ
    if service_account_json is not None:
        return _from_info(service_account_json.get_secret_value(), scopes)
    key_file = env.get("GOOGLE_APPLICATION_CREDENTIALS")
    if key_file:
        return _from_file(Path(key_file), scopes)
    if is_loopback(api_url):
        anonymous = AnonymousCredentials()  # type: ignore[no-untyped-call]
        return GoogleCredential(anonymous, "anonymous (loopback API URL)", None)
    try:
        credentials, _project = google.auth.default(scopes=list(scopes))
    except DefaultCredentialsError:
        raise SheetsAuthError(
            "No Google credential found: set ETL_GOOGLE_SERVICE_ACCOUNT_JSON to the service "
            "account's JSON key, or GOOGLE_APPLICATION_CREDENTIALS to a key file."
        ) from None
    return GoogleCredential(credentials, "application default credentials", _email(credentials))


def _from_info(text: str, scopes: tuple[str, ...]) -> GoogleCredential:
    try:
        info = json.loads(text)
        credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
            info, scopes=list(scopes)
        )
    except (ValueError, KeyError, TypeError):
        # Never echo the secret or the parser's message (it may quote the key).
        raise SheetsAuthError(
            "ETL_GOOGLE_SERVICE_ACCOUNT_JSON is not a valid service-account JSON key "
            "(expected the JSON file Google gives for a service-account key)."
        ) from None
    return GoogleCredential(
        credentials, "ETL_GOOGLE_SERVICE_ACCOUNT_JSON", credentials.service_account_email
    )


def _from_file(path: Path, scopes: tuple[str, ...]) -> GoogleCredential:
    if not path.is_file():
        raise SheetsAuthError(f"GOOGLE_APPLICATION_CREDENTIALS names {path}, which does not exist.")
    try:
        kind = json.loads(path.read_text(encoding="utf-8")).get("type")
        credentials: Any
        if kind == "service_account":
            credentials = service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
                str(path), scopes=list(scopes)
            )
        else:
            credentials, _project = google.auth.load_credentials_from_file(  # type: ignore[no-untyped-call]
                str(path), scopes=list(scopes)
            )
    except (ValueError, KeyError, TypeError, DefaultCredentialsError):
        raise SheetsAuthError(
            f"GOOGLE_APPLICATION_CREDENTIALS file {path} is not a Google credential file."
        ) from None
    return GoogleCredential(credentials, f"key file {path}", _email(credentials))


def _email(credentials: Credentials) -> str | None:
    email = getattr(credentials, "service_account_email", None)
    return email if isinstance(email, str) and "@" in email else None
