"""Log lines carry Bangkok time with its offset, whatever the machine's zone."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from rich.console import Console

from etl import logs
from etl.logs import LogFormat, Verbosity

# 22:12:03.250 UTC on 29 November 2026 is already 30 November in Bangkok.
MOMENT = datetime(2026, 11, 29, 22, 12, 3, 250_000, tzinfo=UTC).timestamp()


@pytest.fixture(params=["UTC", "America/New_York", "Asia/Tokyo"])
def machine_zone(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The machine's local zone (``TZ``) for the test: none of them may leak into a log."""
    monkeypatch.setenv("TZ", request.param)
    time.tzset()
    yield request.param
    monkeypatch.undo()
    time.tzset()


@pytest.fixture(autouse=True)
def restore_handlers() -> Iterator[None]:
    before = logs.log.handlers[:], logs.log.level, logs.log.propagate
    yield
    logs.log.handlers[:], logs.log.level, logs.log.propagate = before[0], before[1], before[2]


def _record(message: str = "extract: 2 pages") -> logging.LogRecord:
    record = logs.log.makeRecord("etl", logging.INFO, __file__, 1, message, (), None)
    record.created = MOMENT
    record.msecs = 250.0
    return record


def test_text_lines_are_bangkok_time_with_the_offset(machine_zone: str) -> None:
    stream = io.StringIO()
    logs.setup(Verbosity.normal, LogFormat.text, stream=stream)
    logs.log.handle(_record())
    assert stream.getvalue() == "2026-11-30 05:12:03+07:00 INFO etl: extract: 2 pages\n"


def test_json_lines_are_bangkok_time_with_the_offset(machine_zone: str) -> None:
    stream = io.StringIO()
    logs.setup(Verbosity.normal, LogFormat.json, stream=stream)
    logs.log.handle(_record())
    entry = json.loads(stream.getvalue())
    assert entry["time"] == "2026-11-30T05:12:03.250+07:00"
    assert datetime.fromisoformat(entry["time"]).timestamp() == MOMENT


def test_the_terminal_shows_bangkok_time_with_the_offset(machine_zone: str) -> None:
    screen = io.StringIO()
    console = Console(file=screen, width=120, force_terminal=False, color_system=None)
    logs.setup(Verbosity.normal, LogFormat.text, console=console)
    logs.log.handle(_record())
    assert "2026-11-30 05:12:03+07:00" in screen.getvalue()
    assert "extract: 2 pages" in screen.getvalue()


def test_a_live_line_is_stamped_now_in_bangkok() -> None:
    stream = io.StringIO()
    logs.setup(Verbosity.normal, LogFormat.text, stream=stream)
    before = datetime.now(UTC).replace(microsecond=0)
    logs.log.info("load: 3 rows written")
    stamp = datetime.fromisoformat(stream.getvalue()[: len("2026-11-30 05:12:03+07:00")])
    assert stamp.utcoffset() == timedelta(hours=7)
    assert before <= stamp <= datetime.now(UTC)
