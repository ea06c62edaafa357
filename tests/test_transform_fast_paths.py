"""One-pass tabs equal their definitions (explode, de-duplicate, flag; sort)."""

from __future__ import annotations

import contextlib
from datetime import datetime

import pandas as pd

from etl.canonical import complaints_frame
from etl.fakes.synthetic import SyntheticBangkok
from etl.kpi import OPEN_GROUPS, open_tickets
from etl.models import BANGKOK
from etl.settings import load_settings
from etl.traffy import feed_v1
from etl.transform import complaint_orgs_tab, complaint_types_tab, complaints_tab

NOW = datetime(2025, 12, 31, 9, 0, tzinfo=BANGKOK)


def test_complaint_orgs_equal_the_exploded_definition() -> None:
    complaints = []
    for record in SyntheticBangkok(10, odd_share=0.2).features(2_000):
        with contextlib.suppress(ValueError):
            complaints.append(feed_v1.to_complaint(record))
    frame = complaints_frame(complaints[:1500] + complaints[:5])  # repeated tickets too
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
    pd.testing.assert_frame_equal(complaint_orgs_tab(frame), want)


def test_complaint_types_equal_the_exploded_definition() -> None:
    complaints = []
    for record in SyntheticBangkok(11, odd_share=0.2).features(2_000):
        with contextlib.suppress(ValueError):
            complaints.append(feed_v1.to_complaint(record))
    doubled = complaints[0].model_copy(update={"types": ("ถนน", "ถนน", "ทางเท้า")})
    frame = complaints_frame([*complaints[:1500], *complaints[:5], doubled])  # repeats
    long = frame[["ticket_id", "types"]].explode("types").dropna(subset=["types"])
    long = long.rename(columns={"types": "type"}).drop_duplicates()
    want = long.reset_index(drop=True).astype({"ticket_id": object, "type": object})
    pd.testing.assert_frame_equal(complaint_types_tab(frame), want)


def test_open_tickets_are_ordered_by_creation_then_id() -> None:
    complaints = []
    for record in SyntheticBangkok(12).features(1_500):
        with contextlib.suppress(ValueError):
            complaints.append(feed_v1.to_complaint(record))
    same = complaints[10].created_at  # tickets created the same second, ids out of order
    waiting = [c for c in complaints if c.state_type == "start"][:4]
    tied = [c.model_copy(update={"created_at": same, "ticket_id": f"2024-TIE{i:03d}"})
            for c, i in zip(waiting, (5, 1, 3, 1), strict=True)]  # fmt: skip
    frame = complaints_frame(tied + complaints[::-1])  # newest first: needs sorting
    tab = complaints_tab(frame, load_settings().state_group_of())
    got = open_tickets(tab, NOW)
    open_ = tab[tab["state_group"].isin(OPEN_GROUPS)]
    want = open_.sort_values(["created_at", "ticket_id"]).reset_index(drop=True)
    pd.testing.assert_series_equal(got["ticket_id"], want["ticket_id"])
    assert (got["ticket_id"] == "2024-TIE001").sum() == 2
