"""Completeness: a window is read until its distinct records reach the server's count.

Each deceptive page kind Traffy is documented to serve (TRAFFY_API.md) is served
here literally, at the first, a middle and the last page of a window, in both
feeds: once (the run recovers, with the tabs of a fault-free run) and for good
(the run fails, the output exactly as it was).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from etl.cli import app
from etl.errors import IncompleteWindow, TraffyUnreachable
from etl.fakes.traffy import (
    ERROR_MESSAGE,
    FEED1_PATH,
    SEARCH_PATH,
    FakeTraffy,
    Fault,
    empty_page,
    error_page,
    short_page,
)
from etl.models import BANGKOK
from etl.pipeline import run_sync
from etl.settings import load_settings
from etl.sinks import LocalSink, MemorySink
from tests.conftest import april_2566, edge_cases

NOW = datetime(2023, 6, 1, tzinfo=BANGKOK)
SINCE, UNTIL = date(2023, 4, 1), date(2023, 5, 31)
PAGE = 100
KINDS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "error envelope with an empty list": error_page,
    "page cut short": short_page,
    "empty page while total counts more": empty_page,
}
PATHS = {"v1": FEED1_PATH, "search": SEARCH_PATH}


def settings_for(server: FakeTraffy, feed: str, **extra: Any) -> Any:
    return load_settings(
        traffy_url=server.url, since=SINCE, until=UNTIL, page_size=PAGE, feed=feed,
        concurrency=1, retry_attempts=3, **extra,
    )  # fmt: skip


def comparable(sink: MemorySink) -> dict[str, pd.DataFrame]:
    out = {}
    for name in ("complaints", "complaint_types", "complaint_orgs", "kpi_monthly", "rejects"):
        frame = sink.tabs[name].drop(columns=["as_of", "rejected_at", "source"], errors="ignore")
        out[name] = frame.sort_values(list(frame.columns[:2])).reset_index(drop=True)
    return out


@pytest.fixture(scope="module")
def server() -> Any:
    with FakeTraffy(april_2566() + edge_cases()) as fake:
        yield fake


@pytest.fixture(scope="module")
def references(server: FakeTraffy) -> dict[str, MemorySink]:
    """A fault-free run per feed."""
    out = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ETL_RETRY_BACKOFF_INITIAL", "0.01")
        patch.setenv("ETL_RETRY_BACKOFF_MAX", "0.05")
        for feed in PATHS:
            sink = MemorySink()
            result = run_sync(settings_for(server, feed), sink=sink, now=NOW)
            # The proof itself: every window counted by the server, and read to its count.
            assert result.extract.uncounted_windows == 0
            assert result.extract.read == result.extract.expected > 0
            out[feed] = sink
    return out


def april_offsets(server: FakeTraffy, feed: str) -> dict[str, str]:
    """The offsets of the first, a middle and the last page of the April window."""
    query = {"start": ["2023-04-01"], "end": ["2023-05-02"]}
    district = "สวนหลวง" if feed == "search" else ""
    total = server.page(query, district)["total"]
    last = (total - 1) // PAGE * PAGE
    assert last >= 2 * PAGE, "the window must have a middle page"
    return {"first": "0", "middle": str(PAGE), "last": str(last)}


@pytest.mark.parametrize("feed", list(PATHS))
@pytest.mark.parametrize("where", ["first", "middle", "last"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_a_deceptive_page_served_once_ends_in_the_fault_free_tabs(
    server: FakeTraffy, references: dict[str, MemorySink], feed: str, where: str, kind: str
) -> None:
    offset = april_offsets(server, feed)[where]
    fault = Fault(
        rewrite=KINDS[kind], path=PATHS[feed], match={"start": "2023-04-01", "offset": offset}
    )
    server.script(fault)
    sink = MemorySink()
    result = run_sync(settings_for(server, feed), sink=sink, now=NOW)
    assert fault.times == 0, "the fault was served"
    expected = comparable(references[feed])
    for name, frame in comparable(sink).items():
        pd.testing.assert_frame_equal(frame, expected[name], obj=name)
    assert result.extract.read == result.extract.expected
    if kind != "error envelope with an empty list":  # retried as a request, not a re-scan
        assert result.extract.rescans == 1


@pytest.mark.parametrize("feed", list(PATHS))
@pytest.mark.parametrize("kind", list(KINDS))
def test_a_deceptive_page_that_persists_fails_the_run_and_writes_nothing(
    server: FakeTraffy, tmp_path: Path, feed: str, kind: str
) -> None:
    out = tmp_path / "out"
    sink = LocalSink(out)
    run_sync(settings_for(server, feed), sink=sink, now=NOW)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.name != "_runs.csv"}
    where = april_offsets(server, feed)["middle"]
    fault = Fault(
        rewrite=KINDS[kind], path=PATHS[feed], match={"start": "2023-04-01", "offset": where},
        times=1_000,
    )  # fmt: skip
    server.script(fault)
    try:
        result = CliRunner().invoke(
            app,
            ["sync", "--traffy-url", server.url, "--out", str(out), "--feed", feed,
             "--since", SINCE.isoformat(), "--until", UNTIL.isoformat()],
            env={"ETL_PAGE_SIZE": str(PAGE), "ETL_RETRY_ATTEMPTS": "3",
                 "ETL_CONCURRENCY": "1"},
        )  # fmt: skip
    finally:
        server._faults.clear()
    assert result.exit_code == 1, result.output
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ")
    if kind == "error envelope with an empty list":
        assert "kept failing" in last
        assert ERROR_MESSAGE[:40] in last
    else:
        assert "2023-04-01..2023-05-01" in last
        assert "counts" in last
        assert "were paged" in last
        assert "nothing was written" in last
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.name != "_runs.csv"} == before
    runs = pd.read_csv(out / "_runs.csv", encoding="utf-8-sig")
    assert runs["outcome"].iloc[-1] in {"IncompleteWindow", "TraffyUnreachable"}


def test_the_captured_page_with_a_warning_message_and_features_is_read(
    server: FakeTraffy, references: dict[str, MemorySink]
) -> None:
    """``feed1-v1-example.json``: real features next to a cache-error ``message``, total 0."""

    def warned(body: dict[str, Any]) -> dict[str, Any]:
        return {**body, "message": ERROR_MESSAGE, "total": 0, "count_total": 0}

    server.script(Fault(rewrite=warned, path=FEED1_PATH, match={"offset": "0"}, times=2))
    sink = MemorySink()
    result = run_sync(settings_for(server, "v1"), sink=sink, now=NOW)
    expected = comparable(references["v1"])
    for name, frame in comparable(sink).items():
        pd.testing.assert_frame_equal(frame, expected[name], obj=name)
    assert result.extract.uncounted_windows == 2  # nothing to prove these two against


def test_a_shortfall_error_names_the_window_and_both_counts(server: FakeTraffy) -> None:
    server.script(Fault(rewrite=short_page, path=FEED1_PATH, match={"offset": "0"}, times=99))
    try:
        with pytest.raises(IncompleteWindow) as raised:
            run_sync(settings_for(server, "v1"), sink=MemorySink(), now=NOW)
    finally:
        server._faults.clear()
    message = str(raised.value)
    total = server.page({"start": ["2023-04-01"], "end": ["2023-05-02"]})["total"]
    # The first page cut to half ends the pass: half a page of the window was read.
    assert f"counts {total} but {PAGE // 2} were paged" in message


def test_an_error_envelope_at_every_request_exhausts_the_retries(server: FakeTraffy) -> None:
    server.script(Fault(rewrite=error_page, path=FEED1_PATH, times=99))
    try:
        with pytest.raises(TraffyUnreachable, match="kept failing"):
            run_sync(settings_for(server, "v1"), sink=MemorySink(), now=NOW)
    finally:
        server._faults.clear()
