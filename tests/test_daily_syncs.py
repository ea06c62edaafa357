"""A month of daily syncs under a random fault schedule ends with the tabs of one
fresh full sync: nothing lost, nothing duplicated, the history tabs only grown.

Each simulated day, tickets are reported and others finished upstream, then the
day's sync runs against a fake Traffy serving that day's faults: deceptive pages
(the documented error envelope, pages cut short or empty) once or for good,
server errors, broken connections. A failed day must leave the output as it was;
the next good day must catch up.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etl.errors import EtlError
from etl.fakes.synthetic import TicketFactory
from etl.fakes.traffy import FEED1_PATH, FakeTraffy, Fault, empty_page, error_page, short_page
from etl.models import BANGKOK
from etl.pipeline import run_sync
from etl.settings import load_settings
from etl.sinks import MemorySink

FIRST_DAY = date(2023, 5, 1)
DAYS = 10
COMPARED = ("complaints", "complaint_types", "complaint_orgs", "kpi_monthly", "open_tickets")
REWRITES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "error envelope": error_page,
    "short page": short_page,
    "empty page": empty_page,
}


def fault_of(kind: str, page: int, persistent: bool) -> Fault:
    """One of the day's faults, aimed at a page of any window (offsets of 100)."""
    times = 1_000 if persistent else 1
    aim = {"offset": str(page * 100)}
    if kind in REWRITES:
        return Fault(rewrite=REWRITES[kind], path=FEED1_PATH, match=aim, times=times)
    if kind == "server error":
        return Fault(status=503, path=FEED1_PATH, match=aim, times=times)
    return Fault(reset=True, path=FEED1_PATH, match=aim, times=times)


FAULTS = st.one_of(
    st.none(),
    st.tuples(
        st.sampled_from([*REWRITES, "server error", "reset"]),
        st.integers(min_value=0, max_value=3),  # the page it hits
        st.booleans(),  # for good (the day's run fails) or once (it recovers)
    ),
)


class Upstream:
    """Traffy over the simulated days: tickets are reported, and open ones finished."""

    def __init__(self, seed: int) -> None:
        self.factory = TicketFactory(seed=seed)
        self.random = self.factory.random
        self.features: list[dict[str, Any]] = []
        for offset in range(45):  # the weeks before the first sync
            self.report(FIRST_DAY - timedelta(days=45 - offset), count=12)

    def report(self, day: date, count: int) -> None:
        for _ in range(count):
            moment = datetime(day.year, day.month, day.day, self.random.randint(6, 21))
            state, kind = self.random.choice(
                [("รอรับเรื่อง", "start"), ("กำลังดำเนินการ", "inprogress"),
                 ("เสร็จสิ้น", "finish")]
            )  # fmt: skip
            self.features.append(self.factory.feature(moment, "สวนหลวง", state, kind))

    def finish_some(self, day: date) -> None:
        open_ = [f for f in self.features if f["properties"]["state_type_latest"] != "finish"]
        for feature in self.random.sample(open_, k=min(len(open_), 6)):
            properties = feature["properties"]
            properties.update(
                state="เสร็จสิ้น", state_type_latest="finish",
                last_activity=f"{day} 17:00:00", timestamp_finished=f"{day} 17:00:00",
            )  # fmt: skip


def comparable(sink: MemorySink) -> dict[str, pd.DataFrame]:
    out = {}
    for name in COMPARED:
        frame = sink.tabs[name].drop(columns=["as_of"], errors="ignore")
        out[name] = frame.sort_values(list(frame.columns[:2])).reset_index(drop=True)
    return out


@settings(
    max_examples=3, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)  # fmt: skip
@given(seed=st.integers(0, 10_000), schedule=st.lists(FAULTS, min_size=DAYS, max_size=DAYS))
def test_a_month_of_daily_syncs_under_faults_ends_as_one_fresh_sync(
    seed: int, schedule: list[tuple[str, int, bool] | None]
) -> None:
    upstream = Upstream(seed)
    sink = MemorySink()
    with FakeTraffy(upstream.features) as server:
        config = load_settings(
            traffy_url=server.url, page_size=100, window_months=3, concurrency=1,
            retry_attempts=2, retry_backoff_initial=0.001, retry_backoff_max=0.002,
        )  # fmt: skip
        for number, fault in enumerate([*schedule, None]):  # the last day is calm
            day = FIRST_DAY + timedelta(days=number)
            upstream.report(day, count=10)
            upstream.finish_some(day)
            server.add()  # keep the served list in creation order
            server.features = sorted(
                upstream.features, key=lambda f: str(f["properties"]["timestamp"])
            )
            held = {name: frame.copy() for name, frame in sink.tabs.items()}
            scripted = fault_of(*fault) if fault is not None else None
            if scripted is not None:
                server.script(scripted)
            now = datetime(day.year, day.month, day.day, 20, tzinfo=BANGKOK)
            try:
                run_sync(config, sink=sink, now=now)
            except EtlError:
                assert fault is not None, "a calm day must not fail"
                assert fault[2], "only a lasting fault may fail a day"
                assert sink.tabs.keys() == held.keys()
                for name, frame in held.items():
                    pd.testing.assert_frame_equal(sink.tabs[name], frame, obj=name)
            finally:
                server._faults.clear()
            if scripted is not None and fault is not None and fault[1] == 0:
                assert scripted.times < (1_000 if fault[2] else 1), "every run reads page 0"
            for name in ("status_history", "kpi_snapshots"):  # only ever grown
                if name in held:
                    assert len(sink.tabs[name]) >= len(held[name])
                    pd.testing.assert_frame_equal(
                        sink.tabs[name].head(len(held[name])), held[name], obj=name
                    )
        fresh = MemorySink()
        run_sync(config, sink=fresh, now=now)
    synced, expected = comparable(sink), comparable(fresh)
    for name in COMPARED:
        pd.testing.assert_frame_equal(synced[name], expected[name], obj=name)
    assert synced["complaints"]["ticket_id"].is_unique
