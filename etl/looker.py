"""The Looker Studio contract: the ``meta`` and ``dictionary`` tabs and the Linking API URL.

The report is built on the tabs' column names (``schemas/``); ``meta`` tells it
the contract's version and how fresh the data is, ``dictionary`` explains
every column in English and Thai. A template report is copied onto an
office's own spreadsheet with a Linking API URL (see docs/looker-studio.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from importlib import metadata
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import pandas as pd

from etl import schemas
from etl.errors import SheetsAuthError, SheetsError
from etl.frames import bangkok_wall_time
from etl.tabs import SCHEMA_VERSION, TABS

if TYPE_CHECKING:
    from etl.settings import Settings

LINKING_API = "https://lookerstudio.google.com/reporting/create"

REPORT_TABS = (
    "kpi_monthly",
    "kpi_monthly_by_org",
    "kpi_monthly_by_type",
    "kpi_monthly_by_subdistrict",
    "kpi_snapshots",
    "open_tickets",
    "complaints",
    "meta",
)
"""The tabs the template report reads; each is a data source whose alias is the tab id."""


def meta_tab(
    *,
    last_sync: datetime,
    district: str,
    tickets: int,
    rejected: int,
    since: date | None = None,
    until: date | None = None,
) -> pd.DataFrame:
    """Tab ``meta``: one row with the contract version and the last successful sync."""
    row = {
        "schema_version": SCHEMA_VERSION,
        "last_sync": bangkok_wall_time(pd.Series([last_sync], dtype=object))[0],
        "district": district,
        "since": pd.Timestamp(since) if since else pd.NaT,
        "until": pd.Timestamp(until) if until else pd.NaT,
        "tickets": tickets,
        "rejected": rejected,
        "etl_version": _version(),
    }
    frame = pd.DataFrame([row], columns=TABS["meta"].column_names)
    for name in ("since", "until"):
        frame[name] = pd.to_datetime(frame[name]).astype("datetime64[ns]")
    for name in ("schema_version", "tickets", "rejected"):
        frame[name] = frame[name].astype("int64")
    return frame


def dictionary_tab() -> pd.DataFrame:
    """Tab ``dictionary``: every column of every report tab, from the schemas in ``schemas/``."""
    rows = []
    for tab, spec in TABS.items():
        if not spec.for_looker:
            continue  # the pipeline's bookkeeping, not for reports
        schema = schemas.tab_schema(tab)
        for position, column in enumerate(spec.columns, start=1):
            field = schema["properties"][column.name]
            rows.append(
                {
                    "tab": tab,
                    "position": position,
                    "column": column.name,
                    "kind": column.kind,
                    "is_key": column.name in spec.key,
                    "label_th": field["title_th"],
                    "description": field["description"],
                    "schema_version": SCHEMA_VERSION,
                    "description_th": field.get("description_th"),
                }
            )
    frame = pd.DataFrame(rows, columns=TABS["dictionary"].column_names)
    for name in ("position", "schema_version"):
        frame[name] = frame[name].astype("int64")
    thai = frame["description_th"].astype(object)
    frame["description_th"] = thai.where(thai.notna(), None)  # missing text is None, as sinks read
    return frame


def linking_url(
    report_id: str,
    spreadsheet_id: str,
    worksheet_ids: Mapping[str, int],
    *,
    report_name: str | None = None,
    mode: str | None = None,
) -> str:
    """A Linking API URL that copies the template report onto the office's spreadsheet.

    One data source per tab, its alias the tab id. Every parameter of the
    Sheets connector is given, because setting ``connector`` replaces the
    template's whole data-source configuration; ``refreshFields=false`` keeps
    the template's field types (Percent, Date, Image, Geo).
    """
    if not report_id.strip():
        raise ValueError("the template report id is empty")
    params: list[tuple[str, str]] = [("c.reportId", report_id.strip())]
    if mode:
        params.append(("c.mode", mode))
    if report_name:
        params.append(("r.reportName", report_name))
    for alias, gid in worksheet_ids.items():
        params += [
            (f"ds.{alias}.connector", "googleSheets"),
            (f"ds.{alias}.spreadsheetId", spreadsheet_id),
            (f"ds.{alias}.worksheetId", str(gid)),
            (f"ds.{alias}.hasHeader", "true"),
            (f"ds.{alias}.refreshFields", "false"),
            (f"ds.{alias}.keepDatasourceName", "true"),
        ]
    return f"{LINKING_API}?{urlencode(params)}"


def parse_gids(pairs: Iterable[str]) -> dict[str, int]:
    """``["kpi_monthly=0", "meta=123"]`` -> ``{"kpi_monthly": 0, "meta": 123}``."""
    gids: dict[str, int] = {}
    for pair in pairs:
        tab, sep, gid = pair.partition("=")
        if not sep or tab.strip() not in TABS or not gid.strip().isdigit():
            raise ValueError(
                f"--gid {pair!r}: give TAB=GID with a tab id ({', '.join(REPORT_TABS)}) "
                "and the number after #gid= in the tab's URL"
            )
        gids[tab.strip()] = int(gid)
    return gids


def report_worksheet_ids(settings: Settings, given: Mapping[str, int]) -> dict[str, int]:
    """The gid of every tab the template reads: ``given`` (``--gid``) wins, the rest are
    read from the configured spreadsheet.

    Reading needs the spreadsheet id and a credential, as ``etl sync`` does; when
    every report tab is given no request is made, so ``--gid`` alone works
    without a credential.
    """
    wanted = [tab for tab in REPORT_TABS if tab not in given]
    found: dict[str, int] = {}
    if wanted:
        from etl.sinks.sheets import SheetsSink  # gspread only when a lookup is needed

        try:
            sink = SheetsSink.from_settings(settings)
        except SheetsAuthError as error:
            raise SheetsAuthError(
                f"{error} Or give --gid TAB=GID for {', '.join(wanted)}."
            ) from None
        found = sink.sheet_ids(wanted)
    missing = [tab for tab in wanted if tab not in found]
    if missing:
        names = ", ".join(
            tab if settings.tab_name(tab) == tab else f"{tab} (named {settings.tab_name(tab)!r})"
            for tab in missing
        )
        raise SheetsError(
            f"Spreadsheet {settings.spreadsheet_id} lacks the report tab(s) {names}: "
            "run `etl init` or `etl sync` first, or give --gid TAB=GID."
        )
    ids = {tab: given[tab] if tab in given else found[tab] for tab in REPORT_TABS}
    return ids | {tab: gid for tab, gid in given.items() if tab not in ids}


def _version() -> str:
    try:
        return metadata.version("traffy-etl")
    except metadata.PackageNotFoundError:
        return "unknown"
