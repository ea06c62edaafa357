"""Shared fixtures: a clean environment and a fake Traffy server with the test tickets."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from etl.fakes.sheets import FakeSheetsServer
from etl.fakes.synthetic import SEED_TABLE, TicketFactory
from etl.fakes.traffy import FakeTraffy

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No ETL_* variable of the developer's shell leaks into a test; fast retries."""
    import os

    for name in list(os.environ):
        if name.startswith("ETL_") or name == "GOOGLE_APPLICATION_CREDENTIALS":
            monkeypatch.delenv(name)
    monkeypatch.setenv("ETL_RETRY_BACKOFF_INITIAL", "0.01")
    monkeypatch.setenv("ETL_RETRY_BACKOFF_MAX", "0.05")
    # The fake spreadsheet has no quota: the shared limiter (sheets_quota) is tested
    # with its own clock in test_city.py; here it must not make tests wait minutes.
    monkeypatch.setenv("ETL_SHEETS_REQUESTS_PER_MINUTE", "100000")
    monkeypatch.chdir(tmp_path)


@pytest.fixture(autouse=True)
def fresh_logger() -> Iterator[None]:
    """A CLI run points the ``etl`` logger at its runner's stream, closed once it
    returns: later tests of the same process must not log into it."""
    import logging

    logger = logging.getLogger("etl")
    handlers, level, propagate = logger.handlers[:], logger.level, logger.propagate
    yield
    logger.handlers[:], logger.level, logger.propagate = handlers, level, propagate


def edge_cases() -> list[dict[str, Any]]:
    """The hand-written edge-case features (see the file's ``about``)."""
    data = json.loads((FIXTURES / "feed1_edge_cases.json").read_text(encoding="utf-8"))
    features: list[dict[str, Any]] = data["features"]
    return features


def april_2566() -> list[dict[str, Any]]:
    """Suan Luang's April 2566 as the seed reports it: 398 tickets, 10 in progress."""
    return list(TicketFactory(seed=4).month(SEED_TABLE[0], "สวนหลวง"))


@pytest.fixture
def features() -> list[dict[str, Any]]:
    return april_2566() + edge_cases()


@pytest.fixture
def traffy(features: list[dict[str, Any]]) -> Iterator[FakeTraffy]:
    with FakeTraffy(features) as server:
        yield server


@pytest.fixture
def sheets(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSheetsServer]:
    """The fake Sheets API, with the environment pointing the CLI and gspread at it and
    retries that do not wait."""
    with FakeSheetsServer() as server:
        monkeypatch.setenv("ETL_SHEETS_API_URL", server.url)
        monkeypatch.setenv("ETL_SHEETS_RETRY_BACKOFF_INITIAL", "0.001")
        monkeypatch.setenv("ETL_SHEETS_RETRY_BACKOFF_MAX", "0.01")
        yield server


@pytest.fixture(scope="session")
def bigquery_emulator() -> Iterator[Any]:
    """One ``local-bigquery`` server for the whole run (``etl.fakes.bigquery``): free
    ports, a fresh data folder, no route beyond 127.0.0.1. Tests use their own datasets."""
    from etl.fakes.bigquery import LocalBigQuery

    with LocalBigQuery() as emulator:
        yield emulator
