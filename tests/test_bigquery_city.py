"""Runs that see all of Bangkok, into BigQuery: the comparison ``kpi_monthly_by_district``
is one city-wide table of the dataset, the other tables each district's own rows.

Against the fake Traffy server (all of Bangkok, synthetic) and the local-bigquery
emulator with the real client, on 127.0.0.1; the same runs into local files say
what the table must hold. Few districts and a short window: the emulator answers
each request in 0.1-0.3 s.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from etl.city import DistrictOutcome
from etl.fakes.bigquery import LocalBigQuery, offline_environment
from etl.fakes.synthetic import SyntheticBangkok
from etl.fakes.traffy import FakeTraffy
from etl.pipeline import run_city_sync, run_sync
from etl.settings import Settings
from etl.sinks import LocalSink, Sink
from etl.sinks.bigquery import BigQuerySink
from etl.tabs import CITY, TABS
from tests.test_city import DAY_1, DAY_2, settings_for
from tests.test_sheets_sink import assert_same_frame

TAB = "kpi_monthly_by_district"
SERVED = ("สวนหลวง", "บางกะปิ")
UNTIL = date(2023, 7, 9)
WINDOW = {"since": date(2023, 6, 1), "rank_min_tickets": 5}
"""Five weeks, and a rank for a district with 5 tickets a month (the synthetic city
has about 20 a district)."""

_datasets = itertools.count()


@pytest.fixture(scope="module")
def city() -> Iterator[FakeTraffy]:
    features = SyntheticBangkok(5, first=date(2023, 4, 1), years=0.3).features(4000)
    with FakeTraffy(list(features)) as server:
        yield server


@pytest.fixture
def dataset(bigquery_emulator: LocalBigQuery, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The settings of a new dataset on the emulator."""
    for name, value in offline_environment({}).items():
        monkeypatch.setenv(name, value)
    return {
        "bigquery_dataset": f"{bigquery_emulator.project}.city_{next(_datasets)}",
        "bigquery_api_url": bigquery_emulator.url,
        "bigquery_retry_deadline": 15,
    }


def sink_of(settings: Settings, district: str) -> BigQuerySink:
    return BigQuerySink.from_settings(settings.model_copy(update={"district": district}))


def by_key(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["month", "district"], ignore_index=True)


def local_tab(folder: Path) -> pd.DataFrame:
    return by_key(LocalSink(folder).read_tabs([TAB])[TAB])


def test_a_city_run_writes_the_comparison_once_into_the_dataset(
    city: FakeTraffy, dataset: dict[str, Any], tmp_path: Path
) -> None:
    local = tmp_path / "local"
    local_run = run_city_sync(
        settings_for(city, ",".join(SERVED), local, UNTIL, **WINDOW), now=DAY_1
    )
    assert local_run.failed == []
    expected = local_tab(local / SERVED[0])
    assert_same_frame(local_tab(local / SERVED[1]), expected)  # every office's is the same

    served = settings_for(city, ",".join(SERVED), tmp_path / "none", UNTIL, **WINDOW, **dataset)
    result = run_city_sync(served, now=DAY_1)
    assert result.failed == []
    writes = [d.result.load.tabs[TAB] for d in result.districts if d.result]
    # The first district's write inserts every row; the next finds them there.
    assert [(w.inserted, w.updated, w.deleted) for w in writes] == [(len(expected), 0, 0)] + [
        (0, 0, 0)
    ] * (len(SERVED) - 1)

    reader = sink_of(served, SERVED[1])
    table = by_key(reader.read_tabs([TAB])[TAB])
    assert_same_frame(table, expected)  # the values each office's files hold
    assert reader.count_rows(TAB) == len(expected)  # once, not once per district
    schema = reader.client.get_table(f"{served.bigquery_dataset}.{TAB}").schema
    assert [f.name for f in schema] == TABS[TAB].column_names  # no owner column
    assert set(table["month"]) == {pd.Timestamp("2023-06-01"), pd.Timestamp("2023-07-01")}
    for _, month in table.groupby("month"):
        assert (month["district"] == CITY).sum() == 1
        assert month.loc[month["district"] == CITY, "total"].iloc[0] == month["total"].sum() / 2
        assert len(month) > 40  # every district of the extraction, not only those served
    june = table[table["month"] == pd.Timestamp("2023-06-01")].set_index("district")
    assert june.loc[list(SERVED), "in_progress_rank"].notna().all()
    assert 1 in set(june["in_progress_rank"].dropna())
    assert (june["districts_ranked"] > 40).all()

    # Each district's own tables: its rows only, and all of them.
    for one in result.districts:
        assert one.result is not None
        own = sink_of(served, one.district)
        assert own.count_rows("complaints") == one.result.complaints_total > 10
        assert own.count_rows("kpi_monthly") == 2
    total = sum(d.result.complaints_total for d in result.districts if d.result)
    assert reader.count_rows("complaints", all_districts=True) == total

    # The next run with nothing new: no load and no MERGE for the comparison.
    staged: list[tuple[str, str]] = []
    again = run_city_sync(served, sinks=watched(served, staged), now=DAY_1)
    assert again.failed == []
    assert [changes(one) for one in again.districts] == [(0, 0, 0)] * len(SERVED)
    assert TAB not in {table for _, table in staged}
    assert reader.count_rows(TAB) == len(expected)

    # The next day, every district re-read in full: the comparison changed. Each
    # district read the table before the first one wrote it, and still only the
    # first loads and merges it.
    later = settings_for(city, ",".join(SERVED), local, DAY_2.date(), **WINDOW)
    assert run_city_sync(later, now=DAY_2, full_refresh=True).failed == []
    expected = local_tab(local / SERVED[0])
    staged.clear()
    next_day = served.model_copy(update={"until": DAY_2.date()})
    result = run_city_sync(next_day, sinks=watched(next_day, staged), now=DAY_2, full_refresh=True)
    assert result.failed == []
    assert [table for _, table in staged].count(TAB) == 1
    assert changes(result.districts[0]) != (0, 0, 0)
    assert [changes(one) for one in result.districts[1:]] == [(0, 0, 0)] * (len(SERVED) - 1)
    table = sink_of(next_day, SERVED[1]).read_tabs([TAB])[TAB]
    assert_same_frame(by_key(table), expected)
    july = table[(table["month"] == pd.Timestamp("2023-07-01")) & (table["district"] == CITY)]
    assert july["as_of"].tolist() == [DAY_2.replace(tzinfo=None)]  # the new day's numbers


def watched(settings: Settings, staged: list[tuple[str, str]]) -> dict[str, Sink]:
    """Each served district's sink, noting each table it loads to MERGE."""
    sinks: dict[str, Sink] = {}
    for name in settings.served_districts:
        sinks[name] = sink = sink_of(settings, name)
        sink.on_staged = lambda table, name=name: staged.append((name, table))
    return sinks


def changes(one: DistrictOutcome) -> tuple[int, int, int]:
    """What the district's write did to the comparison table."""
    assert one.result is not None
    write = one.result.load.tabs[TAB]
    return write.inserted, write.updated, write.deleted


def test_a_one_district_run_writes_the_comparison_too(
    city: FakeTraffy, dataset: dict[str, Any], tmp_path: Path
) -> None:
    first = SERVED[0]
    local = tmp_path / "local"
    run_sync(settings_for(city, first, local, UNTIL, **WINDOW), now=DAY_1)
    expected = local_tab(local)

    alone = settings_for(city, first, tmp_path / "none", UNTIL, **WINDOW, **dataset)
    result = run_sync(alone, now=DAY_1)
    assert result.load.tabs[TAB].inserted == len(expected)
    reader = sink_of(alone, first)
    assert_same_frame(by_key(reader.read_tabs([TAB])[TAB]), expected)
    assert reader.count_rows("complaints") == result.complaints_total > 10
