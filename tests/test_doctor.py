"""`etl doctor` against the fake Traffy and fake Sheets servers, healthy and broken.

Each broken state is made the way it happens in an office: a mistyped id, a
spreadsheet nobody shared, a tab renamed in the config, a header edited by
hand, Traffy down, a bad key pasted into the secret.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from etl.cli import app
from etl.errors import ExitCode
from etl.fakes.sheets import FakeSheetsServer
from etl.fakes.traffy import FakeTraffy
from etl.tabs import SCHEMA_VERSION
from tests.conftest import april_2566

runner = CliRunner()
EMAIL = "etl-bot@office.iam.gserviceaccount.com"


@functools.cache
def private_key_pem() -> str:
    """A fresh RSA key, made once per test session (it takes a while)."""
    rsa = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.rsa")
    serialization = pytest.importorskip("cryptography.hazmat.primitives.serialization")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem: str = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return pem


def service_account_json(token_url: str) -> str:
    """A real service-account key whose token endpoint is the fake's."""
    pem = private_key_pem()
    return json.dumps(
        {
            "type": "service_account",
            "project_id": "office",
            "private_key_id": "k1",
            "private_key": pem,
            "client_email": EMAIL,
            "client_id": "1",
            "token_uri": token_url,
        }
    )


@pytest.fixture
def features() -> list[dict[str, Any]]:
    """A handful of tickets: the doctor cares that a sync ran, not how big it was."""
    return april_2566()[:30]


@pytest.fixture
def sheets(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSheetsServer]:
    with FakeSheetsServer() as server:
        monkeypatch.setenv("ETL_SHEETS_API_URL", server.url)
        monkeypatch.setenv("ETL_SHEETS_RETRY_ATTEMPTS", "2")
        monkeypatch.setenv("ETL_SHEETS_RETRY_BACKOFF_INITIAL", "0.001")
        monkeypatch.setenv("ETL_SHEETS_RETRY_BACKOFF_MAX", "0.01")
        monkeypatch.setenv(
            "ETL_GOOGLE_SERVICE_ACCOUNT_JSON", service_account_json(f"{server.url}/token")
        )
        yield server


@pytest.fixture
def sid(sheets: FakeSheetsServer, traffy: FakeTraffy) -> str:
    """A spreadsheet set up with `etl init` and filled by one sync, as after deployment."""
    sid = sheets.create_spreadsheet()
    window = ["--since", "2023-04-01", "--until", "2023-05-31"]
    for args in (["init"], ["sync", "--traffy-url", traffy.url, *window]):
        result = runner.invoke(app, [*args, "--spreadsheet-id", sid, "-q"])
        assert result.exit_code == 0, result.output
    sheets.reset_stats()
    return sid


def doctor(traffy_url: str, *extra: str) -> Result:
    return runner.invoke(app, ["doctor", "--traffy-url", traffy_url, *extra])


def lines(result: Result) -> dict[str, str]:
    """Check name -> its report line."""
    out: dict[str, str] = {}
    for line in result.stdout.splitlines():
        _status, rest = line.split(maxsplit=1)
        name = "last run" if rest.startswith("last run") else rest.split()[0]
        out[name] = line
    return out


def test_healthy_spreadsheet_passes_every_check_and_changes_nothing(
    traffy: FakeTraffy, sheets: FakeSheetsServer, sid: str
) -> None:
    before = {t: sheets.tab_values(sid, t) for t in sheets.tab_titles(sid)}
    result = doctor(traffy.url, "--spreadsheet-id", sid)
    assert result.exit_code == ExitCode.OK, result.output
    report = lines(result)
    assert list(report) == [
        "configuration", "traffy", "credentials", "spreadsheet", "tabs", "schema", "last run"
    ]  # fmt: skip
    assert all(line.startswith("OK ") for line in report.values()), result.stdout
    assert (
        f"feed v1 at {traffy.url}/teamchadchart-stat-api/geojson/v1 answered in"
        in (report["traffy"])
    )
    assert f"ETL_GOOGLE_SERVICE_ACCOUNT_JSON, service account {EMAIL}" in report["credentials"]
    assert f"reachable as {EMAIL}" in report["spreadsheet"]
    assert "last success 20" in report["last run"]
    assert "PRIVATE KEY" not in result.output
    assert sheets.stats.writes == 0
    assert sheets.stats.requests == 2  # metadata, then one batchGet for everything
    assert {t: sheets.tab_values(sid, t) for t in sheets.tab_titles(sid)} == before


def test_wrong_spreadsheet_id(traffy: FakeTraffy, sheets: FakeSheetsServer, sid: str) -> None:
    result = doctor(traffy.url, "--spreadsheet-id", "1NoSuchId")
    assert result.exit_code == ExitCode.FAILED
    report = lines(result)
    assert report["spreadsheet"].startswith("FAIL  spreadsheet   spreadsheet 1NoSuchId not found")
    assert "between /d/ and /edit" in report["spreadsheet"]
    assert f"add {EMAIL} as Editor" in report["spreadsheet"]
    for name in ("tabs", "schema", "last run"):
        assert report[name].startswith("SKIP"), report[name]
    assert result.stderr.strip() == (
        "error: 1 of 7 checks failed (spreadsheet); each FAIL line above names the fix."
    )


def test_spreadsheet_not_shared(traffy: FakeTraffy, sheets: FakeSheetsServer, sid: str) -> None:
    sheets.fail_next(403, count=None, message="The caller does not have permission")
    result = doctor(traffy.url, "--spreadsheet-id", sid)
    assert result.exit_code == ExitCode.FAILED
    line = lines(result)["spreadsheet"]
    assert f"is not shared with {EMAIL} (403 PERMISSION_DENIED)" in line
    assert f"fix: open the spreadsheet, Share, add {EMAIL} as Editor" in line


def test_missing_tab(
    traffy: FakeTraffy, sheets: FakeSheetsServer, sid: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ETL_TABS__KPI_MONTHLY", "KPI รายเดือน")  # configured, never created
    result = doctor(traffy.url, "--spreadsheet-id", sid)
    assert result.exit_code == ExitCode.FAILED
    line = lines(result)["tabs"]
    assert line.startswith("FAIL  tabs          missing tab(s) KPI รายเดือน")
    assert "fix: run `etl init` to create the missing tabs" in line
    assert lines(result)["schema"].startswith("WARN")  # the layout differs from init's


def test_renamed_header(traffy: FakeTraffy, sheets: FakeSheetsServer, sid: str) -> None:
    header = sheets.tab_values(sid, "complaints")[0]
    column = header.index("created_at")
    letter = chr(ord("A") + column)
    sheets.set_values(sid, "complaints", f"{letter}1", [["วันที่แจ้ง"]])
    result = doctor(traffy.url, "--spreadsheet-id", sid)
    assert result.exit_code == ExitCode.FAILED
    line = lines(result)["tabs"]
    assert f"complaints!{letter}1 is 'วันที่แจ้ง', expected 'created_at'" in line
    assert "put the expected names back in row 1" in line
    assert lines(result)["schema"].startswith("OK")


def test_staff_columns_added_to_actions_are_fine(
    traffy: FakeTraffy, sheets: FakeSheetsServer, sid: str
) -> None:
    width = len(sheets.tab_values(sid, "actions")[0])
    sheets.set_values(sid, "actions", f"{chr(ord('A') + width)}1", [["หมายเหตุผู้อำนวยการ"]])
    result = doctor(traffy.url, "--spreadsheet-id", sid)
    assert lines(result)["tabs"].startswith("OK"), result.stdout


def test_tabs_never_set_up(traffy: FakeTraffy, sheets: FakeSheetsServer) -> None:
    sid = sheets.create_spreadsheet()
    result = doctor(traffy.url, "--spreadsheet-id", sid)
    report = lines(result)
    assert report["spreadsheet"].startswith("OK")
    assert report["tabs"].startswith("FAIL  tabs          missing tab(s) complaints, ")
    assert report["schema"].startswith("FAIL  schema        no _state tab")
    assert report["last run"].startswith("OK    last run      no run recorded yet")


def test_schema_of_an_older_version(traffy: FakeTraffy, sheets: FakeSheetsServer, sid: str) -> None:
    state = sheets.tab_values(sid, "_state")
    row = next(i for i, r in enumerate(state) if r and r[0] == "init_signature")
    sheets.set_values(sid, "_state", f"B{row + 1}", [["0123456789abcdef"]])
    result = doctor(traffy.url, "--spreadsheet-id", sid)
    assert result.exit_code == ExitCode.OK  # a warning: the next sync copes, so let it run
    line = lines(result)["schema"]
    assert line.startswith("WARN  schema        tabs set up for layout 0123456789abcdef, this")
    assert "fix: run `etl init`" in line
    assert "refresh the fields of the Looker Studio data sources" in line


def test_meta_of_an_older_contract_version(
    traffy: FakeTraffy, sheets: FakeSheetsServer, sid: str
) -> None:
    header = sheets.tab_values(sid, "meta")[0]
    letter = chr(ord("A") + header.index("schema_version"))
    sheets.set_values(sid, "meta", f"{letter}2", [[0]])
    line = lines(doctor(traffy.url, "--spreadsheet-id", sid))["schema"]
    assert f"meta says schema version 0, this version writes {SCHEMA_VERSION}" in line
    assert "CHANGELOG.md" in line


def test_search_feed_is_the_one_checked(
    traffy: FakeTraffy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ETL_FEED", "search")
    result = doctor(traffy.url)
    line = lines(result)["traffy"]
    assert line.startswith(
        f"OK    traffy        feed search at {traffy.url}/share/teamchadchart/search"
    )
    assert traffy.requests, "the probe reached the fake"


def test_traffy_down(sheets: FakeSheetsServer, sid: str) -> None:
    result = doctor("http://127.0.0.1:9", "--spreadsheet-id", sid)
    assert result.exit_code == ExitCode.FAILED
    report = lines(result)
    assert report["traffy"].startswith("FAIL  traffy        feed v1: Could not reach the Traffy")
    assert "the next scheduled run tries again" in report["traffy"]
    assert report["spreadsheet"].startswith("OK")  # the other checks still run


def test_traffy_answering_garbage(traffy: FakeTraffy, sheets: FakeSheetsServer, sid: str) -> None:
    from etl.fakes.traffy import Fault

    traffy.script(Fault(status=404, body=b"not found"))
    report = lines(doctor(traffy.url, "--spreadsheet-id", sid))
    assert report["traffy"].startswith("FAIL")


def test_bad_key_in_the_secret_is_named_never_shown(
    traffy: FakeTraffy, sheets: FakeSheetsServer, sid: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ETL_GOOGLE_SERVICE_ACCOUNT_JSON", '{"private_key": "secret-xyz"}')
    result = doctor(traffy.url, "--spreadsheet-id", sid)
    assert result.exit_code == ExitCode.FAILED
    report = lines(result)
    assert report["credentials"].startswith(
        "FAIL  credentials   ETL_GOOGLE_SERVICE_ACCOUNT_JSON is not a valid service-account"
    )
    assert "docs/deploy.md" in report["credentials"]
    assert report["spreadsheet"].startswith("SKIP  spreadsheet   needs credentials")
    assert "secret-xyz" not in result.output


def test_invalid_configuration_skips_the_rest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ETL_PAGE_SIZE", "5000")
    result = doctor("http://127.0.0.1:9")
    assert result.exit_code == ExitCode.FAILED
    report = lines(result)
    assert report["configuration"].startswith("FAIL  configuration Invalid settings: page_size")
    assert [line.split()[0] for line in report.values()] == ["FAIL"] + ["SKIP"] * 6


def test_local_output_reads_the_last_run_from_runs_csv(traffy: FakeTraffy, tmp_path: Path) -> None:
    out = tmp_path / "out"
    window = ["--since", "2023-04-01", "--until", "2023-05-31", "--out", str(out)]
    assert runner.invoke(app, ["sync", "--traffy-url", traffy.url, *window, "-q"]).exit_code == 0
    result = doctor(traffy.url, "--out", str(out))
    assert result.exit_code == ExitCode.OK, result.output
    report = lines(result)
    assert report["output"] == f"OK    output        folder {out}/ exists; writable"
    assert report["credentials"].startswith("SKIP  credentials   not needed")
    assert report["last run"].startswith("OK    last run      last success 20")
    assert (
        report["schema"]
        == f"OK    schema        schema version {SCHEMA_VERSION}, as this version writes"
    )


def test_a_failed_last_run_warns_but_does_not_fail(traffy: FakeTraffy, tmp_path: Path) -> None:
    out = tmp_path / "out"
    window = ["--since", "2023-04-01", "--until", "2023-05-31", "--out", str(out)]
    assert runner.invoke(app, ["sync", "--traffy-url", traffy.url, *window, "-q"]).exit_code == 0
    failed = runner.invoke(app, ["sync", "--traffy-url", "http://127.0.0.1:9", *window, "-q"])
    assert failed.exit_code == ExitCode.FAILED
    result = doctor(traffy.url, "--out", str(out))
    assert result.exit_code == ExitCode.OK  # yesterday's outage must not block today's sync
    line = lines(result)["last run"]
    assert line.startswith("WARN  last run      latest run ")
    assert "failed (TraffyUnreachable: Could not reach" in line
    assert "; last success 20" in line


def test_json_report(traffy: FakeTraffy, sheets: FakeSheetsServer, sid: str) -> None:
    result = doctor(traffy.url, "--spreadsheet-id", sid, "--log-format", "json")
    assert result.exit_code == ExitCode.OK
    report: dict[str, Any] = json.loads(result.stdout)
    assert report["ok"] is True
    assert [c["status"] for c in report["checks"]] == ["OK"] * 7
    assert set(report["checks"][0]) == {"name", "status", "detail", "remedy"}


def test_doctor_writes_nothing_locally(traffy: FakeTraffy, tmp_path: Path) -> None:
    result = doctor(traffy.url, "--out", str(tmp_path / "new"))
    assert result.exit_code == ExitCode.OK, result.output
    assert "will be created in" in lines(result)["output"]
    assert not (tmp_path / "new").exists()
