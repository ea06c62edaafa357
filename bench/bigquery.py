"""Scenario 5 of ``make bench`` (issue 14): a synthetic Bangkok year, every district,
into the local-bigquery emulator, then the next day's sync with 1 % of tickets changed;
and the same city-wide run writing local files, for the 2x comparison.

Runs in its own process (``python -m bench.bigquery --count N --sink bigquery|local``)
and prints one JSON line. The city-wide run is built the way the Bangkok-wide issue
plans it: one extraction, then per district its tabs and its own sink, all districts
in one dataset. A next-day sync uses new sinks, so it reads every table back first,
as a fresh ``etl sync`` process does.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

from bench.measure import Stopwatch
from bench.pages import LocalPages, PageSet, ensure_pages
from bench.scenarios import NOW
from etl import transform
from etl.publish import TABS_READ, build_tabs
from etl.settings import load_settings
from etl.sinks import LocalSink
from etl.sinks.base import Sink
from etl.traffy.extract import extract, windows

CHANGED_SHARE = 0.01
SPLIT = True
"""One sink per district (the city-wide run); ``--one-sink``: all tickets through one
sink, which measures the volume (rows, bytes, MERGE) without the 50 districts'
per-request overhead."""


def city_pages(count: int) -> PageSet:
    """A year of all Bangkok (the issue's ~1M tickets a year at full size)."""
    return PageSet(count=count, first="2025-01-01", years=1.0)


def city_run(
    frame: pd.DataFrame, now: Any, make_sink: Any, watch: Stopwatch, stage: str
) -> tuple[dict[str, Sink], int]:
    """Every district: read its tables back, build its tabs, write them with its sink.
    Returns the sinks and the rows changed (inserted, updated, deleted)."""
    sinks: dict[str, Sink] = {}
    rows = 0
    groups = frame.groupby("district", sort=True) if SPLIT else [("สวนหลวง", frame)]
    for district, tickets in groups:
        settings = load_settings(district=str(district))
        sink = make_sink(str(district))
        with watch.stage(f"{stage} read"):
            previous = sink.read_tabs(TABS_READ)
        with watch.stage(f"{stage} transform"):
            rejects = transform.rejects_tab([], now)
            tabs = build_tabs(tickets.reset_index(drop=True), settings, rejects, now,
                              previous=previous)  # fmt: skip
        with watch.stage(f"{stage} load"):
            load = sink.write_tabs(tabs)
        rows += sum(w.inserted + w.updated + w.deleted for w in load.tabs.values())
        sinks[str(district)] = sink
    return sinks, rows


def next_day(frame: pd.DataFrame, share: float) -> tuple[pd.DataFrame, int]:
    """Finish ``share`` of the tickets (a day of office work across the city)."""
    changed = frame.copy()
    chosen = np.random.default_rng(14).choice(len(frame), int(len(frame) * share), replace=False)
    finished = pd.Timestamp(NOW.replace(tzinfo=None)) + timedelta(hours=20)
    changed.loc[chosen, "state"] = "เสร็จสิ้น"
    changed.loc[chosen, "state_type"] = "finish"
    if "finished_at" in changed:
        changed.loc[chosen, "finished_at"] = finished
    return changed, len(chosen)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bigquery")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--sink", choices=["bigquery", "local"], required=True)
    parser.add_argument("--one-sink", action="store_true", help="all tickets, one sink")
    args = parser.parse_args(argv)
    global SPLIT
    SPLIT = not args.one_sink
    pages = city_pages(args.count)
    folder = ensure_pages(pages)  # generation and extraction are not the sink's: untimed
    extraction = extract(
        LocalPages(folder),  # type: ignore[arg-type]  # duck-typed: get_json and requests
        district=None,
        spans=list(windows(pages.since, pages.until, pages.window_days)),
        page_size=pages.page_size,
        max_window_pages=100_000,
        concurrency=1,
    )
    frame = extraction.frame[extraction.frame["district"].notna()].reset_index(drop=True)
    print(orjson.dumps(run(frame, args.sink)).decode(), flush=True)


def run(frame: pd.DataFrame, sink: str) -> dict[str, Any]:
    """The first load and the next day's sync of ``frame`` (canonical, all districts)."""
    out = Path(tempfile.mkdtemp(prefix="bench-city-"))
    emulator = None
    try:
        if sink == "bigquery":
            from etl.fakes.bigquery import LocalBigQuery, offline_environment
            from etl.sinks.bigquery import BigQuerySink, make_client
            from etl.sinks.google_auth import load_credential

            os.environ.update(offline_environment())
            emulator = LocalBigQuery("traffy-bench").__enter__()
            credential = load_credential(None, emulator.url, environ={}, scopes=())
            client = make_client(emulator.project, emulator.url, credential)

            checked: set[str] = set()  # one schema check per table for all districts

            def make(district: str) -> Sink:
                return BigQuerySink("traffy-bench.city", district, client=client, checked=checked)
        else:

            def make(district: str) -> Sink:
                return LocalSink(out / district)

        watch = Stopwatch()
        first, first_rows = city_run(frame, NOW, make, watch, "first")
        first_cost = _cost(first)
        changed_frame, changed = next_day(frame, CHANGED_SHARE)
        second, second_rows = city_run(changed_frame, NOW + timedelta(days=1), make, watch, "next")
        second_cost = _cost(second)
        report = watch.report(
            sink=sink,
            one_sink=not SPLIT,
            tickets=len(frame),
            districts=len(first),
            first_rows_changed=first_rows,
            next_rows_changed=second_rows,
            changed_tickets=changed,
            first_load=first_cost,
            next_load=second_cost,
        )
        if emulator is not None:
            report["emulator_peak_rss_mb"] = _peak_rss(emulator)
            rows = client.query_and_wait("SELECT COUNT(*) AS n FROM `traffy-bench.city.complaints`")
            report["complaints_rows_in_bigquery"] = next(iter(rows))["n"]
        return report
    finally:
        if emulator is not None:
            emulator.__exit__(None, None, None)
        shutil.rmtree(out, ignore_errors=True)


def _cost(sinks: dict[str, Sink]) -> dict[str, int]:
    """Rows staged and bytes loaded/processed by the run's BigQuery sinks (empty for files)."""
    total = {"staged_rows": 0, "bytes_loaded": 0, "bytes_processed": 0, "jobs": 0}
    for sink in sinks.values():
        cost = getattr(sink, "last_cost", None)
        if cost is not None:
            for key in total:
                total[key] += getattr(cost, key)
    return total


def _peak_rss(emulator: Any) -> float | None:
    """The emulator process's peak RSS (VmHWM), MB."""
    process = getattr(emulator, "_process", None)
    try:
        status = Path(f"/proc/{process.pid}/status").read_text() if process else ""
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return None


if __name__ == "__main__":
    main()
