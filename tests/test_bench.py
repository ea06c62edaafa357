"""The synthetic Bangkok and the bench harness's output (no timing: bench/ measures)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import orjson

from bench.run import render_table, with_previous, write_results
from etl.fakes.synthetic import ODD_KINDS, SyntheticBangkok, TicketFactory, seed_months
from etl.traffy import feed_v1


def test_synthetic_bangkok_is_deterministic_by_seed() -> None:
    first = orjson.dumps(list(SyntheticBangkok(3).features(300)))
    again = orjson.dumps(list(SyntheticBangkok(3).features(300)))
    other = orjson.dumps(list(SyntheticBangkok(4).features(300)))
    assert first == again
    assert first != other


def test_synthetic_bangkok_is_feed1_shaped_with_a_share_of_odd_records() -> None:
    features = list(SyntheticBangkok(5, odd_share=0.3).features(2_000))
    valid, reasons = [], Counter[str]()
    for feature in features:
        try:
            valid.append(feed_v1.to_complaint(feature))
        except ValueError as error:
            reasons[str(error).splitlines()[0]] += 1
    assert 0 < sum(reasons.values()) < 0.1 * len(features)  # bad_timestamp, bad_star only
    ids = Counter(c.ticket_id for c in valid)
    duplicated = [t for t, n in ids.items() if n > 1]
    assert duplicated  # the duplicate kind serves a ticket twice
    assert any(len(t) == 6 for t in ids)  # hotline ids, no year
    assert any(t.startswith("#") for t in ids)  # anonymous: message id stands in
    assert any(c.state == "รอตรวจสอบ" for c in valid)  # a state nobody configured
    assert len({c.district for c in valid}) > 40
    years = {c.created_at.year for c in valid}
    assert years == {2022, 2023, 2024, 2025}
    stamps = [
        f["properties"]["timestamp"]
        for f in features[:50]
        if f["properties"]["timestamp"][0] == "2"
    ]
    assert stamps == sorted(stamps)  # ascending creation order, as the pages are cut
    assert len(ODD_KINDS) > 10


def test_seed_helpers_still_work() -> None:
    assert len(seed_months()) > 3_000
    assert TicketFactory(1).feature.__name__ == "feature"


def test_table_and_json_output(tmp_path: Path) -> None:
    rows = [
        {
            "scenario": "1 bangkok 10 local pages",
            "tickets": 1_000_000,
            "wall_s": 41.234,
            "cpu_s": 40.5,
            "peak_rss_mb": 2048.25,
            "traffy_requests": 1_050,
            "sheets_requests": 0,
            "cells_written": 40_000_000,
            "checks": [{"target": "wall <= 60 s", "met": True}],
        },
        {"scenario": "3 sheets", "skipped": "no sink", "checks": [{"target": "t", "met": None}]},
    ]
    (tmp_path / "latest.json").write_text(
        json.dumps({"scenarios": [{"scenario": "1 bangkok 10 local pages", "wall_s": 50.0}]})
    )
    with_previous(rows, tmp_path / "latest.json")
    path = write_results(rows, tmp_path, seconds=12.0)
    table = render_table(rows)
    lines = table.splitlines()
    assert lines[0].split()[:3] == ["scenario", "tickets", "wall"]
    assert "1,000,000" in lines[2]
    assert "41.23" in lines[2]
    assert "50.00" in lines[2]  # the previous run's wall time, for comparison
    assert "met  1 bangkok 10 local pages: wall <= 60 s" in table
    assert "skipped  3 sheets: no sink" in table
    saved = json.loads(path.read_text())
    assert saved["scenarios"][0]["tickets"] == 1_000_000
    assert (tmp_path / "previous.json").is_file()
