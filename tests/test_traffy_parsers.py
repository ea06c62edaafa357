"""Properties of the field parsers every feed shares: round trips, and no crash on any text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from etl.models import BANGKOK
from etl.traffy.parse import coords_text, parse_time, pg_array, to_pg_array

FAST = settings(max_examples=60)
"""Enough examples to find the quirks, few enough to keep the suite fast."""

ITEM = st.text(min_size=1, max_size=20).map(str.strip).filter(bool)


@FAST
@given(st.lists(ITEM, max_size=6))
def test_pg_array_round_trips(items: list[str]) -> None:
    assert pg_array(to_pg_array(tuple(items))) == tuple(items)


def test_pg_array_examples() -> None:
    assert pg_array("{}") == ()
    assert pg_array("{ถนน,ทางเท้า}") == ("ถนน", "ทางเท้า")
    assert pg_array('{"ถนน, ทางเท้า","น้ำท่วม -> ท่อ",NULL}') == ("ถนน, ทางเท้า", "น้ำท่วม -> ท่อ")
    assert pg_array("ถนน,ทางเท้า") == ("ถนน", "ทางเท้า")  # feed 1's comma-joined text


@FAST
@given(st.text(max_size=60))
def test_pg_array_never_raises_and_returns_clean_texts(text: str) -> None:
    items = pg_array(text)
    assert all(isinstance(item, str) and item == item.strip() and item for item in items)


@FAST
@given(
    st.floats(min_value=-180, max_value=180, allow_nan=False).filter(lambda v: abs(v) > 1e-6),
    st.floats(min_value=-90, max_value=90, allow_nan=False).filter(lambda v: abs(v) > 1e-6),
)
def test_coords_text_round_trips(lon: float, lat: float) -> None:
    assert coords_text(f"{lon!r},{lat!r}") == (lat, lon)


@FAST
@given(st.text(max_size=40))
def test_coords_text_never_raises(text: str) -> None:
    lat, lon = coords_text(text)
    assert (lat is None) == (lon is None)
    if lat is not None and lon is not None:
        assert -90 <= lat <= 90
        assert -180 <= lon <= 180


def test_coords_text_examples() -> None:
    assert coords_text("100.64120,13.73010") == (13.7301, 100.6412)
    assert coords_text("0.00000,0.00000") == (None, None)
    assert coords_text("") == (None, None)
    assert coords_text("13.7,100.6,1") == (None, None)


MOMENTS = st.datetimes(
    min_value=datetime(2018, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)
)


@FAST
@given(MOMENTS)
def test_utc_plus00_text_round_trips_to_the_same_instant(moment: datetime) -> None:
    text = moment.strftime("%Y-%m-%d %H:%M:%S.%f") + "+00"
    parsed = parse_time(text)
    assert parsed == moment
    assert parsed is not None
    assert parsed.tzinfo == BANGKOK
    assert parsed.utcoffset() == timedelta(hours=7)


@FAST
@given(MOMENTS)
def test_naive_text_is_bangkok_wall_time(moment: datetime) -> None:
    wall = moment.astimezone(BANGKOK).replace(tzinfo=None, microsecond=0)
    assert parse_time(wall.isoformat(sep=" ")) == wall.replace(tzinfo=BANGKOK)


@FAST
@given(st.text(max_size=40))
def test_parse_time_raises_only_value_error(text: str) -> None:
    try:
        parsed = parse_time(text)
    except ValueError:
        return
    assert parsed is None or parsed.tzinfo == BANGKOK
