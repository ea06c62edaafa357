"""``etl sync --verify``: the weekly full re-read heals what incremental runs missed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from typer.testing import CliRunner

from etl.cli import app
from etl.fakes.traffy import FakeTraffy

runner = CliRunner()
WINDOW = ["--since", "2023-04-01", "--until", "2023-05-31"]


def sync(traffy: FakeTraffy, out: Path, *args: str) -> str:
    result = runner.invoke(app, ["sync", "--traffy-url", traffy.url, "--out", str(out), *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def tickets(out: Path) -> pd.DataFrame:
    frame = pd.read_csv(out / "complaints.csv", encoding="utf-8-sig", dtype=str)
    return frame.set_index("ticket_id")


def test_verify_finds_and_repairs_what_incremental_runs_missed(
    traffy: FakeTraffy, tmp_path: Path, features: list[dict[str, Any]]
) -> None:
    out, fresh = tmp_path / "out", tmp_path / "fresh"
    sync(traffy, out, *WINDOW)
    suan_luang = [f for f in features if f["properties"].get("district") == "สวนหลวง"]
    # A finished ticket reopened upstream: incremental runs only re-read open tickets.
    reopened = next(f for f in suan_luang if f["properties"]["state_type_latest"] == "finish")
    reopened["properties"].update(state="กำลังดำเนินการ", state_type_latest="inprogress")
    # A ticket the output lost (a row removed by hand, a window once under-counted).
    lost = suan_luang[5]["properties"]["ticket_id"]
    complaints = pd.read_csv(out / "complaints.csv", encoding="utf-8-sig", dtype=str)
    complaints[complaints["ticket_id"] != lost].to_csv(
        out / "complaints.csv", index=False, encoding="utf-8-sig"
    )
    assert lost not in tickets(out).index

    report = sync(traffy, out, "--verify")
    assert "verified: 1 tickets missing, 0 extra, 1 with a stale state (repaired)" in report
    sync(traffy, fresh, *WINDOW)
    pd.testing.assert_frame_equal(tickets(out), tickets(fresh))
    runs = pd.read_csv(out / "_runs.csv", encoding="utf-8-sig")
    assert runs["mode"].iloc[-1] == "verify"
    assert runs["message"].iloc[-1].startswith("verified: 1 tickets missing")
    assert runs["records_read"].iloc[-1] == runs["records_expected"].iloc[-1] > 0

    again = sync(traffy, out, "--verify")
    assert "verified: the output matched Traffy" in again
