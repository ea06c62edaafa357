"""The district list: a typo is refused before any request, with the nearest names."""

from __future__ import annotations

import pytest

from etl.districts import UnknownDistrict, bangkok, district_named
from etl.errors import ConfigError
from etl.fakes.synthetic import BANGKOK_DISTRICTS
from etl.settings import load_settings


def test_the_list_is_bangkoks_fifty_with_their_codes() -> None:
    districts = bangkok()
    assert len(districts) == 50
    assert len({d.name for d in districts}) == 50
    assert [d.code for d in districts] == list(range(1001, 1051))
    assert district_named("สวนหลวง").code == 1034  # TRAFFY_API.md: Suan Luang is 1034
    # The synthetic city of the benchmarks covers the same 50.
    assert {d.name for d in districts} == {name for name, _ in BANGKOK_DISTRICTS}


@pytest.mark.parametrize(
    "text", ["สวนหลวง", " เขตสวนหลวง ", "เขต สวนหลวง", "Suan Luang", "suanluang"]
)
def test_a_district_is_named_with_or_without_its_prefix(text: str) -> None:
    assert district_named(text).name == "สวนหลวง"
    assert load_settings(district=text).district == "สวนหลวง"


def test_a_typo_is_a_usage_error_that_suggests_the_nearest_name() -> None:
    with pytest.raises(UnknownDistrict, match="Did you mean สวนหลวง") as raised:
        load_settings(district="สวนหลวงง")
    assert isinstance(raised.value, ConfigError)
    assert raised.value.exit_code == 2
    assert "\n" not in str(raised.value)


def test_a_name_far_from_every_district_suggests_nothing() -> None:
    with pytest.raises(UnknownDistrict) as raised:
        district_named("Chiang Mai")
    assert "Did you mean" not in str(raised.value)
    assert "config/districts.toml" in str(raised.value)
