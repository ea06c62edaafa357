"""The Looker Studio contract: meta, the dictionary, published columns and the Linking API URL."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from typer.testing import CliRunner

from etl import schemas
from etl.cli import app
from etl.errors import ExitCode
from etl.fakes.sheets import FakeSheetsServer
from etl.looker import REPORT_TABS, dictionary_tab, linking_url, meta_tab, parse_gids
from etl.models import BANGKOK
from etl.tabs import SCHEMA_VERSION, TABS

ROOT = Path(__file__).resolve().parent.parent
PUBLISHED = json.loads((ROOT / "schemas" / "published.json").read_text("utf-8"))


def test_published_columns_are_only_ever_appended() -> None:
    assert PUBLISHED["schema_version"] == SCHEMA_VERSION, (
        "SCHEMA_VERSION changed: record the new columns in schemas/published.json"
    )
    for tab, published in PUBLISHED["tabs"].items():
        assert tab in TABS, f"published tab {tab} was removed: bump SCHEMA_VERSION"
        current = TABS[tab].column_names
        assert current[: len(published)] == published, (
            f"{tab}: a published column was renamed, removed or moved; bump SCHEMA_VERSION, "
            "note it in CHANGELOG.md and update schemas/published.json"
        )


def test_every_tab_and_column_is_recorded_as_published() -> None:
    looker_tabs = {tab: spec.column_names for tab, spec in TABS.items() if spec.for_looker}
    assert looker_tabs == PUBLISHED["tabs"], (
        "record appended columns and new tabs in schemas/published.json"
    )


def test_changelog_notes_the_schema_version() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text("utf-8")
    assert f"Schema version {SCHEMA_VERSION}" in changelog


def test_meta_row_carries_version_and_freshness() -> None:
    meta = meta_tab(
        last_sync=datetime(2023, 9, 15, 11, 0, tzinfo=BANGKOK),
        district="สวนหลวง",
        tickets=3044,
        rejected=2,
        since=date(2023, 4, 1),
        until=date(2023, 9, 15),
    )
    (row,) = meta.to_dict("records")
    assert row["schema_version"] == SCHEMA_VERSION
    assert str(row["last_sync"]) == "2023-09-15 11:00:00"
    assert (row["district"], row["tickets"], row["rejected"]) == ("สวนหลวง", 3044, 2)
    assert str(row["since"].date()) == "2023-04-01"
    assert meta.columns.tolist() == TABS["meta"].column_names


def test_dictionary_describes_every_column_from_the_schema_files() -> None:
    dictionary = dictionary_tab()
    looker_tabs = [tab for tab, spec in TABS.items() if spec.for_looker]
    assert set(dictionary["tab"]) == set(looker_tabs)
    assert len(dictionary) == sum(len(TABS[tab].column_names) for tab in looker_tabs)
    for tab in looker_tabs:
        committed = json.loads((schemas.SCHEMA_DIR / f"{tab}.schema.json").read_text("utf-8"))
        rows = dictionary[dictionary["tab"] == tab].set_index("column")
        assert rows.index.tolist() == committed["x-column-order"]
        for name, field in committed["properties"].items():
            assert rows.loc[name, "description"] == field["description"]
            assert rows.loc[name, "label_th"] == field["title_th"]
        for name, field in committed["properties"].items():
            assert _same(rows.loc[name, "description_th"], field.get("description_th"))
    kpi = dictionary[dictionary["tab"] == "kpi_monthly"].set_index("column")
    measures = ["total", "in_progress", "in_progress_pct", "in_progress_ratio", "finished_timed",
                "days_to_finish_median", "days_to_finish_p90", "reopened", "reopened_ratio",
                "rated", "star_mean"]  # fmt: skip
    assert kpi.loc[measures, "description_th"].notna().all(), "every measure's formula in Thai"
    untranslated = dictionary.loc[dictionary["description_th"].isna(), ["tab", "column"]]
    assert untranslated.empty, f"columns without a Thai description: {untranslated.values.tolist()}"
    assert "ปัดครึ่งขึ้น" in kpi.loc["in_progress_pct", "description_th"]
    assert "x 100 / total" in kpi.loc["in_progress_pct", "description"]
    assert kpi.loc["month", "is_key"]
    assert kpi.loc["in_progress_ratio", "kind"] == "float"


def test_linking_url_copies_the_template_onto_the_spreadsheet() -> None:
    url = linking_url(
        "abc-123", "SHEET_ID", {"kpi_monthly": 0, "meta": 1234}, report_name="รายงาน สวนหลวง"
    )
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "https", "lookerstudio.google.com", "/reporting/create",
    )  # fmt: skip
    params = dict(parse_qsl(parts.query))
    assert params["c.reportId"] == "abc-123"
    assert params["r.reportName"] == "รายงาน สวนหลวง"
    for alias, gid in (("kpi_monthly", "0"), ("meta", "1234")):
        assert params[f"ds.{alias}.connector"] == "googleSheets"
        assert params[f"ds.{alias}.spreadsheetId"] == "SHEET_ID"
        assert params[f"ds.{alias}.worksheetId"] == gid
        assert params[f"ds.{alias}.refreshFields"] == "false"
        assert params[f"ds.{alias}.hasHeader"] == "true"
    assert re.fullmatch(r"[\x21-\x7e]+", url), "the URL must be ASCII, percent-encoded"


def test_linking_url_needs_a_report_id() -> None:
    with pytest.raises(ValueError, match="report id"):
        linking_url(" ", "SHEET", {"meta": 1})


def test_gids_are_parsed_and_bad_ones_named() -> None:
    assert parse_gids(["kpi_monthly=0", "meta=99"]) == {"kpi_monthly": 0, "meta": 99}
    for bad in ("kpi_monthly", "nosuchtab=1", "meta=abc"):
        with pytest.raises(ValueError, match="TAB=GID"):
            parse_gids([bad])


def test_looker_url_command_prints_the_url(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every report tab given: no credential and no request to Google needed.
    monkeypatch.setenv("ETL_SPREADSHEET_ID", "FROM_CONFIG")
    gids = [f"{tab}={i}" for i, tab in enumerate(REPORT_TABS)]
    result = CliRunner().invoke(
        app, ["looker-url", "--template", "tmpl-1", *[f"--gid={g}" for g in gids]]
    )
    assert result.exit_code == 0, result.output
    params = dict(parse_qsl(urlsplit(result.output.strip()).query))
    assert params["c.reportId"] == "tmpl-1"
    assert params["ds.kpi_monthly.spreadsheetId"] == "FROM_CONFIG"
    assert params["ds.meta.worksheetId"] == str(REPORT_TABS.index("meta"))


def test_looker_url_in_json_for_machines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ETL_SPREADSHEET_ID", "FROM_CONFIG")
    gids = [f"--gid={tab}={i}" for i, tab in enumerate(REPORT_TABS)]
    args = ["looker-url", "--template", "tmpl-1", "--log-format", "json", *gids]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["spreadsheet_id"] == "FROM_CONFIG"
    assert answer["gids"] == {tab: i for i, tab in enumerate(REPORT_TABS)}
    assert dict(parse_qsl(urlsplit(answer["url"]).query))["c.reportId"] == "tmpl-1"
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("ETL_GOOGLE_SERVICE_ACCOUNT_JSON", "{not json")  # no default credential
    failed = CliRunner().invoke(app, ["looker-url", "--template", "t", "--log-format", "json"])
    assert failed.exit_code != 0
    error = json.loads(failed.stderr)
    assert error["level"] == "error"
    assert not error["message"].startswith("error")  # the level is its own field
    assert "--gid TAB=GID" in error["message"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--gid", "meta=1"], "--spreadsheet-id"),
        (["--spreadsheet-id", "S", "--gid", "meta"], "TAB=GID"),
    ],
)
def test_looker_url_command_names_what_is_missing(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["looker-url", "--template", "t", *args])
    assert result.exit_code == 2
    assert message in result.output


@pytest.fixture
def sheets(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSheetsServer]:
    with FakeSheetsServer() as server:
        monkeypatch.setenv("ETL_SHEETS_API_URL", server.url)  # loopback: anonymous access
        yield server


def looker_url(*args: str) -> tuple[int, str, dict[str, str]]:
    result = CliRunner().invoke(app, ["looker-url", "--template", "tmpl-1", *args])
    params = dict(parse_qsl(urlsplit(result.stdout.strip()).query)) if not result.exit_code else {}
    return result.exit_code, result.output, params


def test_looker_url_reads_the_gids_of_renamed_tabs(
    sheets: FakeSheetsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ETL_TABS__KPI_MONTHLY", "KPI รายเดือน")
    titles = ["KPI รายเดือน" if tab == "kpi_monthly" else tab for tab in REPORT_TABS]
    sid = sheets.create_spreadsheet(tabs=["Sheet1", *titles])
    gid_of = {tab: sheets.tab_properties(sid, title)["sheetId"] for tab, title in zip(
        REPORT_TABS, titles, strict=True)}  # fmt: skip
    assert len(set(gid_of.values())) == len(REPORT_TABS)

    code, output, params = looker_url("--spreadsheet-id", sid)
    assert code == 0, output
    for tab in REPORT_TABS:
        assert params[f"ds.{tab}.worksheetId"] == str(gid_of[tab]), tab
        assert params[f"ds.{tab}.spreadsheetId"] == sid

    code, output, params = looker_url("--spreadsheet-id", sid, "--gid", "meta=7")
    assert code == 0, output
    assert params["ds.meta.worksheetId"] == "7"  # the override wins
    assert params["ds.complaints.worksheetId"] == str(gid_of["complaints"])


def test_looker_url_names_the_tabs_not_created_yet(
    sheets: FakeSheetsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ETL_TABS__KPI_SNAPSHOTS", "สแนปช็อต")
    sid = sheets.create_spreadsheet(tabs=["kpi_monthly", "complaints", "meta"])
    code, output, _ = looker_url("--spreadsheet-id", sid, "--gid", "open_tickets=5")
    assert code == ExitCode.FAILED
    (line,) = output.strip().splitlines()
    assert line == (
        f"error: Spreadsheet {sid} lacks the report tab(s) kpi_monthly_by_org, "
        "kpi_monthly_by_type, kpi_monthly_by_subdistrict, kpi_snapshots (named 'สแนปช็อต'): "
        "run `etl init` or `etl sync` first, or give --gid TAB=GID."
    )


def test_looker_url_without_a_credential_points_to_gid(
    sheets: FakeSheetsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ETL_GOOGLE_SERVICE_ACCOUNT_JSON", "not a key")
    sid = sheets.create_spreadsheet(tabs=REPORT_TABS)
    code, output, _ = looker_url("--spreadsheet-id", sid, "--gid", "meta=1")
    assert code == ExitCode.USAGE
    assert "Or give --gid TAB=GID for kpi_monthly, " in output
    assert "meta" not in output.split("--gid TAB=GID for")[1]
    assert sheets.stats.requests == 0


def _same(ours: object, theirs: object) -> bool:
    return ours == theirs or (ours is None and theirs is None)
