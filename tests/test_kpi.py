"""The monthly KPI: golden values from the seed and properties that must always hold."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from etl.fakes.synthetic import SEED_TABLE
from etl.kpi import kpi_monthly, percent_half_up
from etl.models import BANGKOK
from etl.settings import STATE_GROUPS

SEED_PCT = (2.51, 4.30, 6.49, 4.91, 9.16, 14.46)
"""The percentages the office reported for the seed months."""
AS_OF = datetime(2023, 9, 15, 18, 0, tzinfo=BANGKOK)


def complaints(rows: list[tuple[str, str]]) -> pd.DataFrame:
    """A minimal ``complaints`` tab: (month, state_group) per ticket."""
    return pd.DataFrame(
        {
            "month": pd.to_datetime([month for month, _ in rows]),
            "state_group": [group for _, group in rows],
        }
    )


@pytest.mark.parametrize(
    ("part", "whole", "expected"),
    [
        *[(m.in_progress, m.total, pct) for m, pct in zip(SEED_TABLE, SEED_PCT, strict=True)],
        (1, 8, 12.5),  # 12.5 exactly
        (1, 800, 0.13),  # 0.125 rounds half up, not to even
        (3, 800, 0.38),  # 0.375
        (0, 5, 0.0),
        (5, 5, 100.0),
        (0, 0, 0.0),  # a month with no ticket has no share
    ],
)  # fmt: skip
def test_percent_half_up(part: int, whole: int, expected: float) -> None:
    assert percent_half_up(pd.Series([part]), pd.Series([whole]))[0] == expected


def test_seed_table_months() -> None:
    rows = []
    for month in SEED_TABLE:
        rows += [(month.first.isoformat(), "in_progress")] * month.in_progress
        rows += [(month.first.isoformat(), "finished")] * (month.total - month.in_progress)
    kpi = kpi_monthly(complaints(rows), AS_OF)
    assert list(kpi["month_th"]) == [
        "เมษายน 2566", "พฤษภาคม 2566", "มิถุนายน 2566", "กรกฎาคม 2566", "สิงหาคม 2566", "กันยายน 2566",
    ]  # fmt: skip
    assert list(kpi["total"]) == [398, 535, 570, 753, 546, 242]
    assert list(kpi["in_progress_pct"]) == list(SEED_PCT)
    assert kpi["in_progress_ratio"].iloc[0] == pytest.approx(10 / 398)
    assert kpi["as_of"].iloc[0] == pd.Timestamp("2023-09-15 18:00:00")


def test_unknown_group_is_counted_not_dropped() -> None:
    kpi = kpi_monthly(complaints([("2023-04-01", "unknown"), ("2023-04-01", "waiting")]), AS_OF)
    assert (kpi["total"][0], kpi["unknown"][0], kpi["waiting"][0]) == (2, 1, 1)


def test_no_complaints_gives_no_rows() -> None:
    assert kpi_monthly(complaints([]), AS_OF).empty


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.dates(min_value=datetime(2019, 1, 1).date(), max_value=datetime(2027, 12, 1).date()),
            st.sampled_from(STATE_GROUPS),
        ),
        max_size=300,
    )
)
def test_monthly_totals_add_up(tickets: list[tuple[object, str]]) -> None:
    rows = [(f"{day:%Y-%m}-01", group) for day, group in tickets]  # type: ignore[str-format]
    kpi = kpi_monthly(complaints(rows), AS_OF)
    assert kpi["total"].sum() == len(rows)
    assert (kpi[list(STATE_GROUPS)].sum(axis=1) == kpi["total"]).all()
    assert kpi["in_progress_pct"].between(0, 100).all()
    assert kpi["month"].is_unique
    assert kpi["month"].is_monotonic_increasing
