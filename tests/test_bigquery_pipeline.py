"""`etl sync/init/doctor/report --bigquery-dataset` end to end: the real CLI, the fake
Traffy server and the local-bigquery emulator, all on 127.0.0.1."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from etl.cli import app
from etl.fakes.bigquery import LocalBigQuery, offline_environment
from etl.fakes.synthetic import SEED_TABLE, seed_months
from etl.fakes.traffy import FakeTraffy
from etl.settings import load_settings
from etl.sinks.bigquery import BigQuerySink
from etl.tabs import RUNS, TABS

runner = CliRunner()
_datasets = itertools.count()


@pytest.fixture(scope="module")
def seed_traffy() -> Iterator[FakeTraffy]:
    """The seed's six months of Suan Luang, with other districts' tickets around them."""
    with FakeTraffy(seed_months()) as server:
        yield server


@pytest.fixture
def dataset(bigquery_emulator: LocalBigQuery, monkeypatch: pytest.MonkeyPatch) -> str:
    for name, value in offline_environment({}).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ETL_BIGQUERY_API_URL", bigquery_emulator.url)
    monkeypatch.setenv("ETL_BIGQUERY_RETRY_DEADLINE", "15")
    return f"{bigquery_emulator.project}.pipeline_{next(_datasets)}"


def sync(traffy: FakeTraffy, dataset: str, *extra: str) -> str:
    result = runner.invoke(
        app,
        ["sync", "--traffy-url", traffy.url, "--since", "2023-04-01", "--until", "2023-09-15",
         "--bigquery-dataset", dataset, *extra],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return result.output


def sink(dataset: str) -> BigQuerySink:
    return BigQuerySink.from_settings(load_settings(district="สวนหลวง", bigquery_dataset=dataset))


def test_seed_months_read_back_from_kpi_monthly_and_a_resync_changes_nothing(
    seed_traffy: FakeTraffy, dataset: str, tmp_path: Path
) -> None:
    output = sync(seed_traffy, dataset)
    assert f"BigQuery dataset {dataset}" in output
    assert "bytes processed by MERGE" in output
    kpi = sink(dataset).read_tabs(["kpi_monthly"])["kpi_monthly"].set_index("month")
    for month in SEED_TABLE:
        row = kpi.loc[str(month.first)]
        assert (row["total"], row["in_progress"]) == (month.total, month.in_progress), month
    assert kpi.loc["2023-04-01", "month_th"] == "เมษายน 2566"
    assert kpi.loc["2023-04-01", "in_progress_pct"] == 2.51
    reader = sink(dataset)
    assert reader.count_rows("complaints") == sum(m.total for m in SEED_TABLE)
    months = reader.client.query_and_wait(
        f"SELECT DATE_TRUNC(month, MONTH) AS m, COUNT(*) AS n FROM `{dataset}.complaints` "
        "WHERE district = 'สวนหลวง' GROUP BY m ORDER BY m"
    )
    assert [(str(r["m"]), r["n"]) for r in months] == [(str(m.first), m.total) for m in SEED_TABLE]

    again = sync(seed_traffy, dataset)
    changed = [
        line.split()[0]
        for line in again.splitlines()
        if re.search(r"[+~-][1-9]\d* (new|changed|removed)", line)
    ]
    # The clock runs between the two syncs: meta's last_sync moves, and an open
    # ticket's age in days may tick over (open_tickets). Nothing else may change.
    assert set(changed) <= {"meta", "open_tickets"}, again
    assert "+0 new, ~0 changed, -0 removed" in again
    runs = sink(dataset).read_tabs(["_runs"])["_runs"].sort_values("started_at")
    assert runs["outcome"].tolist() == ["ok", "ok"]
    assert runs["inserted"].iloc[0] > 3000
    assert runs["inserted"].iloc[1] == runs["deleted"].iloc[1] == 0

    report = tmp_path / "report.html"
    made = runner.invoke(app, ["report", "--bigquery-dataset", dataset, "--html", str(report)])
    assert made.exit_code == 0, made.output
    assert "เมษายน 2566" in report.read_text(encoding="utf-8")


def test_init_and_doctor_on_the_dataset(seed_traffy: FakeTraffy, dataset: str) -> None:
    first = runner.invoke(app, ["init", "--bigquery-dataset", dataset, "--log-format", "json"])
    assert first.exit_code == 0, first.output
    done = json.loads(first.stdout)
    assert f"created dataset {dataset}" in done["changes"]
    assert "created table complaints" in done["changes"]
    again = runner.invoke(app, ["init", "--bigquery-dataset", dataset])
    assert again.exit_code == 0
    assert "nothing to change" in again.output
    tables = [t.table_id for t in sink(dataset).client.list_tables(dataset)]
    assert sorted(tables) == sorted([*TABS, RUNS.name])  # no staging table left behind

    checked = runner.invoke(
        app, ["doctor", "--bigquery-dataset", dataset, "--traffy-url", seed_traffy.url]
    )
    assert checked.exit_code == 0, checked.output
    assert "may write" in checked.output
    assert re.search(r"OK\s+last run\s+no run recorded yet", checked.output)
    missing = runner.invoke(app, ["doctor", "--bigquery-dataset", f"{dataset}_none"])
    assert missing.exit_code != 0
    assert "etl init" in missing.output
