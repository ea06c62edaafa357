"""``make bench``: run every scenario in its own process, print the table, write JSON.

Usage: ``python -m bench.run [--quick] [--count N] [--only 1,2,4]``. The results go
to ``bench/results/latest.json``; the previous file is kept as ``previous.json``
and its wall times are shown beside the new ones, so a change can be compared.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"
COLUMNS = (
    ("scenario", "scenario", "<"),
    ("tickets", "tickets", ">"),
    ("wall_s", "wall s", ">"),
    ("cpu_s", "CPU s", ">"),
    ("peak_rss_mb", "peak RSS MB", ">"),
    ("child_peak_rss_mb", "child RSS MB", ">"),
    ("traffy_requests", "Traffy req", ">"),
    ("sheets_requests", "Sheets req", ">"),
    ("cells_written", "cells written", ">"),
    ("limiter_minutes", "limiter min", ">"),
    ("previous_wall_s", "prev wall s", ">"),
)


def child(*args: str) -> dict[str, Any]:
    """Run one scenario process and return the JSON line it printed last."""
    command = [sys.executable, "-m", "bench.scenarios", *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


NOW = ("2025-12-31T09:00:00+07:00", "2026-01-01T09:00:00+07:00", "2026-01-02T09:00:00+07:00")
"""The bench's clock: a first sync, the next morning's, the morning after."""


@contextmanager
def server(*args: str) -> Iterator[tuple[dict[str, Any], Callable[[str], dict[str, Any]]]]:
    """Fake Traffy and Sheets in their own process: ``ask(command)`` sends it one command
    (see ``scenarios.serve``); closing its stdin stops it."""
    command = [sys.executable, "-m", "bench.scenarios", "serve", *args]
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    assert process.stdin is not None
    stdin, stdout = process.stdin, process.stdout
    info: dict[str, Any] = json.loads(stdout.readline())

    def ask(line: str) -> dict[str, Any]:
        stdin.write(line + "\n")
        stdin.flush()
        answer: dict[str, Any] = json.loads(stdout.readline())
        return answer

    try:
        yield info, ask
    finally:
        stdin.close()
        process.wait(timeout=60)


def check(target: str, ok: bool | None) -> dict[str, Any]:
    return {"target": target, "met": ok}


def scenario_bangkok(count: int) -> list[dict[str, Any]]:
    """1. Validate + transform + KPI + CSV of all of Bangkok, against the bare floor."""
    child("pages", "--count", str(count))  # generation is not timed
    run = child("bangkok", "--count", str(count), "--keep-tabs")
    floor = child("lower-bound", "--count", str(count))
    ratio = run["wall_s"] / floor["wall_s"] if floor["wall_s"] else None
    run.update(
        scenario=f"1 bangkok {count:,} local pages",
        sheets_requests=0,
        lower_bound_wall_s=floor["wall_s"],
        ratio_to_lower_bound=round(ratio, 2) if ratio else None,
        checks=[
            check("wall <= 60 s", run["wall_s"] <= 60),
            check("peak RSS <= 3 GB", run["peak_rss_mb"] <= 3072),
            check("wall <= 3x lower bound", ratio is not None and ratio <= 3),
        ],
    )
    floor.update(scenario="1 lower bound (orjson + to_csv)", sheets_requests=0, cells_written=None)
    floor["traffy_requests"] = None
    return [run, floor]


def scenario_district(count: int, changes: int) -> list[dict[str, Any]]:
    """2. A district sync into local files, then the next day's after ``changes`` changes."""
    out = tempfile.mkdtemp(prefix="bench-district-")
    serve = ["--kind", "district", "--count", str(count), "--others", str(3 * count)]
    try:
        with server(*serve, "--years", "1") as (fake, ask):
            sync = ["district-sync", "--url", fake["url"], "--out", out, "--months", "12"]
            first = child(*sync, "--now", NOW[0])
            ask(f"change {changes}")
            second = child(*sync, "--now", NOW[1])
    finally:
        shutil.rmtree(out, ignore_errors=True)
    first.update(scenario=f"2 district {count:,} first sync (local)", sheets_requests=0)
    speedup = first["wall_s"] / max(second["wall_s"], 1e-9)
    second.update(
        scenario=f"2 district {count:,} next day, {changes} changed (local)",
        sheets_requests=0,
        speedup_vs_first=round(speedup, 2),
        checks=[check("second >= 5x faster than first (no simulated latency)", speedup >= 5)],
    )
    for row in (first, second):
        row["cells_written"] = row.pop("sink_cells_written")
    return [first, second]


def scenario_sheets(count: int, changes: int, years: float) -> list[dict[str, Any]]:
    """3. The same syncs into the fake Google spreadsheet: first load, a day with
    ``changes`` changes, a day with none. Requests and cells are the server's counts."""
    from etl.settings import load_settings

    limit = load_settings().sheets_max_request_bytes
    out = tempfile.mkdtemp(prefix="bench-sheets-")
    months = str(max(1, round(years * 12)))
    serve = ["--kind", "district", "--count", str(count), "--others", str(count)]
    rows = []
    try:
        with server(*serve, "--years", str(years)) as (fake, ask):
            sheet = ["--sheets-url", fake["sheets_url"], "--spreadsheet-id", fake["spreadsheet_id"]]
            sync = ["district-sync", "--url", fake["url"], "--out", out, "--months", months, *sheet]
            ask("stats")
            for label, now, change in (
                (f"first load {count:,}", NOW[0], 0),
                (f"next day, {changes} changed", NOW[1], changes),
                ("next day, no change", NOW[2], 0),
            ):
                ask("snapshot")
                if change:
                    ask(f"change {change}")
                row = child(*sync, "--now", now)
                stats = ask("stats")
                row.update(
                    scenario=f"3 sheets {count:,}: {label}",
                    traffy_requests=stats["traffy_requests"],
                    sheets_requests=stats["sheets_requests"],
                    cells_written=stats["sheets_cells_written"],
                    cells_changed=stats["cells_changed"],
                    spreadsheet_cells=stats["spreadsheet_cells"],
                    sheets_by_kind=stats["sheets_by_kind"],
                    sheets_bytes=stats["sheets_bytes_received"],
                    sheets_max_payload_bytes=stats["sheets_max_payload_bytes"],
                )
                rows.append(row)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    first, changed, same = rows
    bound = -(-first["sheets_bytes"] // limit) + 6  # payload chunks + metadata, reads, runs
    first["checks"] = [
        check(f"requests bounded by payload: <= ceil(bytes / {limit:,}) + 6 = {bound}",
              first["sheets_requests"] <= bound)
    ]  # fmt: skip
    changed["checks"] = [
        check("<= 5 requests", changed["sheets_requests"] <= 5),
        check(
            f"cells written <= 2x cells that changed ({changed['cells_changed']:,})",
            changed["cells_written"] <= 2 * max(1, changed["cells_changed"]),
        ),
    ]
    same["checks"] = [check("no-change sync <= 3 requests", same["sheets_requests"] <= 3)]
    return rows


def scenario_memory(small: int, large: int) -> list[dict[str, Any]]:
    """4. Peak RSS of extracting ``large`` tickets vs ``small`` (pages of 1000)."""
    rows = []
    for count in (small, large):
        with server("--kind", "bangkok", "--count", str(count)) as (fake, _):
            row = child("extract-memory", "--url", fake["url"])
        row.update(
            scenario=f"4 extract {count:,} tickets ({row['pages']} pages)", sheets_requests=0
        )
        rows.append(row)
    limit = 1.5 * rows[0]["peak_rss_mb"] + rows[1]["frames_mb"]
    rows[1]["rss_limit_mb"] = round(limit, 1)
    rows[1]["checks"] = [
        check(
            f"peak RSS <= 1.5 x {rows[0]['pages']}-page peak + frames ({limit:.0f} MB)",
            rows[1]["peak_rss_mb"] <= limit,
        )
    ]
    return rows


def scenario_city(count: int, bangkok_wall: float | None) -> list[dict[str, Any]]:
    """6. Every district's tabs from one extraction (``--district all``) to local folders,
    against scenario 1 (the same pages, all of Bangkok as one output)."""
    child("pages", "--count", str(count))  # generation is not timed
    run = child("city", "--count", str(count))
    ratio = run["wall_s"] / bangkok_wall if bangkok_wall else None
    run.update(
        scenario=f"6 city {count:,}: 50 districts, one extraction (local)",
        sheets_requests=0,
        ratio_to_scenario_1=round(ratio, 2) if ratio else None,
        checks=[
            check("wall <= 1.5x scenario 1", None if ratio is None else ratio <= 1.5),
            check("peak RSS < 3 GB", run["peak_rss_mb"] < 3072),
            check("every district published", not run["failed"] and run["districts"] == 50),
        ],
    )
    return [run]


def scenario_city_sheets(count: int, changes: int) -> list[dict[str, Any]]:
    """6. Fifty spreadsheets from one process: Sheets requests of a first load and of
    the next day's sync, and the minutes the shared limiter adds to each."""
    done = child("city-sheets", "--count", str(count), "--changes", str(changes))
    rows = []
    for label, run in zip(
        ("first load", f"next day, {changes} changed"), done["runs"], strict=True
    ):
        rows.append(
            {
                "scenario": f"6 city sheets {done['tickets']:,}: 50 spreadsheets, {label}",
                "tickets": done["tickets"],
                "wall_s": run["wall_s_without_waits"],
                "traffy_requests": run["traffy_requests"],
                "sheets_requests": run["sheets_requests"],
                "cells_written": run["cells_written"],
                "limiter_minutes": run["limiter_minutes"],
                "per_minute": done["per_minute"],
                "checks": [
                    check("every district published", run["failed"] == 0),
                    check(
                        f"limiter minutes >= requests / {done['per_minute']} - 1",
                        run["limiter_minutes"]
                        >= run["sheets_requests"] / done["per_minute"] - 1 - 1e-9,
                    ),
                ],
            }
        )
    return rows


def scenario_bigquery(city: int, volume: int) -> list[dict[str, Any]]:
    """5. (issue 14) The city-wide run into the BigQuery emulator against local files,
    one sink per district; and the volume through one sink (``bench/bigquery.py``)."""
    local = _bigquery_child("--count", str(city), "--sink", "local")
    cloud = _bigquery_child("--count", str(city), "--sink", "bigquery")
    ratio = cloud["wall_s"] / local["wall_s"] if local["wall_s"] else None
    staged, changed = cloud["next_load"]["staged_rows"], cloud["next_rows_changed"]
    local.update(scenario=f"5 city {city:,} into local files, first + next day")
    cloud.update(
        scenario=f"5 city {city:,} into BigQuery emulator, first + next day",
        ratio_to_local=round(ratio, 2) if ratio else None,
        checks=[
            check("next day: staged rows <= 2x rows changed", staged <= 2 * changed),
            check("wall <= 2x the same run into local files", ratio is not None and ratio <= 2),
        ],
    )
    rows = [local, cloud]
    if volume:
        one = _bigquery_child("--count", str(volume), "--sink", "bigquery", "--one-sink")
        staged, changed = one["next_load"]["staged_rows"], one["next_rows_changed"]
        one.update(
            scenario=f"5 volume {volume:,} through one BigQuery sink, first + next day",
            checks=[check("next day: staged rows <= 2x rows changed", staged <= 2 * changed)],
        )
        rows.append(one)
    return rows


def _bigquery_child(*args: str) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.bigquery", *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    row: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    row.update(sheets_requests=0, traffy_requests=0)
    return row


def cell(row: dict[str, Any], key: str) -> str:
    value = row.get(key)
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}" if key in ("wall_s", "cpu_s", "previous_wall_s") else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def render_table(rows: Sequence[dict[str, Any]]) -> str:
    """The results as a fixed-width text table, then one line per target."""
    header = [title for _, title, _ in COLUMNS]
    body = [[cell(row, key) for key, _, _ in COLUMNS] for row in rows]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    lines = []
    for line in [header, *body]:
        cells = [
            f"{text:{align}{width}}"
            for text, width, (_, _, align) in zip(line, widths, COLUMNS, strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    lines.insert(1, "  ".join("-" * w for w in widths))
    for row in rows:
        if row.get("skipped"):
            lines.append(f"{'skipped':>12}  {row['scenario']}: {row['skipped']}")
        for item in row.get("checks", []):
            verdict = {True: "met", False: "MISSED", None: "not measured"}[item["met"]]
            lines.append(f"{verdict:>12}  {row['scenario']}: {item['target']}")
    return "\n".join(lines)


def with_previous(rows: list[dict[str, Any]], previous: Path) -> None:
    """Put the previous run's wall time beside each scenario of the same name."""
    if not previous.is_file():
        return
    try:
        old = {r["scenario"]: r for r in json.loads(previous.read_text())["scenarios"]}
    except (ValueError, KeyError, TypeError):
        return
    for row in rows:
        if row.get("scenario") in old:
            row["previous_wall_s"] = old[row["scenario"]].get("wall_s")


def write_results(rows: list[dict[str, Any]], folder: Path, seconds: float) -> Path:
    """``latest.json`` (the previous one becomes ``previous.json``)."""
    folder.mkdir(parents=True, exist_ok=True)
    latest = folder / "latest.json"
    if latest.is_file():
        latest.replace(folder / "previous.json")
    document = {
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "total_seconds": round(seconds, 1),
        "scenarios": rows,
    }
    latest.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n")
    return latest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--count", type=int, help="tickets of scenario 1 (default 1,000,000)")
    parser.add_argument(
        "--only",
        default="1,2,3,4,6",
        help="scenarios to run, e.g. 1,4; 5 (BigQuery emulator, about 25 min) only when named",
    )
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    only = {part.strip() for part in args.only.split(",")}
    quick = args.quick
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    if "1" in only:
        rows += scenario_bangkok(args.count or (20_000 if quick else 1_000_000))
    if "2" in only:
        rows += scenario_district(500 if quick else 5_000, 5 if quick else 50)
    if "3" in only:
        rows += scenario_sheets(500 if quick else 5_000, 5 if quick else 50, 1.0)
        rows += scenario_sheets(2_000 if quick else 50_000, 5 if quick else 50, 4.0)
    if "4" in only:
        rows += scenario_memory(*((2_000, 20_000) if quick else (20_000, 200_000)))
    if "5" in only:  # the emulator answers in 0.1-0.3 s a request: see docs/bigquery.md
        rows += scenario_bigquery(*((2_000, 0) if quick else (20_000, 100_000)))
    if "6" in only:
        count = args.count or (20_000 if quick else 1_000_000)
        first = next((r for r in rows if r["scenario"].startswith("1 bangkok")), None)
        rows += scenario_city(count, first["wall_s"] if first else None)
        rows += scenario_city_sheets(5_000 if quick else 60_000, 5 if quick else 500)
    seconds = time.perf_counter() - started
    with_previous(rows, args.results / "latest.json")
    path = write_results(rows, args.results, seconds)
    print(render_table(rows))
    print(f"\n{seconds:.0f} s in all; results in {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
