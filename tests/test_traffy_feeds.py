"""Both feeds map into the same Complaint; schema drift is tolerated and reported."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pandas as pd
import pytest

from etl.errors import ConfigError, ValidationFailed
from etl.fakes.traffy import FakeTraffy, Fault, search_row
from etl.models import BANGKOK
from etl.pipeline import run_sync
from etl.settings import load_settings
from etl.sinks import MemorySink
from etl.traffy import feed_search

NOW = datetime(2023, 6, 1, tzinfo=BANGKOK)
SAME = ["ticket_id", "created_at", "state", "types", "organizations", "lat", "lon",
        "last_activity", "description", "star", "count_reopen"]  # fmt: skip


def sync(server: FakeTraffy, feed: str, **extra: Any) -> tuple[MemorySink, Any]:
    settings = load_settings(
        traffy_url=server.url,
        feed=feed,
        since=date(2023, 4, 1),
        until=date(2023, 5, 31),
        page_size=100,
        **extra,
    )
    sink = MemorySink()
    return sink, run_sync(settings, sink=sink, now=NOW)


def test_search_feed_gives_the_same_complaints_with_server_side_filtering(
    traffy: FakeTraffy,
) -> None:
    v1, v1_result = sync(traffy, "v1")
    search, search_result = sync(traffy, "search")
    left, right = (
        s.tabs["complaints"][SAME].sort_values("ticket_id").reset_index(drop=True)
        for s in (v1, search)
    )
    pd.testing.assert_frame_equal(left, right)
    kpi = [s.tabs["kpi_monthly"][["month", "total", "in_progress"]] for s in (v1, search)]
    pd.testing.assert_frame_equal(*kpi)
    assert search_result.extract.other_districts == 0  # filtered by the server
    assert {q.get("district", [""])[0] for q in traffy.requests[-2:]} == {"สวนหลวง"}
    assert v1_result.feed == "v1"
    assert search_result.feed == "search"
    # Feed 1 read all of Bangkok: the district gets its place among the others. The
    # search feed read one district: there is nothing to compare it with.
    compared = v1.tabs["kpi_monthly_by_district"]
    assert {"สวนหลวง", "กรุงเทพมหานคร"} < set(compared["district"])
    mine = compared[compared["district"] == "สวนหลวง"].reset_index(drop=True)
    assert mine[["total", "in_progress"]].equals(kpi[0][["total", "in_progress"]])
    assert "kpi_monthly_by_district" not in search.tabs


def test_feed2_utc_timestamp_and_string_coordinates_become_bangkok_and_numbers() -> None:
    row = {
        "ticket_id": "2023-ABCDEF",
        "timestamp": "2023-05-16 17:00:00.457341+00",
        "last_activity": "2023-05-16 18:00:00+00",
        "coords": ["100.64120", "13.73010"],
        "type": '{ถนน,"ทางเท้า, ทางม้าลาย"}',
        "star": "",
        "count_reopen": "2",
        "state": "รอรับเรื่อง",
    }
    complaint = feed_search.to_complaint(row)
    assert complaint.created_at == datetime(2023, 5, 17, 0, 0, 0, 457341, tzinfo=BANGKOK)
    assert complaint.created_at.utcoffset() is not None
    assert (complaint.lat, complaint.lon) == (13.7301, 100.6412)
    assert complaint.types == ("ถนน", "ทางเท้า, ทางม้าลาย")
    assert (complaint.star, complaint.count_reopen) == (None, 2)


def test_feed2_rows_without_district_are_kept_other_districts_dropped() -> None:
    assert feed_search.in_district({"address": "แขวงสวนหลวง กรุงเทพมหานคร"}, "สวนหลวง")
    assert not feed_search.in_district({"district": "เขตวัฒนา"}, "สวนหลวง")


def test_unknown_fields_are_counted_and_missing_optional_fields_tolerated(
    traffy: FakeTraffy,
) -> None:
    for index, feature in enumerate(traffy.features[:50]):
        properties = feature["properties"]
        properties["brand_new_field"] = index
        for name in ("last_activity", "org", "org_action", "note", "view_count"):
            properties.pop(name, None)
    sink, result = sync(traffy, "v1")
    # 50 changed records, and the fixture's 0AB123 already carried the field.
    assert result.extract.unknown_fields == {"brand_new_field": 51}
    assert result.extract.rejected == 2  # only the fixture's two broken records
    assert len(sink.tabs["complaints"]) == 401


def test_unknown_state_maps_to_group_unknown_and_is_reported(traffy: FakeTraffy) -> None:
    properties = next(
        f["properties"] for f in traffy.features if f["properties"]["district"] == "สวนหลวง"
    )
    properties.update(state="สถานะใหม่", state_type_latest="newtype")
    sink, result = sync(traffy, "v1")
    complaints = sink.tabs["complaints"].set_index("ticket_id")
    assert complaints.loc[properties["ticket_id"], "state_group"] == "unknown"
    assert result.unknown_states.get("สถานะใหม่") == 1


def test_too_many_invalid_records_fail_the_run_and_write_nothing(traffy: FakeTraffy) -> None:
    for feature in traffy.features[:40]:
        feature["properties"]["timestamp"] = "not a time"
    settings = load_settings(
        traffy_url=traffy.url, since=date(2023, 4, 1), until=date(2023, 5, 31), page_size=100
    )
    sink = MemorySink()
    with pytest.raises(ValidationFailed, match="limit 5%"):
        run_sync(settings, sink=sink, now=NOW)
    assert sink.loads == 0


def test_feed_setting_accepts_only_known_feeds() -> None:
    assert load_settings(feed="search").feed == "search"
    with pytest.raises(ConfigError, match="feed"):
        load_settings(feed="v2")


def test_fake_search_rows_carry_no_district(traffy: FakeTraffy) -> None:
    row = search_row(traffy.features[0])
    assert "district" not in row
    assert row["timestamp"].endswith("+00")


def test_feed_comes_from_the_environment_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ETL_FEED", "search")
    assert load_settings().feed == "search"
    assert load_settings(feed="v1").feed == "v1"  # the flag wins


def test_search_feed_survives_faults_with_the_same_tabs(traffy: FakeTraffy) -> None:
    clean, _ = sync(traffy, "search")
    traffy.script(Fault(status=503), Fault(body=b'{"status":"error","message":"timeout"}'))
    recovered, result = sync(traffy, "search")
    assert result.extract.requests > 2
    for name in ("complaints", "complaint_types", "kpi_monthly"):
        left = recovered.tabs[name].drop(columns=["as_of"], errors="ignore")
        right = clean.tabs[name].drop(columns=["as_of"], errors="ignore")
        pd.testing.assert_frame_equal(left, right)
