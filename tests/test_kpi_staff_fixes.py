"""A sync counts the staff's fix dates from the ``actions`` tab where the sink keeps one."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from etl.fakes.traffy import FakeTraffy
from etl.models import BANGKOK
from etl.pipeline import run_sync
from etl.publish import staff_fixes
from etl.settings import load_settings
from etl.sinks import LocalSink, MemorySink

NOW = datetime(2023, 9, 15, 18, 0, tzinfo=BANGKOK)


def sync(features: list[dict[str, Any]], sink: MemorySink) -> pd.DataFrame:
    with FakeTraffy(features) as server:
        settings = load_settings(
            traffy_url=server.url, since=date(2023, 4, 1), until=date(2023, 5, 31)
        )
        run_sync(settings, sink=sink, now=NOW)
    return sink.tabs["kpi_monthly"].set_index("month")


def test_staff_fix_date_of_an_open_ticket_counts_in_days_to_finish(
    features: list[dict[str, Any]],
) -> None:
    before = sync(features, MemorySink())
    open_ticket = next(
        f["properties"] for f in features if f["properties"]["state"] == "กำลังดำเนินการ"
    )
    sink = MemorySink()
    sink.tabs["actions"] = pd.DataFrame(
        {"ticket_id": [open_ticket["ticket_id"]], "fixed_on": [pd.Timestamp("2023-05-20")]}
    )
    after = sync(features, sink)
    month = pd.Timestamp(open_ticket["timestamp"][:7] + "-01")
    assert after.loc[month, "finished_timed"] == before.loc[month, "finished_timed"] + 1
    assert after.loc[month, "in_progress"] == before.loc[month, "in_progress"]


def test_local_sink_has_no_staff_tab(tmp_path: Path) -> None:
    assert staff_fixes(LocalSink(tmp_path).read_tabs(["actions"])) is None
    assert staff_fixes(MemorySink().read_tabs(["actions"])) is None
