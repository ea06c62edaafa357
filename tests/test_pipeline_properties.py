"""Property: whatever the tickets, the monthly totals add up to the valid district tickets."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etl.fakes.synthetic import TicketFactory
from etl.fakes.traffy import FakeTraffy
from etl.models import BANGKOK
from etl.pipeline import run_sync
from etl.settings import load_settings
from etl.sinks import MemorySink

STATES = [("กำลังดำเนินการ", "inprogress"), ("เสร็จสิ้น", "finish"), ("รอรับเรื่อง", "start"),
          ("ส่งต่อ", "forward"), ("สถานะแปลก", "weird")]  # fmt: skip


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    tickets=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=364 * 24 * 60),  # minutes into the year
            st.sampled_from(["สวนหลวง", "วัฒนา"]),
            st.sampled_from(STATES),
            st.booleans(),  # broken record
        ),
        max_size=120,
    ),
    page_size=st.integers(min_value=7, max_value=50),
)
def test_monthly_totals_equal_valid_district_tickets(
    tickets: list[tuple[int, str, tuple[str, str], bool]], page_size: int
) -> None:
    factory = TicketFactory(seed=len(tickets))
    features = []
    valid = 0
    for minutes, district, (state, state_type), broken in tickets:
        created = datetime(2023, 1, 1) + timedelta(minutes=minutes)
        feature = factory.feature(created, district, state, state_type)
        if broken:
            feature["properties"]["star"] = 42
        features.append(feature)
        valid += district == "สวนหลวง" and not broken
    with FakeTraffy(features) as server:
        settings_ = load_settings(
            traffy_url=server.url,
            since=date(2023, 1, 1),
            until=date(2023, 12, 31),
            page_size=page_size,
            max_invalid_share=1.0,
        )
        sink = MemorySink()
        result = run_sync(settings_, sink=sink, now=datetime(2024, 1, 1, tzinfo=BANGKOK))
    kpi = sink.tabs["kpi_monthly"]
    assert kpi["total"].sum() == valid == len(sink.tabs["complaints"])
    assert result.extract.valid == valid
    broken_here = sum(1 for _, district, _, broken in tickets if broken and district == "สวนหลวง")
    assert len(sink.tabs["rejects"]) == result.extract.rejected == broken_here
