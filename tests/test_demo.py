"""`etl demo`: the offline sync reproduces the office's table of fiscal 2566."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from etl.cli import app

SEED = [  # month, month_th, total, in_progress, in_progress_pct, as the seed reports them
    ("2023-04-01", "เมษายน 2566", "398", "10", "2.51"),
    ("2023-05-01", "พฤษภาคม 2566", "535", "23", "4.3"),
    ("2023-06-01", "มิถุนายน 2566", "570", "37", "6.49"),
    ("2023-07-01", "กรกฎาคม 2566", "753", "37", "4.91"),
    ("2023-08-01", "สิงหาคม 2566", "546", "50", "9.16"),
    ("2023-09-01", "กันยายน 2566", "242", "35", "14.46"),
]


def test_demo_reproduces_the_seed_table_offline_in_local_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A configured spreadsheet must not receive sample data.
    monkeypatch.setenv("ETL_SPREADSHEET_ID", "the-office-spreadsheet")
    monkeypatch.setenv("ETL_SHEETS_API_URL", "http://127.0.0.1:9")
    result = CliRunner().invoke(app, ["demo"])
    assert result.exit_code == 0, result.output
    kpi = pd.read_csv(
        tmp_path / "output" / "demo" / "kpi_monthly.csv", dtype=str, encoding="utf-8-sig"
    )
    columns = ["month", "month_th", "total", "in_progress", "in_progress_pct"]
    assert [tuple(row) for row in kpi[columns].itertuples(index=False)] == SEED


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One demo run into ``.../demo`` for the tests that only read it."""
    out = tmp_path_factory.mktemp("run") / "demo"
    result = CliRunner().invoke(app, ["demo", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    return out


def test_demo_sees_the_tickets_as_the_office_did_on_15_september_2566(demo_run: Path) -> None:
    """The clock is frozen at the office's report date: ages spread over the buckets."""
    tickets = pd.read_csv(demo_run / "open_tickets.csv", encoding="utf-8-sig")
    buckets = tickets["age_bucket"].value_counts()
    assert set(buckets.index) == {"0-7", "8-30", "31-90", "over 90"}
    assert buckets.min() >= 20  # each bucket holds a fair share, not all "over 90"
    assert tickets["age_days"].max() == 167  # 1 April to 15 September 2566
    assert set(tickets["as_of"]) == {"2023-09-15 15:00:00"}


def test_demo_tickets_are_plausible(demo_run: Path) -> None:
    """A ticket's description is about its type, and its section is the one that type goes to."""
    from etl.fakes.synthetic import ROUTES

    tickets = pd.read_csv(demo_run / "complaints.csv", encoding="utf-8-sig")
    types = pd.read_csv(demo_run / "complaint_types.csv", encoding="utf-8-sig")
    orgs = pd.read_csv(demo_run / "complaint_orgs.csv", encoding="utf-8-sig")
    section = orgs[orgs["is_section"]].set_index("ticket_id")["organization"]
    description = tickets.set_index("ticket_id")["description"]
    checked = 0
    for ticket_id, group in types.groupby("ticket_id"):
        kinds = set(group["type"])
        assert any(
            description[ticket_id] in ROUTES[kind][1]
            and section[ticket_id] == f"{ROUTES[kind][0]} เขตสวนหลวง"
            for kind in kinds
        ), (ticket_id, kinds, description[ticket_id], section[ticket_id])
        checked += 1
    assert checked == 3044


def test_the_demo_run_is_logged_on_the_demo_clock(demo_run: Path) -> None:
    runs = pd.read_csv(demo_run / "_runs.csv", encoding="utf-8-sig")
    started, finished = pd.Timestamp(runs["started_at"][0]), pd.Timestamp(runs["finished_at"][0])
    assert started == pd.Timestamp("2023-09-15 15:00:00")
    assert pd.Timedelta(0) <= finished - started < pd.Timedelta(minutes=5)
