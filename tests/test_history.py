"""History tabs: state changes and KPI snapshots grow only when something changed."""

from __future__ import annotations

import copy
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from etl.fakes.traffy import FakeTraffy
from etl.history import kpi_as_of, kpi_snapshots, status_history, with_past_months
from etl.kpi import kpi_monthly
from etl.models import BANGKOK
from etl.pipeline import run_sync
from etl.settings import load_settings
from etl.sinks import LocalSink
from tests.test_kpi import complaints, ticket

MONDAY = datetime(2023, 6, 5, 8, 0, tzinfo=BANGKOK)
TUESDAY = datetime(2023, 6, 6, 8, 0, tzinfo=BANGKOK)
WEDNESDAY = datetime(2023, 6, 7, 8, 0, tzinfo=BANGKOK)


def tickets(d_state: str = "in_progress") -> pd.DataFrame:
    return complaints(
        [
            ticket("2023-04-02 09:00", "in_progress", ticket_id="A"),
            ticket("2023-05-02 09:00", "waiting", ticket_id="B"),
            ticket("2023-05-03 09:00", d_state, ticket_id="D", finished="2023-05-05 09:00"),
        ]
    )


def test_first_sync_records_every_ticket_once() -> None:
    history = status_history(None, tickets(), MONDAY)
    assert history["ticket_id"].tolist() == ["A", "B", "D"]
    assert history["state_group"].tolist() == ["in_progress", "waiting", "in_progress"]
    assert (history["observed_at"] == pd.Timestamp("2023-06-05 08:00")).all()


def test_history_grows_only_by_state_changes() -> None:
    monday = status_history(None, tickets(), MONDAY)
    tuesday = status_history(monday, tickets(), TUESDAY)
    pd.testing.assert_frame_equal(tuesday, monday)
    wednesday = status_history(tuesday, tickets("finished"), WEDNESDAY)
    assert len(wednesday) == 4
    last = wednesday.iloc[-1]
    assert (last["ticket_id"], last["state"], last["observed_at"]) == (
        "D",
        "เสร็จสิ้น",
        pd.Timestamp("2023-06-07 08:00"),
    )
    pd.testing.assert_frame_equal(wednesday.iloc[:3], monday)


def test_ticket_out_of_the_window_keeps_its_history_and_gets_no_row() -> None:
    monday = status_history(None, tickets(), MONDAY)
    only_may = tickets().iloc[1:]
    assert status_history(monday, only_may, TUESDAY).equals(monday)


def test_snapshots_add_a_row_only_for_a_month_whose_numbers_changed() -> None:
    monday = kpi_snapshots(None, kpi_monthly(tickets(), MONDAY))
    assert monday["month"].dt.month.tolist() == [4, 5]
    tuesday = kpi_snapshots(monday, kpi_monthly(tickets(), TUESDAY))
    pd.testing.assert_frame_equal(tuesday, monday)
    wednesday = kpi_snapshots(tuesday, kpi_monthly(tickets("finished"), WEDNESDAY))
    assert len(wednesday) == 3
    may = wednesday[wednesday["month"] == pd.Timestamp("2023-05-01")]
    assert may["in_progress"].tolist() == [1, 0]
    assert may["finished_timed"].tolist() == [0, 1]
    assert may["as_of"].tolist() == [
        pd.Timestamp("2023-06-05 08:00"),
        pd.Timestamp("2023-06-07 08:00"),
    ]


def test_kpi_as_of_reproduces_a_past_meetings_numbers() -> None:
    monday_kpi = kpi_monthly(tickets(), MONDAY)
    snapshots = kpi_snapshots(None, monday_kpi)
    snapshots = kpi_snapshots(snapshots, kpi_monthly(tickets("finished"), WEDNESDAY))
    tuesday = kpi_as_of(snapshots, TUESDAY)
    pd.testing.assert_frame_equal(tuesday, monday_kpi)
    now = kpi_as_of(snapshots, WEDNESDAY)
    assert now["in_progress"].tolist() == [1, 0]
    assert kpi_as_of(snapshots, datetime(2023, 1, 1, tzinfo=BANGKOK)).empty


def _sync(features: list[dict[str, Any]], out: Path, now: datetime) -> None:
    with FakeTraffy(features) as server:
        settings = load_settings(
            traffy_url=server.url, since=date(2023, 4, 1), until=date(2023, 5, 31), out=out
        )
        run_sync(settings, now=now)


def test_rerunning_a_sync_with_no_change_leaves_history_and_snapshots_unchanged(
    features: list[dict[str, Any]], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    _sync(features, out, MONDAY)
    files = ("status_history.csv", "kpi_snapshots.csv")
    first = {name: (out / name).read_bytes() for name in files}
    _sync(features, out, TUESDAY)
    assert {name: (out / name).read_bytes() for name in files} == first
    assert b"2023-06-06" in (out / "meta.csv").read_bytes()  # the sync did run

    changed = copy.deepcopy(features)
    april = next(f for f in changed if f["properties"]["state"] == "กำลังดำเนินการ")
    april["properties"].update(state="เสร็จสิ้น", state_type_latest="finish")
    _sync(changed, out, WEDNESDAY)
    tabs = LocalSink(out).read_tabs(["status_history", "kpi_snapshots"])
    history, snapshots = tabs["status_history"], tabs["kpi_snapshots"]
    assert len(history) == first["status_history.csv"].count(b"\n") - 1 + 1
    assert history.iloc[-1]["ticket_id"] == april["properties"]["ticket_id"]
    new = snapshots[snapshots["as_of"] == pd.Timestamp("2023-06-07 08:00")]
    assert new["month"].tolist() == [pd.Timestamp(april["properties"]["timestamp"][:7] + "-01")]
    assert new["in_progress"].iloc[0] == 9  # April 2566 had 10


def test_kpi_monthly_keeps_the_months_earlier_syncs_saw(
    features: list[dict[str, Any]], tmp_path: Path
) -> None:
    """A sync of June only still shows April and May as their last sync left them."""
    out = tmp_path / "out"
    _sync(features, out, MONDAY)
    april_may = LocalSink(out).read_tabs(["kpi_monthly"])["kpi_monthly"]
    june = copy.deepcopy(features[0])
    june["properties"].update(ticket_id="2023-JUNE01", timestamp="2023-06-02 10:00:00")
    with FakeTraffy([*features, june]) as server:
        settings = load_settings(
            traffy_url=server.url,
            since=date(2023, 6, 1),
            until=date(2023, 6, 30),
            out=out,
            max_invalid_share=1.0,  # the edge cases' broken timestamp is all June has besides
        )
        run_sync(settings, now=TUESDAY)
    kpi = LocalSink(out).read_tabs(["kpi_monthly"])["kpi_monthly"]
    assert kpi["month_th"].tolist() == ["เมษายน 2566", "พฤษภาคม 2566", "มิถุนายน 2566"]
    pd.testing.assert_frame_equal(kpi.iloc[:2], april_may)  # as_of: Monday's sync
    assert kpi.iloc[2]["total"] == 1
    assert kpi.iloc[2]["as_of"] == pd.Timestamp("2023-06-06 08:00")


def test_with_past_months_leaves_a_first_sync_alone() -> None:
    kpi = kpi_monthly(tickets(), MONDAY)
    pd.testing.assert_frame_equal(with_past_months(kpi, kpi_snapshots(None, kpi)), kpi)
