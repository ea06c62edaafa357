"""`etl backfill`: the monthly CSV files, streamed, in both layouts, merged into the tabs."""

from __future__ import annotations

import io
import re
import tracemalloc
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests
from typer.testing import CliRunner

from etl.cli import app
from etl.errors import ConfigError, TraffyFatal, TraffyUnreachable
from etl.fakes.synthetic import TicketFactory
from etl.fakes.traffy import CSV_PATH, FakeTraffy, Fault
from etl.models import BANGKOK
from etl.pipeline import run_backfill, run_sync
from etl.settings import load_settings
from etl.sinks import MemorySink
from etl.traffy import monthly_csv
from etl.traffy.incremental import SyncState

NOW = datetime(2023, 6, 1, tzinfo=BANGKOK)
SAME = ["ticket_id", "created_at", "state", "types", "organizations", "lat", "lon",
        "last_activity", "description", "star", "count_reopen", "address"]  # fmt: skip


def backfill(server: FakeTraffy, first: str = "2023-04", last: str = "2023-05") -> MemorySink:
    sink = MemorySink()
    run_backfill(
        load_settings(traffy_url=server.url), first_month=first, last_month=last, sink=sink, now=NOW
    )
    return sink


@pytest.mark.parametrize("columns", [24, 16])
def test_backfill_gives_the_tickets_the_api_gives(
    features: list[dict[str, Any]], columns: int
) -> None:
    with FakeTraffy(features, csv_columns=columns) as server:
        from_csv = backfill(server)
        from_api = MemorySink()
        settings = load_settings(
            traffy_url=server.url, since=date(2023, 4, 1), until=date(2023, 5, 31)
        )
        run_sync(settings, sink=from_api, now=NOW)
        downloads = [q for q in server.requests if "file_name" in q]
    left, right = (
        s.tabs["complaints"][SAME].sort_values("ticket_id").reset_index(drop=True)
        for s in (from_csv, from_api)
    )
    if columns == 16:
        # The legacy layout has no message_id: the anonymous ticket is keyed by
        # its creation time and location instead of "#2000003".
        anonymous = left["ticket_id"].str.startswith("@")
        assert anonymous.sum() == 1
        assert (
            left.loc[anonymous, "created_at"].item()
            == right.loc[right["ticket_id"] == "#2000003", "created_at"].item()
        )
        left["ticket_id"] = left["ticket_id"].mask(anonymous, "#2000003")
        left = left.sort_values("ticket_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(left, right)
    assert sorted(q["file_name"][0] for q in downloads) == ["bangkok_2023-04", "bangkok_2023-05"]
    assert downloads[0]["purpose"] == ["district office monthly report"]
    kpi = [s.tabs["kpi_monthly"][["month", "total", "in_progress"]] for s in (from_csv, from_api)]
    pd.testing.assert_frame_equal(*kpi)
    state = SyncState.from_frame(from_csv.tabs["_sync"])
    assert state.cursor == datetime(2023, 5, 31, 23, 30, tzinfo=BANGKOK)
    assert state.covered_since == date(2023, 4, 1)


def test_missing_month_is_an_error_for_that_month_and_writes_nothing(traffy: FakeTraffy) -> None:
    sink = MemorySink()
    with pytest.raises(TraffyFatal, match="bangkok_2023-06 is not available") as caught:
        run_backfill(
            load_settings(traffy_url=traffy.url), first_month="2023-05", last_month="2023-06",
            sink=sink, now=NOW,
        )  # fmt: skip
    assert f"{traffy.url}{CSV_PATH}" in str(caught.value)
    assert "email" not in str(caught.value)
    assert sink.loads == 0


def test_backfill_retries_a_server_error_then_loads(traffy: FakeTraffy) -> None:
    reference = backfill(traffy)
    traffy.script(Fault(status=503), Fault(reset=True))
    again = backfill(traffy)
    pd.testing.assert_frame_equal(again.tabs["complaints"], reference.tabs["complaints"])


def test_a_file_shorter_than_its_content_length_is_read_again(traffy: FakeTraffy) -> None:
    reference = backfill(traffy)
    cut = Fault(truncate=3000, path=CSV_PATH, match={"file_name": "bangkok_2023-04"})
    traffy.script(cut)
    again = backfill(traffy)
    assert cut.times == 0, "the cut file was served"
    pd.testing.assert_frame_equal(again.tabs["complaints"], reference.tabs["complaints"])


@pytest.mark.parametrize("missing", [1, 3000])
def test_a_file_always_cut_short_fails_the_backfill(traffy: FakeTraffy, missing: int) -> None:
    """A row-aligned cut parses as a shorter file: only the announced length shows it."""
    traffy.script(Fault(truncate=missing, path=CSV_PATH, times=99))
    sink = MemorySink()
    try:
        with pytest.raises(TraffyUnreachable, match="kept failing") as caught:
            run_backfill(
                load_settings(traffy_url=traffy.url, retry_attempts=2), first_month="2023-04",
                last_month="2023-04", sink=sink, now=NOW,
            )  # fmt: skip
    finally:
        traffy._faults.clear()
    assert "2023-04" in str(caught.value)
    assert sink.loads == 0


def test_backfill_merges_with_synced_months(traffy: FakeTraffy) -> None:
    sink = MemorySink()
    settings = load_settings(
        traffy_url=traffy.url, since=date(2023, 5, 1), until=date(2023, 5, 31), max_invalid_share=1
    )
    run_sync(settings, sink=sink, now=NOW)
    may = len(sink.tabs["complaints"])
    run_backfill(settings, first_month="2023-04", last_month="2023-04", sink=sink, now=NOW)
    months = set(sink.tabs["kpi_monthly"]["month"].dt.strftime("%Y-%m"))
    assert months == {"2023-04", "2023-05"}
    assert len(sink.tabs["complaints"]) == may + 398


def test_bad_months_are_a_config_error() -> None:
    with pytest.raises(ConfigError, match="YYYY-MM"):
        run_backfill(
            load_settings(), first_month="2023-09", last_month="2023-04", sink=MemorySink()
        )
    result = CliRunner().invoke(app, ["backfill", "--from", "April", "--to", "2023-05"])
    assert result.exit_code == 2


def test_csv_quirks_bom_array_literals_lon_lat_text_and_legacy_layout() -> None:
    text = (
        "\ufeffticket_id,type,organization,comment,coords,photo,photo_after,address,"
        "subdistrict,district,province,timestamp,state,star,count_reopen,last_activity\n"
        '2023-QUIRKS,"{ถนน,""ทางเท้า, ทางม้าลาย""}","เขตสวนหลวง,ฝ่ายโยธา เขตสวนหลวง",'
        '"หลาย\nบรรทัด","100.64120,13.73010",,,,สวนหลวง,สวนหลวง,กรุงเทพมหานคร,'
        "2023-04-30 17:30:00.5+00,กำลังดำเนินการ,,0,2023-05-01 01:00:00+00\n"
        '2023-NOWHER,{},,x,"0.00000,0.00000",,,,,วัฒนา,,2023-04-01 00:00:00+00,เสร็จสิ้น,,,\n'
    )
    import csv

    rows = monthly_csv.read_rows(csv.reader(io.StringIO(text)), "2023-04", "สวนหลวง")
    (complaint,) = rows.complaints
    assert rows.columns == 16
    assert rows.other_districts == 1
    assert complaint.types == ("ถนน", "ทางเท้า, ทางม้าลาย")
    assert complaint.organizations == ("เขตสวนหลวง", "ฝ่ายโยธา เขตสวนหลวง")
    assert (complaint.lat, complaint.lon) == (13.7301, 100.6412)
    assert complaint.description == "หลาย\nบรรทัด"
    assert complaint.created_at == datetime(2023, 5, 1, 0, 30, 0, 500000, tzinfo=BANGKOK)


def test_changed_layout_is_fatal() -> None:
    import csv

    with pytest.raises(TraffyFatal, match="lacks columns"):
        monthly_csv.read_rows(csv.reader(io.StringIO("id,when\n1,2\n")), "2023-04", "สวนหลวง")


def test_memory_stays_flat_while_streaming_a_big_month(tmp_path: Path) -> None:
    """A month of all of Bangkok (other districts) streams without holding the file."""
    factory = TicketFactory(seed=3)
    others = [
        factory.feature(datetime(2023, 4, 1 + i % 28, 10, i % 60), "วัฒนา", "เสร็จสิ้น", "finish")
        for i in range(4500)
    ]
    with FakeTraffy(others) as server:
        size = len(server.csv_month("bangkok_2023-04") or b"")
        client_settings = load_settings(traffy_url=server.url)
        from etl.pipeline import make_client

        client = make_client(client_settings, requests.Session())
        tracemalloc.start()
        rows = monthly_csv.fetch_month(client, "2023-04", "สวนหลวง", {})
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert rows.rows == 4500
    assert rows.other_districts == 4500
    assert size > 4_500_000
    assert peak < size / 2  # never the whole file (server and client share this process)


def test_new_options_are_in_help_and_readme() -> None:
    runner = CliRunner()
    reference = Path(__file__).parent.parent / "docs" / "cli.md"  # generated from --help
    readme = reference.read_text(encoding="utf-8")
    sync_help = runner.invoke(app, ["sync", "--help"], terminal_width=200).output
    backfill_help = runner.invoke(app, ["backfill", "--help"], terminal_width=200).output
    for option in ("--feed", "--full-refresh"):
        assert option in sync_help
        assert f" {option} " in readme
    for option in ("--from", "--to"):
        assert option in backfill_help
        assert f" {option} " in readme
    for key in ("retry_budget", "concurrency", "max_window_pages", "sync_overlap_days",
                "backfill_email"):  # fmt: skip
        assert f"`{key}`" in readme


def test_backfill_logs_the_files_it_read_as_its_summary_counts_them(
    traffy: FakeTraffy, tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        app,
        ["backfill", "--from", "2023-04", "--to", "2023-05", "--traffy-url", traffy.url,
         "--out", str(tmp_path / "out")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    fetched = re.search(r"fetched +(\d+) records in (\d+) pages", result.stdout)
    assert fetched, result.stdout
    records, pages = fetched.groups()
    assert f"extract: {pages} pages, {records} records" in result.stderr
    assert int(records) > 0
