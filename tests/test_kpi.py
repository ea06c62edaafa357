"""The monthly KPI: golden values for every formula and properties that must always hold."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from etl.fakes.synthetic import SEED_TABLE
from etl.kpi import (
    days_to_finish,
    kpi_monthly,
    kpi_monthly_by_org,
    kpi_monthly_by_subdistrict,
    kpi_monthly_by_type,
    percent_half_up,
)
from etl.models import BANGKOK
from etl.settings import STATE_GROUPS
from etl.tabs import TABS

SEED_PCT = (2.51, 4.30, 6.49, 4.91, 9.16, 14.46)
"""The percentages the office reported for the seed months."""
AS_OF = datetime(2023, 9, 15, 18, 0, tzinfo=BANGKOK)
_ids = iter(range(10**9))


def ticket(
    created: str,
    group: str = "finished",
    *,
    ticket_id: str | None = None,
    finished: str | None = None,
    reopen: int = 0,
    star: int | None = None,
    subdistrict: str | None = "สวนหลวง",
    types: str | None = None,
) -> dict[str, Any]:
    """One ``complaints`` row with the fields the KPI reads; the rest left empty."""
    ticket_id = ticket_id or f"2023-T{next(_ids):05d}"
    return {
        "ticket_id": ticket_id,
        "created_at": pd.Timestamp(created),
        "month": pd.Timestamp(created).to_period("M").to_timestamp(),
        "state": {"finished": "เสร็จสิ้น", "in_progress": "กำลังดำเนินการ"}.get(group, group),
        "state_group": group,
        "types": types,
        "subdistrict": subdistrict,
        "traffy_url": f"https://share.traffy.in.th/teamchadchart?case_id={ticket_id}",
        "count_reopen": reopen,
        "star": star,
        "finished_at": pd.Timestamp(finished) if finished else pd.NaT,
    }


def complaints(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """A ``complaints`` tab of the given rows, typed as the transform types it."""
    spec = TABS["complaints"]
    if not rows:
        return spec.empty()
    frame = pd.DataFrame(rows)
    out = spec.empty().reindex(range(len(frame)))
    for column in spec.columns:
        if column.name in frame:
            out[column.name] = frame[column.name]
    for column in spec.columns:
        if column.kind == "int":
            out[column.name] = out[column.name].astype("Int64")
        elif column.kind in ("date", "datetime"):
            out[column.name] = pd.to_datetime(out[column.name]).astype("datetime64[ns]")
        elif column.kind == "text":
            out[column.name] = out[column.name].astype(object).where(out[column.name].notna(), None)
    return out


def seed_months() -> pd.DataFrame:
    rows = []
    for month in SEED_TABLE:
        day = f"{month.first.isoformat()} 10:00"
        rows += [ticket(day, "in_progress") for _ in range(month.in_progress)]
        rows += [ticket(day, "finished") for _ in range(month.total - month.in_progress)]
    return complaints(rows)


def april() -> pd.DataFrame:
    """A hand-built April 2566 where every measure can be worked out on paper."""
    return complaints(
        [
            ticket("2023-04-01 08:00", ticket_id="A", finished="2023-04-02 08:00", star=5),  # 1 d
            ticket("2023-04-03 00:00", ticket_id="B", finished="2023-04-06 12:00", star=4,
                   reopen=1),  # 3.5 d
            ticket("2023-04-05 06:00", ticket_id="C", finished="2023-04-15 06:00"),  # 10 d
            ticket("2023-04-07 09:00", "in_progress", ticket_id="D", reopen=2),
            # Closed as irrelevant: its finish time is no fix.
            ticket("2023-04-08 09:00", "irrelevant", ticket_id="E", finished="2023-04-08 10:00"),
            ticket("2023-04-09 10:00", "in_progress", ticket_id="F"),
            ticket("2023-04-10 15:00", "waiting", ticket_id="G"),
        ]
    )  # fmt: skip


FIXES = pd.DataFrame(
    {
        "ticket_id": ["A", "C", "F", "G", "H", "D"],
        "fixed_on": [
            date(2023, 3, 30),  # before A was reported: a typo, Traffy's time stays
            date(2023, 4, 10),  # C: 4.75 d instead of Traffy's 10
            date(2023, 4, 12),  # F, still in progress on Traffy: 2 d 14 h
            date(2023, 4, 10),  # G, fixed the day it was reported: 0 d
            date(2023, 4, 10),  # H is not a ticket of the tab
            None,  # D: no fix yet
        ],
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
    kpi = kpi_monthly(seed_months(), AS_OF)
    assert list(kpi["month_th"]) == [
        "เมษายน 2566", "พฤษภาคม 2566", "มิถุนายน 2566", "กรกฎาคม 2566", "สิงหาคม 2566", "กันยายน 2566",
    ]  # fmt: skip
    assert list(kpi["total"]) == [398, 535, 570, 753, 546, 242]
    assert list(kpi["in_progress"]) == [10, 23, 37, 37, 50, 35]
    assert list(kpi["in_progress_pct"]) == list(SEED_PCT)
    assert kpi["in_progress_ratio"].tolist() == pytest.approx([p / 100 for p in SEED_PCT], abs=5e-5)
    assert kpi["in_progress_ratio"].iloc[0] == pytest.approx(10 / 398)
    assert kpi["as_of"].iloc[0] == pd.Timestamp("2023-09-15 18:00:00")
    assert kpi.columns.tolist() == TABS["kpi_monthly"].column_names


def test_every_measure_of_a_hand_built_month() -> None:
    (row,) = kpi_monthly(april(), AS_OF).to_dict("records")
    assert row["month"] == pd.Timestamp("2023-04-01")
    assert (row["total"], row["in_progress"], row["finished"], row["irrelevant"]) == (7, 2, 3, 1)
    assert (row["waiting"], row["forwarded"], row["following"], row["unknown"]) == (1, 0, 0, 0)
    assert row["in_progress_pct"] == 28.57  # 2 x 100 / 7 = 28.571...
    assert row["in_progress_ratio"] == pytest.approx(2 / 7)
    # Finished tickets with Traffy's finish time: 1, 3.5 and 10 days.
    assert row["finished_timed"] == 3
    assert row["days_to_finish_median"] == 3.5
    assert row["days_to_finish_p90"] == 8.7  # 3.5 + 0.8 x (10 - 3.5)
    assert (row["reopened"], row["reopened_ratio"]) == (2, pytest.approx(2 / 7))
    assert (row["rated"], row["star_mean"]) == (2, 4.5)


def test_staff_fix_dates_override_traffy_and_count_open_tickets() -> None:
    (row,) = kpi_monthly(april(), AS_OF, fixes=FIXES).to_dict("records")
    # Days: A 1 (typo ignored), B 3.5, C 4.75, F 2.583, G 0.
    assert row["finished_timed"] == 5
    assert row["days_to_finish_median"] == 2.58
    assert row["days_to_finish_p90"] == 4.25  # 3.5 + 0.6 x (4.75 - 3.5)
    assert row["in_progress"] == 2  # the KPI counts Traffy's state, whatever staff wrote


def test_days_to_finish_per_ticket() -> None:
    days = days_to_finish(april(), FIXES)
    assert days.round(4).tolist()[:3] == [1.0, 3.5, 4.75]
    assert days.isna().tolist() == [False, False, False, True, True, False, False]
    assert days.iloc[6] == 0.0
    assert days_to_finish(april(), None).notna().sum() == 3
    empty_fixes = pd.DataFrame({"ticket_id": [], "fixed_on": []})
    assert days_to_finish(april(), empty_fixes).notna().sum() == 3
    # The staff tab as a sink reads it back before anyone wrote a date.
    unfilled = pd.DataFrame({"ticket_id": ["A", "B"], "fixed_on": pd.Series([pd.NaT, pd.NaT])})
    assert days_to_finish(april(), unfilled).notna().sum() == 3


def test_month_without_rating_or_fix_has_empty_means_not_zero() -> None:
    (row,) = kpi_monthly(complaints([ticket("2023-05-02 10:00", "waiting")]), AS_OF).to_dict(
        "records"
    )
    assert (row["finished_timed"], row["rated"], row["reopened"]) == (0, 0, 0)
    assert pd.isna(row["days_to_finish_median"])
    assert pd.isna(row["days_to_finish_p90"])
    assert pd.isna(row["star_mean"])


def test_unknown_group_is_counted_not_dropped() -> None:
    kpi = kpi_monthly(
        complaints([ticket("2023-04-01", "unknown"), ticket("2023-04-02", "waiting")]), AS_OF
    )
    assert (kpi["total"][0], kpi["unknown"][0], kpi["waiting"][0]) == (2, 1, 1)


def test_no_complaints_gives_no_rows() -> None:
    assert kpi_monthly(complaints([]), AS_OF).empty
    assert kpi_monthly_by_subdistrict(complaints([]), AS_OF).empty


def test_breakdown_by_type_counts_a_ticket_under_each_type() -> None:
    tickets = complaints(
        [
            ticket("2023-04-02", "in_progress", ticket_id="X"),
            ticket("2023-04-03", ticket_id="Y"),
            ticket("2023-04-04", ticket_id="Z"),  # no type
        ]
    )
    types = pd.DataFrame({"ticket_id": ["X", "X", "Y"], "type": ["ถนน", "น้ำท่วม", "ถนน"]})
    by_type = kpi_monthly_by_type(tickets, types, AS_OF).set_index("type")
    assert by_type.loc["ถนน", ["total", "in_progress", "finished"]].tolist() == [2, 1, 1]
    assert by_type.loc["ถนน", "in_progress_pct"] == 50.0
    assert by_type.loc["น้ำท่วม", ["total", "in_progress"]].tolist() == [1, 1]
    assert by_type.loc["ไม่ระบุ", "total"] == 1
    assert TABS["kpi_monthly_by_type"].column_names == ["month", "month_th", "type"] + [
        c for c in TABS["kpi_monthly"].column_names if c not in ("month", "month_th")
    ]


def test_breakdown_by_org_keeps_the_section_flag() -> None:
    tickets = complaints([ticket("2023-04-02", ticket_id="X"), ticket("2023-05-03", ticket_id="Y")])
    orgs = pd.DataFrame(
        {
            "ticket_id": ["X", "X", "Y"],
            "organization": ["เขตสวนหลวง", "ฝ่ายโยธา เขตสวนหลวง", "ฝ่ายโยธา เขตสวนหลวง"],
            "is_section": [False, True, True],
            "acting": [True, True, False],
        }
    )
    by_org = kpi_monthly_by_org(tickets, orgs, AS_OF)
    sections = by_org[by_org["is_section"]]
    assert sections["month_th"].tolist() == ["เมษายน 2566", "พฤษภาคม 2566"]
    assert sections["total"].tolist() == [1, 1]
    assert by_org["organization"].tolist() == [
        "ฝ่ายโยธา เขตสวนหลวง", "เขตสวนหลวง", "ฝ่ายโยธา เขตสวนหลวง",
    ]  # fmt: skip


def test_breakdown_by_subdistrict_names_missing_ones() -> None:
    tickets = complaints(
        [ticket("2023-04-02", subdistrict="อ่อนนุช"), ticket("2023-04-02", subdistrict=None)]
    )
    by_area = kpi_monthly_by_subdistrict(tickets, AS_OF)
    assert by_area["subdistrict"].tolist() == ["อ่อนนุช", "ไม่ระบุ"]
    assert by_area["total"].tolist() == [1, 1]


month_days = st.dates(min_value=date(2022, 10, 1), max_value=date(2023, 9, 30))
tickets_strategy = st.lists(
    st.tuples(
        month_days,
        st.sampled_from(STATE_GROUPS),
        st.integers(min_value=0, max_value=3),  # reopened
        st.one_of(st.none(), st.integers(min_value=1, max_value=5)),  # star
        st.one_of(st.none(), st.integers(min_value=0, max_value=60 * 24 * 90)),  # minutes to fix
        st.sampled_from(["สวนหลวง", "อ่อนนุช", None]),
    ),
    max_size=150,
)


@settings(max_examples=40, deadline=None)
@given(tickets_strategy)
def test_counts_add_up_and_shares_stay_in_range(
    tickets: list[tuple[date, str, int, int | None, int | None, str | None]],
) -> None:
    rows = [
        ticket(
            f"{day} 09:30",
            group,
            reopen=reopen,
            star=star,
            finished=(
                str(pd.Timestamp(f"{day} 09:30") + pd.Timedelta(minutes=fix))
                if fix is not None
                else None
            ),
            subdistrict=area,
        )
        for day, group, reopen, star, fix, area in tickets
    ]
    frame = complaints(rows)
    kpi = kpi_monthly(frame, AS_OF)
    assert kpi["total"].sum() == len(rows)
    assert (kpi[list(STATE_GROUPS)].sum(axis=1) == kpi["total"]).all()
    assert kpi["in_progress_pct"].between(0, 100).all()
    for ratio in ("in_progress_ratio", "reopened_ratio"):
        assert kpi[ratio].between(0, 1).all()
    assert ((kpi["in_progress_pct"] - kpi["in_progress_ratio"] * 100).abs() <= 0.005 + 1e-9).all()
    for count in ("finished_timed", "reopened", "rated"):
        assert (kpi[count] <= kpi["total"]).all()
    assert (kpi["finished_timed"] <= kpi["finished"]).all()  # no staff dates here
    timed = kpi[kpi["finished_timed"] > 0]
    assert (timed["days_to_finish_median"] <= timed["days_to_finish_p90"]).all()
    assert timed["days_to_finish_median"].between(0, 90).all()
    assert kpi.loc[kpi["rated"] > 0, "star_mean"].between(1, 5).all()
    assert kpi.loc[kpi["rated"] == 0, "star_mean"].isna().all()
    assert kpi["month"].is_unique
    assert kpi["month"].is_monotonic_increasing
    by_area = kpi_monthly_by_subdistrict(frame, AS_OF)
    per_month = by_area.groupby("month")[["total", "in_progress", "reopened", "rated"]].sum()
    pd.testing.assert_frame_equal(
        per_month, kpi.set_index("month")[["total", "in_progress", "reopened", "rated"]]
    )
