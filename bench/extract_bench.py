"""Extraction benchmarks: requests of a daily incremental sync, wall time of a paged
backfill at a given latency, and peak memory of a streamed monthly CSV.

    python bench/extract_bench.py                   # all three, 8 s latency (about 3 minutes)
    python bench/extract_bench.py --latency 1       # quicker, same shape
    python bench/extract_bench.py --only incremental

Everything runs against the fake Traffy server on 127.0.0.1; nothing touches
the internet. Prints one line per scenario and exits non-zero when a target
of issue 3 is missed.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import tracemalloc
from datetime import date, datetime, timedelta
from typing import Any

import requests

from etl.fakes.synthetic import TicketFactory
from etl.fakes.traffy import FakeTraffy
from etl.models import BANGKOK
from etl.pipeline import make_client, run_sync
from etl.settings import load_settings
from etl.sinks import MemorySink
from etl.traffy import monthly_csv
from etl.traffy.extract import extract, windows

OPEN_STATES = (("รอรับเรื่อง", "start"), ("กำลังดำเนินการ", "inprogress"), ("ส่งต่อ", "forward"))


def held(server: FakeTraffy, span: tuple[date, date], district: str) -> int:
    """Records feed 2 serves for a window (``end`` is sent a day late)."""
    first, last = span
    return sum(
        first <= date.fromisoformat(f["properties"]["timestamp"][:10]) <= last + timedelta(days=1)
        and f["properties"]["district"] == district
        for f in server.features
    )


def incremental(spread: str, open_tickets: int = 3000, changes: int = 100) -> bool:
    """A district with two years of history and 3,000 open tickets; 100 change overnight.

    ``spread``: ``uniform`` (open tickets anywhere in the two years, the worst
    case) or ``recent`` (open tickets are the last five months', as old tickets
    get finished).
    """
    factory, rng = TicketFactory(seed=11), random.Random(11)
    start, days = datetime(2023, 1, 1), 730
    features: list[dict[str, Any]] = []
    moments = sorted(
        start + timedelta(minutes=rng.randrange(days * 24 * 60)) for _ in range(days * 20)
    )
    if spread == "uniform":
        opened = set(rng.sample(range(len(moments)), open_tickets))
    else:
        opened = set(range(len(moments) - open_tickets, len(moments)))
    for index, created in enumerate(moments):  # about 600 tickets a month
        state, state_type = rng.choice(OPEN_STATES) if index in opened else ("เสร็จสิ้น", "finish")
        features.append(factory.feature(created, "สวนหลวง", state, state_type))
    today = datetime(2024, 12, 31, 8, 0, tzinfo=BANGKOK)
    with FakeTraffy(features) as server:
        settings = load_settings(traffy_url=server.url, feed="search", window_months=24)
        sink = MemorySink()
        run_sync(settings, sink=sink, now=today)
        first_requests = len(server.requests)
        still_open = [
            f for f in server.features if f["properties"]["state_type_latest"] != "finish"
        ]
        for feature in rng.sample(still_open, changes // 2):  # half of the changes close a ticket
            feature["properties"].update(state="เสร็จสิ้น", state_type_latest="finish",
                                         last_activity="2024-12-31 20:00:00")  # fmt: skip
        for _ in range(changes - changes // 2):  # the other half are new tickets
            created = datetime(2024, 12, 31, 9, 0) + timedelta(minutes=rng.randrange(600))
            server.add(factory.feature(created, "สวนหลวง", "รอรับเรื่อง", "start"))
        before = len(server.requests)
        result = run_sync(settings, sink=sink, now=today + timedelta(days=1))
        requests_made = len(server.requests) - before
        plan = result.plan
        assert plan is not None
        new_pages = sum(held(server, s, "สวนหลวง") // 1000 + 1 for s in plan.new)
        refresh_pages = sum(held(server, s, "สวนหลวง") // 1000 + 1 for s in plan.refresh)
    bound = new_pages + refresh_pages + 1
    ok = requests_made <= bound
    print(
        f"incremental ({spread}, plan {plan.mode}): {requests_made} requests "
        f"(new pages {new_pages} + refresh pages "
        f"{refresh_pages} + 1 = {bound}) for {plan.open_tickets} open tickets in "
        f"{len(plan.refresh)} refresh windows; first full sync {first_requests} requests "
        f"[{'ok' if ok else 'MISSED'}]"
    )
    return ok


def backfill(latency: float, pages: int = 40, concurrency: int = 2) -> bool:
    """``pages`` one-page windows at ``latency`` seconds a page, ``concurrency`` at a time."""
    factory = TicketFactory(seed=5)
    since = date(2023, 1, 1)
    features = [
        factory.feature(datetime(2023, 1, 1, 12) + timedelta(days=i), "สวนหลวง", "เสร็จสิ้น", "finish")
        for i in range(pages)
    ]
    with FakeTraffy(features, latency=latency) as server:
        client = make_client(load_settings(traffy_url=server.url, read_timeout=latency + 30))
        spans = list(windows(since, since + timedelta(days=pages - 1), 1))
        started = time.perf_counter()
        extraction = extract(client, district="สวนหลวง", spans=spans, concurrency=concurrency)
        seconds = time.perf_counter() - started
    target = 1.2 * pages * latency / concurrency
    ok = extraction.info.requests == pages and seconds <= target
    print(
        f"backfill: {extraction.info.requests} pages at {latency:g} s latency, concurrency "
        f"{concurrency}: {seconds:.1f} s (target <= 1.2 x {pages} x {latency:g} / {concurrency}"
        f" = {target:.1f} s) [{'ok' if ok else 'MISSED'}]"
    )
    return ok


def csv_memory(rows: int = 45_000) -> bool:
    """Peak traced memory while streaming a month's CSV of all of Bangkok (about 50 MB)."""
    factory = TicketFactory(seed=3)
    features = [
        factory.feature(datetime(2023, 4, 1 + i % 28, 10, i % 60), "วัฒนา", "เสร็จสิ้น", "finish")
        for i in range(rows)
    ]
    with FakeTraffy(features) as server:
        client = make_client(load_settings(traffy_url=server.url), requests.Session())
        tracemalloc.start()
        month = monthly_csv.fetch_month(client, "2023-04", "สวนหลวง", {})
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        size = sum(len(chunk) for chunk in server.csv_chunks("bangkok_2023-04") or [])
    ok = peak < size / 10
    print(
        f"csv: {month.rows} rows, {size / 1e6:.1f} MB streamed, peak traced memory "
        f"{peak / 1e6:.1f} MB (server and client together) [{'ok' if ok else 'MISSED'}]"
    )
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=8.0, help="seconds per page (backfill)")
    parser.add_argument("--only", choices=["incremental", "backfill", "csv"])
    args = parser.parse_args()
    results = []
    if args.only in (None, "incremental"):
        results.append(incremental("recent"))
        results.append(incremental("uniform"))
    if args.only in (None, "backfill"):
        results.append(backfill(args.latency))
    if args.only in (None, "csv"):
        results.append(csv_memory())
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
