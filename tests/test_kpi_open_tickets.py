"""The open-ticket ageing view: who is still waiting, and for how long."""

from __future__ import annotations

from datetime import datetime

from etl.kpi import open_tickets
from etl.models import BANGKOK
from tests.test_kpi import complaints, ticket

AS_OF = datetime(2023, 9, 15, 18, 0, tzinfo=BANGKOK)


def test_open_tickets_are_aged_and_bucketed_oldest_first() -> None:
    tickets = complaints(
        [
            ticket("2023-09-15 09:00", "waiting", ticket_id="AGE0"),
            ticket("2023-09-08 18:00", "in_progress", ticket_id="AGE7"),  # exactly 7 days
            ticket("2023-09-07 17:59", "in_progress", ticket_id="AGE8"),
            ticket("2023-08-16 18:00", "following", ticket_id="AGE30"),
            ticket("2023-08-15 12:00", "forwarded", ticket_id="AGE31"),
            ticket("2023-06-17 18:00", "unknown", ticket_id="AGE90"),
            ticket("2023-06-16 10:00", "in_progress", ticket_id="AGE91"),
            ticket("2023-05-01 10:00", "finished", ticket_id="DONE"),
            ticket("2023-05-01 10:00", "irrelevant", ticket_id="NOPE"),
        ]
    )
    aged = open_tickets(tickets, AS_OF).set_index("ticket_id")
    assert aged.index.tolist() == ["AGE91", "AGE90", "AGE31", "AGE30", "AGE8", "AGE7", "AGE0"]
    assert aged["age_days"].to_dict() == {
        "AGE91": 91, "AGE90": 90, "AGE31": 31, "AGE30": 30, "AGE8": 8, "AGE7": 7, "AGE0": 0,
    }  # fmt: skip
    assert aged["age_bucket"].to_dict() == {
        "AGE91": "over 90", "AGE90": "31-90", "AGE31": "31-90", "AGE30": "8-30",
        "AGE8": "8-30", "AGE7": "0-7", "AGE0": "0-7",
    }  # fmt: skip
    assert aged["age_bucket_order"].tolist() == [4, 3, 3, 2, 2, 1, 1]
    assert aged.loc["AGE0", "traffy_url"] == (
        "https://share.traffy.in.th/teamchadchart?case_id=AGE0"
    )
    assert str(aged.loc["AGE0", "as_of"]) == "2023-09-15 18:00:00"


def test_no_open_ticket_gives_no_rows() -> None:
    assert open_tickets(complaints([ticket("2023-05-01", "finished")]), AS_OF).empty
