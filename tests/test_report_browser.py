"""The HTML report in a real headless browser: it loads offline, charts render, Thai shows.

Chromium comes from Debian (``.ci/run`` installs it). The page is served from
127.0.0.1 and every other host name resolves to nothing, so a request for
anything outside the page would fail and leave the charts unrendered; the
server's log shows what the browser asked for. The screenshot is saved to
``test-artifacts/report.png`` for a human to look at.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
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
