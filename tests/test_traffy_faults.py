"""Faults of the real API: each retriable one ends in the same tabs as a fault-free run;
each fatal one leaves the sink untouched with one clear line."""

from __future__ import annotations

import os
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from etl.cli import app
from etl.errors import TraffyFatal, TraffyUnreachable
from etl.fakes.synthetic import TicketFactory
from etl.fakes.traffy import FakeTraffy, Fault
from etl.models import BANGKOK
from etl.pipeline import run_sync
from etl.settings import load_settings
from etl.sinks import LocalSink, MemorySink
from tests.conftest import april_2566, edge_cases

NOW = datetime(2023, 6, 1, tzinfo=BANGKOK)
ERROR_ENVELOPE = (
    b'{"status":"success","message":"Error: canceling statement due to statement timeout",'
    b'"total":0,"count":0}'
)


def sync(server: FakeTraffy, sink: Any = None, **extra: Any) -> MemorySink:
    settings = load_settings(
        traffy_url=server.url,
        since=date(2023, 4, 1),
        until=date(2023, 5, 31),
        page_size=100,
        read_timeout=0.5,
        **extra,
    )
    sink = sink if sink is not None else MemorySink()
    run_sync(settings, sink=sink, now=NOW)
    return sink


def tabs_of(sink: MemorySink) -> dict[str, pd.DataFrame]:
    out = {}
    for name in ("complaints", "complaint_types", "complaint_orgs", "kpi_monthly", "rejects"):
        # Run times, and the window a reject came from (a split names smaller windows).
        frame = sink.tabs[name].drop(columns=["as_of", "rejected_at", "source"], errors="ignore")
        out[name] = frame.sort_values(list(frame.columns[:2])).reset_index(drop=True)
    return out


def assert_same_tabs(left: MemorySink, right: MemorySink) -> None:
    expected = tabs_of(right)
    for name, frame in tabs_of(left).items():
        pd.testing.assert_frame_equal(frame, expected[name], obj=name)


@pytest.fixture(scope="module")
def reference() -> MemorySink:
    """The fault-free run, once per module: the fixtures' tickets are deterministic.

    Module fixtures run before the autouse ``clean_env``: clean the environment here.
    """
    with pytest.MonkeyPatch.context() as patch, FakeTraffy(april_2566() + edge_cases()) as server:
        for name in [n for n in os.environ if n.startswith("ETL_")]:
            patch.delenv(name)
        return sync(server, retry_backoff_initial=0.01, retry_backoff_max=0.05)


RETRIABLE = {
    "429 with Retry-After": [Fault(status=429, headers={"Retry-After": "0"})],
    "429 without Retry-After": [Fault(status=429)],
    "500": [Fault(status=500)],
    "502 twice": [Fault(status=502, body=b"<html>Bad Gateway</html>"), Fault(status=502)],
    "503 with Retry-After": [Fault(status=503, headers={"Retry-After": "0.1"})],
    "hang past the read timeout": [Fault(hang=1.0)],
    "connection reset": [Fault(reset=True)],
    "truncated JSON": [Fault(body=b'{"type":"FeatureCollection","features":[{"type":"Fea')],
    "HTML with status 200": [
        Fault(body=b"<html><body>Service Unavailable</body></html>",
              headers={"Content-Type": "text/html"})
    ],
    "error envelope with status success": [Fault(body=ERROR_ENVELOPE)],
}  # fmt: skip


@pytest.mark.parametrize("faults", list(RETRIABLE.values()), ids=list(RETRIABLE))
def test_retriable_fault_ends_in_the_same_tabs(
    traffy: FakeTraffy, reference: MemorySink, faults: list[Fault]
) -> None:
    before = len(traffy.requests)
    traffy.script(*faults)
    recovered = sync(traffy)
    assert_same_tabs(recovered, reference)
    assert len(traffy.requests) - before > 6  # the fault cost at least one more request


def test_page_repeating_the_previous_pages_last_record_is_rescanned(
    traffy: FakeTraffy, reference: MemorySink
) -> None:
    traffy.script(Fault(), Fault(repeat_previous=True))
    settings = load_settings(
        traffy_url=traffy.url, since=date(2023, 4, 1), until=date(2023, 5, 31),
        page_size=100, concurrency=1,
    )  # fmt: skip
    sink = MemorySink()
    result = run_sync(settings, sink=sink, now=NOW)
    assert result.extract.rescans == 1
    assert_same_tabs(sink, reference)


def test_retry_after_is_honoured(traffy: FakeTraffy) -> None:
    traffy.script(Fault(status=429, headers={"Retry-After": "0.6"}))
    started = time.perf_counter()
    sync(traffy, concurrency=1, retry_backoff_max=5.0)
    assert time.perf_counter() - started >= 0.6


def test_retry_after_as_an_http_date_is_honoured(traffy: FakeTraffy) -> None:
    from datetime import UTC, timedelta
    from email.utils import format_datetime

    when = format_datetime(datetime.now(UTC) + timedelta(seconds=2), usegmt=True)
    traffy.script(Fault(status=503, headers={"Retry-After": when}))
    started = time.perf_counter()
    sync(traffy, concurrency=1, retry_backoff_max=5.0)
    assert time.perf_counter() - started >= 0.9  # the date has whole seconds


def test_tickets_inserted_between_pages_are_caught_by_a_rescan(traffy: FakeTraffy) -> None:
    factory = TicketFactory(seed=7)
    early = factory.feature(datetime(2023, 4, 1, 0, 1), "สวนหลวง", "รอรับเรื่อง", "start")
    late = factory.feature(datetime(2023, 4, 30, 22, 0), "สวนหลวง", "รอรับเรื่อง", "start")

    def insert(number: int) -> None:
        if number == 2:
            traffy.add(early)  # before the cursor: page 2 repeats page 1's last ticket
        if number == 4:
            traffy.add(late)  # after the cursor: `total` changes between pages

    traffy.on_request(insert)
    drifted = MemorySink()
    settings = load_settings(
        traffy_url=traffy.url, since=date(2023, 4, 1), until=date(2023, 4, 30),
        page_size=100, concurrency=1,
    )  # fmt: skip
    result = run_sync(settings, sink=drifted, now=NOW)
    assert result.extract.rescans >= 1
    with FakeTraffy(traffy.features) as settled:
        reference = MemorySink()
        run_sync(settings.model_copy(update={"traffy_url": settled.url}), sink=reference, now=NOW)
    assert_same_tabs(drifted, reference)
    ids = set(drifted.tabs["complaints"]["ticket_id"])
    assert {early["properties"]["ticket_id"], late["properties"]["ticket_id"]} <= ids


def test_repeated_records_are_kept_once_with_the_latest_activity(traffy: FakeTraffy) -> None:
    original = next(f for f in traffy.features if f["properties"]["district"] == "สวนหลวง")
    older = {"state": "รอรับเรื่อง", "state_type_latest": "start",
             "last_activity": "2023-04-01 00:00:00"}  # fmt: skip
    stale = {**original, "properties": {**original["properties"], **older}}
    traffy.add(stale)
    sink = sync(traffy)
    complaints = sink.tabs["complaints"].set_index("ticket_id")
    assert complaints.index.is_unique
    assert (
        complaints.loc[original["properties"]["ticket_id"], "state"]
        == original["properties"]["state"]
    )


def test_window_too_big_to_page_safely_is_split(traffy: FakeTraffy, reference: MemorySink) -> None:
    settings = load_settings(
        traffy_url=traffy.url, since=date(2023, 4, 1), until=date(2023, 5, 31),
        page_size=100, max_window_pages=2,
    )  # fmt: skip
    split = MemorySink()
    result = run_sync(settings, sink=split, now=NOW)
    assert result.extract.splits >= 2
    assert_same_tabs(split, reference)


def test_changed_field_sets_end_in_the_same_tabs(traffy: FakeTraffy, reference: MemorySink) -> None:
    for feature in traffy.features:
        feature["properties"]["ai"] = {"version": 2}
        feature["properties"]["something_new"] = "x"
    changed = sync(traffy)
    expected = tabs_of(reference)
    for name, frame in tabs_of(changed).items():
        if name == "rejects":  # the raw JSON now carries the new fields
            assert list(frame["ticket_id"]) == list(expected[name]["ticket_id"])
        else:
            pd.testing.assert_frame_equal(frame, expected[name], obj=name)


@pytest.mark.parametrize("status", [400, 403, 404, 410])
def test_4xx_is_fatal_and_names_the_url_and_the_fix(traffy: FakeTraffy, status: int) -> None:
    sink = MemorySink()
    traffy.script(Fault(status=status))
    before = len(traffy.requests)
    with pytest.raises(TraffyFatal) as caught:
        sync(traffy, sink=sink, concurrency=1)
    message = str(caught.value)
    assert f"HTTP {status}" in message
    assert f"{traffy.url}/teamchadchart-stat-api/geojson/v1" in message
    assert "?" not in message  # no query string: registration fields stay out
    assert "check" in message.lower()
    assert sink.loads == 0
    assert len(traffy.requests) - before == 1  # not retried


def test_unrecognisable_body_is_fatal(traffy: FakeTraffy) -> None:
    traffy.script(Fault(body=b'{"status":"success","message":"","rows":[]}'))
    sink = MemorySink()
    with pytest.raises(TraffyFatal, match="no 'features' list"):
        sync(traffy, sink=sink, concurrency=1)
    assert sink.loads == 0


def test_retries_give_up_within_the_time_budget(traffy: FakeTraffy) -> None:
    traffy.script(*[Fault(status=503) for _ in range(50)])
    sink = MemorySink()
    started = time.perf_counter()
    with pytest.raises(TraffyUnreachable, match="kept failing") as caught:
        sync(traffy, sink=sink, concurrency=1, retry_attempts=50, retry_budget=0.3,
             retry_backoff_initial=0.05, retry_backoff_max=0.1)  # fmt: skip
    assert time.perf_counter() - started < 3
    assert "try again later" in str(caught.value)
    assert sink.loads == 0


def test_failed_extraction_leaves_the_previous_files_as_they_were(
    traffy: FakeTraffy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    sync(traffy, sink=LocalSink(out))
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.name != "_runs.csv"}
    monkeypatch.setenv("ETL_RETRY_ATTEMPTS", "2")
    traffy.script(*[Fault(status=500) for _ in range(20)])
    result = CliRunner().invoke(
        app,
        ["sync", "--traffy-url", traffy.url, "--out", str(out), "--since", "2023-04-01",
         "--until", "2023-05-31"],
    )  # fmt: skip
    assert result.exit_code == 1
    # Log lines (retries) may come first; the failure is one line, the last.
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")
    assert sum(line.startswith("error: ") for line in result.stderr.splitlines()) == 1
    assert "HTTP 500" in result.output
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.name != "_runs.csv"} == before
    assert "TraffyUnreachable" in (out / "_runs.csv").read_text(encoding="utf-8-sig")
