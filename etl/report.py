"""The offline HTML report: the executives' tables and charts in one self-contained file.

Reads the tabs a sync wrote (from any ``Sink``) and writes one HTML file that
opens with no network: plotly's JavaScript is embedded once, nothing is
loaded from elsewhere, and photos and Traffy pages are links, not images.
"""

from __future__ import annotations

import html
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


@dataclass
class ReportInfo:
    """What the report shows, for the command's one-line summary."""

    path: Path
    months: int
    open_tickets: int
    size_bytes: int


def read_report_tabs(sink: Sink) -> dict[str, pd.DataFrame]:
    """The report's tabs from the sink; missing optional tabs come back empty."""
    tabs = sink.read_tabs(REPORT_TABS)
    if "kpi_monthly" not in tabs:
        raise SinkError(
            f"No kpi_monthly tab in {sink.description}: run `etl sync` first "
            "(with the same --out or spreadsheet)."
        )
    return {name: tabs.get(name, TABS[name].empty()) for name in REPORT_TABS}


def write_report(sink: Sink, path: Path, *, oldest: int = 20) -> ReportInfo:
    """Read the tabs from ``sink`` and write the report to ``path``."""
    tabs = read_report_tabs(sink)
    text = render_html(tabs, oldest=oldest)
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


def render_html(tabs: Mapping[str, pd.DataFrame], *, oldest: int = 20) -> str:
    """The whole page; ``tabs`` as :func:`read_report_tabs` returns them."""
    kpi = tabs["kpi_monthly"].sort_values("month")
    meta = tabs["meta"]
    district = str(meta["district"].iloc[0]) if len(meta) else ""
    title = f"เรื่องร้องเรียน Traffy Fondue เขต{district}" if district else "เรื่องร้องเรียน Traffy Fondue"
    sections = [
        f"<h1>{_e(title)}</h1>",
        f'<p class="freshness">{_e(_freshness(meta, kpi))}</p>',
        "<h2>ร้อยละของเรื่องที่อยู่ระหว่างดำเนินการ รายเดือน</h2>",
        _month_table(kpi, meta),
        _figure(_trend(kpi)),
        "<h2>แยกตามฝ่าย</h2>",
        _figure(_by_value(tabs["kpi_monthly_by_org"].query("is_section"), "organization")),
        "<h2>แยกตามประเภทปัญหา</h2>",
        _figure(_by_value(tabs["kpi_monthly_by_type"], "type", top=TOP_TYPES)),
        f"<h2>เรื่องค้างนานที่สุด {min(oldest, len(tabs['open_tickets']))} เรื่อง</h2>",
        _oldest_table(tabs["open_tickets"], oldest),
        *_city_section(tabs.get("kpi_monthly_by_district"), district),
    ]
    body = "\n".join(sections)
    return f"""<!DOCTYPE html>
<html lang="th">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title>
<style>
body {{ font-family: {FONT}; margin: 2rem auto; max-width: 1100px; color: #222; }}
h1 {{ font-size: 1.6rem; }} h2 {{ font-size: 1.25rem; margin-top: 2rem; }}
table {{ border-collapse: collapse; width: 100%; font-size: 0.95rem; }}
th, td {{ border: 1px solid #ccc; padding: 0.3rem 0.5rem; vertical-align: top; }}
th {{ background: #f0f4f8; }} td.n {{ text-align: right; font-variant-numeric: tabular-nums; }}
td:first-child, td:nth-child(2), td:last-child {{ white-space: nowrap; }}
.freshness {{ color: #555; }} .chart {{ min-height: 360px; }}
</style>
<script>{get_plotlyjs()}</script>
</head>
<body>
{body}
</body>
</html>
"""


def thai_datetime(moment: pd.Timestamp) -> str:
    """``2023-09-15 18:00`` -> ``15 กันยายน 2566 เวลา 18:00 น.``"""
    month = THAI_MONTHS[moment.month - 1]
    year = moment.year + BUDDHIST_ERA_OFFSET
    return f"{moment.day} {month} {year} เวลา {moment:%H:%M} น."


def _freshness(meta: pd.DataFrame, kpi: pd.DataFrame) -> str:
    if len(meta):
        row = meta.iloc[0]
        return f"ข้อมูล ณ {thai_datetime(row['last_sync'])} (โครงสร้างข้อมูลรุ่น {row['schema_version']})"
    if len(kpi):
        return f"ข้อมูล ณ {thai_datetime(kpi['as_of'].max())}"
    return "ยังไม่มีข้อมูล"


def month_labels(kpi: pd.DataFrame, until: pd.Timestamp | None) -> list[str]:
    """Thai month names; the month the last sync stopped in is ``1-15 กันยายน 2566``.

    The office marks a month it reports before its end, since its numbers are partial.
    """
    labels = [str(label) for label in kpi["month_th"]]
    if until is None or until.day == until.days_in_month:
        return labels
    stop = until.to_period("M")
    return [
        f"1-{until.day} {label}" if month.to_period("M") == stop else label
        for month, label in zip(kpi["month"], labels, strict=True)
    ]


def _month_table(kpi: pd.DataFrame, meta: pd.DataFrame) -> str:
    """The office's table: month, all tickets, in progress, percent (as the seed shows it)."""
    headers = ("เดือน", "เรื่องทั้งหมด", "กำลังดำเนินการ", "ร้อยละ", "เสร็จสิ้น",
               "มัธยฐานวันจนแก้ไขเสร็จ", "คะแนนความพึงพอใจเฉลี่ย")  # fmt: skip
    until = meta["until"].iloc[0] if len(meta) else None
    labels = month_labels(kpi, None if pd.isna(until) else pd.Timestamp(until))
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
        for label, row in zip(labels, kpi.itertuples(), strict=True)
    ]
    return _table(headers, rows, numeric=range(1, len(headers)))


def _city_section(by_district: pd.DataFrame | None, district: str) -> list[str]:
    """The district against the city and its neighbours in the ranking, by month (tab
    ``kpi_monthly_by_district``, written by every sync that saw the whole city)."""
    if by_district is None or by_district.empty or not district:
        return []
    headers = ("เดือน", f"ร้อยละ เขต{district}", "อันดับ", f"ร้อยละ {CITY}",
               "อันดับก่อนหน้า", "อันดับถัดไป")  # fmt: skip
    rows = []
    for _, group in by_district.sort_values("month").groupby("month", sort=True):
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
                _e(row["month_th"]),
                f"{row['in_progress_pct']:.2f}",
                _e(f"{int(rank)} จาก {int(row['districts_ranked'])}" if pd.notna(rank) else "-"),
                f"{city.iloc[0]['in_progress_pct']:.2f}" if len(city) else "",
                _e(_neighbour(above)),
                _e(_neighbour(below)),
            ]
        )
    if not rows:
        return []
    return [
        "<h2>เทียบกับกรุงเทพมหานครและเขตใกล้เคียงในอันดับ</h2>",
        "<p>อันดับ 1 คือเขตที่มีร้อยละเรื่องกำลังดำเนินการน้อยที่สุดในเดือนนั้น</p>",
        _table(headers, rows, numeric=[1, 2, 3]),
    ]


def _neighbour(rows: pd.DataFrame) -> str:
    if rows.empty:
        return ""
    row = rows.iloc[0]
    return f"{row['district']} {row['in_progress_pct']:.2f} (อันดับ {int(row['in_progress_rank'])})"


def _oldest_table(open_tickets: pd.DataFrame, oldest: int) -> str:
    headers = ("เลขที่เรื่อง", "วันที่แจ้ง", "อายุ (วัน)", "สถานะ", "ฝ่าย", "ประเภท", "รายละเอียด", "รูป")
    top = open_tickets.sort_values(["created_at", "ticket_id"]).head(oldest)
    rows = [
        [
            _link(row.traffy_url, row.ticket_id),
            _e(f"{row.created_at:%Y-%m-%d}"),
            _n(row.age_days),
            _e(row.state),
            _e(row.sections or ""),
            _e(row.types or ""),
            _e(row.description or ""),
            _link(row.photo_url, "ดูรูป") if row.photo_url else "",
        ]
        for row in top.itertuples()
    ]
    if not rows:
        return "<p>ไม่มีเรื่องค้าง</p>"
    return _table(headers, rows, numeric=[2])


def _trend(kpi: pd.DataFrame) -> go.Figure:
    figure = go.Figure()
    figure.add_bar(x=kpi["month_th"], y=kpi["total"], name="เรื่องทั้งหมด", marker_color="#b8cce4")
    figure.add_scatter(
        x=kpi["month_th"],
        y=kpi["in_progress_pct"],
        name="ร้อยละกำลังดำเนินการ",
        mode="lines+markers+text",
        text=[f"{v:.2f}" for v in kpi["in_progress_pct"]],
        textposition="top center",
        yaxis="y2",
        line_color="#c0392b",
    )
    figure.update_layout(
        yaxis={"title": {"text": "เรื่อง"}},
        yaxis2={
            "title": {"text": "ร้อยละ"},
            "overlaying": "y",
            "showgrid": False,
            "side": "right",
            "rangemode": "tozero",
        },
        legend={"orientation": "h"},
    )
    return figure


def _by_value(frame: pd.DataFrame, column: str, top: int | None = None) -> go.Figure:
    """All months summed per value: tickets and those still in progress."""
    sums = frame.groupby(column)[["total", "in_progress"]].sum().sort_values("total")
    if top is not None:
        sums = sums.tail(top)
    figure = go.Figure()
    figure.add_bar(y=sums.index, x=sums["total"], orientation="h", name="เรื่องทั้งหมด",
                   marker_color="#b8cce4")  # fmt: skip
    figure.add_bar(y=sums.index, x=sums["in_progress"], orientation="h", name="กำลังดำเนินการ",
                   marker_color="#c0392b")  # fmt: skip
    figure.update_layout(barmode="group", legend={"orientation": "h"},
                         height=max(320, 60 + 44 * len(sums)))  # fmt: skip
    return figure


def _figure(figure: go.Figure) -> str:
    figure.update_layout(font={"family": FONT}, margin={"l": 40, "r": 40, "t": 30, "b": 40})
    markup: str = figure.to_html(
        full_html=False,
        include_plotlyjs=False,
        config={"displayModeBar": False, "responsive": True},
        default_height="auto" if figure.layout.height else "400px",
    )
    return f'<div class="chart">{markup}</div>'


def _table(headers: Sequence[str], rows: list[list[str]], numeric: Iterable[int]) -> str:
    right = set(numeric)
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{c}</td>' if i in right else f"<td>{c}</td>" for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


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
