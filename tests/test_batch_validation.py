"""The batch validation (``feed_v1.PageColumns``) gives exactly what validating record by
record with ``to_complaint`` gives: the same tabs, the same rejects and reasons."""

from __future__ import annotations

import copy
from datetime import date, datetime
from typing import Any

import pandas as pd
import pytest

from etl.fakes.synthetic import SyntheticBangkok
from etl.models import BANGKOK, Complaint, Reject
from etl.pipeline import build_tabs
from etl.settings import load_settings
from etl.traffy import feed_v1
from etl.traffy.extract import ExtractInfo, _latest, _reason, _take, raw_json
from etl.transform import complaint_orgs_tab, complaints_frame, rejects_tab
from tests.conftest import edge_cases

NOW = datetime(2026, 1, 5, tzinfo=BANGKOK)
SINCE, UNTIL = date(2022, 1, 1), date(2025, 12, 31)


def odd_variants(features: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Shapes the fast path must hand to ``to_complaint``: lax types, other time formats."""
    changes: list[tuple[str, Any]] = [
        ("message_id", "123456"),
        ("message_id", True),
        ("timestamp", "2024-03-01T10:00:00"),
        ("timestamp", "2024-03-01 10:00:00.123456+00"),
        ("timestamp", " 2024-03-01 10:00:00 "),
        ("timestamp", "2024-02-30 10:00:00"),
        ("timestamp", ""),
        ("last_activity", ""),
        ("star", "4"),
        ("star", 0),
        ("star", 4.0),
        ("count_reopen", -1),
        ("view_count", -3),
        ("type", 5),
        ("org", "กรุงเทพมหานคร"),
        ("problem_type_fondue", []),
        ("ticket_id", "  "),
        ("ticket_id", 123456),
        ("state", None),
        ("state", 7),
        ("district", "  "),
        ("photo_url", ""),
        ("after_photo", 1),
    ]
    out = []
    for (name, value), feature in zip(changes, features, strict=False):
        changed = copy.deepcopy(feature)
        changed["properties"][name] = value
        out.append(changed)
    geometry = [None, {"type": "Point"}, {"coordinates": [100, 13]}, {"coordinates": ["1", "2"]},
                {"coordinates": [200.0, 13.0]}, {"coordinates": [1.0]}, "point"]  # fmt: skip
    for value, feature in zip(geometry, features[40:], strict=False):
        changed = copy.deepcopy(feature)
        changed["geometry"] = value
        out.append(changed)
    for feature in features[60:64]:  # the same second: the ticket id orders them
        changed = copy.deepcopy(feature)
        changed["properties"]["timestamp"] = features[60]["properties"]["timestamp"]
        changed["properties"]["ticket_id"] = "Z" + str(changed["properties"]["ticket_id"])
        out.append(changed)
    return [*out, "not a feature", {"properties": None}, {"geometry": None}]


def record_by_record(records: list[Any], district: str | None) -> tuple[pd.DataFrame, list[Reject]]:
    """The foundation's extraction loop: the oracle."""
    latest: dict[str, Complaint] = {}
    rejects: dict[str, Reject] = {}
    for record in records:
        if district is not None and not feed_v1.in_district(record, district):
            continue
        try:
            complaint = feed_v1.to_complaint(record)
        except ValueError as error:
            rejects.setdefault(
                raw_json(record),
                Reject(ticket_id=feed_v1.ticket_id_of(record), reason=_reason(error),
                       raw=record, source="s"),
            )  # fmt: skip
            continue
        if not SINCE <= complaint.created_at.date() <= UNTIL:
            continue
        previous = latest.get(complaint.ticket_id)

        def activity(c: Complaint) -> tuple[float, int]:
            return (c.last_activity or c.created_at).timestamp(), c.message_id or 0

        if previous is not None and activity(previous) >= activity(complaint):
            continue
        latest[complaint.ticket_id] = complaint
    ordered = sorted(latest.values(), key=lambda c: (c.created_at, c.ticket_id))
    return complaints_frame(ordered), list(rejects.values())


@pytest.mark.parametrize("district", [None, "สวนหลวง"])
def test_batch_equals_record_by_record(district: str | None) -> None:
    features = list(SyntheticBangkok(9, odd_share=0.4).features(3_000))
    records: list[Any] = features + odd_variants(features) + edge_cases()
    expected_frame, expected_rejects = record_by_record(records, district)

    table = feed_v1.PageColumns()
    rejects: dict[str, Reject] = {}
    info = ExtractInfo()
    for start in range(0, len(records), 700):  # pages
        _take(records[start : start + 700], district, "s", table, rejects, info)
    frame = _latest(table.frame(), SINCE, UNTIL, info)

    assert [(r.ticket_id, r.reason) for r in rejects.values()] == [
        (r.ticket_id, r.reason) for r in expected_rejects
    ]
    settings = load_settings()
    want = build_tabs(expected_frame, settings, rejects_tab(expected_rejects, NOW), NOW)
    got = build_tabs(frame, settings, rejects_tab(list(rejects.values()), NOW), NOW)
    assert len(got["complaints"]) > 50
    for name in want:
        pd.testing.assert_frame_equal(got[name], want[name], check_dtype=True, obj=name)


def test_complaint_orgs_equal_the_exploded_definition() -> None:
    """The one-pass ``complaint_orgs`` equals its definition: explode, de-duplicate, flag."""
    records = list(SyntheticBangkok(10, odd_share=0.2).features(2_000))
    frame, _ = record_by_record(records, None)
    frame = pd.concat([frame, frame.iloc[:5]], ignore_index=True)  # repeated tickets too
    long = frame[["ticket_id", "organizations"]].explode("organizations")
    long = long.dropna(subset=["organizations"]).rename(columns={"organizations": "organization"})
    long = long.drop_duplicates(subset=["ticket_id", "organization"])
    acting = {
        (t, o)
        for t, orgs in zip(frame["ticket_id"], frame["organizations_acting"], strict=True)
        for o in orgs
    }
    long["is_section"] = long["organization"].str.startswith("ฝ่าย").astype(bool)
    long["acting"] = [
        (t, o) in acting for t, o in zip(long["ticket_id"], long["organization"], strict=True)
    ]
    want = long.reset_index(drop=True).astype({"ticket_id": object, "organization": object})
    got = complaint_orgs_tab(frame)
    pd.testing.assert_frame_equal(got, want)
