"""`etl sync` end to end: the real CLI against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from etl.cli import app
from etl.fakes.traffy import FakeTraffy, Fault

runner = CliRunner()


def sync(traffy: FakeTraffy, out: Path, *extra: str) -> str:
    result = runner.invoke(
        app,
        [
            "sync",
            "--traffy-url", traffy.url,
            "--since", "2023-04-01",
            "--until", "2023-05-31",
            "--out", str(out),
            *extra,
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return result.output


def read(out: Path, tab: str) -> pd.DataFrame:
    return pd.read_csv(out / f"{tab}.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")


@pytest.fixture
def synced(traffy: FakeTraffy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ETL_PAGE_SIZE", "100")
    # The third page repeats the second page's last record, as the live feed does
    # when tickets arrive while we page.
    traffy.script(Fault(), Fault(), Fault(repeat_previous=True))
    sync(traffy, tmp_path / "out")
    return tmp_path / "out"


def test_kpi_month_reproduces_the_seed_row(synced: Path) -> None:
    kpi = read(synced, "kpi_monthly").set_index("month")
    april = kpi.loc["2023-04-01"]
    assert (april["month_th"], april["total"], april["in_progress"], april["in_progress_pct"]) == (
        "เมษายน 2566",
        "398",
        "10",
        "2.51",
    )


def test_ticket_at_2330_on_the_last_day_counts_in_its_bangkok_month(synced: Path) -> None:
    complaints = read(synced, "complaints").set_index("ticket_id")
    assert complaints.loc["2023-LASTDY", "created_at"] == "2023-05-31 23:30:00"
    assert complaints.loc["2023-LASTDY", "month"] == "2023-05-01"
    may = read(synced, "kpi_monthly").set_index("month").loc["2023-05-01"]
    # LASTDY (in progress), the anonymous ticket (finished), 0AB123 (unknown state).
    assert (may["total"], may["in_progress"], may["finished"], may["unknown"]) == (
        "3",
        "1",
        "1",
        "1",
    )
    assert "2023-06-01" not in set(read(synced, "kpi_monthly")["month"])


def test_duplicate_across_pages_is_written_once(synced: Path, traffy: FakeTraffy) -> None:
    assert len(traffy.requests) >= 4  # 404 records in pages of 100
    complaints = read(synced, "complaints")
    assert complaints["ticket_id"].is_unique
    assert len(complaints) == 398 + 3


def test_other_district_is_left_out_and_address_decides_a_missing_district(synced: Path) -> None:
    ids = set(read(synced, "complaints")["ticket_id"])
    assert "2023-OTHERD" not in ids
    assert "#2000003" in ids  # no district field, no ticket id: kept, keyed by message_id


def test_invalid_records_land_in_rejects_with_reason_and_raw_json(synced: Path) -> None:
    rejects = read(synced, "rejects").set_index("ticket_id")
    assert set(rejects.index) == {"2023-BADTIM", "2023-STAR99"}
    assert "timestamp" in rejects.loc["2023-BADTIM", "reason"].lower() or "isoformat" in (
        rejects.loc["2023-BADTIM", "reason"].lower()
    )
    assert "star" in rejects.loc["2023-STAR99", "reason"]
    assert '"star":9' in rejects.loc["2023-STAR99", "raw_json"]
    assert "2023-BADTIM" not in set(read(synced, "complaints")["ticket_id"])


def test_text_and_ids_survive_as_typed(synced: Path) -> None:
    complaints = read(synced, "complaints").set_index("ticket_id")
    assert "0AB123" in complaints.index  # leading zero kept
    assert complaints.loc["0AB123", "state_group"] == "unknown"
    assert complaints.loc["0AB123", "latlong"] == ""  # 0,0 means no location
    anonymous = complaints.loc["#2000003"]
    assert anonymous["description"].startswith("=HYPERLINK(")
    assert anonymous["photo_url"] == ""  # Traffy's placeholder image is no photo
    assert complaints.loc["2023-LASTDY", "sections"] == "ฝ่ายโยธา เขตสวนหลวง"


def test_files_are_utf8_with_bom_for_excel(synced: Path) -> None:
    for tab in ("complaints", "complaint_types", "complaint_orgs", "kpi_monthly", "rejects"):
        assert (synced / f"{tab}.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert not list(synced.glob(".*.tmp"))


def test_complaint_types_are_one_row_per_ticket_and_type(synced: Path) -> None:
    types = read(synced, "complaint_types")
    lastdy = types[types["ticket_id"] == "2023-LASTDY"]["type"]
    assert sorted(lastdy) == ["ท่อระบายน้ำ", "น้ำท่วม"]
    assert not types.duplicated().any()


def test_summary_names_counts(traffy: FakeTraffy, tmp_path: Path) -> None:
    output = sync(traffy, tmp_path / "o")
    assert "401 valid, 2 rejected" in output
    assert "1 of other districts (only counted, in the city comparison)" in output
    assert "รอตรวจสอบ x1" in output  # the unknown state is reported


def test_retries_then_succeeds_with_the_same_tabs(traffy: FakeTraffy, tmp_path: Path) -> None:
    sync(traffy, tmp_path / "clean")
    traffy.script(Fault(status=503), Fault(status=429, headers={"Retry-After": "0"}))
    sync(traffy, tmp_path / "faulty")
    for tab in ("complaints", "complaint_types", "complaint_orgs", "rejects"):
        assert (tmp_path / "clean" / f"{tab}.csv").read_bytes() != b""
        clean, faulty = (
            read(tmp_path / run, tab).drop(columns=["rejected_at"], errors="ignore")
            for run in ("clean", "faulty")
        )
        pd.testing.assert_frame_equal(clean, faulty)


def test_unreachable_api_is_one_line_and_nonzero_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "etl",
            "sync",
            "--traffy-url",
            "http://127.0.0.1:9",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    # Log lines (the retries) come first; the failure itself is the one last line.
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: Could not reach the Traffy API at http://127.0.0.1:9"), last
    assert [line for line in result.stderr.splitlines() if "error:" in line] == [last]
    assert "Traceback" not in result.stderr
    # No tab was written; the failed run is logged for `etl doctor`.
    assert [p.name for p in out.iterdir()] == ["_runs.csv"]
    runs = read(out, "_runs")
    assert list(runs["outcome"]) == ["TraffyUnreachable"]
    assert "Could not reach" in runs["message"][0]


def test_bad_option_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["sync", "--since", "April"])
    assert result.exit_code == 2


def test_help_describes_every_sync_option() -> None:
    result = runner.invoke(app, ["sync", "--help"], terminal_width=200)
    for option in ("--district", "--since", "--until", "--traffy-url", "--out", "--config"):
        assert option in result.output
