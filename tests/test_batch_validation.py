"""Batch validation (rows straight into the canonical frame) equals record by record.

The reference is the definition: each record through ``to_complaint`` (or into
``rejects`` with its reason), filtered to its window, de-duplicated one by one
(the most recently active copy wins, the first seen on a tie), sorted by
creation then ticket id, and turned into a frame by ``complaints_frame``.
"""

from __future__ import annotations

import copy
from datetime import date, timedelta
from typing import Any

import pandas as pd
import pytest
import requests

from etl.canonical import complaints_frame, raw_json
from etl.fakes.synthetic import SyntheticBangkok
from etl.fakes.traffy import FakeTraffy
from etl.models import Complaint, Reject
from etl.pipeline import make_client
from etl.settings import load_settings
from etl.traffy import feed_search, feed_v1
from etl.traffy.client import TraffyClient
from etl.traffy.extract import (
    Extraction,
    _reason,
    activity,
    complaints_of,
    extract,
    frame_identities,
    identity,
    row_of,
    windows,
)
from tests.conftest import april_2566, edge_cases

SPANS = list(windows(date(2023, 4, 1), date(2023, 5, 31), 31))


class Recording:
    """A client that keeps every page it fetched, in order (for the reference)."""

    def __init__(self, client: TraffyClient) -> None:
        self.client = client
        self.base_url = client.base_url
        self.pages: list[tuple[dict[str, Any], dict[str, Any]]] = []

    @property
    def requests(self) -> int:
        return self.client.requests

    def get_json(self, path: str, params: dict[str, Any], check: Any = None) -> dict[str, Any]:
        body = self.client.get_json(path, params, check=check)
        self.pages.append((params, copy.deepcopy(body)))
        return body


def record_by_record(
    pages: list[tuple[dict[str, Any], dict[str, Any]]], district: str | None
) -> tuple[pd.DataFrame, list[Reject], dict[str, int]]:
    """The definition, one record at a time, over the last scan of each window (a window
    scanned again after drift was fetched from offset 0 again), windows in order."""
    scans: dict[tuple[str, str], list[tuple[dict[str, Any], dict[str, Any]]]] = {}
    for params, body in pages:
        window = (params["start"], params["end"])
        if params["offset"] == 0:
            scans[window] = []
        scans[window].append((params, body))
    latest: dict[str, Complaint] = {}
    rejects: dict[str, Reject] = {}
    counts = {"other_districts": 0, "outside_window": 0, "duplicates": 0}
    for params, body in [page for scan in scans.values() for page in scan]:
        first = date.fromisoformat(params["start"])
        last = date.fromisoformat(params["end"]) - timedelta(days=1)
        for record in body["features"]:
            if district is not None and not feed_v1.in_district(record, district):
                counts["other_districts"] += 1
                continue
            try:
                complaint = feed_v1.to_complaint(record)
            except ValueError as error:
                reject = Reject(
                    ticket_id=feed_v1.ticket_id_of(record),
                    reason=_reason(error),
                    raw=record,
                    source=f"v1 {first}..{last}",
                )
                rejects.setdefault(raw_json(record), reject)
                continue
            if not first <= complaint.created_at.date() <= last:
                counts["outside_window"] += 1
                continue
            key = identity(complaint)
            previous = latest.get(key)
            if previous is not None:
                counts["duplicates"] += 1
                if activity(previous) >= activity(complaint):
                    continue
            latest[key] = complaint
    complaints = sorted(latest.values(), key=lambda c: (c.created_at, c.ticket_id))
    return complaints_frame(complaints), list(rejects.values()), counts


def odd_records(base: dict[str, Any]) -> list[dict[str, Any]]:
    """Every shape the fast path must leave to ``to_complaint``, or take identically."""

    def variant(geometry: Any = "keep", **properties: Any) -> dict[str, Any]:
        record = copy.deepcopy(base)
        record["properties"].update(properties)
        if geometry != "keep":
            record["geometry"] = geometry
        return record

    out: list[Any] = [
        variant(message_id="123"), variant(message_id=True), variant(message_id=7.0),
        variant(ticket_id="  ", message_id=424242), variant(ticket_id="", message_id=None),
        variant(ticket_id=None, message_id=None, geometry=None), variant(ticket_id=5),
        variant(ticket_id="  2023-PADDED  "),
        variant(ticket_id="2023-TZ0001", timestamp="2023-04-03 01:02:03.456789+00"),
        variant(ticket_id="2023-TZ0002", timestamp="2023-03-31T20:00:00+00:00"),  # Apr 1 BKK
        variant(ticket_id="2023-TZ0003", timestamp="2023-04-30T20:00:00+00:00"),  # May 1 BKK
        variant(ticket_id="2023-MICRO1", timestamp="2023-04-04 05:06:07.123456"),
        variant(ticket_id="2023-TSEP01", timestamp="2023-04-04T05:06:07"),
        variant(ticket_id="2023-DATE01", timestamp="2023-04-05"),
        variant(ticket_id="2023-PADTS1", timestamp=" 2023-04-05 10:00:00 "),
        variant(timestamp="2023-13-01 00:00:00"), variant(timestamp="2023-4-5 1:02:03"),
        variant(timestamp=""), variant(timestamp=None), variant(timestamp=20230405),
        variant(ticket_id="2023-LAEMPT", last_activity="", timestamp_finished="  "),
        variant(last_activity="yesterday"),
        variant(ticket_id="2023-STATEN", state=None), variant(state=3),
        variant(ticket_id="2023-STATES", state="  เสร็จสิ้น "), variant(state_type_latest=1),
        variant(ticket_id="2023-FONDU0", problem_type_fondue=[], type=" ถนน, ,ทางเท้า "),
        variant(ticket_id="2023-FONDU1", problem_type_fondue=["", " x "]),
        variant(problem_type_fondue=["a", 1]), variant(problem_type_fondue="ถนน"),
        variant(type=["ถนน"]), variant(org=["เขต", 2]), variant(org_action="เขต"),
        variant(ticket_id="2023-ORGNON", org=None, org_action=None),
        variant(ticket_id="2023-NOGEOM", geometry=None),
        variant(ticket_id="2023-GEOM01", geometry={}),
        variant(ticket_id="2023-ZEROLL", geometry={"coordinates": [0, 0]}),
        variant(ticket_id="2023-INTLL1", geometry={"coordinates": [100, 13]}),
        variant(ticket_id="2023-STRLL1", geometry={"coordinates": ["100.5", "13.7"]}),
        variant(geometry={"coordinates": [200.0, 13.7]}),
        variant(geometry={"coordinates": [100.5, 95]}),
        variant(geometry={"coordinates": [1, 2, 3]}),
        variant(geometry={"coordinates": [True, 13.0]}),
        variant(geometry=[100.5, 13.7]),
        variant(ticket_id="2023-STARBL", star=""), variant(ticket_id="2023-STARS3", star="3"),
        variant(ticket_id="2023-STARF3", star=3.0), variant(star=0), variant(star=6),
        variant(star=True), variant(count_reopen=-1),
        variant(ticket_id="2023-REOPS2", count_reopen="2"),
        variant(view_count=-5), variant(ticket_id="2023-PHOTO0",
                                        photo_url=" https://x/TeamChadChart/fondue_photo.png "),
        variant(ticket_id="2023-BLANKS", address="  ", note=" ", description=" text "),
        variant(ticket_id="2023-DISTRC", district=" เขตสวนหลวง ", subdistrict="", province=None),
        variant(photo_url=12), variant(address=["x"]),
        # hotline ids: the message id, else the creation second and the place, decide
        variant(ticket_id="ABC123", message_id=901),
        variant(ticket_id="ABC123", message_id=901, last_activity="2023-05-20 00:00:00"),
        variant(ticket_id="ABC123", message_id=None, geometry={"coordinates": [100.6, 13.7]}),
        variant(ticket_id="ABC123", message_id=None, geometry={"coordinates": [100.7, 13.7]}),
        variant(ticket_id="ABC123", message_id=None, geometry={"coordinates": [100.6, 13.7]},
                last_activity="2023-05-21 00:00:00"),
        variant(ticket_id="ABC123", message_id=None, geometry=None),
        # the same creation second: ordered by ticket id, then by first seen
        variant(ticket_id="2023-ZZZZZ1", timestamp="2023-04-07 07:07:07"),
        variant(ticket_id="2023-AAAAA1", timestamp="2023-04-07 07:07:07"),
        variant(ticket_id="XYZ789", message_id=77, timestamp="2023-04-07 07:07:07"),
        variant(ticket_id="XYZ789", message_id=66, timestamp="2023-04-07 07:07:07"),
        variant(ticket_id="2023-MMMMM1", timestamp="2023-04-07 07:07:07"),
    ]  # fmt: skip
    return out


def features_with_copies() -> list[dict[str, Any]]:
    """The fixtures, odd records, and copies of tickets: older, newer, and identical."""
    features = april_2566() + edge_cases()
    base = next(f for f in features if f["properties"]["district"] == "สวนหลวง")
    extra = odd_records(base)
    for feature in features[:40:3]:
        newer = copy.deepcopy(feature)
        newer["properties"]["last_activity"] = "2023-05-30 12:00:00"
        newer["properties"]["view_count"] = 999
        extra += [copy.deepcopy(feature), newer]
    return features + extra


def extracted(
    features: list[dict[str, Any]], district: str | None, page_size: int = 100
) -> tuple[Extraction, Recording]:
    with FakeTraffy(features) as server:
        client = Recording(make_client(load_settings(traffy_url=server.url), requests.Session()))
        extraction = extract(
            client,  # type: ignore[arg-type]  # duck-typed: records the pages
            district=district,
            spans=SPANS,
            page_size=page_size,
            max_window_pages=1000,
            concurrency=1,
        )
    return extraction, client


@pytest.mark.parametrize("district", ["สวนหลวง", None])
def test_batch_path_equals_record_by_record(district: str | None) -> None:
    extraction, client = extracted(features_with_copies(), district)
    frame, rejects, counts = record_by_record(client.pages, district)
    pd.testing.assert_frame_equal(extraction.frame, frame)
    assert extraction.rejects == rejects
    assert len(rejects) > 20  # the odd records really were rejected, with their reasons
    info = extraction.info
    assert (info.other_districts, info.outside_window, info.duplicates) == (
        counts["other_districts"],
        counts["outside_window"],
        counts["duplicates"],
    )
    assert counts["duplicates"] > 10
    assert counts["outside_window"] > 0
    assert (info.valid, info.rejected) == (len(frame), len(rejects))


def test_synthetic_bangkok_batch_equals_record_by_record() -> None:
    """Many odd records (20 %): no district, 0,0, blank stars, unknown states, copies."""
    bangkok = SyntheticBangkok(5, first=date(2023, 4, 1), years=0.16, odd_share=0.2)
    features = list(bangkok.features(3_000))
    features = [f for f in features if str(f["properties"]["timestamp"]) < "2023-06"]
    extraction, client = extracted(features, None, page_size=1000)
    frame, rejects, counts = record_by_record(client.pages, None)
    pd.testing.assert_frame_equal(extraction.frame, frame)
    assert extraction.rejects == rejects
    assert extraction.info.duplicates == counts["duplicates"] > 0


def test_complaints_property_gives_the_validated_objects() -> None:
    extraction, client = extracted(features_with_copies(), "สวนหลวง")
    frame, _, _ = record_by_record(client.pages, "สวนหลวง")
    complaints = extraction.complaints
    pd.testing.assert_frame_equal(complaints_frame(complaints), frame)
    assert complaints == complaints_of(frame)
    assert list(frame_identities(frame)) == [identity(c) for c in complaints]


def test_extraction_of_complaints_builds_its_frame() -> None:
    complaints = [feed_v1.to_complaint(f) for f in april_2566()[:50]]
    extraction = Extraction(complaints, [])
    assert extraction.complaints == complaints
    pd.testing.assert_frame_equal(extraction.frame, complaints_frame(complaints))


def test_nothing_extracted_is_the_empty_canonical_frame() -> None:
    extraction, _ = extracted([], None)
    pd.testing.assert_frame_equal(extraction.frame, complaints_frame([]))
    assert extraction.complaints == []


@pytest.mark.parametrize(
    "record",
    [{"type": "Feature", "geometry": None}, {"properties": []}, {"properties": None}, [1, 2],
     "text", None, 5],
)  # fmt: skip
def test_records_that_are_not_features_are_left_to_to_complaint(record: Any) -> None:
    """The fake server cannot serve these; the fast path must not take them."""
    assert feed_v1.fast_row(record, {}) is None
    with pytest.raises(ValueError):  # noqa: PT011  # pydantic's errors are ValueErrors
        feed_v1.to_complaint(record)


def test_every_odd_record_is_taken_identically_or_left_to_to_complaint() -> None:
    base = april_2566()[0]
    taken = 0
    for record in odd_records(base):
        row = feed_v1.fast_row(record, {})
        try:
            complaint = feed_v1.to_complaint(record)
        except ValueError:
            assert row is None, record
            continue
        if row is not None:
            taken += 1
            assert row == row_of(complaint), record
    assert taken > 10


def test_feed_without_fast_path_goes_through_to_complaint() -> None:
    assert not hasattr(feed_search, "fast_row")
    assert hasattr(feed_v1, "fast_row")
