"""A ticket the server serves twice is not drift; a shifted page is.

The pager scans a window again only on a real shift (a page starting with a
record already read): a ticket repeated further into a later page is the
server's own duplicate and costs no second scan (issue 7: it doubled the
requests of the all-Bangkok bench).
"""

from __future__ import annotations

import copy
from datetime import date, datetime
from typing import Any

from etl.fakes.traffy import FakeTraffy, Fault, _in_window
from etl.models import BANGKOK
from etl.pipeline import run_sync
from etl.publish import SyncResult
from etl.settings import load_settings
from etl.sinks import MemorySink
from tests.test_traffy_faults import assert_same_tabs

NOW = datetime(2023, 6, 1, tzinfo=BANGKOK)
FIRST, LAST = date(2023, 4, 1), date(2023, 5, 1)  # the first 31-day window


def sync(server: FakeTraffy, sink: MemorySink) -> SyncResult:
    settings = load_settings(
        traffy_url=server.url, since=date(2023, 4, 1), until=date(2023, 5, 31),
        page_size=100, concurrency=1,
    )  # fmt: skip
    return run_sync(settings, sink=sink, now=NOW)


def newer_copy(feature: dict[str, Any]) -> dict[str, Any]:
    """The same ticket, more recently active (de-duplication keeps this one)."""
    again = copy.deepcopy(feature)
    again["properties"].update(
        state="เสร็จสิ้น", state_type_latest="finish", last_activity="2023-05-20 10:00:00"
    )
    return again


def served_at(server: FakeTraffy, feature: dict[str, Any], position: int) -> None:
    """Serve ``feature`` (again) at ``position`` of the first window's list, out of order."""
    in_window = [i for i, f in enumerate(server.features) if _in_window(f, FIRST, LAST)]
    server.features.insert(in_window[position], feature)


def reference(features: list[dict[str, Any]], again: dict[str, Any]) -> MemorySink:
    """The same tickets with the copy next to the original: no page boundary between."""
    sink = MemorySink()
    with FakeTraffy(features) as server:
        server.add(again)
        sync(server, sink)
    return sink


def test_ticket_served_twice_deep_in_a_later_page_costs_no_rescan(
    traffy: FakeTraffy, features: list[dict[str, Any]]
) -> None:
    original = next(f for f in traffy.features if _in_window(f, FIRST, LAST))
    again = newer_copy(original)
    served_at(traffy, again, 150)  # page 2 (offsets 100-199), not its first record
    sink = MemorySink()
    before = len(traffy.requests)
    result = sync(traffy, sink)
    assert result.extract.rescans == 0
    assert result.extract.duplicates >= 1
    assert len(traffy.requests) - before == result.extract.pages  # every page read once
    complaints = sink.tabs["complaints"].set_index("ticket_id")
    assert complaints.index.is_unique
    assert complaints.loc[original["properties"]["ticket_id"], "state"] == "เสร็จสิ้น"
    assert_same_tabs(sink, reference(features, again))


def test_ticket_served_twice_at_the_head_of_a_page_is_rescanned_then_accepted(
    traffy: FakeTraffy, features: list[dict[str, Any]]
) -> None:
    original = next(f for f in traffy.features if _in_window(f, FIRST, LAST))
    again = newer_copy(original)
    served_at(traffy, again, 100)  # the first record of page 2: looks like a shift
    sink = MemorySink()
    result = sync(traffy, sink)
    assert result.extract.rescans == 1  # the second scan agrees: the server's duplicate
    assert_same_tabs(sink, reference(features, again))


def test_a_shift_is_still_rescanned_when_the_server_also_repeats_tickets(
    traffy: FakeTraffy, features: list[dict[str, Any]]
) -> None:
    original = next(f for f in traffy.features if _in_window(f, FIRST, LAST))
    again = newer_copy(original)
    served_at(traffy, again, 150)
    traffy.script(Fault(), Fault(repeat_previous=True))  # page 2 repeats page 1's last record
    sink = MemorySink()
    result = sync(traffy, sink)
    assert result.extract.rescans == 1
    assert_same_tabs(sink, reference(features, again))
