"""``etl doctor``: is this installation ready to sync? Each check says OK or FAIL and the fix.

The checks read and never write: configuration, the Traffy API (which feed,
how fast), the Google credential (its kind and service-account e-mail, never
the key), the spreadsheet (reachable, shared), its tabs and headers, the
schema version the tabs were set up for, and the last run in ``_runs``.
A check whose input failed is skipped, not failed twice.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import pandas as pd
import requests
from gspread.exceptions import APIError

from etl.errors import EtlError
from etl.models import BANGKOK
from etl.pipeline import make_client
from etl.settings import Settings
from etl.sinks import LocalSink
from etl.tabs import ACTIONS, RUNS, RUNS_TAB, SCHEMA_VERSION, STATE_TAB, TABS, TabSpec
from etl.traffy.extract import FEEDS


class Status(StrEnum):
    ok = "OK"
    warn = "WARN"  # works, but a person should look (the last run failed)
    fail = "FAIL"
    skip = "SKIP"  # not applicable, or an earlier check it needs failed


@dataclass(frozen=True)
class Check:
    """One line of the doctor's report."""

    name: str
    status: Status
    detail: str
    remedy: str = ""

    @property
    def failed(self) -> bool:
        return self.status is Status.fail


def _ok(name: str, detail: str) -> Check:
    return Check(name, Status.ok, detail)


def _fail(name: str, detail: str, remedy: str) -> Check:
    return Check(name, Status.fail, detail, remedy)


def _skip(name: str, detail: str) -> Check:
    return Check(name, Status.skip, detail)


# -- configuration ------------------------------------------------------------


def check_configuration(load: Callable[[], Settings]) -> tuple[Check, Settings | None]:
    try:
        settings = load()
    except EtlError as error:
        return _fail(
            "configuration",
            str(error),
            "correct the setting named (config file, ETL_* variable or flag); "
            "see Settings in README.md",
        ), None
    output = (
        f"BigQuery dataset {settings.bigquery_dataset}"
        if settings.bigquery_dataset
        else f"Google spreadsheet {settings.spreadsheet_id}"
        if settings.spreadsheet_id
        else f"CSV files in {settings.out}/"
    )
    return _ok(
        "configuration", f"district {settings.district}, feed {settings.feed}, output: {output}"
    ), settings


# -- Traffy -------------------------------------------------------------------


def check_traffy(settings: Settings, session: requests.Session | None = None) -> Check:
    """Fetch one small page of the configured feed and time it."""
    feed = FEEDS[settings.feed]
    probe = settings.model_copy(update={"retry_attempts": min(settings.retry_attempts, 2)})
    client = make_client(probe, session)
    today = datetime.now(BANGKOK).date()
    params = feed.page_params(
        today - timedelta(days=7), today + timedelta(days=1), 1, 0, settings.district
    )
    url = f"{settings.traffy_url}{feed.PATH}"
    started = time.perf_counter()
    try:
        client.get_json(feed.PATH, params, check=feed.check_page)
    except EtlError as error:
        return _fail(
            "traffy",
            f"feed {feed.NAME}: {error}",
            "if Traffy itself is down, wait: the next scheduled run tries again, "
            "and a failed run writes nothing",
        )
    seconds = time.perf_counter() - started
    return _ok("traffy", f"feed {feed.NAME} at {url} answered in {seconds:.2f} s (a 1-record page)")


# -- local output -------------------------------------------------------------


def check_output_folder(settings: Settings) -> Check:
    """Without a spreadsheet the tabs go to a folder: can we write there (without creating it)?"""
    folder = Path(settings.out)
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing.is_dir() and os.access(existing, os.W_OK | os.X_OK):
        where = "exists" if existing == folder else f"will be created in {existing}"
        return _ok("output", f"folder {folder}/ {where}; writable")
    return _fail(
        "output",
        f"cannot write to {existing} (for folder {folder}/)",
        "choose another folder with --out or ETL_OUT, or fix its permissions",
    )


# -- Google -------------------------------------------------------------------


@dataclass(frozen=True)
class Spreadsheet:
    """What the spreadsheet checks share: the sink (HTTP client, names) and what was read."""

    sink: Any  # SheetsSink; typed loosely so the local path never imports gspread code
    titles: list[str]
    title: str


def check_credentials(settings: Settings) -> tuple[Check, Any]:
    """Which credential a sync would use; the e-mail to share with. Never the key."""
    from etl.sinks.google_auth import load_credential

    try:
        credential = load_credential(settings.google_service_account_json, settings.sheets_api_url)
    except EtlError as error:
        return _fail(
            "credentials",
            str(error),
            "see docs/deploy.md: Workload Identity Federation, or the "
            "ETL_GOOGLE_SERVICE_ACCOUNT_JSON secret",
        ), None
    email = f", service account {credential.email}" if credential.email else ""
    return _ok("credentials", f"{credential.source}{email}"), credential


def check_spreadsheet(
    settings: Settings, sid: str, credential: Any
) -> tuple[Check, Spreadsheet | None]:
    """Open the spreadsheet's metadata: it exists and the credential may read it."""
    from etl.sinks.sheets import SheetsSink

    sink = SheetsSink.from_settings(settings)
    who = credential.email or "the service account's e-mail"
    share = f"open the spreadsheet, Share, add {who} as Editor"
    try:
        meta = sink.http.fetch_sheet_metadata(sid)
    except APIError as error:
        status = f"{error.code} {error.error.get('status', '')}".strip()
        if error.code == 404:
            return _fail(
                "spreadsheet",
                f"spreadsheet {sid} not found ({status})",
                f"check spreadsheet_id (the part of the URL between /d/ and /edit); {share}",
            ), None
        if error.code in (401, 403):
            return _fail(
                "spreadsheet",
                f"spreadsheet {sid} is not shared with {who} ({status})",
                share,
            ), None
        return _fail(
            "spreadsheet",
            f"spreadsheet {sid}: Google Sheets answered {status}",
            "try again later; if it persists, check Google's status page",
        ), None
    except requests.RequestException as error:
        return _fail(
            "spreadsheet",
            f"cannot reach the Sheets API at {settings.sheets_api_url} ({type(error).__name__})",
            "check the network and sheets_api_url",
        ), None
    titles = [s["properties"]["title"] for s in meta.get("sheets", [])]
    title = str(meta.get("properties", {}).get("title", ""))
    return _ok(
        "spreadsheet", f"{title!r} ({sid}) reachable as {who}, {len(titles)} tabs"
    ), Spreadsheet(sink, titles, title)


def owned_tabs(sink: Any) -> list[tuple[str, TabSpec]]:
    """(title, spec) of every tab the pipeline owns in the spreadsheet, in init's order."""
    ids = [*TABS, ACTIONS.name, STATE_TAB, RUNS_TAB]
    return [(sink.names[tab], sink.spec(tab)) for tab in ids]


def _quote(title: str) -> str:
    return "'" + title.replace("'", "''") + "'"


def read_headers_and_runs(book: Spreadsheet) -> dict[str, list[list[Any]]]:
    """Row 1 of every owned tab present, ``_state`` and all of ``_runs``: ONE request."""
    titles = [title for title, _spec in owned_tabs(book.sink) if title in book.titles]
    whole = {book.sink.names[STATE_TAB], book.sink.names[RUNS_TAB], book.sink.names["meta"]}
    ranges = [_quote(t) if t in whole else f"{_quote(t)}!1:1" for t in titles]
    if not ranges:
        return {}
    reply = book.sink.http.values_batch_get(
        book.sink.spreadsheet_id,
        ranges,
        {
            "valueRenderOption": "UNFORMATTED_VALUE",
            "dateTimeRenderOption": "SERIAL_NUMBER",
            "majorDimension": "ROWS",
        },
    )
    values = reply.get("valueRanges", [])
    return {t: list(v.get("values", [])) for t, v in zip(titles, values, strict=False)}


def check_tabs(book: Spreadsheet, contents: dict[str, list[list[Any]]]) -> Check:
    """Every owned tab exists and row 1 holds its columns (``actions`` may have more)."""
    problems: list[str] = []
    missing = [t for t, _spec in owned_tabs(book.sink) if t not in book.titles]
    if missing:
        problems.append(f"missing tab(s) {', '.join(missing)}")
    renamed: list[str] = []
    for title, spec in owned_tabs(book.sink):
        if title in missing:
            continue
        rows = contents.get(title, [])
        header = [str(v) for v in rows[0]] if rows else []
        expected = spec.column_names
        if spec is ACTIONS:
            absent = [c for c in expected if c not in header]
            if absent:
                problems.append(f"{title} lacks column(s) {', '.join(absent)}")
                renamed.append(title)
            continue
        for i, name in enumerate(expected):
            found = header[i] if i < len(header) else ""
            if found != name:
                column = _column_letter(i)
                problems.append(f"{title}!{column}1 is {found!r}, expected {name!r}")
                renamed.append(title)
                break
    if not problems:
        return _ok("tabs", f"all {len(owned_tabs(book.sink))} tabs present with their headers")
    remedy = []
    if missing:
        remedy.append("run `etl init` to create the missing tabs")
    if renamed:
        remedy.append(
            "put the expected names back in row 1 (Looker Studio and the sync find "
            "columns by them), then run `etl init`"
        )
    return _fail("tabs", "; ".join(problems), "; ".join(remedy))


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def check_schema(book: Spreadsheet, contents: dict[str, list[list[Any]]]) -> Check:
    """The tabs' layout (``etl init``'s signature) and contract version (``meta``) are current.

    A difference is a warning, not a failure: the next sync writes the new
    headers and ``meta`` itself, and a failing doctor would stop that sync.
    """
    from etl.sinks.sheets import init_signature, state_values

    state_title = book.sink.names[STATE_TAB]
    expected = init_signature(owned_tabs(book.sink))
    if state_title not in book.titles:
        return _fail("schema", "no _state tab: the spreadsheet was never set up", "run `etl init`")
    meta = contents.get(book.sink.names["meta"], [])
    version = _meta_version([str(v) for v in meta[0]] if meta else [], meta[1:2])
    found = state_values(contents.get(state_title, [])).get("init_signature", "")
    problems, remedies = [], []
    if found != expected:
        problems.append(
            f"tabs set up for layout {found or '(none)'}, this version writes {expected}"
        )
        remedies.append("run `etl init` (it adds what is missing and never deletes a tab)")
    if version is not None and version != SCHEMA_VERSION:
        problems.append(f"meta says schema version {version}, this version writes {SCHEMA_VERSION}")
        remedies.append("see CHANGELOG.md; the next sync rewrites the tabs")
    if problems:
        remedies.append("then refresh the fields of the Looker Studio data sources")
        return Check("schema", Status.warn, "; ".join(problems), "; ".join(remedies))
    written = f"schema version {version}" if version is not None else "no sync has written meta yet"
    return _ok("schema", f"layout {expected} as this version writes; {written}")


def check_local_schema(meta: pd.DataFrame | None) -> Check:
    """CSV output: the contract version in ``meta.csv`` is this version's."""
    if meta is None or meta.empty:
        return _ok("schema", "no sync has written meta yet")
    version = int(meta["schema_version"].iloc[0])
    if version != SCHEMA_VERSION:
        return Check(
            "schema",
            Status.warn,
            f"meta says schema version {version}, this version writes {SCHEMA_VERSION}",
            "see CHANGELOG.md; the next sync rewrites the tabs",
        )
    return _ok("schema", f"schema version {version}, as this version writes")


def _meta_version(header: list[str], rows: list[list[Any]]) -> int | None:
    if "schema_version" not in header or not rows:
        return None
    i = header.index("schema_version")
    value = rows[0][i] if i < len(rows[0]) else None
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def check_last_run(runs: pd.DataFrame | None) -> Check:
    """The last successful run (and whether a failure came after it); informative only."""
    if runs is None or runs.empty:
        return _ok("last run", "no run recorded yet")
    runs = runs.sort_values("finished_at")
    good = runs[runs["outcome"] == "ok"]
    latest = runs.iloc[-1]
    success = (
        f"last success {good.iloc[-1]['finished_at']:%Y-%m-%d %H:%M} (Bangkok)"
        if not good.empty
        else "no successful run yet"
    )
    if latest["outcome"] == "ok":
        return _ok("last run", f"{success}, {len(runs)} run(s) logged")
    message = str(latest.get("message") or "")[:200]
    return Check(
        "last run",
        Status.warn,
        f"latest run {latest['finished_at']:%Y-%m-%d %H:%M} failed ({latest['outcome']}: "
        f"{message}); {success}",
        "fix the cause named, then run `etl sync`",
    )


def runs_from_sheet(book: Spreadsheet, contents: dict[str, list[list[Any]]]) -> pd.DataFrame:
    from etl.sinks.sheets_cells import decode_rows

    rows = contents.get(book.sink.names[RUNS_TAB], [])
    return decode_rows(RUNS, rows[0] if rows else [], rows[1:])


# -- all of them --------------------------------------------------------------


SHEET_CHECKS = ("spreadsheet", "tabs", "schema", "last run")


def run_checks(
    load: Callable[[], Settings], *, traffy_session: requests.Session | None = None
) -> list[Check]:
    """Every check in order; those whose input failed are skipped, not failed again.
    Then, for a city-wide deployment, every spreadsheet of ``[spreadsheets]``."""
    checks, settings = _output_checks(load, traffy_session)
    if settings is not None and settings.spreadsheets:
        checks += check_district_spreadsheets(settings)
    return checks


def check_district_spreadsheets(settings: Settings) -> list[Check]:
    """Each district's spreadsheet of ``[spreadsheets]``: reachable and shared, one line each
    (a city-wide run publishes the others when one fails: the doctor names it first)."""
    credentials, credential = check_credentials(settings)
    if credential is None:
        return [replace(credentials, name="spreadsheets")]
    checks = []
    for district, sid in settings.spreadsheets.items():
        one = settings.model_copy(update={"spreadsheet_id": sid, "district": district})
        check, _ = check_spreadsheet(one, sid, credential)
        checks.append(replace(check, name=f"spreadsheet {district}"))
    return checks


def _output_checks(
    load: Callable[[], Settings], traffy_session: requests.Session | None
) -> tuple[list[Check], Settings | None]:
    configuration, settings = check_configuration(load)
    checks = [configuration]
    if settings is None:
        return checks + _skipped(("traffy", "credentials", *SHEET_CHECKS), "configuration"), None
    checks.append(check_traffy(settings, traffy_session))
    if settings.bigquery_dataset:
        return checks + check_bigquery(settings), settings
    if not settings.spreadsheet_id:
        checks.append(check_output_folder(settings))
        checks.append(_skip("credentials", "not needed: no spreadsheet_id, output is CSV files"))
        local = LocalSink(settings.out, names=settings.tabs).read_tabs([RUNS.name, "meta"])
        checks.append(check_local_schema(local.get("meta")))
        checks.append(check_last_run(local.get(RUNS.name)))
        return checks, settings
    credentials, credential = check_credentials(settings)
    checks.append(credentials)
    if credential is None:
        return checks + _skipped(SHEET_CHECKS, "credentials"), settings
    spreadsheet, book = check_spreadsheet(settings, settings.spreadsheet_id, credential)
    checks.append(spreadsheet)
    if book is None:
        return checks + _skipped(SHEET_CHECKS[1:], "the spreadsheet"), settings
    try:
        contents = read_headers_and_runs(book)
    except (APIError, requests.RequestException) as error:
        unread = _fail("tabs", f"could not read the tabs ({type(error).__name__})", "run again")
        return [*checks, unread, *_skipped(SHEET_CHECKS[2:], "the tabs")], settings
    checks.append(check_tabs(book, contents))
    checks.append(check_schema(book, contents))
    checks.append(check_last_run(runs_from_sheet(book, contents)))
    return checks, settings


def check_bigquery(settings: Settings) -> list[Check]:
    """The BigQuery sink's checks: credential, the dataset exists and may be written
    (a scratch table, dropped again), the district's last run in ``_runs``."""
    from google.api_core.exceptions import GoogleAPICallError

    from etl.sinks.bigquery import BigQuerySink

    try:
        sink = BigQuerySink.from_settings(settings)
    except EtlError as error:
        fix = "see docs/bigquery.md: bigquery_dataset is PROJECT.DATASET; the credential chain"
        return [_fail("credentials", str(error), fix), *_skipped(("dataset", "last run"), "it")]
    try:
        dataset = _ok("dataset", sink.check_writable())
    except (GoogleAPICallError, EtlError) as error:
        remedy = (
            "create it with `etl init`, and grant the service account BigQuery Data Editor "
            "on the dataset and BigQuery Job User on the project (docs/bigquery.md)"
        )
        message = getattr(error, "message", str(error))
        failed = _fail("dataset", f"{settings.bigquery_dataset}: {message}", remedy)
        return [_ok("credentials", "found"), failed, *_skipped(("last run",), "the dataset")]
    runs = sink.read_tabs([RUNS.name]).get(RUNS.name)
    return [_ok("credentials", "found"), dataset, check_last_run(runs)]


def _skipped(names: Sequence[str], needed: str) -> list[Check]:
    return [_skip(name, f"needs {needed}") for name in names]


def report_lines(checks: Sequence[Check]) -> list[str]:
    """One line per check: status, name, what was found and, when it failed, the fix."""
    lines = []
    for check in checks:
        line = f"{check.status.value:<5} {check.name:<14}{check.detail}"
        if check.remedy and check.status in (Status.fail, Status.warn):
            line += f" -> fix: {check.remedy}"
        lines.append(line)
    return lines


def as_dicts(checks: Sequence[Check]) -> list[dict[str, str]]:
    return [asdict(c) | {"status": c.status.value} for c in checks]


__all__ = [
    "Check",
    "Status",
    "as_dicts",
    "check_configuration",
    "check_credentials",
    "check_last_run",
    "check_output_folder",
    "check_schema",
    "check_spreadsheet",
    "check_tabs",
    "check_traffy",
    "report_lines",
    "run_checks",
]
