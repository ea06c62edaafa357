"""`etl report --html`: one self-contained page from the synced tabs."""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from plotly.offline import get_plotlyjs
from typer.testing import CliRunner

from etl.cli import app
from etl.fakes.sheets import FakeSheetsServer
from etl.fakes.synthetic import SEED_REPORT_TIME, SyntheticBangkok
from etl.fakes.traffy import FakeTraffy
from etl.kpi import kpi_monthly
from etl.models import BANGKOK
from etl.pipeline import run_sync
from etl.report import month_labels, read_report_tabs, render_html, thai_datetime
from etl.settings import load_settings
from etl.sinks import LocalSink, MemorySink
from etl.tabs import CITY, TABS
from tests.conftest import april_2566, edge_cases
from tests.test_kpi import seed_months

runner = CliRunner()
SYNCED_AT = datetime(2023, 9, 15, 18, 0, tzinfo=BANGKOK)


def synced(features: list[dict[str, Any]], out: Path) -> Path:
    """The tabs of April and May 2566 as a sync on 15 September 2566 wrote them."""
    with FakeTraffy(features) as server:
        settings = load_settings(
            district="สวนหลวง",  # explicit: a module fixture runs before the env is cleaned
            traffy_url=server.url,
            since=date(2023, 4, 1),
            until=date(2023, 5, 31),
            out=out,
        )
        run_sync(settings, sink=LocalSink(out), now=SYNCED_AT)
    return out


CITY_SERVED = ("สวนหลวง", "ป้อมปราบศัตรูพ่าย")
"""The districts of the city run: สวนหลวง is ranked every month; ป้อมปราบศัตรูพ่าย,
the longest name of the 50, has too few tickets to be ranked in any."""


def city_synced(out: Path) -> Path:
    """A city-wide run's outputs (``out/<district>/``) on 15 September 2566, 15:00: all of
    Bangkok from April, about 12,000 tickets, so most of the 50 districts are ranked
    each month and every served district gets ``kpi_monthly_by_district``."""
    from etl.pipeline import run_city_sync

    tickets = list(SyntheticBangkok(5, first=date(2023, 4, 1), years=0.46).features(12_000))
    with FakeTraffy(tickets) as server:
        settings = load_settings(
            district=",".join(CITY_SERVED),
            traffy_url=server.url,
            since=date(2023, 4, 1),
            until=date(2023, 9, 15),
            out=out,
            page_size=1000,
        )
        assert run_city_sync(settings, now=SEED_REPORT_TIME).failed == []
    return out


class _Cells(HTMLParser):
    """The text of each row's cells of the tables with a class, header row first."""

    def __init__(self, css: str) -> None:
        super().__init__()
        self.css, self.depth, self.rows = css, 0, list[list[str]]()
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = (dict(attrs).get("class") or "").split()
        if tag == "table" and (self.depth or self.css in classes):
            self.depth += 1
        elif self.depth and tag == "tr":
            self.rows.append([])
        elif self.depth and tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self.depth:
            self.depth -= 1
        elif self.cell is not None and tag in ("td", "th"):
            self.rows[-1].append("".join(self.cell))
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def table_rows(page: str, css: str) -> list[list[str]]:
    parser = _Cells(css)
    parser.feed(page)
    return parser.rows


@pytest.fixture(scope="module")
def city_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return city_synced(tmp_path_factory.mktemp("city") / "out")


@pytest.fixture(scope="module")
def synced_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One sync for the module's tests, which only read it (the sink is given explicitly)."""
    return synced(april_2566() + edge_cases(), tmp_path_factory.mktemp("synced") / "out")


@pytest.fixture
def out(synced_once: Path) -> Path:
    return synced_once


def test_report_command_writes_one_self_contained_page(out: Path, tmp_path: Path) -> None:
    target = tmp_path / "report" / "report.html"
    result = runner.invoke(app, ["report", "--html", str(target), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "2 months, 20 oldest open tickets" in result.output
    page = target.read_text("utf-8")
    assert page.count(get_plotlyjs()[:200]) == 1  # the library, embedded once
    assert page.count("Plotly.newPlot") == 3  # trend, sections, types
    ours = page.replace(get_plotlyjs(), "")  # the bundle mentions URLs it never loads here
    assert not re.search(r"<script[^>]+src=|<link\b|<img\b|<iframe\b|@import|url\(", ours)
    assert "เมษายน 2566" in page
    assert "2.51" in page  # April 2566: 10 x 100 / 398
    assert "ข้อมูล ณ 15 กันยายน 2566 เวลา 18:00 น." in page
    assert 'href="https://share.traffy.in.th/teamchadchart?case_id=' in page
    assert ">ดูรูป</a>" in page


def test_oldest_open_tickets_are_listed_oldest_first(out: Path) -> None:
    tabs = read_report_tabs(LocalSink(out))
    page = render_html(tabs, oldest=3)
    open_tickets = tabs["open_tickets"].sort_values(["created_at", "ticket_id"])
    listed = re.findall(r"case_id=([^\"]+)\"", page)
    assert listed == open_tickets["ticket_id"].head(3).tolist()
    assert "เรื่องค้างนานที่สุด 3 เรื่อง" in re.sub(r"<[^>]+>", "", page)


def test_text_from_citizens_is_escaped_and_only_web_links_are_links(out: Path) -> None:
    tabs = read_report_tabs(LocalSink(out))
    tickets = tabs["open_tickets"].copy()
    tickets.loc[0, "description"] = '<script>alert("x")</script>'
    tickets.loc[0, "photo_url"] = "javascript:alert(1)"
    tickets.loc[0, "created_at"] = pd.Timestamp("2000-01-01")  # the oldest, so listed
    page = render_html({**tabs, "open_tickets": tickets}, oldest=1)
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "javascript:" not in page.replace(get_plotlyjs(), "")


def test_report_without_a_sync_says_what_to_do(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["report", "--html", str(tmp_path / "r.html"), "--out", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert "run `etl sync` first" in result.output
    assert not (tmp_path / "r.html").exists()


def test_report_in_json_for_machines(out: Path, tmp_path: Path) -> None:
    target = tmp_path / "r.html"
    args = ["report", "--html", str(target), "--out", str(out), "--log-format", "json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)  # one JSON object, not the sentence
    assert (info["path"], info["months"], info["open_tickets"]) == (str(target), 2, 20)
    assert info["size_bytes"] == target.stat().st_size
    for line in result.stderr.splitlines():
        assert json.loads(line)["level"]

    empty = ["report", "--html", str(target), "--out", str(tmp_path / "none"), "--log-format=json"]
    failed = runner.invoke(app, empty)
    assert failed.exit_code == 1
    assert failed.stdout == ""
    error = json.loads(failed.stderr)
    assert (error["level"], error["exit_code"]) == ("error", 1)
    assert "run `etl sync` first" in error["message"]


def test_report_reads_any_sink_and_works_without_optional_tabs(out: Path) -> None:
    sink = MemorySink()
    sink.write_tabs(LocalSink(out).read_tabs(["kpi_monthly"]))
    page = render_html(read_report_tabs(sink))
    assert "ไม่มีเรื่องค้าง" in page
    assert "ข้อมูล ณ 15 กันยายน 2566" in page  # freshness falls back to the KPI's as_of


def test_thai_datetime() -> None:
    assert thai_datetime(pd.Timestamp("2024-01-02 07:05")) == "2 มกราคม 2567 เวลา 07:05 น."


def test_report_reads_the_spreadsheet(
    features: list[dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeSheetsServer() as sheets, FakeTraffy(features) as traffy:
        monkeypatch.setenv("ETL_SHEETS_API_URL", sheets.url)
        sid = sheets.create_spreadsheet()
        settings = load_settings(
            traffy_url=traffy.url,
            since=date(2023, 4, 1),
            until=date(2023, 5, 31),
            spreadsheet_id=sid,
        )
        run_sync(settings, now=SYNCED_AT)
        target = tmp_path / "sheet-report.html"
        result = runner.invoke(app, ["report", "--html", str(target), "--spreadsheet-id", sid])
    assert result.exit_code == 0, result.output
    page = target.read_text("utf-8")
    assert "เมษายน 2566" in page
    assert "2.51" in page
    assert not (tmp_path / "output").exists()  # nothing read from or written to local files


def test_month_table_marks_the_partial_month_as_the_office_does() -> None:
    kpi = kpi_monthly(seed_months(), SYNCED_AT)
    labels = month_labels(kpi, pd.Timestamp("2023-09-15"))
    assert labels == [
        "เมษายน 2566", "พฤษภาคม 2566", "มิถุนายน 2566", "กรกฎาคม 2566", "สิงหาคม 2566",
        "1-15 กันยายน 2566",
    ]  # fmt: skip
    assert month_labels(kpi, pd.Timestamp("2023-09-30"))[-1] == "กันยายน 2566"
    assert month_labels(kpi, None) == kpi["month_th"].tolist()


def test_report_from_empty_tabs_says_there_is_no_data_and_fails(out: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    sink = LocalSink(empty)
    sink.write_tabs({"kpi_monthly": LocalSink(out).read_tabs(["kpi_monthly"])["kpi_monthly"][:0]})
    target = tmp_path / "r.html"
    result = runner.invoke(app, ["report", "--html", str(target), "--out", str(empty)])
    assert result.exit_code == 1
    assert "No data yet" in result.output
    assert "run `etl sync` first" in result.output
    assert "etl demo" in result.output
    assert not target.exists()


def test_every_block_says_its_period_and_the_notes_explain_the_numbers(out: Path) -> None:
    tabs = read_report_tabs(LocalSink(out))
    page = render_html(tabs, in_progress_states=["กำลังดำเนินการ", "ศึกษาปัญหา"])
    covers = re.findall(r'<p class="covers">([^<]*)</p>', page)
    # month table, trend, sections, types, oldest tickets, the district against the city
    assert len(covers) == 6
    for text in covers[:4]:
        assert "เมษายน 2566 ถึง พฤษภาคม 2566 (2 เดือน)" in text
    assert "ณ 15 กันยายน 2566" in covers[4]
    assert "เรื่องที่แจ้ง เมษายน 2566 ถึง พฤษภาคม 2566" in page  # the header's data period
    assert "(เวลากรุงเทพฯ)" in page
    assert "สถานะล่าสุดเป็น กำลังดำเนินการ, ศึกษาปัญหา" in page
    assert "× 100" in page
    assert "โครงสร้างข้อมูลรุ่น" not in page  # jargon: in the page's metadata instead
    assert '<meta name="traffy-etl:schema-version" content="1">' in page


def test_the_partial_month_is_labelled_alike_in_table_chart_and_notes() -> None:
    kpi = kpi_monthly(seed_months(), SYNCED_AT)
    meta = pd.DataFrame(
        {"district": ["สวนหลวง"], "schema_version": [1], "last_sync": [pd.Timestamp(SYNCED_AT)],
         "until": [pd.Timestamp("2023-09-15")]}
    )  # fmt: skip
    empty = {name: TABS[name].empty() for name in ("kpi_monthly_by_org", "kpi_monthly_by_type")}
    page = render_html(
        {**empty, "kpi_monthly": kpi, "meta": meta, "open_tickets": TABS["open_tickets"].empty()}
    )
    assert '">1-15 กันยายน 2566</td>' in page  # the table
    assert r'"1-15 ก.ย.\u003cbr\u003e2566"' in page  # the chart's tick
    assert "1-15 กันยายน 2566: เดือนที่ยังไม่ครบ" in page  # the note
    assert "เรื่องที่แจ้ง เมษายน 2566 ถึง 1-15 กันยายน 2566 (6 เดือน)" in page


def test_percent_ticks_are_round() -> None:
    from etl.report import _percent_axis

    assert _percent_axis(pd.Series([2.51, 4.3, 14.46])) == {
        "range": [0, 20],
        "dtick": 5,
        "tick0": 0,
    }
    assert _percent_axis(pd.Series([0.4, 0.8])) == {"range": [0, 1.0], "dtick": 0.5, "tick0": 0}
    assert _percent_axis(pd.Series([55.0]))["dtick"] == 20


SHORT_MONTHS = ["เม.ย. 2566", "พ.ค. 2566", "มิ.ย. 2566", "ก.ค. 2566", "ส.ค. 2566", "1-15 ก.ย. 2566"]


def test_city_section_shows_the_rank_the_city_and_the_neighbours_each_month(
    city_out: Path,
) -> None:
    tabs = read_report_tabs(LocalSink(city_out / "สวนหลวง"))
    page = render_html(tabs)
    tab = tabs["kpi_monthly_by_district"]
    header, *rows = table_rows(page, "city")
    assert header == ["เดือน", "ร้อยละ เขตสวนหลวง", "อันดับ", f"ร้อยละ {CITY}",
                      "อันดับก่อนหน้า", "อันดับถัดไป"]  # fmt: skip
    assert [row[0] for row in rows] == SHORT_MONTHS  # the partial month is marked here too
    # May 2566 as the run counted it: 2nd smallest share of the 38 ranked districts.
    assert rows[1][1:4] == ["2.04", "2 จาก 38", "8.81"]
    for (month, group), row in zip(tab.groupby("month"), rows, strict=True):
        by_name = group.set_index("district")
        mine, city = by_name.loc["สวนหลวง"], by_name.loc[CITY]
        rank, ranked = int(mine["in_progress_rank"]), int(mine["districts_ranked"])
        assert ranked > 15, month  # many districts: most of the 50 are ranked
        shares = (f"{mine['in_progress_pct']:.2f}", f"{city['in_progress_pct']:.2f}")
        assert row[1:4] == [shares[0], f"{rank} จาก {ranked}", shares[1]]
        # The neighbours: the nearest ranks above and below, each with its share and rank.
        others = group.dropna(subset=["in_progress_rank"])
        for cell, nearest in (
            (row[4], others[others["in_progress_rank"] < rank]["in_progress_rank"].max()),
            (row[5], others[others["in_progress_rank"] > rank]["in_progress_rank"].min()),
        ):
            if pd.isna(nearest):
                assert cell == "-"  # first or last: no neighbour on that side
                continue
            names = others[others["in_progress_rank"] == nearest]
            assert any(
                cell == f"{n.district} {n.in_progress_pct:.2f} (อันดับ {int(nearest)})"
                for n in names.itertuples()
            ), (month, cell)
    covers = re.findall(r'<p class="covers">([^<]*)</p>', page)
    assert len(covers) == 6  # the five blocks, then the comparison
    assert "เมษายน 2566 ถึง 1-15 กันยายน 2566 (6 เดือน)" in covers[5]
    assert f"{CITY} คือ 50 เขตรวมกัน" in covers[5]


def test_city_section_of_a_district_too_small_to_rank(city_out: Path) -> None:
    tabs = read_report_tabs(LocalSink(city_out / "ป้อมปราบศัตรูพ่าย"))
    page = render_html(tabs)
    _, *rows = table_rows(page, "city")
    city = tabs["kpi_monthly_by_district"].query("district == @CITY")
    assert [row[0] for row in rows] == SHORT_MONTHS
    for row, share in zip(rows, city["in_progress_pct"], strict=True):
        assert row[2:] == ["-", f"{share:.2f}", "-", "-"]  # its share, no rank, the city
    assert "- คือไม่จัดอันดับ" in page  # the covers line says why


def test_the_city_section_needs_a_run_that_saw_the_whole_city(out: Path) -> None:
    tabs = read_report_tabs(LocalSink(out))
    assert table_rows(render_html(tabs), "city")  # feed 1: a one-district run sees it all
    del tabs["kpi_monthly_by_district"]  # feed search reads one district: nothing to compare
    page = render_html(tabs)
    assert table_rows(page, "city") == []
    assert "เทียบกับกรุงเทพมหานคร" not in page
