"""`etl sync --spreadsheet-id` and `etl init` through the CLI, against both fake servers."""

from __future__ import annotations

import json
import re

from typer.testing import CliRunner

from etl.cli import app
from etl.fakes.sheets import FakeSheetsServer
from etl.fakes.traffy import FakeTraffy

runner = CliRunner()


def sync(traffy: FakeTraffy, sid: str, *extra: str) -> str:
    result = runner.invoke(
        app,
        ["sync", "--traffy-url", traffy.url, "--since", "2023-04-01", "--until", "2023-05-31",
         "--spreadsheet-id", sid, *extra],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return result.output


def test_sync_fills_the_spreadsheet_then_a_resync_writes_nothing(
    traffy: FakeTraffy, sheets: FakeSheetsServer
) -> None:
    sid = sheets.create_spreadsheet()
    sync(traffy, sid)
    kpi = sheets.tab_values(sid, "kpi_monthly")
    assert kpi[0][:5] == ["month", "month_th", "total", "in_progress", "in_progress_pct"]
    april = next(row for row in kpi[1:] if row[1] == "เมษายน 2566")
    assert april[2:5] == [398, 10, 2.51]
    assert isinstance(april[0], float | int)  # a date serial, formatted as a date
    complaints = sheets.tab_values(sid, "complaints")
    assert len(complaints) == 1 + 401
    runs = sheets.tab_values(sid, "_runs")
    assert runs[-1][3] == "ok"
    for bookkeeping in ("_runs", "_state", "_sync"):  # the pipeline's own: hidden from staff
        assert sheets.tab_properties(sid, bookkeeping).get("hidden") is True
    assert "hidden" not in sheets.tab_properties(sid, "kpi_monthly")

    before = {tab: sheets.tab_values(sid, tab) for tab in ("complaints", "kpi_monthly", "actions")}
    sheets.reset_stats()
    output = sync(traffy, sid)
    # Metadata, one batchGet, one batchUpdate: the run's _runs row, riding with the only
    # cell that changes on every sync, meta's last_sync (the data's freshness).
    assert sheets.stats.requests == 3, sheets.stats.by_kind
    assert sheets.stats.by_kind["values.batchUpdate"] == 1
    changed = [line.split()[0] for line in output.splitlines() if re.search(r"~[1-9]", line)]
    assert changed in ([], ["meta"]), output
    for tab, values in before.items():
        assert sheets.tab_values(sid, tab) == values, tab
    runs_after = sheets.tab_values(sid, "_runs")
    assert len(runs_after) == len(runs) + 1
    assert runs_after[-1][3] == "ok"
    assert "+0 new, ~0 changed, -0 removed" in output


def test_dry_run_writes_nothing(traffy: FakeTraffy, sheets: FakeSheetsServer) -> None:
    sid = sheets.create_spreadsheet()
    output = sync(traffy, sid, "--dry-run")
    assert "Dry run, nothing written" in output
    assert "complaints: +401" in output
    assert sheets.stats.writes == 0


def test_init_is_idempotent(sheets: FakeSheetsServer) -> None:
    sid = sheets.create_spreadsheet()
    first = runner.invoke(app, ["init", "--spreadsheet-id", sid])
    assert first.exit_code == 0, first.output
    assert "kpi_monthly" in first.output
    again = runner.invoke(app, ["init", "--spreadsheet-id", sid])
    assert again.exit_code == 0
    assert "nothing to change" in again.output


def test_init_in_json_for_machines(sheets: FakeSheetsServer) -> None:
    sid = sheets.create_spreadsheet()
    args = ["init", "--spreadsheet-id", sid, "--log-format", "json"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    done = json.loads(first.stdout)  # one JSON object, not the lines
    assert done["spreadsheet_id"] == sid
    assert "created tab kpi_monthly" in done["changes"]
    again = runner.invoke(app, args)
    assert json.loads(again.stdout) == {"spreadsheet_id": sid, "changes": []}
    for line in first.stderr.splitlines() + again.stderr.splitlines():
        assert json.loads(line)["level"]

    failed = runner.invoke(app, ["init", "--log-format", "json"])
    assert failed.exit_code == 2
    assert failed.stdout == ""
    assert "--spreadsheet-id" in json.loads(failed.stderr)["message"]


def test_init_without_spreadsheet_is_a_usage_error() -> None:
    result = runner.invoke(app, ["init"])
    assert result.exit_code == 2
    assert "--spreadsheet-id" in result.output
