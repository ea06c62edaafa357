"""BigQuerySink against the local-bigquery emulator, through the real google-cloud-bigquery
client over HTTP. The client's proxies point at a closed port: only 127.0.0.1 answers."""

from __future__ import annotations

import itertools
from typing import Any

import pandas as pd
import pytest
from google.cloud import bigquery

from etl.errors import SinkError
from etl.fakes.bigquery import LocalBigQuery, offline_environment
from etl.settings import load_settings
from etl.sinks.base import RunRecord
from etl.sinks.bigquery import BigQuerySink, make_client
from etl.sinks.google_auth import load_credential
from etl.tabs import CITY, RUNS, TABS
from tests.test_sheets_sink import assert_same_frame, complaints, kpis

_datasets = itertools.count()


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every request of the test's client that is not to 127.0.0.1 goes to a dead proxy."""
    for name, value in offline_environment({}).items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def dataset(bigquery_emulator: LocalBigQuery) -> str:
    return f"{bigquery_emulator.project}.sink_{next(_datasets)}"


def client_for(emulator: LocalBigQuery) -> bigquery.Client:
    credential = load_credential(None, emulator.url, environ={}, scopes=())
    return make_client(emulator.project, emulator.url, credential)


def make_sink(
    emulator: LocalBigQuery, dataset: str, district: str = "สวนหลวง", **kwargs: Any
) -> BigQuerySink:
    return BigQuerySink(dataset, district, client=client_for(emulator), retry_deadline=15, **kwargs)


def ids(sink: BigQuerySink, table: str) -> list[str]:
    rows = sink.client.query_and_wait(
        f"SELECT ticket_id FROM `{sink.dataset}.{table}` ORDER BY ticket_id"
    )
    return [row["ticket_id"] for row in rows]


def sorted_frame(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values("ticket_id").reset_index(drop=True)


def test_first_load_creates_typed_partitioned_tables(
    bigquery_emulator: LocalBigQuery, dataset: str
) -> None:
    sink = make_sink(bigquery_emulator, dataset)
    frame = complaints(30)
    info = sink.write_tabs({"complaints": frame, "kpi_monthly": kpis()})
    assert info.tabs["complaints"].inserted == 30
    assert info.tabs["kpi_monthly"].inserted == 2
    assert sink.count_rows("complaints") == 30
    assert sink.last_cost.staged_rows == 32
    back = BigQuerySink(dataset, "สวนหลวง", client=client_for(bigquery_emulator)).read_tabs(
        ["complaints", "kpi_monthly", "actions", "not_a_tab"]
    )
    assert set(back) == {"complaints", "kpi_monthly"}
    expected = frame.assign(district="สวนหลวง")  # the table's district is the owner's
    assert_same_frame(sorted_frame(back["complaints"]), expected)
    assert_same_frame(back["kpi_monthly"], kpis())

    table = sink.client.get_table(f"{dataset}.complaints")
    types = {field.name: (field.field_type, field.mode) for field in table.schema}
    assert types["ticket_id"] == ("STRING", "REQUIRED")
    assert types["created_at"] == ("DATETIME", "REQUIRED")
    assert types["month"] == ("DATE", "REQUIRED")
    assert types["star"][0] in ("INT64", "INTEGER")
    assert types["lat"][0] in ("FLOAT64", "FLOAT")
    assert table.time_partitioning.field == "month"
    assert table.time_partitioning.type_ == "MONTH"
    assert table.clustering_fields[0] == "district"
    kpi = {f.name: f.field_type for f in sink.client.get_table(f"{dataset}.kpi_monthly").schema}
    assert kpi["district"] == "STRING"  # every table has the owner's district
    assert list(kpi)[: len(TABS["kpi_monthly"].column_names)] == TABS["kpi_monthly"].column_names


def test_no_change_sync_loads_and_changes_nothing(
    bigquery_emulator: LocalBigQuery, dataset: str
) -> None:
    sink = make_sink(bigquery_emulator, dataset)
    frame = complaints(200)
    sink.write_tabs({"complaints": frame, "kpi_monthly": kpis()})
    fresh = make_sink(bigquery_emulator, dataset)  # a new run reads the tables back
    fresh.read_tabs(["complaints", "kpi_monthly"])
    info = fresh.write_tabs({"complaints": frame, "kpi_monthly": kpis()})
    for tab, write in info.tabs.items():
        assert (write.inserted, write.updated, write.deleted) == (0, 0, 0), tab
    assert fresh.last_cost.staged_rows == 0
    assert fresh.last_cost.jobs == 0
    assert fresh.count_rows("complaints") == 200


def test_50_changes_load_only_the_changed_rows(
    bigquery_emulator: LocalBigQuery, dataset: str
) -> None:
    sink = make_sink(bigquery_emulator, dataset)
    old = complaints(5000)
    sink.write_tabs({"complaints": old})
    new = old.copy()
    new.loc[100:139, "state"] = "เสร็จสิ้น"  # 40 updated
    new.loc[100:139, "finished_at"] = pd.Timestamp("2024-09-01 10:00:00")
    new = pd.concat([new.drop(index=range(10)), complaints(10, 9000)], ignore_index=True)
    info = make_sink(bigquery_emulator, dataset).write_tabs({"complaints": new})
    write = info.tabs["complaints"]
    assert (write.inserted, write.updated, write.deleted) == (10, 40, 10)
    again = make_sink(bigquery_emulator, dataset)
    got = again.read_tabs(["complaints"])["complaints"]
    assert_same_frame(sorted_frame(got), sorted_frame(new.assign(district="สวนหลวง")))
    assert again.count_rows("complaints") == 5000
    rows = again.client.query_and_wait(
        f"SELECT COUNT(*) AS n FROM `{dataset}.complaints` WHERE state = 'เสร็จสิ้น'"
    )
    assert next(iter(rows))["n"] == 40


def test_staging_holds_only_changed_rows(bigquery_emulator: LocalBigQuery, dataset: str) -> None:
    sink = make_sink(bigquery_emulator, dataset)
    old = complaints(2000)
    sink.write_tabs({"complaints": old})
    new = old.copy()
    new.loc[0:19, "view_count"] = pd.array([999] * 20, dtype="Int64")
    runner = make_sink(bigquery_emulator, dataset)
    runner.write_tabs({"complaints": new})
    assert runner.last_cost.staged_rows == 20
    assert 0 < runner.last_cost.bytes_loaded < 100_000


def test_a_crash_between_staging_and_merge_converges(
    bigquery_emulator: LocalBigQuery, dataset: str
) -> None:
    old, new = complaints(300), complaints(320, 15)
    new.loc[50:80, "state"] = "เสร็จสิ้น"
    make_sink(bigquery_emulator, dataset).write_tabs({"complaints": old})

    class Crash(Exception):
        pass

    def crash(table: str) -> None:
        if table == "complaints":
            raise Crash(table)

    crashing = make_sink(bigquery_emulator, dataset, on_staged=crash)
    with pytest.raises(Crash):
        crashing.write_tabs({"kpi_monthly": kpis(), "complaints": new})
    assert ids(crashing, "complaints") == sorted(old["ticket_id"])  # not merged
    assert crashing.count_rows("kpi_monthly") == 0  # one transaction: nothing merged
    staging = [t.table_id for t in crashing.client.list_tables(dataset)]
    assert [t for t in staging if t.startswith("_staging_")]  # it did stop after a load

    # The same sink (its cache dropped) and a fresh one both converge, nothing doubled.
    crashing.on_staged = None
    crashing.write_tabs({"kpi_monthly": kpis(), "complaints": new})
    second = make_sink(bigquery_emulator, dataset)
    info = second.write_tabs({"kpi_monthly": kpis(), "complaints": new})
    assert info.tabs["complaints"].inserted == info.tabs["complaints"].updated == 0
    assert ids(second, "complaints") == sorted(new["ticket_id"])
    got = second.read_tabs(["complaints"])["complaints"]
    assert_same_frame(sorted_frame(got), sorted_frame(new.assign(district="สวนหลวง")))
    assert second.count_rows("kpi_monthly") == 2
    leftovers = [t.table_id for t in second.client.list_tables(dataset)]
    assert not [t for t in leftovers if t.startswith("_staging_")], leftovers


def test_deletes_stay_within_the_district(bigquery_emulator: LocalBigQuery, dataset: str) -> None:
    checked: set[str] = set()  # as a city-wide run's sinks do: one schema check a table
    suan_luang = make_sink(bigquery_emulator, dataset, "สวนหลวง", checked=checked)
    bang_rak = make_sink(bigquery_emulator, dataset, "บางรัก", checked=checked)
    suan_luang.write_tabs({"complaints": complaints(50)})
    bang_rak.write_tabs({"complaints": complaints(30)})  # the same ticket ids, on purpose
    assert suan_luang.count_rows("complaints", all_districts=True) == 80

    info = suan_luang.write_tabs({"complaints": complaints(20, 30)})
    assert (info.tabs["complaints"].inserted, info.tabs["complaints"].deleted) == (0, 30)
    assert suan_luang.count_rows("complaints") == 20
    assert bang_rak.count_rows("complaints") == 30
    back = make_sink(bigquery_emulator, dataset, "บางรัก").read_tabs(["complaints"])
    assert sorted(back["complaints"]["ticket_id"]) == sorted(complaints(30)["ticket_id"])
    assert set(back["complaints"]["district"]) == {"บางรัก"}


def history(n: int, at: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ticket_id": [f"2024-{i:06d}" for i in range(n)],
            "state": ["รอรับเรื่อง"] * n,
            "state_group": ["waiting"] * n,
            "observed_at": pd.to_datetime([at] * n),
        }
    )


def test_history_tables_only_grow(bigquery_emulator: LocalBigQuery, dataset: str) -> None:
    sink = make_sink(bigquery_emulator, dataset)
    sink.write_tabs({"status_history": history(10, "2024-01-01 07:00:00")})
    changed = history(5, "2024-01-02 07:00:00").assign(state="เสร็จสิ้น")
    info = sink.write_tabs({"status_history": changed})  # the earlier rows not passed again
    assert info.tabs["status_history"].inserted == 5
    assert info.tabs["status_history"].deleted == 0
    assert sink.count_rows("status_history") == 15
    again = make_sink(bigquery_emulator, dataset)
    info = again.write_tabs({"status_history": changed})
    assert info.tabs["status_history"].inserted == 0
    assert again.count_rows("status_history") == 15
    table = again.client.get_table(f"{dataset}.status_history")
    assert table.time_partitioning.field == "observed_at"


def test_a_schema_addition_adds_columns_and_a_retyped_column_stops_the_run(
    bigquery_emulator: LocalBigQuery, dataset: str
) -> None:
    client = client_for(bigquery_emulator)
    client.create_dataset(dataset)
    older = [
        bigquery.SchemaField(f.name, f.field_type, f.mode)
        for f in make_schema("kpi_monthly")
        if f.name not in ("star_mean", "rated")
    ]
    client.create_table(bigquery.Table(f"{dataset}.kpi_monthly", schema=older))
    sink = BigQuerySink(dataset, "สวนหลวง", client=client, retry_deadline=15)
    changes = sink.init()
    assert "added to kpi_monthly: rated, star_mean" in changes
    sink.write_tabs({"kpi_monthly": kpis()})
    assert_same_frame(sink.read_tabs(["kpi_monthly"])["kpi_monthly"], kpis())
    names = [f.name for f in client.get_table(f"{dataset}.kpi_monthly").schema]
    assert names[-2:] == ["rated", "star_mean"]  # appended, never reordered

    other = f"{dataset}_retyped"
    client.create_dataset(other)
    client.create_table(bigquery.Table(f"{other}.complaint_types", schema=[
        bigquery.SchemaField("ticket_id", "INT64"), bigquery.SchemaField("type", "STRING"),
    ]))  # fmt: skip
    fresh = BigQuerySink(other, "สวนหลวง", client=client, retry_deadline=15)
    frame = pd.DataFrame({"ticket_id": ["2024-000001"], "type": ["ถนน"]})
    with pytest.raises(SinkError, match="complaint_types column ticket_id is INT"):
        fresh.write_tabs({"kpi_monthly": kpis(), "complaint_types": frame})
    # Checked before the first load: kpi_monthly, first in the load, was not written.
    assert fresh.count_rows("kpi_monthly") == 0


def make_schema(name: str) -> list[bigquery.SchemaField]:
    from etl.sinks.bigquery import table_schema

    return table_schema(name)


def test_runs_log_counts_and_failed_runs(bigquery_emulator: LocalBigQuery, dataset: str) -> None:
    sink = make_sink(bigquery_emulator, dataset)
    now = pd.Timestamp("2024-03-01 01:00:00", tz="UTC").to_pydatetime()
    run = RunRecord("run-ok", now, now, tickets_fetched=30)
    info = sink.write_tabs({"complaints": complaints(30)}, run=run)
    assert run.load is info
    sink.record_run(RunRecord("run-failed", now, now, outcome="TraffyError", message="down"))
    sink.record_run(RunRecord("run-failed", now, now, outcome="TraffyError", message="down"))
    runs = sink.read_tabs([RUNS.name])[RUNS.name].sort_values("run_id")
    assert runs["run_id"].tolist() == ["run-failed", "run-ok"]  # a retried log adds it once
    ok = runs[runs["run_id"] == "run-ok"].iloc[0]
    assert ok["inserted"] == 30
    assert ok["per_tab"] == "complaints: +30 ~0 -0"
    assert ok["started_at"] == pd.Timestamp("2024-03-01 08:00:00")  # Bangkok wall time
    assert sink.count_rows(RUNS.name) == 2


def test_from_settings_needs_project_and_dataset(bigquery_emulator: LocalBigQuery) -> None:
    settings = load_settings(
        district="สวนหลวง",
        bigquery_dataset=f"{bigquery_emulator.project}.from_settings",
        bigquery_api_url=bigquery_emulator.url,
        bigquery_retry_deadline=10,
    )
    sink = BigQuerySink.from_settings(settings)
    assert sink.client.project == bigquery_emulator.project
    assert sink.read_tabs(["meta", "_sync"]) == {}  # no dataset yet: nothing stored
    bad = load_settings(district="สวนหลวง", bigquery_dataset="no_project_here")
    with pytest.raises(Exception, match=r"PROJECT\.DATASET"):
        BigQuerySink.from_settings(bad)


def test_nothing_leaves_loopback_and_an_unreachable_api_is_one_line() -> None:
    """The proxies of this module send any other host to a closed local port: a
    request that tried to leave 127.0.0.1 fails, and says so in one line."""
    url = "https://bigquery.googleapis.com"
    credential = load_credential(None, "http://127.0.0.1", environ={}, scopes=())
    client = make_client("traffy-test", url, credential)
    sink = BigQuerySink("traffy-test.anywhere", "สวนหลวง", client=client, retry_deadline=1)
    with pytest.raises(SinkError, match="did not answer"):
        sink.read_tabs(["meta"])


SHARED_TAB = "kpi_monthly_by_district"


def comparison(districts: tuple[str, ...] = (CITY, "บางรัก", "สวนหลวง")) -> pd.DataFrame:
    """A city comparison: ``kpis()``'s two months for each district, ranked."""
    parts = [
        kpis().assign(
            district=name,
            in_progress_rank=pd.array([pd.NA if name == CITY else at] * 2, dtype="Int64"),
            districts_ranked=len(districts) - 1,
        )
        for at, name in enumerate(districts)
    ]
    frame = pd.concat(parts, ignore_index=True)[TABS[SHARED_TAB].column_names]
    return frame.sort_values(["month", "district"], ignore_index=True)


def by_key(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["month", "district"], ignore_index=True)


def test_the_city_comparison_is_one_table_any_district_rewrites(
    bigquery_emulator: LocalBigQuery, dataset: str
) -> None:
    suan_luang = make_sink(bigquery_emulator, dataset, "สวนหลวง")
    old = comparison()
    suan_luang.write_tabs({"complaints": complaints(20), SHARED_TAB: old})
    table = suan_luang.client.get_table(f"{dataset}.{SHARED_TAB}")
    # The tab's columns and nothing else: its district is the district compared.
    assert [f.name for f in table.schema] == TABS[SHARED_TAB].column_names
    assert table.clustering_fields == ["district", "month"]

    bang_rak = make_sink(bigquery_emulator, dataset, "บางรัก")
    read = bang_rak.read_tabs([SHARED_TAB, "complaints"])
    assert_same_frame(by_key(read[SHARED_TAB]), old)  # every district's rows, not its own
    assert read["complaints"].empty  # an owned table: still only its own rows
    new = old[~((old["district"] == "สวนหลวง") & (old["month"] == "2024-01-01"))].copy()
    new.loc[new["district"] == "บางรัก", "total"] = pd.array([11, 21], dtype="Int64")
    added = comparison(("ประเวศ",)).iloc[:1]
    new = by_key(pd.concat([new, added], ignore_index=True))
    info = bang_rak.write_tabs({"complaints": complaints(5, 100), SHARED_TAB: new})
    write = info.tabs[SHARED_TAB]
    assert (write.inserted, write.updated, write.deleted) == (1, 2, 1)

    again = make_sink(bigquery_emulator, dataset, "สวนหลวง")
    assert_same_frame(by_key(again.read_tabs([SHARED_TAB])[SHARED_TAB]), new)
    assert again.count_rows(SHARED_TAB) == len(new) == 6
    assert again.count_rows("complaints") == 20  # บางรัก's run deleted none of สวนหลวง's
    assert again.count_rows("complaints", all_districts=True) == 25
    info = again.write_tabs({SHARED_TAB: new})  # the same rows from another district
    assert info.tabs[SHARED_TAB] == type(write)(0, 0, 0, 0)
    assert again.last_cost.jobs == 0  # no load, no MERGE


def test_each_sink_of_a_run_merges_the_comparison_only_when_it_changed(
    bigquery_emulator: LocalBigQuery, dataset: str
) -> None:
    make_sink(bigquery_emulator, dataset).write_tabs({SHARED_TAB: comparison()})
    staged: list[tuple[str, str]] = []

    def sinks() -> dict[str, BigQuerySink]:
        return {
            name: make_sink(
                bigquery_emulator, dataset, name, on_staged=lambda t, n=name: staged.append((n, t))
            )
            for name in ("สวนหลวง", "บางรัก", "ประเวศ")
        }

    # As a city run: every district's output read first, then each written in turn.
    run = sinks()
    for sink in run.values():
        sink.read_tabs([SHARED_TAB])
    new = comparison().assign(districts_ranked=5)
    counts = [sink.write_tabs({SHARED_TAB: new}).tabs[SHARED_TAB] for sink in run.values()]
    assert [(c.inserted, c.updated, c.deleted) for c in counts] == [(0, 6, 0), (0, 0, 0), (0, 0, 0)]
    assert staged == [("สวนหลวง", SHARED_TAB)]  # one load and MERGE for the run
    assert [s.last_cost.jobs for s in run.values()] == [2, 0, 0]

    # A write that fails after its load: the next district reads what the table holds.
    class Crash(Exception):
        pass

    def crash(table: str) -> None:
        raise Crash(table)

    run, newer = sinks(), comparison().assign(districts_ranked=7)
    for sink in run.values():
        sink.read_tabs([SHARED_TAB])
    run["สวนหลวง"].on_staged = crash
    with pytest.raises(Crash):
        run["สวนหลวง"].write_tabs({SHARED_TAB: newer})
    assert run["บางรัก"].write_tabs({SHARED_TAB: newer}).tabs[SHARED_TAB].updated == 6
    assert run["ประเวศ"].write_tabs({SHARED_TAB: newer}).tabs[SHARED_TAB].updated == 0
    back = make_sink(bigquery_emulator, dataset).read_tabs([SHARED_TAB])[SHARED_TAB]
    assert_same_frame(by_key(back), newer)


def test_the_comparison_table_is_made_by_init_and_its_schema_grows_by_addition(
    bigquery_emulator: LocalBigQuery, dataset: str
) -> None:
    client = client_for(bigquery_emulator)
    client.create_dataset(dataset)
    older = [f for f in make_schema(SHARED_TAB) if f.name != "districts_ranked"]
    client.create_table(bigquery.Table(f"{dataset}.{SHARED_TAB}", schema=older))
    changes = BigQuerySink(dataset, "สวนหลวง", client=client, retry_deadline=15).init()
    assert f"added to {SHARED_TAB}: districts_ranked" in changes
    names = [f.name for f in client.get_table(f"{dataset}.{SHARED_TAB}").schema]
    assert names == TABS[SHARED_TAB].column_names  # no owner column added
    sink = make_sink(bigquery_emulator, dataset)
    sink.write_tabs({SHARED_TAB: comparison()})
    assert_same_frame(by_key(sink.read_tabs([SHARED_TAB])[SHARED_TAB]), comparison())

    retyped = [
        bigquery.SchemaField(f.name, "STRING" if f.name == "in_progress_rank" else f.field_type)
        for f in make_schema(SHARED_TAB)
    ]
    client.create_dataset(f"{dataset}_retyped")
    client.create_table(bigquery.Table(f"{dataset}_retyped.{SHARED_TAB}", schema=retyped))
    fresh = BigQuerySink(f"{dataset}_retyped", "สวนหลวง", client=client, retry_deadline=15)
    with pytest.raises(SinkError, match=f"{SHARED_TAB} column in_progress_rank is STRING"):
        fresh.write_tabs({SHARED_TAB: comparison()})
