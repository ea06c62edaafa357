"""`etl demo`: the offline sync reproduces the office's table of fiscal 2566."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from etl.cli import app

SEED = [  # month, month_th, total, in_progress, in_progress_pct, as the seed reports them
    ("2023-04-01", "เมษายน 2566", "398", "10", "2.51"),
    ("2023-05-01", "พฤษภาคม 2566", "535", "23", "4.3"),
    ("2023-06-01", "มิถุนายน 2566", "570", "37", "6.49"),
    ("2023-07-01", "กรกฎาคม 2566", "753", "37", "4.91"),
    ("2023-08-01", "สิงหาคม 2566", "546", "50", "9.16"),
    ("2023-09-01", "กันยายน 2566", "242", "35", "14.46"),
]


def test_demo_reproduces_the_seed_table_offline_in_local_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A configured spreadsheet must not receive sample data.
    monkeypatch.setenv("ETL_SPREADSHEET_ID", "the-office-spreadsheet")
    monkeypatch.setenv("ETL_SHEETS_API_URL", "http://127.0.0.1:9")
    result = CliRunner().invoke(app, ["demo"])
    assert result.exit_code == 0, result.output
    kpi = pd.read_csv(
        tmp_path / "output" / "demo" / "kpi_monthly.csv", dtype=str, encoding="utf-8-sig"
    )
    columns = ["month", "month_th", "total", "in_progress", "in_progress_pct"]
    assert [tuple(row) for row in kpi[columns].itertuples(index=False)] == SEED
