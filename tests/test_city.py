"""A city run: several districts from one extraction, each in its own output.

Against the fake Traffy server (all of Bangkok, synthetic) and the fake Sheets
server: each district's folder equals what its own sync writes, for the
requests of one district; a district that fails does not stop the others; the
Sheets limiter holds over every spreadsheet of the process.
"""

from __future__ import annotations

import filecmp
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from etl.city import district_rows
from etl.cli import app
from etl.districts import UnknownDistrict
from etl.errors import ConfigError
from etl.fakes.sheets import FakeSheetsServer
from etl.fakes.synthetic import SyntheticBangkok
from etl.fakes.traffy import FakeTraffy
from etl.models import BANGKOK
from etl.outputs import district_sinks
from etl.pipeline import make_client, run_city_sync, run_sync
from etl.settings import load_settings
from etl.sinks.sheets import SheetsSink
from etl.sinks.sheets_quota import RequestLimiter
from etl.traffy.extract import extract

runner = CliRunner()

SERVED = ("สวนหลวง", "บางกะปิ", "ประเวศ")
DAY_1 = datetime(2023, 7, 10, 9, 0, tzinfo=BANGKOK)
DAY_2 = datetime(2023, 7, 11, 9, 0, tzinfo=BANGKOK)


@pytest.fixture(scope="module")
def bangkok() -> list[dict[str, Any]]:
    """All of Bangkok, April to early July 2566: about 3,700 tickets of 50 districts,
    3 % odd records (invalid ones, blank districts decided by the address, ...)."""
    return list(SyntheticBangkok(5, first=date(2023, 4, 1), years=0.3).features(4000))


@pytest.fixture
def city(bangkok: list[dict[str, Any]]) -> Iterator[FakeTraffy]:
    with FakeTraffy(bangkok) as server:
        yield server


def settings_for(server: FakeTraffy, district: str, out: Path, until: date, **extra: Any) -> Any:
    return load_settings(
        district=district, out=out, traffy_url=server.url, until=until, page_size=200, **extra
    )


def same_files(single: Path, city: Path, *, comparison: bool = True) -> None:
    """Every tab of the district's own sync, byte for byte (``_runs`` holds run ids).

    The city comparison too, unless ``comparison`` is False: a district synced
    alone sees the whole city as well, but an incremental run refreshes the
    other districts' numbers from the days it read, and a run serving several
    districts reads more days."""
    compared = filecmp.dircmp(single, city)
    assert compared.left_only == compared.right_only == []
    assert (single / "kpi_monthly_by_district.csv").stat().st_size > 1000
    skipped = {"_runs.csv"} | (set() if comparison else {"kpi_monthly_by_district.csv"})
    _, mismatch, errors = filecmp.cmpfiles(
        single, city, [p.name for p in single.iterdir() if p.name not in skipped], shallow=False
    )
    assert (mismatch, errors) == ([], [])


def test_each_district_gets_what_its_own_sync_writes_for_one_districts_requests(
    city: FakeTraffy, tmp_path: Path
) -> None:
    first = {"since": date(2023, 4, 1)}
    result = run_city_sync(
        settings_for(city, ",".join(SERVED), tmp_path / "city", date(2023, 7, 9), **first),
        now=DAY_1,
    )
    city_requests = len(city.requests)
    assert city_requests == result.extract.requests > 0
    assert [d.district for d in result.districts] == list(SERVED)
    assert result.failed == []
    for name in SERVED:
        city.requests.clear()
        own = settings_for(city, name, tmp_path / "single" / name, date(2023, 7, 9), **first)
        single = run_sync(own, now=DAY_1)
        assert len(city.requests) == city_requests  # feed 1 pages all of Bangkok either way
        same_files(tmp_path / "single" / name, tmp_path / "city" / name)
        assert single.complaints_total > 50  # each district has data of its own
    totals = {d.district: d.result.complaints_total for d in result.districts if d.result}
    assert len(set(totals.values())) == 3  # three districts, three different sets of tickets

    # The next morning: each district continues from its own cursor, and the one
    # extraction covers the open tickets of all three.
    city.requests.clear()
    later = run_city_sync(
        settings_for(city, ",".join(SERVED), tmp_path / "city", date(2023, 7, 10)), now=DAY_2
    )
    city_requests = len(city.requests)
    singles = []
    for name in SERVED:
        city.requests.clear()
        own = settings_for(city, name, tmp_path / "single" / name, date(2023, 7, 10))
        assert run_sync(own, now=DAY_2).plan.mode == "incremental"  # type: ignore[union-attr]
        singles.append(len(city.requests))
        same_files(tmp_path / "single" / name, tmp_path / "city" / name, comparison=False)
    assert [d.result.plan.mode for d in later.districts if d.result and d.result.plan] == [
        "incremental"
    ] * 3
    assert max(singles) <= city_requests < sum(singles)


def test_a_city_backfill_reads_each_monthly_file_once(city: FakeTraffy, tmp_path: Path) -> None:
    from etl.pipeline import run_backfill, run_city_backfill

    months = {"first_month": "2023-04", "last_month": "2023-05"}
    served = settings_for(city, ",".join(SERVED), tmp_path / "city", date(2023, 7, 9))
    result = run_city_backfill(served, now=DAY_1, **months)
    assert result.failed == []
    assert len(city.requests) == result.extract.requests == 2  # one file per month
    for name in SERVED:
        city.requests.clear()
        own = settings_for(city, name, tmp_path / "single" / name, date(2023, 7, 9))
        assert run_backfill(own, now=DAY_1, **months).complaints_total > 50
        assert len(city.requests) == 2
        same_files(tmp_path / "single" / name, tmp_path / "city" / name)


def test_a_district_added_later_is_synced_in_full_and_the_others_continue(
    city: FakeTraffy, tmp_path: Path
) -> None:
    out = tmp_path / "city"
    run_city_sync(settings_for(city, "สวนหลวง,บางกะปิ", out, date(2023, 7, 9)), now=DAY_1)
    result = run_city_sync(settings_for(city, ",".join(SERVED), out, date(2023, 7, 10)), now=DAY_2)
    modes = {d.district: d.result.plan.mode for d in result.districts if d.result and d.result.plan}
    assert modes == {"สวนหลวง": "incremental", "บางกะปิ": "incremental", "ประเวศ": "full"}


def test_the_comparison_tab_ranks_every_district_against_the_city(
    city: FakeTraffy, tmp_path: Path
) -> None:
    served = settings_for(
        city, ",".join(SERVED), tmp_path, date(2023, 7, 9), since=date(2023, 4, 1)
    )
    run_city_sync(served, now=DAY_1)
    tabs = [
        pd.read_csv(tmp_path / name / "kpi_monthly_by_district.csv", encoding="utf-8-sig")
        for name in SERVED
    ]
    assert all(tab.equals(tabs[0]) for tab in tabs)  # the same table in every office's output
    tab = tabs[0]
    april = tab[tab["month"] == "2023-04-01"].set_index("district")
    complaints = pd.concat(
        pd.read_csv(tmp_path / name / "complaints.csv", encoding="utf-8-sig") for name in SERVED
    )
    for name in SERVED:  # the district's row is its own kpi_monthly's month
        own = pd.read_csv(tmp_path / name / "kpi_monthly.csv", encoding="utf-8-sig")
        mine = own[own["month"] == "2023-04-01"].iloc[0]
        assert april.loc[name, "total"] == mine["total"]
        assert april.loc[name, "in_progress_pct"] == mine["in_progress_pct"]
    served_april = complaints[complaints["month"] == "2023-04-01"]
    assert sum(april.loc[name, "total"] for name in SERVED) == len(served_april)
    districts = april.drop(index="กรุงเทพมหานคร")
    assert april.loc["กรุงเทพมหานคร", "total"] == districts["total"].sum()
    assert len(districts) > 40  # the other districts come from the same extraction


def test_rank_and_city_row_by_hand() -> None:
    from etl.ranking import kpi_monthly_by_district

    def tickets(district: str, in_progress: int, finished: int, month: str) -> list[dict[str, Any]]:
        created = pd.Timestamp(f"{month}-05 10:00")
        groups = ["in_progress"] * in_progress + ["finished"] * finished
        return [
            {
                "ticket_id": f"{district}-{month}-{i}",
                "month": pd.Timestamp(f"{month}-01"),
                "state_group": group,
                "created_at": created,
                "finished_at": created + pd.Timedelta(days=2) if group == "finished" else pd.NaT,
                "count_reopen": 0,
                "star": None,
                "district": district,
            }
            for i, group in enumerate(groups)
        ]

    rows = [
        # April: shares 10 % (สวนหลวง), 10 % (บางกะปิ), 5 % (ประเวศ), 50 % (บางรัก, too few).
        *tickets("สวนหลวง", 2, 18, "2023-04"),
        *tickets("บางกะปิ", 3, 27, "2023-04"),
        *tickets("ประเวศ", 1, 19, "2023-04"),
        *tickets("บางรัก", 1, 1, "2023-04"),
        *tickets("Chiang Mai", 5, 5, "2023-04"),  # not a Bangkok district: left out
        # May: 1 of 20 in สวนหลวง only.
        *tickets("สวนหลวง", 1, 19, "2023-05"),
    ]
    frame = pd.DataFrame(rows)
    frame["count_reopen"] = frame["count_reopen"].astype("Int64")
    frame["star"] = frame["star"].astype("Int64")
    frame["finished_at"] = pd.to_datetime(frame["finished_at"])
    tab = kpi_monthly_by_district(frame, DAY_1, min_tickets=20)
    april = tab[tab["month"] == pd.Timestamp("2023-04-01")].set_index("district")
    assert list(april.index) == ["กรุงเทพมหานคร", "บางกะปิ", "บางรัก", "ประเวศ", "สวนหลวง"]
    # City: 20 + 30 + 20 + 2 = 72 tickets, 2 + 3 + 1 + 1 = 7 in progress: 9.72 %.
    assert april.loc["กรุงเทพมหานคร", ["total", "in_progress"]].tolist() == [72, 7]
    assert april.loc["กรุงเทพมหานคร", "in_progress_pct"] == 9.72
    assert pd.isna(april.loc["กรุงเทพมหานคร", "in_progress_rank"])
    assert april["in_progress_pct"].to_dict() == {
        "กรุงเทพมหานคร": 9.72, "บางกะปิ": 10.0, "บางรัก": 50.0, "ประเวศ": 5.0, "สวนหลวง": 10.0,
    }  # fmt: skip
    ranks = april["in_progress_rank"].to_dict()
    assert ranks["ประเวศ"] == 1  # the smallest share still in progress
    assert ranks["สวนหลวง"] == ranks["บางกะปิ"] == 2  # a tie shares the rank
    assert pd.isna(ranks["บางรัก"])  # 2 tickets, under the minimum of 20
    assert set(april["districts_ranked"]) == {3}
    may = tab[tab["month"] == pd.Timestamp("2023-05-01")].set_index("district")
    assert pd.isna(may.loc["กรุงเทพมหานคร", "in_progress_rank"])
    assert may.loc["สวนหลวง", "in_progress_rank"] == 1
    assert set(may["districts_ranked"]) == {1}
    assert may.loc["กรุงเทพมหานคร", "in_progress_pct"] == 5.0


def test_a_blank_district_is_decided_by_the_address_as_feed_1_does() -> None:
    frame = pd.DataFrame(
        {
            "district": ["สวนหลวง", "เขตบางกะปิ", None, "", "ประเวศ"],
            "address": ["", "", "ซอย 1 เขต สวนหลวง กรุงเทพ", "เขตบางกะปิ", "เขตสวนหลวง"],
        }
    )
    rows = district_rows(frame, ["สวนหลวง", "บางกะปิ", "ประเวศ"])
    assert {name: list(positions) for name, positions in rows.items()} == {
        "สวนหลวง": [0, 2], "บางกะปิ": [1, 3], "ประเวศ": [4],
    }  # fmt: skip


def test_one_district_keeps_the_others_only_as_far_as_the_comparison_reads_them(
    city: FakeTraffy,
) -> None:
    """A one-district run of feed 1 keeps its own tickets whole and the rest of Bangkok
    without their texts (``extract``'s ``others``): the same tickets, the same counts."""
    settings = settings_for(city, "สวนหลวง", Path("unused"), date(2023, 7, 9))
    spans = [(date(2023, 4, 1), date(2023, 7, 9))]

    def read(**how: Any) -> pd.DataFrame:
        return extract(make_client(settings), spans=spans, page_size=200, **how).frame

    whole, slim = read(district=None), read(district="สวนหลวง", others=True)
    pd.testing.assert_series_equal(whole["ticket_id"], slim["ticket_id"])
    mine = district_rows(whole, ["สวนหลวง"])["สวนหลวง"]
    assert list(district_rows(slim, ["สวนหลวง"])["สวนหลวง"]) == list(mine)
    pd.testing.assert_frame_equal(whole.take(mine), slim.take(mine))  # its own: whole
    theirs = slim.drop(index=slim.index[mine])
    assert len(theirs) > 10 * len(mine)
    assert theirs["description"].isna().all()
    assert whole["description"].notna().sum() > len(mine)
    counted = ["ticket_id", "created_at", "finished_at", "state", "state_type", "district", "star"]
    pd.testing.assert_frame_equal(whole.drop(index=mine)[counted], theirs[counted])
    blank = theirs["district"].fillna("") == ""  # the address names their district
    assert blank.any()
    assert theirs.loc[blank, "address"].notna().all()


def test_all_and_comma_lists_name_the_served_districts() -> None:
    assert len(load_settings(district="all").served_districts) == 50
    listed = load_settings(district=" เขตสวนหลวง, Bang Kapi ,สวนหลวง")
    assert listed.served_districts == ("สวนหลวง", "บางกะปิ")
    assert load_settings(district="สวนหลวง").served_districts == ("สวนหลวง",)
    with pytest.raises(UnknownDistrict, match="Did you mean บางกะปิ"):
        load_settings(district="สวนหลวง,บางกะปี")


def test_a_served_district_without_a_spreadsheet_is_a_usage_error(tmp_path: Path) -> None:
    settings = load_settings(
        district="สวนหลวง,บางกะปิ",
        spreadsheets={"เขตสวนหลวง": "sid-1"},
        sheets_api_url="http://127.0.0.1:9",  # nothing is sent: only the sinks are made
    )
    assert settings.spreadsheets == {"สวนหลวง": "sid-1"}
    with pytest.raises(ConfigError, match=r"No spreadsheet for 1 served district.*บางกะปิ"):
        district_sinks(settings, local_rest=False)
    sinks = district_sinks(settings.model_copy(update={"out": tmp_path}), local_rest=True)
    assert isinstance(sinks["สวนหลวง"], SheetsSink)
    assert sinks["บางกะปิ"].description.startswith(f"{tmp_path}/บางกะปิ")
    # A single district listed there writes to its spreadsheet without spreadsheet_id.
    assert load_settings(spreadsheets={"สวนหลวง": "sid-1"}).spreadsheet_id == "sid-1"


def test_a_spreadsheet_not_shared_fails_its_district_only(
    city: FakeTraffy, sheets: FakeSheetsServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ids = {name: sheets.create_spreadsheet() for name in SERVED}
    sheets.deny(ids["บางกะปิ"])
    monkeypatch.setenv("ETL_SPREADSHEETS", pd.Series(ids).to_json(force_ascii=False))
    result = runner.invoke(
        app,
        ["sync", "--district", ",".join(SERVED), "--traffy-url", city.url,
         "--since", "2023-04-01", "--until", "2023-07-09"],
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "1 of 3 districts were not published (บางกะปิ: SheetsAuthError" in result.output
    assert "share the spreadsheet" in result.output
    lines = result.output.splitlines()
    assert any(line.strip().startswith("บางกะปิ") and "FAILED" in line for line in lines)
    assert any("2 published, 1 failed" in line for line in lines)
    for name in ("สวนหลวง", "ประเวศ"):
        complaints = sheets.tab_values(ids[name], "complaints")
        assert len(complaints) > 50
        # The district column; a blank one was decided by the address.
        assert {row[10] for row in complaints[1:]} - {None} == {name}
        assert sheets.tab_values(ids[name], "kpi_monthly_by_district")[0][:3] == [
            "month", "month_th", "district",
        ]  # fmt: skip
        assert sheets.tab_values(ids[name], "_runs")[-1][3] == "ok"


class FakeClock:
    """Seconds that pass only when the limiter sleeps: an hour of quota in no time."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_the_limiter_holds_over_every_spreadsheet_of_the_process(
    city: FakeTraffy, sheets: FakeSheetsServer, tmp_path: Path
) -> None:
    clock = FakeClock()
    limiter = RequestLimiter(2, clock=clock, sleep=clock.sleep)
    settings = settings_for(city, ",".join(SERVED), tmp_path, date(2023, 7, 9))
    sinks = {
        name: SheetsSink(sheets.create_spreadsheet(), api_url=sheets.url, limiter=limiter)
        for name in SERVED
    }
    sheets.reset_stats()
    assert run_city_sync(settings, sinks=sinks, now=DAY_1).failed == []
    later = settings_for(city, ",".join(SERVED), tmp_path, date(2023, 7, 10))
    assert run_city_sync(later, sinks=sinks, now=DAY_2).failed == []
    # A first load and a daily sync: 3 requests or more per spreadsheet each.
    assert len(limiter.granted) == sheets.stats.requests >= 18  # every request went through it
    granted = limiter.granted
    busiest = max(sum(1 for t in granted if start <= t < start + 60) for start in granted)
    assert busiest == 2  # never more than the limit in any 60 s
    assert limiter.waited >= 60 * (len(granted) // 2 - 1)
    assert clock.now - 1000.0 == pytest.approx(limiter.waited)


def test_the_limiter_waits_only_when_the_window_is_full() -> None:
    clock = FakeClock()
    limiter = RequestLimiter(2, clock=clock, sleep=clock.sleep)
    assert [limiter.acquire(), limiter.acquire()] == [0.0, 0.0]
    clock.now += 10
    assert limiter.acquire() == 50.0  # the first request leaves the window at 60 s
    clock.now += 61
    assert limiter.acquire() == 0.0
    assert limiter.granted == [1000.0, 1000.0, 1060.0, 1121.0]


def test_an_output_bound_to_another_district_fails_that_district_only(
    city: FakeTraffy, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    wrong = settings_for(city, "สวนหลวง", out / "บางกะปิ", date(2023, 7, 9))
    run_sync(wrong, now=DAY_1)  # สวนหลวง's tickets in the folder named for บางกะปิ
    before = {p.name: p.read_bytes() for p in (out / "บางกะปิ").iterdir() if p.name != "_runs.csv"}
    result = run_city_sync(settings_for(city, ",".join(SERVED), out, date(2023, 7, 10)), now=DAY_2)
    assert [d.district for d in result.failed] == ["บางกะปิ"]
    assert "OutputOfAnotherDistrict" in (result.failed[0].error or "")
    after = {p.name: p.read_bytes() for p in (out / "บางกะปิ").iterdir() if p.name != "_runs.csv"}
    assert after == before  # nothing written into it, the failure logged in its _runs
    runs = pd.read_csv(out / "บางกะปิ" / "_runs.csv", encoding="utf-8-sig")
    assert runs["outcome"].iloc[-1] == "OutputOfAnotherDistrict"
    for name in ("สวนหลวง", "ประเวศ"):
        assert (out / name / "kpi_monthly_by_district.csv").is_file()


def test_doctor_checks_every_districts_spreadsheet(
    city: FakeTraffy, sheets: FakeSheetsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = {name: sheets.create_spreadsheet() for name in ("สวนหลวง", "บางกะปิ")}
    sheets.deny(ids["บางกะปิ"])
    monkeypatch.setenv("ETL_SPREADSHEETS", pd.Series(ids).to_json(force_ascii=False))
    result = runner.invoke(app, ["doctor", "--traffy-url", city.url])
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert any(line.startswith("OK    spreadsheet สวนหลวง") for line in lines), result.output
    denied = next(line for line in lines if line.startswith("FAIL  spreadsheet บางกะปิ"))
    assert "not shared" in denied


def test_cli_city_run_to_folders_and_the_report_of_one_district(
    city: FakeTraffy, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        ["sync", "--district", "สวนหลวง,เขตบางกะปิ", "--traffy-url", city.url,
         "--since", "2023-04-01", "--until", "2023-07-09", "--out", str(out)],
    )  # fmt: skip
    # สวนหลวง has 1 invalid record of 93 (1.1 %, over warn_invalid_share's 1 %):
    # published, and the run exits 3 naming it, as a one-district sync would.
    assert result.exit_code == 3, result.output
    assert "warning: records invalid over warn_invalid_share 1% in สวนหลวง 1.1%" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["บางกะปิ", "สวนหลวง"]
    lines = result.output.splitlines()
    assert any(line.startswith("Bangkok: 2 districts from one extraction") for line in lines)
    assert sum(" ok " in line for line in lines) == 2
    assert "2 published, 0 failed" in result.output
    page = tmp_path / "report.html"
    shown = runner.invoke(
        app, ["report", "--district", "บางกะปิ", "--out", str(out), "--html", str(page)]
    )
    assert shown.exit_code == 0, shown.output
    text = page.read_text(encoding="utf-8")
    assert "เขตบางกะปิ" in text
    assert "เทียบกับกรุงเทพมหานคร" in text  # the comparison section
    assert " จาก " in text  # "rank 12 of 50" as the office reads it
    # The workflow's report step with the city-wide setting: a page per district.
    every = runner.invoke(
        app, ["report", "--out", str(out), "--html", str(tmp_path / "r" / "report.html")],
        env={"ETL_DISTRICT": "สวนหลวง,บางกะปิ"},
    )  # fmt: skip
    assert every.exit_code == 0, every.output
    written = sorted(p.name for p in (tmp_path / "r").iterdir())
    assert written == ["report-บางกะปิ.html", "report-สวนหลวง.html"]
    assert "เขตสวนหลวง" in (tmp_path / "r" / "report-สวนหลวง.html").read_text(encoding="utf-8")


def test_when_no_output_can_be_written_traffy_is_not_paged(
    city: FakeTraffy, sheets: FakeSheetsServer, tmp_path: Path
) -> None:
    sinks = {}
    for name in ("สวนหลวง", "บางกะปิ"):
        sid = sheets.create_spreadsheet()
        sheets.deny(sid)
        sinks[name] = SheetsSink(sid, api_url=sheets.url)
    settings = settings_for(city, "สวนหลวง,บางกะปิ", tmp_path, date(2023, 7, 9))
    result = run_city_sync(settings, sinks=sinks, now=DAY_1)
    assert [d.district for d in result.failed] == ["สวนหลวง", "บางกะปิ"]
    assert city.requests == []


def test_a_city_verify_rereads_every_districts_window(city: FakeTraffy, tmp_path: Path) -> None:
    served = settings_for(city, "สวนหลวง,บางกะปิ", tmp_path, date(2023, 7, 9))
    run_city_sync(served, now=DAY_1)
    later = settings_for(city, "สวนหลวง,บางกะปิ", tmp_path, date(2023, 7, 10))
    result = run_city_sync(later, now=DAY_2, verify=True)
    assert result.failed == []
    for one in result.districts:
        assert one.result is not None
        assert one.result.plan is not None
        assert one.result.plan.mode == "full"
        assert one.result.verification is not None
        runs = pd.read_csv(tmp_path / one.district / "_runs.csv", encoding="utf-8-sig")
        assert runs["mode"].tolist() == ["sync", "verify"]


def test_init_prepares_every_districts_spreadsheet(
    sheets: FakeSheetsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = {name: sheets.create_spreadsheet() for name in ("สวนหลวง", "บางกะปิ")}
    monkeypatch.setenv("ETL_SPREADSHEETS", pd.Series(ids).to_json(force_ascii=False))
    result = runner.invoke(app, ["init"])
    assert result.exit_code == 0, result.output
    for name, sid in ids.items():
        assert f"{name}: created tab kpi_monthly_by_district" in result.output
        assert "kpi_monthly_by_district" in sheets.tab_titles(sid)
    assert "nothing to change" in runner.invoke(app, ["init"]).output


def test_each_spreadsheet_holds_what_its_own_sync_writes(
    city: FakeTraffy, sheets: FakeSheetsServer, tmp_path: Path
) -> None:
    names = ("สวนหลวง", "ประเวศ")
    served = settings_for(city, ",".join(names), tmp_path, date(2023, 7, 9))
    sinks = {name: SheetsSink(sheets.create_spreadsheet(), api_url=sheets.url) for name in names}
    assert run_city_sync(served, sinks=sinks, now=DAY_1).failed == []
    for name in names:
        alone = SheetsSink(sheets.create_spreadsheet(), api_url=sheets.url)
        run_sync(settings_for(city, name, tmp_path, date(2023, 7, 9)), sink=alone, now=DAY_1)
        city_id, own_id = sinks[name].spreadsheet_id, alone.spreadsheet_id
        assert set(sheets.tab_titles(city_id)) == set(sheets.tab_titles(own_id))
        assert "kpi_monthly_by_district" in sheets.tab_titles(own_id)
        for tab in sheets.tab_titles(own_id):
            if tab not in ("_runs", "_state"):  # run ids, the sync's lease
                assert sheets.tab_values(city_id, tab) == sheets.tab_values(own_id, tab), tab
        assert len(sheets.tab_values(own_id, "actions")) > 50  # the staff tab, one row a ticket
