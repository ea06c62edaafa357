"""The scenarios of issue 7. Each runs in its own process (``python -m bench.scenarios
NAME ...``) and prints one JSON line: its wall/CPU seconds, peak RSS and counts.

Scenario processes never host a fake server: servers run in their own process
(``serve``), so a scenario's CPU and memory are the pipeline's alone.
"""

from __future__ import annotations

import argparse
import functools
import pickle
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
from etl.fakes.traffy import FakeTraffy, _in_window
from etl.models import BANGKOK
from etl.pipeline import build_tabs, run_sync
from etl.settings import load_settings
from etl.sinks import LocalSink
from etl.traffy.extract import extract

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=BANGKOK)
"""The bench's fixed clock: the same run gives the same tabs."""


def frames_mb(tabs: dict[str, pd.DataFrame]) -> float:
    return round(sum(int(f.memory_usage(deep=True).sum()) for f in tabs.values()) / 2**20, 1)


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
            since=pages.since,
            until=pages.until,
            page_size=pages.page_size,
            window_days=pages.window_days,
        )
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


# --- fake servers, in their own process ---------------------------------------------------


class WindowCachedTraffy(FakeTraffy):
    """FakeTraffy with each window's selection computed once: 200 pages of a big
    window would otherwise rescan every ticket per page and time the fake, not us."""

    @functools.cache  # noqa: B019  # one server per process, lives as long as it
    def _window(self, start: str, end: str) -> list[dict[str, Any]]:
        first, last = date.fromisoformat(start), date.fromisoformat(end)
        return [f for f in self.features if _in_window(f, first, last)]

    def page(self, query: dict[str, list[str]]) -> dict[str, Any]:
        if "start" not in query or "end" not in query or query.get("sort") != ["asc"]:
            return super().page(query)
        selected = self._window(query["start"][0], query["end"][0])
        limit = min(int(query.get("limit", ["300"])[0]), 1000)
        offset = int(query.get("offset", ["0"])[0])
        chunk = selected[offset : offset + limit]
        body = super().page({"start": ["1900-01-01"], "end": ["1900-01-01"]})
        body.update(total=len(selected), count_total=len(selected), count=len(chunk))
        body["features"] = chunk
        return body


def district_features(count: int, others: int, changes: int) -> list[dict[str, Any]]:
    """``count`` Suan Luang tickets of 2025 mixed with ``others`` of other districts
    (feed 1 has no district filter); ``changes`` of the district's tickets updated."""
    mine = list(
        SyntheticBangkok(11, first=date(2025, 1, 1), years=1.0, districts=["สวนหลวง"]).features(
            count
        )
    )
    rest = list(SyntheticBangkok(12, first=date(2025, 1, 1), years=1.0).features(others))
    rest = [f for f in rest if f["properties"]["district"] != "สวนหลวง"]
    step = max(1, len(mine) // max(1, changes))
    for feature in mine[::step][:changes]:
        properties = feature["properties"]
        properties["state"], properties["state_type_latest"] = "เสร็จสิ้น", "finish"
        properties["last_activity"] = f"{NOW - timedelta(hours=1):%Y-%m-%d %H:%M:%S}"
        properties["timestamp_finished"] = properties["last_activity"]
    return mine + rest


def serve(kind: str, count: int, others: int, changes: int, latency: float) -> None:
    """Serve synthetic tickets until stdin closes; print the URL first."""
    if kind == "district":
        features = district_features(count, others, changes)
    else:
        features = list(SyntheticBangkok(21, first=date(2022, 1, 1)).features(count))
    with WindowCachedTraffy(features, latency=latency) as server:
        print(orjson.dumps({"url": server.url, "features": len(features)}).decode(), flush=True)
        sys.stdin.read()  # the parent closes our stdin to stop us
        print(orjson.dumps({"requests": len(server.requests)}).decode(), flush=True)


# --- scenario 2: district sync, first and second run --------------------------------------


def district_sync(url: str, out: str, latency: float) -> dict[str, Any]:
    """One ``run_sync`` of Suan Luang 2025 into the local sink at ``out``."""
    settings = load_settings(
        traffy_url=url,
        district="สวนหลวง",
        since=date(2025, 1, 1),
        until=date(2025, 12, 31),
        out=Path(out),
    )
    watch = Stopwatch()
    result = run_sync(settings, now=NOW)
    report = watch.report(
        tickets=result.extract.valid,
        traffy_requests=result.extract.requests,
        cells_written=sum(t.cells_written for t in result.load.tabs.values()),
        rows_written=result.load.rows_written,
        sync_stages={k: round(v, 3) for k, v in result.stage_seconds.items()},
    )
    report["wall_excl_latency_s"] = round(report["wall_s"] - latency * result.extract.requests, 3)
    return report


# --- scenario 4: memory while extracting --------------------------------------------------


def extract_memory(url: str) -> dict[str, Any]:
    """Extract everything the server holds (one window), then build the frames."""
    settings = load_settings()
    client_settings = load_settings(traffy_url=url)
    from etl.pipeline import make_client

    client = make_client(client_settings)
    watch = Stopwatch()
    with watch.stage("extract+validate"):
        extraction = extract(
            client,
            district=None,
            since=date(2022, 1, 1),
            until=date(2025, 12, 31),
            page_size=1000,
            window_days=4 * 366,
        )
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
    p.add_argument("--changes", type=int, default=0)
    p.add_argument("--latency", type=float, default=0.0)
    p = sub.add_parser("district-sync")
    p.add_argument("--url", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--latency", type=float, default=0.0)
    p = sub.add_parser("extract-memory")
    p.add_argument("--url", required=True)
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
        serve(args.kind, args.count, args.others, args.changes, args.latency)
        return
    elif args.name == "district-sync":
        report = district_sync(args.url, args.out, args.latency)
    else:
        report = extract_memory(args.url)
    print(orjson.dumps(report).decode(), flush=True)


if __name__ == "__main__":
    main()
