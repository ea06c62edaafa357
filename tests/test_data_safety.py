"""The cases that once published wrong numbers and exited 0, each against local files
and the fake Sheets API: the run exits non-zero, says why in one line, and every
output is as it was (the ``_runs`` log aside, which records the refusal)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from etl.cli import app
from etl.fakes.sheets import FakeSheetsServer
from etl.fakes.traffy import FakeTraffy

runner = CliRunner()
WINDOW = ["--since", "2023-04-01", "--until", "2023-05-31"]
OUTPUT_TABS = (
    "complaints", "complaint_types", "complaint_orgs", "kpi_monthly", "kpi_monthly_by_org",
    "kpi_monthly_by_type", "kpi_monthly_by_subdistrict", "open_tickets", "status_history",
    "kpi_snapshots", "meta", "rejects", "dictionary", "actions", "_sync", "_state",
)  # fmt: skip


class Local:
    """An output folder, snapshotted byte for byte."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def args(self) -> list[str]:
        return ["--out", str(self.folder)]

    def snapshot(self) -> dict[str, bytes]:
        return {
            p.name: p.read_bytes() for p in sorted(self.folder.iterdir()) if p.name != "_runs.csv"
        }

    def last_outcome(self) -> str:
        lines = (self.folder / "_runs.csv").read_text(encoding="utf-8-sig").splitlines()
        return lines[-1].split(",")[3]


class Sheets:
    """A spreadsheet on the fake Sheets API, snapshotted cell for cell."""

    def __init__(self, server: FakeSheetsServer) -> None:
        self.server = server
        self.sid = server.create_spreadsheet()

    def args(self) -> list[str]:
        return ["--spreadsheet-id", self.sid]

    def snapshot(self) -> dict[str, Any]:
        titles = set(self.server.tab_titles(self.sid))
        return {t: self.server.tab_values(self.sid, t) for t in OUTPUT_TABS if t in titles}

    def last_outcome(self) -> str:
        return str(self.server.tab_values(self.sid, "_runs")[-1][3])


@pytest.fixture(params=["local", "sheets"])
def output(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Local | Sheets]:
    if request.param == "local":
        yield Local(tmp_path / "out")
        return
    with FakeSheetsServer() as server:
        monkeypatch.setenv("ETL_SHEETS_API_URL", server.url)
        monkeypatch.setenv("ETL_SHEETS_RETRY_BACKOFF_INITIAL", "0.001")
        monkeypatch.setenv("ETL_SHEETS_RETRY_BACKOFF_MAX", "0.01")
        yield Sheets(server)


def etl(traffy: FakeTraffy, output: Local | Sheets, *args: str, **env: str) -> Result:
    return runner.invoke(
        app, ["sync", "--traffy-url", traffy.url, *output.args(), *args], env=env or None
    )


def published(traffy: FakeTraffy, output: Local | Sheets) -> dict[str, Any]:
    first = etl(traffy, output, *WINDOW)
    assert first.exit_code == 0, first.output
    return output.snapshot()


def one_line(result: Result) -> str:
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert result.stderr.strip().splitlines()[-1] == errors[0]
    assert "Traceback" not in result.output
    return errors[0]


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_a_district_typo_exits_2_before_any_request(
    traffy: FakeTraffy, output: Local | Sheets, how: str
) -> None:
    before = published(traffy, output)
    requests = len(traffy.requests)
    if how == "flag":
        result = etl(traffy, output, *WINDOW, "--district", "สวนหลวงง")
    else:
        result = etl(traffy, output, *WINDOW, ETL_DISTRICT="สวนหลวงง")
    assert result.exit_code == 2
    assert "Did you mean สวนหลวง?" in one_line(result)
    assert len(traffy.requests) == requests
    assert output.snapshot() == before


def test_since_after_until_exits_2_before_any_request(
    traffy: FakeTraffy, output: Local | Sheets
) -> None:
    before = published(traffy, output)
    requests = len(traffy.requests)
    result = etl(traffy, output, "--since", "2023-09-01", "--until", "2023-04-01")
    assert result.exit_code == 2
    assert "since (2023-09-01) is after until (2023-04-01)" in one_line(result)
    assert len(traffy.requests) == requests
    assert output.snapshot() == before


def test_since_after_today_exits_2(traffy: FakeTraffy, output: Local | Sheets) -> None:
    result = etl(traffy, output, "--since", "2999-01-01")
    assert result.exit_code == 2
    assert "--since 2999-01-01 is after today (Bangkok)" in one_line(result)
    assert traffy.requests == []


def test_an_outage_that_drops_40_percent_is_refused_then_allowed(
    traffy: FakeTraffy, output: Local | Sheets
) -> None:
    before = published(traffy, output)
    shuffled = random.Random(40).sample(traffy.features, len(traffy.features))
    traffy.features = sorted(
        shuffled[: int(len(shuffled) * 0.6)],
        key=lambda f: str(f["properties"].get("timestamp")),
    )
    refused = etl(traffy, output, *WINDOW, "--full-refresh")
    assert refused.exit_code == 1, refused.output
    line = one_line(refused)
    assert line.startswith("error: Refused to publish: this run would remove ")
    assert "tickets of 2023-04 (เมษายน 2566)" in line
    assert "--allow-removals" in line
    assert output.snapshot() == before
    assert output.last_outcome() == "PublishRefused"

    allowed = etl(traffy, output, *WINDOW, "--full-refresh", "--allow-removals")
    assert allowed.exit_code == 0, allowed.output
    assert "  removed    " in allowed.stdout
    assert output.snapshot() != before


def test_an_output_of_another_district_is_a_usage_error(
    traffy: FakeTraffy, output: Local | Sheets
) -> None:
    before = published(traffy, output)
    result = etl(traffy, output, *WINDOW, "--district", "วัฒนา")
    assert result.exit_code == 2
    line = one_line(result)
    assert "holds the tickets of เขตสวนหลวง, not เขตวัฒนา" in line
    assert output.snapshot() == before


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--traffy-url", "htp:/publicapi"], "is not an http(s) URL"),
        (["--traffy-url", "http://127.0.0.1:port"], "has an invalid port"),
        (["--config", "."], "is a folder; give a TOML file"),
        (["--config", "broken.toml"], "broken.toml is not valid TOML: Expected '=' after a key"),
    ],
)
def test_bad_inputs_are_one_line_and_exit_2(tmp_path: Path, args: list[str], expected: str) -> None:
    (tmp_path / "broken.toml").write_text('district = "สวนหลวง"\nwindow months = 3\n')
    result = runner.invoke(app, ["sync", "--out", str(tmp_path / "out"), *args])
    assert result.exit_code == 2
    line = one_line(result)
    assert expected in line
    if "broken.toml" in expected:
        assert "(at line 2, column 8)" in line
    assert not (tmp_path / "out").exists()


def test_an_output_folder_that_cannot_be_written_fails_before_any_request(
    traffy: FakeTraffy, tmp_path: Path
) -> None:
    blocker = tmp_path / "taken"
    blocker.write_text("a file, not a folder")
    result = runner.invoke(
        app, ["sync", "--traffy-url", traffy.url, "--out", str(blocker / "out"), *WINDOW]
    )
    assert result.exit_code == 1
    assert "is a file" in one_line(result)
    assert traffy.requests == []
