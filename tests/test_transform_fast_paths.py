"""The one-pass ``complaint_orgs`` equals its definition (explode, de-duplicate, flag)."""

from __future__ import annotations

import contextlib

import pandas as pd

from etl.fakes.synthetic import SyntheticBangkok
from etl.traffy import feed_v1
from etl.transform import complaint_orgs_tab, complaints_frame


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
