"""The offline HTML report: the executives' tables and charts in one self-contained file.

Reads the tabs a sync wrote (from any ``Sink``) and writes one HTML file that
opens with no network: plotly's JavaScript is embedded once, nothing is
loaded from elsewhere, and photos and Traffy pages are links, not images.

Executives read it on phones and on paper (it goes to the monthly meeting),
so the page fits a 360 px screen without scrolling sideways (wide tables
scroll inside their own box, the ticket list becomes cards) and prints on A4
with a header on every page and no chart or table row cut by a page break.
Every table and chart says which period it covers, and the month the data
stops in is labelled as partial (``1-15 กันยายน 2566``) wherever it appears.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from etl.errors import SinkError
from etl.sinks import Sink
from etl.tabs import CITY, TABS
from etl.thai import BUDDHIST_ERA_OFFSET, THAI_MONTHS

REPORT_TABS = (
    "kpi_monthly", "kpi_monthly_by_org", "kpi_monthly_by_type", "open_tickets", "meta",
    "kpi_monthly_by_district",
)  # fmt: skip
"""The tabs the report reads; only ``kpi_monthly`` is required."""

FONT = '"Sarabun", "Noto Sans Thai", "Loma", "Garuda", "Tahoma", sans-serif'
TOP_TYPES = 12
THAI_MONTHS_SHORT = ("ม.ค.", "ก.พ.", "มี.ค.", "เม.ย.", "พ.ค.", "มิ.ย.",
                     "ก.ค.", "ส.ค.", "ก.ย.", "ต.ค.", "พ.ย.", "ธ.ค.")  # fmt: skip
NO_DATA = (
    "run `etl sync` first (with the same --out or spreadsheet), "
    "or `etl demo` and `etl report --out output/demo` for the sample"
)


@dataclass
class ReportInfo:
    """What the report shows, for the command's one-line summary."""

    path: Path
    months: int
    open_tickets: int
    size_bytes: int


def read_report_tabs(sink: Sink) -> dict[str, pd.DataFrame]:
    """The report's tabs from the sink; missing optional tabs come back empty.

    No ``kpi_monthly`` rows means there is nothing to report: an error that
    says what to run, rather than a page of empty charts.
    """
    tabs = sink.read_tabs(REPORT_TABS)
    if "kpi_monthly" not in tabs:
        raise SinkError(f"No kpi_monthly tab in {sink.description}: {NO_DATA}.")
    if tabs["kpi_monthly"].empty:
        raise SinkError(f"No data yet: kpi_monthly in {sink.description} is empty; {NO_DATA}.")
    return {name: tabs.get(name, TABS[name].empty()) for name in REPORT_TABS}


def write_report(
    sink: Sink, path: Path, *, oldest: int = 20, in_progress_states: Sequence[str] = ()
) -> ReportInfo:
    """Read the tabs from ``sink`` and write the report to ``path``."""
    tabs = read_report_tabs(sink)
    text = render_html(tabs, oldest=oldest, in_progress_states=in_progress_states)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as error:
        raise SinkError(f"Cannot write {path}: {error.strerror}") from None
    return ReportInfo(
        path=path,
        months=len(tabs["kpi_monthly"]),
        open_tickets=min(oldest, len(tabs["open_tickets"])),
        size_bytes=len(text.encode()),
    )


@dataclass(frozen=True)
class Period:
    """What the data covers: its months, the day it stops on, and when it was synced."""

    until: pd.Timestamp | None
    synced: pd.Timestamp | None

    def label(self, month: pd.Timestamp, month_th: str) -> str:
        """``กันยายน 2566``, or ``1-15 กันยายน 2566`` for the month the data stops in
        before its end: the office marks it so its partial numbers do not read as a trend."""
        until = self.until
        if until is None or until.day == until.days_in_month:
            return month_th
        if month.to_period("M") == until.to_period("M"):
            return f"1-{until.day} {month_th}"
        return month_th

    def span(self, frame: pd.DataFrame) -> str:
        """The months of ``frame`` as ``เมษายน 2566 ถึง 1-15 กันยายน 2566``."""
        if frame.empty:
            return ""
        months = frame.drop_duplicates("month").sort_values("month")
        first = self.label(pd.Timestamp(months["month"].iloc[0]), str(months["month_th"].iloc[0]))
        last = self.label(pd.Timestamp(months["month"].iloc[-1]), str(months["month_th"].iloc[-1]))
        count = len(months)
        return first if count == 1 else f"{first} ถึง {last} ({count} เดือน)"


def render_html(
    tabs: Mapping[str, pd.DataFrame], *, oldest: int = 20, in_progress_states: Sequence[str] = ()
) -> str:
    """The whole page; ``tabs`` as :func:`read_report_tabs` returns them."""
    kpi = tabs["kpi_monthly"].sort_values("month")
    meta = tabs["meta"]
    district = str(meta["district"].iloc[0]) if len(meta) else ""
    title = f"เรื่องร้องเรียน Traffy Fondue เขต{district}" if district else "เรื่องร้องเรียน Traffy Fondue"
    period = _period(meta, kpi)
    fresh = _freshness(period)
    by_org = tabs["kpi_monthly_by_org"].query("is_section")
    by_type = tabs["kpi_monthly_by_type"]
    shown = min(oldest, len(tabs["open_tickets"]))
    sections = [
        "<header>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="period">เรื่องที่แจ้ง {_e(period.span(kpi))}</p>',
        f'<p class="freshness">{_e(fresh)}</p>',
        "</header>",
        _block(
            "ร้อยละของเรื่องที่อยู่ระหว่างดำเนินการ รายเดือน",
            f"เรื่องที่แจ้งแต่ละเดือน {period.span(kpi)}; สถานะ{_as_of(period)}",
            _month_table(kpi, period),
        ),
        _block(
            "เรื่องทั้งหมดและร้อยละที่กำลังดำเนินการ รายเดือน",
            f"เรื่องที่แจ้งแต่ละเดือน {period.span(kpi)}",
            _figure(_trend(kpi, period)),
            chart=True,
        ),
        _block(
            "แยกตามฝ่าย",
            f"รวมเรื่องที่แจ้ง {period.span(by_org)}",
            _figure(_by_value(by_org, "organization", strip=f" เขต{district}")),
            chart=True,
        ),
        _block(
            "แยกตามประเภทปัญหา",
            f"รวมเรื่องที่แจ้ง {period.span(by_type)}; {TOP_TYPES} ประเภทที่มีเรื่องมากที่สุด",
            _figure(_by_value(by_type, "type", top=TOP_TYPES)),
            chart=True,
        ),
        _block(
            f"เรื่องค้างนานที่สุด {shown} เรื่อง",
            f"เรื่องที่ยังไม่เสร็จ{_as_of(period)}; อายุนับจากวันที่แจ้ง",
            _oldest_table(tabs["open_tickets"], oldest),
        ),
        *_city_section(tabs.get("kpi_monthly_by_district"), district, period),
        _notes(period, in_progress_states),
    ]
    body = "\n".join(sections)
    schema = str(meta["schema_version"].iloc[0]) if len(meta) else ""
    version = str(meta["etl_version"].iloc[0]) if len(meta) and "etl_version" in meta else ""
    page_header = f"{title} — {fresh}"
    return f"""<!DOCTYPE html>
<html lang="th">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="traffy-etl {_e(version)}">
<meta name="traffy-etl:schema-version" content="{_e(schema)}">
<title>{_e(title)}</title>
<style>
{_css(page_header)}
</style>
<script>{get_plotlyjs()}</script>
</head>
<body>
{body}
<script>{_RESIZE_FOR_PRINT}</script>
</body>
</html>
"""


def _css(page_header: str) -> str:
    """Screen (phone first), then A4 print with ``page_header`` on every page."""
    return f"""
* {{ box-sizing: border-box; }}
body {{ font-family: {FONT}; margin: 1rem auto; padding: 0 0.75rem; max-width: 1100px;
  color: #222; line-height: 1.45; overflow-wrap: break-word; }}
h1 {{ font-size: 1.45rem; margin: 0.2rem 0 0.3rem; }}
h2 {{ font-size: 1.15rem; margin: 1.6rem 0 0.1rem; }}
header p {{ margin: 0.1rem 0; color: #444; }}
.covers {{ color: #555; font-size: 0.9rem; margin: 0 0 0.5rem; }}
.scroll {{ overflow-x: auto; -webkit-overflow-scrolling: touch; }}
table {{ border-collapse: collapse; width: 100%; font-size: 0.95rem; }}
th, td {{ border: 1px solid #ccc; padding: 0.3rem 0.5rem; vertical-align: top; }}
th {{ background: #f0f4f8; }}
td.n {{ text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }}
.months td:first-child, .city td:first-child {{ white-space: nowrap; }}
.nb, .cards td:first-child, .cards td:last-child {{ white-space: nowrap; }}
.chart {{ width: 100%; }}
.notes {{ margin-top: 2rem; font-size: 0.85rem; color: #444; border-top: 1px solid #ccc; }}
.notes p {{ margin: 0.4rem 0; }}
@media screen and (max-width: 700px) {{
  body {{ padding: 0 0.6rem; }}
  h1 {{ font-size: 1.25rem; }}
  .months {{ font-size: 0.85rem; }}
  .months th {{ font-weight: 600; padding: 0.3rem; }}
  table.cards thead {{ display: none; }}
  table.cards, table.cards tbody, table.cards tr, table.cards td {{ display: block; }}
  table.cards tr {{ border: 1px solid #ccc; border-radius: 6px; margin: 0 0 0.6rem;
    padding: 0.3rem 0.6rem; }}
  table.cards td {{ border: 0; padding: 0.1rem 0; text-align: left; }}
  table.cards td::before {{ content: attr(data-label) ": "; color: #555; }}
  /* The comparison: one grid for the whole table (its rows and groups dissolve into it),
     so the columns line up from month to month. A month is a card of lines: its name,
     its shares and rank under their headers, then each neighbour labelled as its header
     is (the month and neighbour headers are not repeated above the columns). */
  table.city {{ display: grid; grid-template-columns: minmax(0, 1fr) auto minmax(0, 1fr);
    font-size: 0.85rem; }}
  table.city thead, table.city tbody, table.city tr {{ display: contents; }}
  table.city th, table.city td {{ border: 0; padding: 0 0.3rem; }}
  table.city th {{ font-weight: 600; padding: 0.3rem; border-bottom: 1px solid #ccc; }}
  table.city th:first-child, table.city th:nth-child(n+5) {{ display: none; }}
  table.city td:first-child {{ grid-column: 1 / -1; font-weight: 600; padding-top: 0.4rem; }}
  table.city td:nth-child(n+5) {{ grid-column: 1 / -1; color: #333; }}
  table.city td:nth-child(n+5)::before {{ content: attr(data-label) ": "; color: #555; }}
  table.city td:last-child {{ border-bottom: 1px solid #ccc; padding-bottom: 0.4rem; }}
}}
@page {{
  size: A4;
  margin: 16mm 12mm 14mm;
  @top-left {{ content: "{_css_string(page_header)}"; font-family: {FONT}; font-size: 9pt;
    color: #444; }}
  @bottom-right {{ content: "หน้า " counter(page) " / " counter(pages); font-family: {FONT};
    font-size: 9pt; color: #444; }}
}}
@media print {{
  body {{ margin: 0; padding: 0; max-width: none; font-size: 10.5pt; }}
  .scroll {{ overflow: visible; }}
  section, .chart, tr, .notes p {{ break-inside: avoid; }}
  section.table {{ break-inside: auto; }}
  h2, .covers {{ break-after: avoid; }}
  thead {{ display: table-header-group; }}
  table {{ font-size: 9pt; }}
  a {{ color: inherit; text-decoration: none; }}
}}
"""


_RESIZE_FOR_PRINT = """
(function () {
  function resize() {
    document.querySelectorAll(".js-plotly-plot").forEach(function (div) {
      Plotly.Plots.resize(div);
    });
  }
  window.addEventListener("beforeprint", resize);
  window.matchMedia("print").addEventListener("change", resize);
})();
"""
"""Charts are drawn at the screen's width; A4 is narrower, so they are redrawn for print."""


def thai_datetime(moment: pd.Timestamp) -> str:
    """``2023-09-15 18:00`` -> ``15 กันยายน 2566 เวลา 18:00 น.``"""
    return f"{thai_date(moment)} เวลา {moment:%H:%M} น."


def thai_date(day: pd.Timestamp) -> str:
    """``2023-09-15`` -> ``15 กันยายน 2566``"""
    return f"{day.day} {THAI_MONTHS[day.month - 1]} {day.year + BUDDHIST_ERA_OFFSET}"


def _short_date(day: pd.Timestamp) -> str:
    """``2023-04-01`` -> ``1 เม.ย. 2566``, as Thai tables abbreviate a date."""
    return f"{day.day} {THAI_MONTHS_SHORT[day.month - 1]} {day.year + BUDDHIST_ERA_OFFSET}"


def _period(meta: pd.DataFrame, kpi: pd.DataFrame) -> Period:
    until = meta["until"].iloc[0] if len(meta) else None
    synced = meta["last_sync"].iloc[0] if len(meta) else kpi["as_of"].max()
    return Period(
        until=None if until is None or pd.isna(until) else pd.Timestamp(until),
        synced=None if synced is None or pd.isna(synced) else pd.Timestamp(synced),
    )


def _freshness(period: Period) -> str:
    if period.synced is None:
        return "ยังไม่มีข้อมูล"
    return f"ข้อมูล ณ {thai_datetime(period.synced)} (เวลากรุงเทพฯ)"


def _as_of(period: Period) -> str:
    return f" ณ {thai_date(period.synced)}" if period.synced is not None else ""


def month_labels(kpi: pd.DataFrame, until: pd.Timestamp | None) -> list[str]:
    """Thai month names; the month the last sync stopped in is ``1-15 กันยายน 2566``."""
    period = Period(until=until, synced=None)
    return [
        period.label(pd.Timestamp(month), str(label))
        for month, label in zip(kpi["month"], kpi["month_th"], strict=True)
    ]


def _block(heading: str, covers: str, content: str, *, chart: bool = False) -> str:
    """A section: heading, the period it covers, then the table or chart."""
    kind = "chart-block" if chart else "table"
    head, _, last = heading.rpartition(" ")  # a phone breaks Thai inside words: not the last
    title = f'{_e(head)} <span class="nb">{_e(last)}</span>' if head else _e(heading)
    return (
        f'<section class="{kind}"><h2>{title}</h2>'
        f'<p class="covers">{_e(covers)}</p>{content}</section>'
    )


def _month_table(kpi: pd.DataFrame, period: Period) -> str:
    """The office's table: month, all tickets, in progress, percent (as the seed shows it)."""
    headers = ("เดือน", "เรื่องทั้งหมด", "กำลังดำเนินการ", "ร้อยละ", "เสร็จสิ้น",
               "มัธยฐานวันจนแก้ไขเสร็จ", "คะแนนความพึงพอใจเฉลี่ย")  # fmt: skip
    rows = [
        [
            _e(label),
            _n(row.total),
            _n(row.in_progress),
            f"{row.in_progress_pct:.2f}",
            _n(row.finished),
            _maybe(row.days_to_finish_median),
            _maybe(row.star_mean),
        ]
        for label, row in zip(month_labels(kpi, period.until), kpi.itertuples(), strict=True)
    ]
    table = _table(headers, rows, numeric=range(1, len(headers)), css="months")
    return f'<div class="scroll">{table}</div>'


def _city_section(by_district: pd.DataFrame | None, district: str, period: Period) -> list[str]:
    """The district against the city and its neighbours in the ranking, by month (tab
    ``kpi_monthly_by_district``, written by every sync that saw the whole city).

    A month is one table row on a wide screen and on paper; on a phone it is a few lines
    (``table.city`` in the CSS): its name, its numbers under their headers, and each
    neighbour on a line of its own, so the longest district names fit 360 px.
    """
    if by_district is None or by_district.empty or not district:
        return []
    headers = ("เดือน", f"ร้อยละ เขต{district}", "อันดับ", f"ร้อยละ {CITY}",
               "อันดับก่อนหน้า", "อันดับถัดไป")  # fmt: skip
    rows = []
    for month, group in by_district.sort_values("month").groupby("month", sort=True):
        mine = group[group["district"] == district]
        city = group[group["district"] == CITY]
        if mine.empty:
            continue
        row = mine.iloc[0]
        rank = row["in_progress_rank"]
        ranked = group.dropna(subset=["in_progress_rank"]).sort_values(
            ["in_progress_rank", "district"]
        )
        above = ranked[ranked["in_progress_rank"] < rank].tail(1) if pd.notna(rank) else ranked[:0]
        below = ranked[ranked["in_progress_rank"] > rank].head(1) if pd.notna(rank) else ranked[:0]
        rows.append(
            [
                _e(_short_month(pd.Timestamp(str(month)), period)),
                f"{row['in_progress_pct']:.2f}",
                _e(f"{int(rank)} จาก {int(row['districts_ranked'])}" if pd.notna(rank) else "-"),
                f"{city.iloc[0]['in_progress_pct']:.2f}" if len(city) else "",
                _e(_neighbour(above)),
                _e(_neighbour(below)),
            ]
        )
    if not rows:
        return []
    shown = by_district[by_district["district"] == district]
    return [
        _block(
            "เทียบกับกรุงเทพมหานคร และเขตใกล้เคียงในอันดับ",
            f"เรื่องที่แจ้งแต่ละเดือน {period.span(shown)}; อันดับ 1 คือเขตที่มีร้อยละเรื่อง"
            f"กำลังดำเนินการน้อยที่สุดในเดือนนั้น; {CITY} คือ 50 เขตรวมกัน; "
            "- คือไม่จัดอันดับ (เขตที่มีเรื่องในเดือนนั้นน้อยเกินไป) หรือไม่มีเขตก่อนหน้าหรือถัดไป",
            _table(headers, rows, numeric=[1, 2, 3], css="city"),
        )
    ]


def _short_month(month: pd.Timestamp, period: Period) -> str:
    """``เม.ย. 2566``; the month the data stops in before its end is ``1-15 ก.ย. 2566``."""
    short = f"{THAI_MONTHS_SHORT[month.month - 1]} {month.year + BUDDHIST_ERA_OFFSET}"
    return period.label(month, short)


def _neighbour(rows: pd.DataFrame) -> str:
    """``ประเวศ 10.26 (อันดับ 11)``, or ``-`` when there is none on that side."""
    if rows.empty:
        return "-"
    row = rows.iloc[0]
    return f"{row['district']} {row['in_progress_pct']:.2f} (อันดับ {int(row['in_progress_rank'])})"


def _oldest_table(open_tickets: pd.DataFrame, oldest: int) -> str:
    headers = ("เลขที่เรื่อง", "วันที่แจ้ง", "อายุ (วัน)", "สถานะ", "ฝ่าย", "ประเภท", "รายละเอียด", "รูป")
    top = open_tickets.sort_values(["created_at", "ticket_id"]).head(oldest)
    rows = [
        [
            _link(row.traffy_url, row.ticket_id),
            f'<span class="nb">{_e(_short_date(pd.Timestamp(str(row.created_at))))}</span>',
            _n(row.age_days),
            f'<span class="nb">{_e(row.state)}</span>',
            _e(row.sections or ""),
            _e(row.types or ""),
            _e(row.description or ""),
            _link(row.photo_url, "ดูรูป") if row.photo_url else "",
        ]
        for row in top.itertuples()
    ]
    if not rows:
        return "<p>ไม่มีเรื่องค้าง</p>"
    return _table(headers, rows, numeric=[2], css="cards")


def _notes(period: Period, in_progress_states: Sequence[str]) -> str:
    """How to read the numbers: the in-progress states, the formula, the partial month."""
    states = ", ".join(in_progress_states)
    lines = [
        "ร้อยละที่กำลังดำเนินการ = เรื่องที่แจ้งในเดือนนั้นและยังกำลังดำเนินการ × 100 "
        "÷ เรื่องทั้งหมดที่แจ้งในเดือนนั้น (ปัดทศนิยม 2 ตำแหน่ง)",
    ]
    if states:
        lines.append(f"กำลังดำเนินการ หมายถึงเรื่องที่สถานะล่าสุดเป็น {states}")
    until = period.until
    if until is not None and until.day != until.days_in_month:
        lines.append(
            f"1-{until.day} {THAI_MONTHS[until.month - 1]} {until.year + BUDDHIST_ERA_OFFSET}: "
            f"เดือนที่ยังไม่ครบ ตัวเลขนับเฉพาะเรื่องที่แจ้งถึงวันที่ {until.day}"
        )
    lines.append("เวลาทั้งหมดเป็นเวลากรุงเทพฯ ข้อมูลจาก Traffy Fondue")
    return '<footer class="notes">' + "".join(f"<p>{_e(line)}</p>" for line in lines) + "</footer>"


def _tick_label(month: pd.Timestamp, label: str) -> str:
    """``1-15 กันยายน 2566`` -> ``1-15 ก.ย.`` over ``2566``: twelve months fit a phone unrotated,
    and the partial month keeps its ``1-15`` (the hover and the table give the full name)."""
    days = label.split(" ")[0] + " " if label[0].isdigit() else ""
    short = THAI_MONTHS_SHORT[month.month - 1]
    return f"{days}{short}<br>{month.year + BUDDHIST_ERA_OFFSET}"


def _percent_axis(values: pd.Series) -> dict[str, object]:
    """Round ticks (0, 2, 4 ... or 0, 5, 10 ...) from zero to above the highest percent."""
    top = float(values.max()) if len(values) else 0.0
    top = max(top * 1.15, 1.0)
    step = next(s for s in (0.5, 1, 2, 5, 10, 20, 25, 50) if top / s <= 6)
    return {"range": [0, math.ceil(top / step) * step], "dtick": step, "tick0": 0}


def _trend(kpi: pd.DataFrame, period: Period) -> go.Figure:
    hover = month_labels(kpi, period.until)
    months = [pd.Timestamp(month) for month in kpi["month"]]
    labels = [_tick_label(month, label) for month, label in zip(months, hover, strict=True)]
    partial = [label[0].isdigit() for label in hover]  # hatched: its numbers are not a trend
    figure = go.Figure()
    figure.add_bar(
        x=labels, y=kpi["total"], name="เรื่องทั้งหมด", marker_color="#b8cce4",
        marker_pattern_shape=["/" if p else "" for p in partial],
        customdata=hover, hovertemplate="%{customdata}: %{y:,} เรื่อง<extra></extra>",
    )  # fmt: skip
    figure.add_scatter(
        x=labels,
        y=kpi["in_progress_pct"],
        name="ร้อยละกำลังดำเนินการ",
        mode="lines+markers+text",
        text=[f"{v:.2f}" for v in kpi["in_progress_pct"]],
        textposition="top center",
        yaxis="y2",
        line_color="#c0392b",
        customdata=hover,
        hovertemplate="%{customdata}: ร้อยละ %{y:.2f}<extra></extra>",
    )
    figure.update_layout(
        xaxis={"tickangle": 0, "tickfont": {"size": 11}},
        yaxis={"title": {"text": "เรื่อง"}, "rangemode": "tozero", "automargin": True},
        yaxis2={
            "title": {"text": "ร้อยละ"},
            "overlaying": "y",
            "showgrid": False,
            "side": "right",
            "automargin": True,
            **_percent_axis(kpi["in_progress_pct"]),
        },
        legend={"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"},
        height=380,
    )
    return figure


def _by_value(
    frame: pd.DataFrame, column: str, top: int | None = None, strip: str = ""
) -> go.Figure:
    """All months summed per value: tickets and those still in progress."""
    sums = frame.groupby(column)[["total", "in_progress"]].sum().sort_values("total")
    if top is not None:
        sums = sums.tail(top)
    names = [_wrap(str(name).removesuffix(strip) if strip else str(name)) for name in sums.index]
    figure = go.Figure()
    figure.add_bar(y=names, x=sums["total"], orientation="h", name="เรื่องทั้งหมด",
                   marker_color="#b8cce4")  # fmt: skip
    figure.add_bar(y=names, x=sums["in_progress"], orientation="h", name="กำลังดำเนินการ",
                   marker_color="#c0392b")  # fmt: skip
    figure.update_layout(
        barmode="group",
        legend={"orientation": "h", "x": 0, "y": 1.0, "yanchor": "bottom", "traceorder": "normal"},
        yaxis={"automargin": True},
        height=max(300, 80 + 40 * len(sums)),
    )
    return figure


def _wrap(name: str) -> str:
    """``ฝ่ายรักษาความสะอาดและสวนสาธารณะ`` on two lines (before ``และ``): a long Thai
    name has no space to break at, and on a phone it would leave no room for the bars."""
    head, joint, tail = name.partition("และ")
    return f"{head}<br>{joint}{tail}" if len(name) > 16 and head and tail else name


def _figure(figure: go.Figure) -> str:
    figure.update_layout(
        font={"family": FONT}, margin={"l": 10, "r": 10, "t": 40, "b": 30}, autosize=True
    )
    markup: str = figure.to_html(
        full_html=False,
        include_plotlyjs=False,
        config={"displayModeBar": False, "responsive": True},
        default_width="100%",
        default_height=f"{figure.layout.height}px",
    )
    return f'<div class="chart">{markup}</div>'


NUMERIC = ' class="n"'


def _table(headers: Sequence[str], rows: list[list[str]], numeric: Iterable[int], css: str) -> str:
    right = set(numeric)
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td{NUMERIC if i in right else ""} data-label="{_e(headers[i])}">{c}</td>'
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _css_string(text: str) -> str:
    """``text`` inside a CSS double-quoted string (the page header is data: escape it)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")
    return escaped.replace("<", "\\3C ")


def _e(value: object) -> str:
    return html.escape(str(value))


def _n(value: object) -> str:
    return f"{int(value):,}"  # type: ignore[call-overload]


def _maybe(value: object) -> str:
    """Two decimals, or empty for a measure with no base (no rating, no fix)."""
    number = float(value) if isinstance(value, int | float) else float("nan")
    return "" if number != number else f"{number:.2f}"


def _link(url: object, text: object) -> str:
    """A link that opens in a new tab; anything but http(s) is shown as text only."""
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        return _e(text)
    return f'<a href="{_e(url)}" target="_blank" rel="noopener noreferrer">{_e(text)}</a>'
