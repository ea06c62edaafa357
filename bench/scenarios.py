"""The scenarios of issue 7. Each runs in its own process (``python -m bench.scenarios
NAME ...``) and prints one JSON line: its wall/CPU seconds, peak RSS and counts.

Scenario processes never host a fake server: servers run in their own process
(``serve``), so a scenario's CPU and memory are the pipeline's alone.
"""

from __future__ import annotations

import argparse
import bisect
import functools
import pickle
import random
import shutil
import sys
import tempfile
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pandas as pd

from bench.measure import Stopwatch
from bench.pages import CACHE, LocalPages, PageSet, ensure_pages
from etl import transform
from etl.fakes.synthetic import SyntheticBangkok
from etl.fakes.traffy import FakeTraffy, envelope
from etl.models import BANGKOK
from etl.pipeline import run_sync
from etl.publish import build_tabs
from etl.settings import load_settings
from etl.sinks import LocalSink
from etl.traffy.extract import extract, windows

NOW = datetime(2025, 12, 31, 9, 0, tzinfo=BANGKOK)
"""The bench's fixed clock: the same run gives the same tabs."""


def frames_mb(tabs: dict[str, pd.DataFrame]) -> float:
    return round(sum(int(f.memory_usage(deep=True).sum()) for f in tabs.values()) / 2**20, 1)


def split_validate(watch: Stopwatch, validate: float) -> None:
    """Report paging (reading, parsing) and validation apart, as ``etl sync`` does."""
    both = watch.stages.pop("extract+validate")
    watch.stages["extract"] = both - validate
    watch.stages["validate"] = validate


def tabs_pickle(pages: PageSet) -> Path:
    return pages.folder.with_name(pages.folder.name + "-tabs.pkl")


# --- scenario 1: all of Bangkok from local pages ------------------------------------------


def bangkok(count: int, keep_tabs: bool) -> dict[str, Any]:
    """Validate + transform + KPI + CSV for ``count`` tickets read from local page files."""
    pages = PageSet(count=count)
    folder = ensure_pages(pages)
    settings = load_settings()
    out = Path(tempfile.mkdtemp(prefix="bench-bangkok-"))
    watch = Stopwatch()
    client = LocalPages(folder)
    with watch.stage("extract+validate"):
        extraction = extract(
            client,  # type: ignore[arg-type]  # duck-typed: get_json and requests
            district=None,
            spans=list(windows(pages.since, pages.until, pages.window_days)),
            page_size=pages.page_size,
            max_window_pages=100_000,  # the pages on disk are cut per window: never split
            concurrency=1,
        )
    split_validate(watch, extraction.info.validate_seconds)
    with watch.stage("transform"):
        frame = extraction.frame
        rejects = transform.rejects_tab(extraction.rejects, NOW)
        tabs = build_tabs(frame, settings, rejects, NOW)
    with watch.stage("load"):
        load = LocalSink(out).write_tabs(tabs)
    report = watch.report(
        tickets=extraction.info.valid,
        records=extraction.info.records,
        rejected=extraction.info.rejected,
        traffy_requests=client.requests,
        json_mb=round(client.bytes_read / 2**20, 1),
        cells_written=sum(t.cells_written for t in load.tabs.values()),
        rows={name: len(f) for name, f in tabs.items()},
    )
    # Diagnostics after the clock: a deep memory count walks every object (seconds).
    report.update(
        frames_mb=frames_mb(tabs),
        csv_mb=round(sum(p.stat().st_size for p in out.iterdir()) / 2**20, 1),
    )
    if keep_tabs:  # the lower bound writes exactly these tabs
        with tabs_pickle(pages).open("wb") as file:
            pickle.dump(tabs, file, protocol=pickle.HIGHEST_PROTOCOL)
    shutil.rmtree(out)
    return report


def lower_bound(count: int) -> dict[str, Any]:
    """The floor: parse the same pages with orjson, write the same tabs with ``to_csv``."""
    pages = PageSet(count=count)
    folder = ensure_pages(pages)
    with tabs_pickle(pages).open("rb") as file:
        tabs: dict[str, pd.DataFrame] = pickle.load(file)
    out = Path(tempfile.mkdtemp(prefix="bench-floor-"))
    watch = Stopwatch()  # started after the tabs are loaded: only parse + write count
    records = 0
    with watch.stage("parse"):
        for path in sorted(folder.glob("*_*.json")):
            records += len(orjson.loads(path.read_bytes())["features"])
    with watch.stage("to_csv"):
        for name, frame in tabs.items():
            frame.to_csv(out / f"{name}.csv", index=False)
    report = watch.report(tickets=len(tabs["complaints"]), records=records)
    shutil.rmtree(out)
    return report


# --- scenario 5: every district's tabs from one extraction -------------------------------


def city(count: int) -> dict[str, Any]:
    """``etl sync --district all`` of the pages of scenario 1, one folder per district."""
    from etl.pipeline import run_city_sync

    pages = PageSet(count=count)
    folder = ensure_pages(pages)
    out = Path(tempfile.mkdtemp(prefix="bench-city-"))
    settings = load_settings(
        district="all",
        since=pages.since,
        until=pages.until,
        window_days=pages.window_days,
        page_size=pages.page_size,
        max_window_pages=100_000,  # the pages on disk are cut per window: never split
        concurrency=1,
        out=out,
    )
    client = LocalPages(folder)
    watch = Stopwatch()
    result = run_city_sync(settings, client=client, now=NOW)  # type: ignore[arg-type]
    done = [d.result for d in result.districts if d.result is not None]
    for name in ("extract", "validate"):
        watch.stages[name] = done[0].stage_seconds.get(name, 0.0) if done else 0.0
    for name in ("read", "transform", "load"):
        watch.stages[f"{name} (50 districts)"] = sum(r.stage_seconds.get(name, 0.0) for r in done)
    report = watch.report(
        tickets=sum(r.complaints_total for r in done),
        records=result.extract.records,
        districts=len(done),
        failed=[d.district for d in result.failed],
        traffy_requests=client.requests,
        cells_written=sum(t.cells_written for r in done for t in r.load.tabs.values()),
    )
    report["csv_mb"] = round(sum(p.stat().st_size for p in out.rglob("*.csv")) / 2**20, 1)
    shutil.rmtree(out)
    return report


class VirtualClock:
    """Time that passes only when the Sheets limiter waits: the minutes it would add to a
    run, counted without spending them (requests themselves take no time here)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def city_sheets(count: int, changes: int) -> dict[str, Any]:
    """Fifty spreadsheets, one per district, written by one process: a first load and
    the next day's sync. The servers run in this process: only requests are measured."""
    from etl.districts import bangkok as districts
    from etl.fakes.sheets import FakeSheetsServer
    from etl.pipeline import run_city_sync
    from etl.sinks.sheets import SheetsSink
    from etl.sinks.sheets_quota import RequestLimiter

    first = (NOW - timedelta(days=89)).date()
    features = list(SyntheticBangkok(31, first=first, years=0.25).features(count))
    per_minute = load_settings().sheets_requests_per_minute
    runs = []
    with WindowCachedTraffy(features) as traffy, FakeSheetsServer() as sheets:
        clock = VirtualClock()
        limiter = RequestLimiter(per_minute, clock=clock, sleep=clock.sleep)
        sinks = {
            d.name: SheetsSink(sheets.create_spreadsheet(), api_url=sheets.url, limiter=limiter)
            for d in districts()
        }
        for day, now in enumerate((NOW, NOW + timedelta(days=1))):
            if day:
                clock.now += 86_400  # the next morning: yesterday's requests left the window
                for f in features[:: max(1, len(features) // changes)][:changes]:
                    _finish(f["properties"], f"{now:%Y-%m-%d} 08:00:00")
            settings = load_settings(district="all", traffy_url=traffy.url, until=now.date())
            sheets.reset_stats()
            traffy.requests.clear()
            waited, watch = limiter.waited, Stopwatch()
            result = run_city_sync(settings, sinks=sinks, now=now)
            runs.append(
                {
                    "failed": len(result.failed),
                    "mode": sorted(
                        {d.result.plan.mode for d in result.districts if d.result and d.result.plan}
                    ),
                    "traffy_requests": len(traffy.requests),
                    "sheets_requests": sheets.stats.requests,
                    "cells_written": sheets.stats.cells_written,
                    "limiter_minutes": round((limiter.waited - waited) / 60, 2),
                    "wall_s_without_waits": watch.report()["wall_s"],
                }
            )
    return {"tickets": len(features), "per_minute": per_minute, "runs": runs}


# --- fake servers, in their own process ---------------------------------------------------


class WindowCachedTraffy(FakeTraffy):
    """FakeTraffy with each window's selection found by bisection and kept: 200 pages
    of a big window, or 100 refresh windows of a daily sync, would otherwise rescan
    every ticket per page and time the fake, not us. Same answers as FakeTraffy."""

    def __init__(self, features: list[dict[str, Any]], **kwargs: Any) -> None:
        super().__init__(features, **kwargs)
        dated: list[tuple[date, int]] = []
        self._undated: list[int] = []  # broken timestamps: served with every window
        for index, feature in enumerate(self.features):
            try:
                dated.append((date.fromisoformat(str(feature["properties"]["timestamp"])[:10]),
                              index))  # fmt: skip
            except ValueError:
                self._undated.append(index)
        dated.sort()
        self._days = [day for day, _ in dated]
        self._order = [index for _, index in dated]

    def add(self, *features: dict[str, Any]) -> None:
        """Not for this fake: its index of creation dates is built once."""
        raise NotImplementedError("WindowCachedTraffy serves a fixed set of tickets")

    @functools.cache  # noqa: B019  # one server per process, lives as long as it
    def _window(self, start: str, end: str) -> list[dict[str, Any]]:
        first, last = date.fromisoformat(start), date.fromisoformat(end)
        low, high = bisect.bisect_left(self._days, first), bisect.bisect_right(self._days, last)
        chosen = sorted(self._order[low:high] + self._undated)  # the features' own order
        return [self.features[i] for i in chosen]

    def page(self, query: dict[str, list[str]], district: str = "") -> dict[str, Any]:
        if district or "start" not in query or "end" not in query or query.get("sort") != ["asc"]:
            return super().page(query, district)  # feed 2 (district filter): the plain fake
        selected = self._window(query["start"][0], query["end"][0])
        limit = min(int(query.get("limit", ["300"])[0]), 1000)
        offset = int(query.get("offset", ["0"])[0])
        return envelope(selected[offset : offset + limit], total=len(selected))


def district_features(count: int, others: int, years: float) -> list[dict[str, Any]]:
    """``count`` Suan Luang tickets of the ``years`` before ``NOW`` mixed with ``others`` of
    other districts (feed 1 has no district filter). Tickets older than 60 days are
    nearly all closed, as in the real feed: what stays open decides what a daily sync
    refreshes."""
    first = date(NOW.year - int(years), NOW.month, NOW.day) + timedelta(days=1)
    mine = list(
        SyntheticBangkok(11, first=first, years=years, districts=["สวนหลวง"]).features(count)
    )
    rest = list(SyntheticBangkok(12, first=first, years=years, first_number=count).features(others))
    rest = [f for f in rest if f["properties"]["district"] != "สวนหลวง"]
    aging = random.Random(13)
    old = f"{NOW - timedelta(days=60):%Y-%m-%d}"
    for feature in mine + rest:
        p = feature["properties"]
        is_open = p["state_type_latest"] not in ("finish", "irrelevant")
        if is_open and p["timestamp"] < old and aging.random() < 0.95:
            _finish(p, f"{p['timestamp'][:10]} 18:00:00")
    return mine + rest


def _finish(properties: dict[str, Any], when: str) -> None:
    properties["state"], properties["state_type_latest"] = "เสร็จสิ้น", "finish"
    properties["last_activity"] = properties["timestamp_finished"] = when
    properties["timestamp_inprogress"] = properties["timestamp_inprogress"] or when


def change(features: list[dict[str, Any]], count: int, when: datetime) -> int:
    """Finish ``count`` open Suan Luang tickets (a day of office work)."""
    open_ = [
        f["properties"]
        for f in features
        if f["properties"]["district"] == "สวนหลวง"
        and f["properties"]["state_type_latest"] not in ("finish", "irrelevant")
    ]
    step = max(1, len(open_) // max(1, count))
    chosen = open_[::step][:count]
    for properties in chosen:
        _finish(properties, f"{when:%Y-%m-%d %H:%M:%S}")
    return len(chosen)


def serve(kind: str, count: int, others: int, years: float, latency: float) -> None:
    """Serve synthetic tickets (and a fake Google Sheets) until stdin closes.

    Prints the URLs first, then answers one command per stdin line: ``change N``
    (finish N open tickets), ``snapshot`` (remember the spreadsheet's cells),
    ``stats`` (requests and cells since the last ``stats``, cells that differ from
    the snapshot).
    """
    from etl.fakes.sheets import FakeSheetsServer

    if kind == "district":
        features = district_features(count, others, years)
    else:
        features = list(SyntheticBangkok(21, first=date(2022, 1, 1)).features(count))
    with WindowCachedTraffy(features, latency=latency) as traffy, FakeSheetsServer() as sheets:
        sid = sheets.create_spreadsheet()
        print(orjson.dumps({"url": traffy.url, "sheets_url": sheets.url, "spreadsheet_id": sid,
                            "features": len(features)}).decode(), flush=True)  # fmt: skip
        snapshot: dict[str, list[list[Any]]] = {}
        for line in sys.stdin:
            command, *args = line.split()
            answer: dict[str, Any] = {}
            if command == "change":
                # Windows stay cached: a change edits tickets in place, never their dates.
                answer["changed"] = change(features, int(args[0]), NOW + timedelta(hours=20))
            elif command == "snapshot":
                snapshot = _cells(sheets, sid)
            elif command == "stats":
                answer = {
                    "traffy_requests": len(traffy.requests),
                    "sheets_requests": sheets.stats.requests,
                    "sheets_writes": sheets.stats.writes,
                    "sheets_cells_written": sheets.stats.cells_written,
                    "sheets_max_payload_bytes": sheets.stats.max_payload_bytes,
                    "sheets_bytes_received": sheets.stats.bytes_received,
                    "sheets_by_kind": dict(sheets.stats.by_kind),
                    "cells_changed": _changed(snapshot, _cells(sheets, sid)),
                    "spreadsheet_cells": sum(
                        len(r) for v in _cells(sheets, sid).values() for r in v
                    ),
                }
                traffy.requests.clear()
                sheets.reset_stats()
            print(orjson.dumps(answer).decode(), flush=True)


def _cells(sheets: Any, sid: str) -> dict[str, list[list[Any]]]:
    return {name: sheets.tab_values(sid, name) for name in sheets.tab_titles(sid)}


def _changed(before: dict[str, list[list[Any]]], after: dict[str, list[list[Any]]]) -> int:
    """Cells whose value differs (a cell that appears or disappears counts once)."""
    changed = 0
    for name in set(before) | set(after):
        old, new = before.get(name, []), after.get(name, [])
        for row in range(max(len(old), len(new))):
            a = old[row] if row < len(old) else []
            b = new[row] if row < len(new) else []
            for column in range(max(len(a), len(b))):
                x = a[column] if column < len(a) else ""
                y = b[column] if column < len(b) else ""
                changed += x != y
    return changed


# --- scenarios 2 and 3: a district sync (local files or the fake spreadsheet) -------------


def district_sync(
    url: str, *, out: str, when: str, months: int, sheets_url: str | None, sid: str | None
) -> dict[str, Any]:
    """One ``run_sync`` of Suan Luang into the local sink at ``out``, or the spreadsheet."""
    now = datetime.fromisoformat(when)
    settings = load_settings(
        traffy_url=url,
        district="สวนหลวง",
        window_months=months,
        out=Path(out),
        spreadsheet_id=sid,
        sheets_api_url=sheets_url,
        # Scenario 3 measures the sink (requests, cells, seconds); the quota's minutes
        # are scenario 5's (a first load of 84 requests would wait a minute for real).
        sheets_requests_per_minute=1_000_000,
    )
    watch = Stopwatch()
    result = run_sync(settings, now=now)
    return watch.report(
        tickets=result.extract.valid,
        traffy_requests=result.extract.requests,
        mode=result.plan.mode if result.plan else None,
        sink_cells_written=sum(t.cells_written for t in result.load.tabs.values()),
        rows_written=result.load.rows_written,
        sync_stages={k: round(v, 3) for k, v in result.stage_seconds.items()},
    )


# --- scenario 4: memory while extracting --------------------------------------------------


def extract_memory(url: str) -> dict[str, Any]:
    """Extract everything the server holds (one window), then build the frames."""
    settings = load_settings()
    client_settings = load_settings(traffy_url=url)
    from etl.pipeline import make_client

    client = make_client(client_settings)
    watch = Stopwatch()
    with watch.stage("extract+validate"):
        extraction = extract(  # the pipeline's own windows, splits and concurrency
            client,
            district=None,
            spans=list(windows(date(2022, 1, 1), date(2025, 12, 31), settings.window_days)),
            page_size=settings.page_size,
            max_window_pages=settings.max_window_pages,
            concurrency=settings.concurrency,
        )
    split_validate(watch, extraction.info.validate_seconds)
    with watch.stage("transform"):
        frame = extraction.frame
        tabs = build_tabs(frame, settings, transform.rejects_tab(extraction.rejects, NOW), NOW)
    return watch.report(
        tickets=extraction.info.valid,
        pages=extraction.info.pages,
        traffy_requests=extraction.info.requests,
        frames_mb=frames_mb({"frame": frame, **tabs}),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scenarios")
    sub = parser.add_subparsers(dest="name", required=True)
    p = sub.add_parser("pages")
    p.add_argument("--count", type=int, required=True)
    p = sub.add_parser("bangkok")
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--keep-tabs", action="store_true")
    p = sub.add_parser("lower-bound")
    p.add_argument("--count", type=int, required=True)
    p = sub.add_parser("serve")
    p.add_argument("--kind", choices=["district", "bangkok"], required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--others", type=int, default=0)
    p.add_argument("--years", type=float, default=1.0)
    p.add_argument("--latency", type=float, default=0.0)
    p = sub.add_parser("district-sync")
    p.add_argument("--url", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--now", required=True)
    p.add_argument("--months", type=int, required=True)
    p.add_argument("--sheets-url")
    p.add_argument("--spreadsheet-id")
    p = sub.add_parser("extract-memory")
    p.add_argument("--url", required=True)
    p = sub.add_parser("city")
    p.add_argument("--count", type=int, required=True)
    p = sub.add_parser("city-sheets")
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--changes", type=int, required=True)
    args = parser.parse_args(argv)

    report: dict[str, Any]
    if args.name == "pages":
        watch = Stopwatch()
        folder = ensure_pages(PageSet(count=args.count))
        report = watch.report(folder=str(folder.relative_to(CACHE.parent)))
    elif args.name == "bangkok":
        report = bangkok(args.count, args.keep_tabs)
    elif args.name == "lower-bound":
        report = lower_bound(args.count)
    elif args.name == "serve":
        serve(args.kind, args.count, args.others, args.years, args.latency)
        return
    elif args.name == "district-sync":
        report = district_sync(
            args.url, out=args.out, when=args.now, months=args.months,
            sheets_url=args.sheets_url, sid=args.spreadsheet_id,
        )  # fmt: skip
    elif args.name == "city":
        report = city(args.count)
    elif args.name == "city-sheets":
        report = city_sheets(args.count, args.changes)
    else:
        report = extract_memory(args.url)
    print(orjson.dumps(report).decode(), flush=True)


if __name__ == "__main__":
    main()
