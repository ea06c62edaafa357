"""The HTML report in a real headless browser: it loads offline, charts render, Thai shows.

Chromium comes from Debian (``.ci/run`` installs it). The page is served from
127.0.0.1 and every other host name resolves to nothing, so a request for
anything outside the page would fail and leave the charts unrendered; the
server's log shows what the browser asked for. The screenshot is saved to
``test-artifacts/report.png`` for a human to look at.
"""

from __future__ import annotations

import html
import itertools
import json
import os
import shutil
import subprocess
import threading
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd
import pytest
from pypdf import PdfReader
from typer.testing import CliRunner

from etl.cli import app
from etl.report import read_report_tabs, render_html
from etl.sinks import LocalSink
from etl.tabs import CITY
from etl.thai import month_th_series
from tests.test_report import CITY_SERVED, city_synced, synced

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = (
    os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
)
"""Debian's chromium; ``CHROMIUM=/path`` points at another Chromium-based browser."""


class Recorder(SimpleHTTPRequestHandler):
    requested: list[str]

    def log_message(self, format: str, *args: Any) -> None:
        self.requested.append(self.path)


@pytest.fixture
def served(features: list[dict[str, Any]], tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    out = synced(features, tmp_path / "out")
    site = tmp_path / "site"
    result = CliRunner().invoke(
        app, ["report", "--html", str(site / "report.html"), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    requested: list[str] = []
    handler = type("Handler", (Recorder,), {"requested": requested})
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/report.html", requested
    finally:
        server.shutdown()
        server.server_close()


def chromium(url: str, profile: Path, *args: str) -> str:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing in CI: .ci/run installs it (apt-get install chromium)")
        pytest.skip("chromium not installed (apt-get install chromium); CI runs this test")
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--virtual-time-budget=15000",
        *args,
        url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=90, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_report_renders_offline_in_a_real_browser(
    served: tuple[str, list[str]], tmp_path: Path
) -> None:
    url, requested = served
    dom = chromium(url, tmp_path / "profile", "--dump-dom")
    # plotly draws each chart as <svg class="main-svg">: all three charts ran.
    assert dom.count('class="main-svg"') >= 3
    assert dom.count('class="plot-container plotly"') == 3
    assert "เมษายน 2566" in dom
    assert "ร้อยละกำลังดำเนินการ" in dom  # the trend's legend, drawn by plotly
    assert set(requested) <= {"/report.html", "/favicon.ico"}

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report.png"
    shot.unlink(missing_ok=True)
    chromium(url, tmp_path / "profile", "--window-size=1280,2400", f"--screenshot={shot}")
    assert shot.read_bytes().startswith(b"\x89PNG")
    assert shot.stat().st_size > 50_000  # a blank page compresses to a few kB
    assert set(requested) <= {"/report.html", "/favicon.ico"}


def test_thai_fonts_are_installed_for_the_browser() -> None:
    """Without a Thai font Chromium draws boxes: the screenshot would not show Thai."""
    if CHROMIUM is None or shutil.which("fc-list") is None:
        if os.environ.get("CI"):
            pytest.fail("chromium and fontconfig are missing in CI: .ci/run installs them")
        pytest.skip("chromium not installed")
    fonts = subprocess.run(["fc-list", ":lang=th"], capture_output=True, text=True, check=True)
    assert fonts.stdout.strip(), "no Thai font: apt-get install fonts-thai-tlwg"


# -- Phones and paper: the reports the office's executives read ---------------------------

PHONES = (360, 390)
"""The narrowest and the common phone widths, in CSS pixels."""


@dataclass(frozen=True)
class Report:
    """One report page of a served site, and the output it was made from."""

    url: str
    site: Path
    page: str
    out: Path

    def oldest(self, count: int = 20) -> list[str]:
        """The ids of the oldest open tickets the page lists."""
        tickets = LocalSink(self.out).read_tabs(["open_tickets"])["open_tickets"]
        ids = tickets.sort_values(["created_at", "ticket_id"])["ticket_id"].head(count)
        return [str(i) for i in ids]


@contextmanager
def serve(site: Path) -> Iterator[str]:
    """``site`` over HTTP on 127.0.0.1, for as long as the block runs."""
    handler = type("Handler", (Recorder,), {"requested": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def demo_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Report]:
    """The demo's report (six months, September partial) served from 127.0.0.1."""
    root = tmp_path_factory.mktemp("demo")
    runner = CliRunner()
    synced_demo = runner.invoke(app, ["demo", "--out", str(root / "out"), "--quiet"])
    assert synced_demo.exit_code == 0, synced_demo.output
    site = root / "site"
    made = runner.invoke(
        app, ["report", "--html", str(site / "report.html"), "--out", str(root / "out")]
    )
    assert made.exit_code == 0, made.output
    with serve(site) as url:
        yield Report(url, site, "report.html", root / "out")


@pytest.fixture(scope="module")
def city_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Report]]:
    """A city-wide run's reports, one per served district, with the comparison section
    (six months, September partial, most of the 50 districts ranked each month),
    made as the workflow's report step makes them."""
    root = tmp_path_factory.mktemp("city")
    out = city_synced(root / "out")
    site = root / "site"
    made = CliRunner().invoke(
        app, ["report", "--out", str(out), "--html", str(site / "report.html")],
        env={"ETL_DISTRICT": ",".join(CITY_SERVED)},
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    with serve(site) as url:
        yield {name: Report(url, site, f"report-{name}.html", out / name) for name in CITY_SERVED}


REPORTS = ("demo", *CITY_SERVED)
"""The demo's report, and a city run's report of a ranked and of an unranked district."""


@pytest.fixture(params=REPORTS, ids=("demo", "city-suan-luang", "city-pom-prap"))
def report(request: pytest.FixtureRequest) -> Report:
    if request.param == "demo":
        demo: Report = request.getfixturevalue("demo_site")
        return demo
    city: dict[str, Report] = request.getfixturevalue("city_site")
    return city[request.param]


def phone_probe(width: int, page: str) -> str:
    """A page that frames ``page`` ``width`` px wide and writes what it measured."""
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"></head><body style="margin:0">
<iframe id="phone" src="{quote(page)}" style="border:0;width:{width}px;height:2000px"></iframe>
<script>
// Headless Chromium will not make a window narrower than 500 px, so the report is
// measured in a {width} px frame: its own viewport, its own media queries.
document.getElementById("phone").addEventListener("load", function () {{
  setTimeout(function () {{
    var w = document.getElementById("phone").contentWindow, d = w.document;
    function box(e) {{ var r = e.getBoundingClientRect();
      return [r.left, r.right, r.top, r.bottom]; }}
    function lines(e) {{  // the lines of an element's text: the tops of its fragments
      var range = d.createRange(); range.selectNodeContents(e);
      return tops(range); }}
    function tops(range) {{
      return new Set(Array.from(range.getClientRects()).filter(function (r) {{
        return r.width > 0; }}).map(function (r) {{ return Math.round(r.top); }})).size; }}
    function name(e) {{  // the lines of the name a header ends with: กรุงเทพมหานคร, สวนหลวง
      var text = e.firstChild, range = d.createRange(), data = text.data;
      var start = data.lastIndexOf(" ") + 1;
      range.setStart(text, data.startsWith("เขต", start) ? start + 3 : start);
      range.setEnd(text, data.length);
      return tops(range); }}
    var city = d.querySelector("table.city");
    var out = {{
      viewport: w.innerWidth,
      page: d.documentElement.scrollWidth,
      wider: Array.from(d.querySelectorAll("body *")).filter(function (e) {{
        return e.getBoundingClientRect().right > w.innerWidth + 1 && !e.closest(".scroll");
      }}).map(function (e) {{
        return e.tagName + "." + e.getAttribute("class") + " right " +
          Math.round(e.getBoundingClientRect().right) + ": " + e.textContent.slice(0, 40);
      }}).slice(0, 10),
      ticks: Array.from(d.querySelector(".chart").querySelectorAll(".xtick text"))
        .map(function (t) {{
        return {{text: t.textContent, box: box(t)}}; }}),
      states: Array.from(d.querySelectorAll(".cards .nb")).map(function (s) {{
        return s.getClientRects().length; }}),
      cards: Array.from(d.querySelectorAll(".cards tbody tr")).map(function (r) {{
        return box(r)[1]; }}),
      city: city && {{
        box: box(city),
        scrolls: city.closest(".scroll") !== null,
        heads: Array.from(city.querySelectorAll("th")).map(function (c) {{
          return {{text: c.textContent, box: box(c), lines: lines(c), name: name(c)}}; }}),
        rows: Array.from(city.querySelectorAll("tbody tr")).map(function (r) {{
          return Array.from(r.children).map(function (c) {{
            return {{text: c.textContent, box: box(c), lines: lines(c)}}; }}); }})
      }}
    }};
    var pre = document.createElement("pre");
    pre.id = "probe";
    pre.textContent = JSON.stringify(out);
    document.body.appendChild(pre);
  }}, 1500);
}});
</script>
</body></html>
"""


@pytest.mark.parametrize("width", PHONES)
def test_report_fits_a_phone_without_scrolling_sideways(
    report: Report, tmp_path: Path, width: int
) -> None:
    probe_page = f"phone-{width}-{report.page}"
    (report.site / probe_page).write_text(phone_probe(width, report.page), encoding="utf-8")
    probe_url = f"{report.url}/{quote(probe_page)}"
    dom = chromium(probe_url, tmp_path / "profile", "--dump-dom")
    probe = json.loads(html.unescape(dom.split('<pre id="probe">')[1].split("</pre>")[0]))
    assert probe["viewport"] == width
    assert probe["page"] <= width, f"the page is {probe['page']} px wide: {probe['wider']}"
    assert probe["wider"] == []  # only boxes that scroll themselves may be wider
    # The trend chart's month ticks: the partial month is marked as in the table,
    # and no two labels overlap (they are not rotated onto the legend either).
    ticks = probe["ticks"]
    assert len(ticks) == 6
    assert ticks[-1]["text"].startswith("1-15 ก.ย.")
    assert not any(t["text"].startswith("1-") for t in ticks[:-1])
    for left, right in itertools.pairwise(ticks):
        assert left["box"][1] <= right["box"][0], (left, right)
    # The oldest tickets are cards within the screen; a state name stays on one line.
    assert len(probe["cards"]) == len(report.oldest())
    assert max(probe["cards"]) <= width
    assert probe["states"]
    assert set(probe["states"]) == {1}
    city_fits_the_phone(probe["city"], width)  # a one-district run (the demo) has it too

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / f"{Path(report.page).stem}-{width}.png"
    shot.unlink(missing_ok=True)
    chromium(probe_url, tmp_path / "profile", f"--window-size={width},2000",
             f"--screenshot={shot}")  # fmt: skip
    assert shot.read_bytes().startswith(b"\x89PNG")


def city_fits_the_phone(city: dict[str, Any], width: int) -> None:
    """The comparison on a phone: the whole table on the screen (it does not scroll in a
    box of its own); each month a name, its numbers on one line under their headers, the
    neighbours on lines below; no header broken inside a word (``กรุงเทพมห|านคร``)."""
    assert not city["scrolls"]
    assert city["box"][1] <= width
    heads = [head for head in city["heads"] if head["box"][1] > head["box"][0]]  # shown
    assert [head["text"] for head in heads][1:] == ["อันดับ", f"ร้อยละ {CITY}"]
    assert [head["name"] for head in heads] == [1, 1, 1]  # the names whole, not กรุงเทพมห|านคร
    rows = city["rows"]
    assert [row[0]["text"] for row in rows][-1] == "1-15 ก.ย. 2566"
    assert len(rows) == 6
    for row in rows:
        month, share, rank, town, above, below = row
        numbers = (share, rank, town)
        assert {cell["lines"] for cell in (month, *numbers)} == {1}, row  # "12 จาก 48" whole
        assert len({round(cell["box"][2]) for cell in numbers}) == 1, row  # one line
        assert month["box"][3] <= share["box"][2] + 1, row
        for near in (above, below):  # every neighbour shown, under the month's numbers
            assert near["text"].strip(), row
            assert near["box"][2] >= max(cell["box"][3] for cell in numbers) - 1, row
            assert near["box"][1] <= width, row
    for column, head in enumerate(heads, start=1):  # the numbers line up under their header
        assert {round(row[column]["box"][1]) for row in rows} == {round(head["box"][1])}


def pdf_pages(pdf: Path) -> list[str]:
    """The text of each page (NFKC: the PDF's ``ﬀ`` ligature is ``ff``)."""
    return [unicodedata.normalize("NFKC", page.extract_text()) for page in PdfReader(pdf).pages]


def test_report_prints_on_a4_with_a_header_on_every_page(report: Report, tmp_path: Path) -> None:
    pdf = tmp_path / "report.pdf"
    chromium(f"{report.url}/{quote(report.page)}", tmp_path / "profile",
             "--no-pdf-header-footer", f"--print-to-pdf={pdf}")  # fmt: skip
    reader = PdfReader(pdf)
    width, height = (float(v) for v in reader.pages[0].mediabox.upper_right)
    assert (round(width), round(height)) in {(595, 842), (595, 841)}  # A4 in points
    pages = pdf_pages(pdf)
    assert 3 <= len(pages) <= 7  # four blocks of charts and tables, twenty tickets, the city
    for number, text in enumerate(pages, start=1):
        assert "Traffy Fondue" in text, f"no header on page {number}"
        assert "2566 เวลา 15:00" in text, f"no data date on page {number}"
        assert f"{number} / {len(pages)}" in text
    # All the oldest tickets are printed (the next tests check rows are not cut).
    printed = "".join(pages)
    oldest = report.oldest()
    assert len(oldest) in {18, 20}  # ป้อมปราบศัตรูพ่าย has 18 open tickets
    assert [ticket for ticket in oldest if ticket not in printed] == []
    if report.page != "report.html":  # the comparison: every month, its rank of how many
        text = printed.replace(" ", "").replace("\n", "")
        assert "เทียบกับกรุงเทพมหานคร" in text
        by_district = LocalSink(report.out).read_tabs(["kpi_monthly_by_district"])
        for row in by_district["kpi_monthly_by_district"].itertuples():
            if row.district == report.out.name and pd.notna(row.in_progress_rank):
                assert f"{row.in_progress_rank}จาก{row.districts_ranked}" in text


def test_no_table_row_is_cut_across_a_page_break(demo_site: Report, tmp_path: Path) -> None:
    """Tall rows (long descriptions) over several pages: each row's first and last line
    land on the same page. Without ``break-inside: avoid`` some rows are split."""
    tabs = read_report_tabs(LocalSink(demo_site.out))
    tickets = tabs["open_tickets"].sort_values(["created_at", "ticket_id"]).head(40).copy()
    filler = " ".join(["ทางเท้าทรุด กระเบื้องแตก เดินลำบาก"] * 6)
    tickets["description"] = [f"S{i}S {filler} E{i}E" for i in range(len(tickets))]
    page = render_html({**tabs, "open_tickets": tickets}, oldest=40)
    rows_on_one_page(demo_site, page, range(len(tickets)), tmp_path)


def test_no_row_of_the_city_comparison_is_cut_across_a_page_break(
    city_site: dict[str, Report], tmp_path: Path
) -> None:
    """The comparison's rows made tall and many (the run's six months as four years of
    them, the neighbours' names long): each month's row prints on one page, its first
    neighbour's first line (``S{i}S``) with its last neighbour's last line (``E{i}E``)."""
    report = city_site["สวนหลวง"]
    tabs = read_report_tabs(LocalSink(report.out))
    run = tabs["kpi_monthly_by_district"]
    years = pd.concat(run.assign(month=run["month"] - pd.DateOffset(years=y)) for y in range(4))
    years["month_th"] = month_th_series(years["month"])
    row = years["month"].rank(method="dense").astype(int).astype(str)
    others = ~years["district"].isin([report.out.name, CITY])
    filler = " ".join(["เขตใกล้เคียงในอันดับ"] * 8)
    years["district"] = years["district"].where(
        ~others, "S" + row + "S " + filler + " E" + row + "E"
    )
    page = render_html({**tabs, "kpi_monthly_by_district": years})
    assert page.count("S24S") == 2  # every month of the four years is a row, both neighbours
    rows_on_one_page(report, page, range(1, 25), tmp_path)


def rows_on_one_page(report: Report, page: str, rows: range, tmp_path: Path) -> None:
    """Print ``page``: the text of each row ``i`` runs from ``S{i}S`` to ``E{i}E``."""
    (report.site / "tall.html").write_text(page, encoding="utf-8")
    pdf = tmp_path / "tall.pdf"
    chromium(f"{report.url}/tall.html", tmp_path / "profile", "--no-pdf-header-footer",
             f"--print-to-pdf={pdf}")  # fmt: skip
    pages = [text.replace(" ", "").replace("\n", "") for text in pdf_pages(pdf)]
    assert len(pages) >= 4
    for i in rows:
        first = [n for n, text in enumerate(pages) for _ in range(text.count(f"S{i}S"))]
        last = [n for n, text in enumerate(pages) for _ in range(text.count(f"E{i}E"))]
        assert len(first) >= 1
        assert first == last, f"row {i} split across pages {first} and {last}"
