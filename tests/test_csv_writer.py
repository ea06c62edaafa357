"""The local sink's CSV writer is byte-identical to its definition: ``DataFrame.to_csv``
after ``strftime`` of the date columns (what it was before it was made fast)."""

from __future__ import annotations

import io
from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest

from etl.canonical import COLUMNS, TIME_COLUMNS
from etl.fakes.synthetic import SyntheticBangkok
from etl.models import BANGKOK
from etl.publish import build_tabs
from etl.settings import load_settings
from etl.sinks.local import _SEPARATOR, _SPECIAL, CHUNK_ROWS, _iso_cells, csv_chunks, to_csv_text
from etl.tabs import TABS, TabSpec
from etl.traffy import feed_v1
from etl.traffy.extract import row_of
from etl.transform import rejects_tab
from tests.test_local_sink import tabs as edge_tabs

NOW = datetime(2025, 12, 31, 9, 0, tzinfo=BANGKOK)


def definition(spec: TabSpec, frame: pd.DataFrame) -> str:
    """``to_csv`` with ISO dates by ``strftime``: the bytes the sink must write."""
    out = frame.copy()
    for column in spec.columns:
        if column.kind == "date":
            out[column.name] = out[column.name].dt.strftime("%Y-%m-%d")
        elif column.kind == "datetime":
            out[column.name] = out[column.name].dt.strftime("%Y-%m-%d %H:%M:%S")
    buffer = io.StringIO()
    out.to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue()


def synthetic_tabs() -> dict[str, pd.DataFrame]:
    bangkok = SyntheticBangkok(3, first=date(2024, 1, 1), years=0.5, odd_share=0.2)
    rows = []
    for record in bangkok.features(3_000):
        row = feed_v1.fast_row(record, {})
        if row is None:
            try:
                row = row_of(feed_v1.to_complaint(record))
            except ValueError:
                continue
        rows.append(row)
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    for name in TIME_COLUMNS:
        frame[name] = pd.to_datetime(frame[name]).astype("datetime64[ns]")
    return build_tabs(frame, load_settings(), rejects_tab([], NOW), NOW)


@pytest.mark.parametrize("source", ["edge cases", "synthetic"])
def test_every_tab_is_written_as_to_csv_writes_it(source: str) -> None:
    written = edge_tabs() if source == "edge cases" else synthetic_tabs()
    for name, frame in written.items():
        assert to_csv_text(TABS[name], frame) == definition(TABS[name], frame), name


def test_awkward_cells_are_written_as_to_csv_writes_them() -> None:
    spec = TABS["complaints"]
    frame = edge_tabs()["complaints"]
    frame = pd.concat([frame] * 3, ignore_index=True).iloc[:7].copy()
    texts = ["a,b", 'say "hi"', "two\nlines", "cr\rhere", "", " padded ", "ไทย, ค่ะ", None]
    frame["description"] = (texts * 2)[:7]
    frame["note"] = pd.Series([None, "x", np.nan, "", '"', ",", "\t"], dtype=object)
    frame["lat"] = [1e16, 1e-5, 0.1, -0.0, np.nan, 13.72158, 2 / 3]
    frame["star"] = pd.array([1, None, 5, 2, None, 3, 4], dtype="Int64")
    frame["count_reopen"] = pd.array([0, 1, 2, 3, 4, 5, 6], dtype="Int64")
    moments = ["2023-04-10 03:45:22.999999", None, "1969-12-31 23:59:59.5", "2262-04-10 00:00:00",
               "1677-09-22 00:00:01", "2024-02-29 12:00:00", "2000-01-01"]  # fmt: skip
    frame["finished_at"] = pd.to_datetime(moments, format="ISO8601").astype("datetime64[ns]")
    frame["month"] = pd.to_datetime(["2023-04-01"] * 6 + [None]).astype("datetime64[us]")
    assert to_csv_text(spec, frame) == definition(spec, frame)


def test_chunks_and_empty_tabs_are_written_whole() -> None:
    frame = synthetic_tabs()["complaint_orgs"]
    big = pd.concat([frame] * (CHUNK_ROWS // len(frame) + 2), ignore_index=True)
    assert to_csv_text(TABS["complaint_orgs"], big) == definition(TABS["complaint_orgs"], big)
    empty = TABS["complaints"].empty()
    assert to_csv_text(TABS["complaints"], empty) == definition(TABS["complaints"], empty)
    assert "".join(csv_chunks(TABS["complaints"], empty, header=False)) == ""


def test_iso_text_equals_strftime_over_the_whole_datetime64_range() -> None:
    rng = np.random.default_rng(1)
    low, high = pd.Timestamp("1677-09-22").value, pd.Timestamp("2262-04-11").value
    moments = pd.Series(rng.integers(low, high, 20_000).astype("datetime64[ns]"))
    assert _iso_cells(moments.to_numpy(), "datetime") == list(
        moments.dt.strftime("%Y-%m-%d %H:%M:%S")
    )
    assert _iso_cells(moments.to_numpy(), "date") == list(moments.dt.strftime("%Y-%m-%d"))


@pytest.mark.parametrize(
    "texts",
    [
        ["ฝ่ายโยธา, เขตสวนหลวง", "ฝ่ายรักษาความสะอาด", None, ""] * 50,  # few values, some quoted
        [f'{i},"{i}"' if i % 3 else str(i) for i in range(200)],  # many values, some quoted
        [f"plain {i}" for i in range(200)],  # nothing to quote
        ["a", 1, 2.5, None, "b,c", pd.Timestamp("2024-01-02")] * 10,  # not all text
        [f"x{_SEPARATOR}y", "p,q", np.nan, "z"] * 30,  # the joining character itself
    ],
    ids=["few-distinct", "many-distinct", "plain", "mixed-objects", "separator"],
)
def test_text_columns_are_quoted_as_to_csv_quotes_them(texts: list[object]) -> None:
    spec = TABS["complaints"]
    frame = pd.concat([edge_tabs()["complaints"]] * len(texts), ignore_index=True)
    frame = frame.iloc[: len(texts)].copy()
    frame["description"] = pd.Series(texts, dtype=object)
    frame["sections"] = pd.Series(texts, dtype=object).astype("str")
    assert to_csv_text(spec, frame) == definition(spec, frame)


def test_the_joining_character_is_never_quoted() -> None:
    assert _SPECIAL.search(_SEPARATOR) is None
