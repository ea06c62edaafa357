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
import re
import shutil
import subprocess
import threading
import unicodedata
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from typer.testing import CliRunner

from etl.cli import app
from tests.test_report import synced

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


# -- Phones and paper: the demo's report, as the office's executives read it ------------

PHONES = (360, 390)
"""The narrowest and the common phone widths, in CSS pixels."""


@pytest.fixture(scope="module")
def demo_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
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
    for width in PHONES:
        (site / f"phone-{width}.html").write_text(phone_probe(width), encoding="utf-8")
    handler = type("Handler", (Recorder,), {"requested": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", site
    finally:
        server.shutdown()
        server.server_close()


def phone_probe(width: int) -> str:
    """A page that frames the report ``width`` px wide and writes what it measured."""
    return f"""<!DOCTYPE html>
<html><body style="margin:0">
<iframe id="phone" src="report.html" style="border:0;width:{width}px;height:2000px"></iframe>
<script>
// Headless Chromium will not make a window narrower than 500 px, so the report is
// measured in a {width} px frame: its own viewport, its own media queries.
document.getElementById("phone").addEventListener("load", function () {{
  setTimeout(function () {{
    var w = document.getElementById("phone").contentWindow, d = w.document;
    function box(e) {{ var r = e.getBoundingClientRect();
      return [r.left, r.right, r.top, r.bottom]; }}
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
        return box(r)[1]; }})
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
    demo_site: tuple[str, Path], tmp_path: Path, width: int
) -> None:
    url, _ = demo_site
    dom = chromium(f"{url}/phone-{width}.html", tmp_path / "profile", "--dump-dom")
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
    assert len(probe["cards"]) == 20
    assert max(probe["cards"]) <= width
    assert probe["states"]
    assert set(probe["states"]) == {1}

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / f"report-{width}.png"
    shot.unlink(missing_ok=True)
    chromium(f"{url}/phone-{width}.html", tmp_path / "profile", f"--window-size={width},2000",
             f"--screenshot={shot}")  # fmt: skip
    assert shot.read_bytes().startswith(b"\x89PNG")


def pdf_pages(pdf: Path) -> list[str]:
    """The text of each page (NFKC: the PDF's ``ﬀ`` ligature is ``ff``)."""
    return [unicodedata.normalize("NFKC", page.extract_text()) for page in PdfReader(pdf).pages]


def test_report_prints_on_a4_with_a_header_on_every_page(
    demo_site: tuple[str, Path], tmp_path: Path
) -> None:
    url, _ = demo_site
    pdf = tmp_path / "report.pdf"
    chromium(f"{url}/report.html", tmp_path / "profile", "--no-pdf-header-footer",
             f"--print-to-pdf={pdf}")  # fmt: skip
    reader = PdfReader(pdf)
    width, height = (float(v) for v in reader.pages[0].mediabox.upper_right)
    assert (round(width), round(height)) in {(595, 842), (595, 841)}  # A4 in points
    pages = pdf_pages(pdf)
    assert 3 <= len(pages) <= 6  # four blocks of charts and tables, twenty tickets
    for number, text in enumerate(pages, start=1):
        assert "Traffy Fondue" in text, f"no header on page {number}"
        assert "2566 เวลา 15:00" in text, f"no data date on page {number}"
        assert f"{number} / {len(pages)}" in text
    # All twenty oldest tickets are printed (the next test checks rows are not cut).
    listed = [re.findall(r"2023-[0-9A-Z]{6}", text) for text in pages]
    assert sum(len(ids) for ids in listed) == 20


def test_no_table_row_is_cut_across_a_page_break(
    demo_site: tuple[str, Path], tmp_path: Path
) -> None:
    """Tall rows (long descriptions) over several pages: each row's first and last line
    land on the same page. Without ``break-inside: avoid`` some rows are split."""
    _, site = demo_site
    from etl.report import read_report_tabs, render_html
    from etl.sinks import LocalSink

    tabs = read_report_tabs(LocalSink(site.parent / "out"))
    tickets = tabs["open_tickets"].sort_values(["created_at", "ticket_id"]).head(40).copy()
    filler = " ".join(["ทางเท้าทรุด กระเบื้องแตก เดินลำบาก"] * 6)
    tickets["description"] = [f"S{i}S {filler} E{i}E" for i in range(len(tickets))]
    page = render_html({**tabs, "open_tickets": tickets}, oldest=40)
    (site / "tall.html").write_text(page, encoding="utf-8")
    pdf = tmp_path / "tall.pdf"
    url, _ = demo_site
    chromium(f"{url}/tall.html", tmp_path / "profile", "--no-pdf-header-footer",
             f"--print-to-pdf={pdf}")  # fmt: skip
    pages = [text.replace(" ", "").replace("\n", "") for text in pdf_pages(pdf)]
    assert len(pages) >= 4
    for i in range(len(tickets)):
        first = [n for n, text in enumerate(pages) if f"S{i}S" in text]
        last = [n for n, text in enumerate(pages) if f"E{i}E" in text]
        assert len(first) == 1
        assert first == last, f"row {i} split across pages {first} and {last}"
