"""Parsers of the feeds' field quirks: examples and properties."""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from etl.models import BANGKOK
from etl.traffy.parse import clean_url, location, parse_time, split_types


def test_naive_feed1_time_is_bangkok_wall_time() -> None:
    assert parse_time("2023-04-30 23:30:00") == datetime(2023, 4, 30, 23, 30, tzinfo=BANGKOK)


def test_utc_plus00_time_is_converted_to_bangkok() -> None:
    moment = parse_time("2023-05-16 17:00:00.457341+00")
    assert moment is not None
    assert (moment.tzinfo, moment.hour, moment.day) == (BANGKOK, 0, 17)


@pytest.mark.parametrize("value", [None, "", "   "])
def test_empty_time_means_not_yet(value: str | None) -> None:
    assert parse_time(value) is None


@pytest.mark.parametrize("value", ["31/05/2566 10:00", "yesterday", "2023-13-01 00:00:00"])
def test_garbage_time_raises_value_error(value: str) -> None:
    with pytest.raises(ValueError, match=r"isoformat|month"):
        parse_time(value)


@given(st.datetimes(min_value=datetime(2015, 1, 1), max_value=datetime(2035, 1, 1)))
def test_time_round_trips_through_both_feed_formats(moment: datetime) -> None:
    moment = moment.replace(microsecond=0)
    local = parse_time(moment.strftime("%Y-%m-%d %H:%M:%S"))
    utc = parse_time((moment - timedelta(hours=7)).strftime("%Y-%m-%d %H:%M:%S") + "+00")
    assert local == utc
    assert local is not None
    assert local.replace(tzinfo=None) == moment


@given(st.text())
def test_time_parser_never_crashes_otherwise(text: str) -> None:
    with contextlib.suppress(ValueError):
        parse_time(text)


def test_types_split_on_commas() -> None:
    assert split_types("ถนน,ทางเท้า, ,") == ("ถนน", "ทางเท้า")
    assert split_types(None) == ()


def test_placeholder_photo_is_no_photo() -> None:
    assert clean_url("https://storage.googleapis.com/x/TeamChadChart/fondue_photo.png") is None
    assert clean_url(" ") is None
    assert clean_url("https://x/a.jpg") == "https://x/a.jpg"


def test_zero_zero_is_no_location() -> None:
    assert location(0.0, 0.0) == (None, None)
    assert location(100.6, 13.7) == (13.7, 100.6)
