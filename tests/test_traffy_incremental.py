"""Incremental sync: the cursor lives in the sink, open tickets are refreshed, tabs stay whole."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from etl.cli import app
from etl.fakes.synthetic import TicketFactory
from etl.fakes.traffy import FakeTraffy
from etl.guard import OutputOfAnotherDistrict
from etl.models import BANGKOK
from etl.pipeline import run_sync
from etl.settings import Settings, load_settings
from etl.sinks import MemorySink
from etl.traffy.incremental import SyncState, pages, refresh_windows

MAY_20 = datetime(2023, 5, 20, 8, 0, tzinfo=BANGKOK)
MAY_21 = datetime(2023, 5, 21, 8, 0, tzinfo=BANGKOK)


def settings_for(server: FakeTraffy, **extra: Any) -> Settings:
    return load_settings(traffy_url=server.url, window_months=2, page_size=100, **extra)


def comparable(tabs: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The tabs without run timestamps, rows in key order."""
    out = {}
    for name in ("complaints", "complaint_types", "complaint_orgs", "kpi_monthly"):
        frame = tabs[name].drop(columns=["as_of"], errors="ignore")
        out[name] = frame.sort_values(list(frame.columns[:2])).reset_index(drop=True)
    return out


def fake_pages(server: FakeTraffy, span: tuple[date, date], size: int) -> int:
    """Requests paging one window takes (``end`` is sent a day late, see extract)."""
    first, last = span
    held = sum(
        first <= date.fromisoformat(f["properties"]["timestamp"][:10]) <= last + timedelta(days=1)
        for f in server.features
        if f["properties"]["timestamp"][:4].isdigit() and f["properties"]["timestamp"][4] == "-"
    )
    return held // size + 1


def open_april_ticket(server: FakeTraffy) -> dict[str, Any]:
    return next(
        f
        for f in server.features
        if f["properties"]["state_type_latest"] == "inprogress"
        and f["properties"]["timestamp"].startswith("2023-04-0")
        and f["properties"]["district"] == "สวนหลวง"
    )


def test_second_run_fetches_new_and_open_tickets_only_and_writes_whole_tabs(
    traffy: FakeTraffy,
) -> None:
    sink = MemorySink()
    first = run_sync(settings_for(traffy), sink=sink, now=MAY_20)
    assert first.plan is not None
    assert first.plan.mode == "full"
    full_requests = len(traffy.requests)

    # Between runs: an open April ticket is finished, and a new ticket arrives.
    changed = open_april_ticket(traffy)["properties"]
    changed.update(state="เสร็จสิ้น", state_type_latest="finish", last_activity="2023-05-20 10:00:00")
    factory = TicketFactory(seed=99)
    traffy.add(factory.feature(datetime(2023, 5, 20, 9, 0), "สวนหลวง", "รอรับเรื่อง", "start"))

    before = len(traffy.requests)
    second = run_sync(settings_for(traffy), sink=sink, now=MAY_21)
    assert second.plan is not None
    assert second.plan.mode == "incremental"
    assert second.plan.open_tickets > 0
    incremental_requests = len(traffy.requests) - before
    # Exactly the pages of the planned windows (new + refresh), nothing more.
    assert incremental_requests == sum(fake_pages(traffy, span, 100) for span in second.plan.spans)
    assert incremental_requests <= full_requests

    reference = MemorySink()
    run_sync(settings_for(traffy), sink=reference, now=MAY_21)  # a first, full run
    for name, frame in comparable(reference.tabs).items():
        pd.testing.assert_frame_equal(comparable(sink.tabs)[name], frame, check_dtype=False)
    complaints = sink.tabs["complaints"].set_index("ticket_id")
    assert complaints.loc[changed["ticket_id"], "state_group"] == "finished"


def test_sync_tab_holds_the_cursor_and_is_not_for_looker(traffy: FakeTraffy) -> None:
    from etl.tabs import TABS

    sink = MemorySink()
    run_sync(settings_for(traffy), sink=sink, now=MAY_20)
    state = SyncState.from_frame(sink.tabs["_sync"])
    newest = sink.tabs["complaints"]["created_at"].max()
    assert state.cursor is not None
    assert state.cursor.replace(tzinfo=None) == newest.to_pydatetime()
    assert (state.district, state.feed) == ("สวนหลวง", "v1")
    assert state.records_per_day is not None
    assert TABS["_sync"].for_looker is False


def test_full_refresh_scans_everything_and_keeps_history(traffy: FakeTraffy) -> None:
    sink = MemorySink()
    run_sync(settings_for(traffy), sink=sink, now=MAY_20)
    history = sink.tabs["status_history"].copy()
    again = run_sync(settings_for(traffy), sink=sink, now=MAY_21, full_refresh=True)
    assert again.plan is not None
    assert again.plan.mode == "full"
    pd.testing.assert_frame_equal(sink.tabs["status_history"].head(len(history)), history)


def test_another_district_into_the_same_output_is_a_usage_error(traffy: FakeTraffy) -> None:
    sink = MemorySink()
    run_sync(settings_for(traffy), sink=sink, now=MAY_20)
    held = {name: frame.copy() for name, frame in sink.tabs.items()}
    requests = len(traffy.requests)
    with pytest.raises(OutputOfAnotherDistrict, match="holds the tickets of เขตสวนหลวง") as raised:
        run_sync(settings_for(traffy, district="วัฒนา"), sink=sink, now=MAY_21)
    assert raised.value.exit_code == 2
    assert "move its files (or the spreadsheet) aside" in str(raised.value)
    assert len(traffy.requests) == requests  # refused before the first request
    assert sink.tabs.keys() == held.keys()
    for name, frame in held.items():
        pd.testing.assert_frame_equal(sink.tabs[name], frame, obj=name)


def test_cron_and_terminal_share_the_state_in_the_output_folder(
    traffy: FakeTraffy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    out = tmp_path / "shared-out"
    args = ["sync", "--traffy-url", traffy.url, "--out", str(out)]
    monkeypatch.setenv("ETL_PAGE_SIZE", "100")
    monkeypatch.setenv("ETL_WINDOW_MONTHS", "48")  # from today back to the 2023 fixtures
    monkeypatch.setenv("ETL_WINDOW_DAYS", "366")
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert (out / "_sync.csv").is_file()
    monkeypatch.chdir(tmp_path)  # another working directory, same sink
    second = runner.invoke(app, args)
    assert second.exit_code == 0, second.output
    assert "incremental" in second.output
    forced = runner.invoke(app, [*args, "--full-refresh"])
    assert "full" in forced.output.split("incremental")[0]


def test_refresh_windows_merge_only_when_cheaper() -> None:
    days = [date(2023, 4, 1), date(2023, 4, 2), date(2023, 4, 5)]
    # All of Bangkok, about a page a day: a gap is not worth paging.
    assert refresh_windows(days, lambda _: 900.0, 1000, 31) == [
        (date(2023, 4, 1), date(2023, 4, 2)),
        (date(2023, 4, 5), date(2023, 4, 5)),
    ]
    # A district-filtered feed, 20 a day: one window, one page.
    assert refresh_windows(days, lambda _: 20.0, 1000, 31) == [(date(2023, 4, 1), date(2023, 4, 5))]
    assert pages(date(2023, 4, 1), date(2023, 4, 1), lambda _: 1000.0, 1000) == 2


def test_incremental_sync_through_the_sheets_sink_reads_its_state_back(
    traffy: FakeTraffy, monkeypatch: pytest.MonkeyPatch
) -> None:
    from etl.fakes.sheets import FakeSheetsServer
    from etl.outputs import make_sink

    with FakeSheetsServer() as sheets:
        monkeypatch.setenv("ETL_SHEETS_API_URL", sheets.url)
        settings = settings_for(traffy, spreadsheet_id=sheets.create_spreadsheet())
        first = run_sync(settings, sink=make_sink(settings), now=MAY_20)
        sheets.reset_stats()
        second = run_sync(settings, sink=make_sink(settings), now=MAY_21)
        sync_tab = sheets.tab_values(settings.spreadsheet_id or "", "_sync")
    assert first.plan is not None
    assert first.plan.mode == "full"
    assert second.plan is not None
    assert second.plan.mode == "incremental"
    assert second.plan.open_tickets > 0  # read back from the spreadsheet
    # April's 398, the anonymous ticket and 0AB123; 2023-LASTDY is after May 21.
    assert second.complaints_total == first.complaints_total == 400
    assert [row[0] for row in sync_tab[1:]][:3] == ["district", "feed", "cursor"]


def test_records_invalid_in_every_scan_do_not_fail_later_small_runs(traffy: FakeTraffy) -> None:
    """The broken-timestamp record is served with every window: judged once, then known."""
    for feature in traffy.features:
        if feature["properties"]["state_type_latest"] not in (None, "finish"):
            feature["properties"].update(state="เสร็จสิ้น", state_type_latest="finish")
    sink = MemorySink()
    run_sync(settings_for(traffy), sink=sink, now=MAY_20)  # 2 of about 400 invalid: fine
    second = run_sync(settings_for(traffy), sink=sink, now=MAY_21)
    assert second.plan is not None
    assert second.plan.refresh == []  # nothing open: only the last days are read
    assert second.extract.rejected >= 1  # the same broken record, again
    assert second.extract.valid < 20  # a small run, where one reject is over 5 %
    assert len(sink.tabs["rejects"]) == 2
