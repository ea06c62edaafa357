"""The local sink: CSV round trip, typed read-back, atomic replace."""

from __future__ import annotations

import codecs
import contextlib
import os
import stat
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from etl.canonical import complaints_frame
from etl.models import BANGKOK
from etl.publish import build_tabs
from etl.settings import load_settings
from etl.sinks import LocalSink, MemorySink
from etl.sinks.base import TabWrite
from etl.sinks.frames import typed_frame
from etl.sinks.local import to_csv_text
from etl.tabs import TABS
from etl.traffy import feed_v1
from etl.transform import rejects_tab
from tests.conftest import edge_cases

NOW = datetime(2023, 6, 1, 9, 0, tzinfo=BANGKOK)


def tabs() -> dict[str, pd.DataFrame]:
    complaints = []
    for record in edge_cases():
        with contextlib.suppress(ValueError):
            complaints.append(feed_v1.to_complaint(record))
    return build_tabs(complaints_frame(complaints), load_settings(), rejects_tab([], NOW), NOW)


def test_round_trip_keeps_values_and_types(tmp_path: Path) -> None:
    written = tabs()
    sink = LocalSink(tmp_path)
    sink.write_tabs(written)
    read = sink.read_tabs(list(written))
    for name, frame in written.items():
        pd.testing.assert_frame_equal(
            read[name].reset_index(drop=True), frame.reset_index(drop=True), check_dtype=False
        )
    assert read["complaints"]["created_at"].dtype.kind == "M"
    assert read["complaints"]["message_id"].dtype == "Int64"


def test_missing_tab_is_absent_not_empty(tmp_path: Path) -> None:
    assert LocalSink(tmp_path).read_tabs(["complaints"]) == {}


def test_configured_tab_names_name_the_files(tmp_path: Path) -> None:
    LocalSink(tmp_path, names={"complaints": "เรื่องร้องเรียน"}).write_tabs(
        {"complaints": tabs()["complaints"]}
    )
    assert (tmp_path / "เรื่องร้องเรียน.csv").is_file()


def test_replace_leaves_no_temporary_files(tmp_path: Path) -> None:
    sink = LocalSink(tmp_path)
    sink.write_tabs(tabs())
    sink.write_tabs(tabs())
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{name}.csv" for name in tabs())


def test_files_are_utf8_with_a_bom_and_the_text_of_to_csv_text(tmp_path: Path) -> None:
    written = tabs()
    LocalSink(tmp_path).write_tabs(written)
    for name in ("complaints", "complaint_orgs"):
        raw = (tmp_path / f"{name}.csv").read_bytes()
        assert raw.startswith(codecs.BOM_UTF8)
        assert raw[3:].decode("utf-8") == to_csv_text(TABS[name], written[name])


def test_counts_of_a_second_write_equal_the_typed_diff(tmp_path: Path) -> None:
    """The sink counts changes on the CSV texts of the rows; the memory sink on typed
    values. Both must agree: updated, inserted, deleted rows, two-column keys, and a
    key written twice (the last row counts)."""
    first = tabs()
    sink, memory = LocalSink(tmp_path), MemorySink()
    sink.write_tabs(first)
    memory.write_tabs(first)
    second = {name: frame.copy() for name, frame in first.items()}
    complaints = second["complaints"]
    complaints.loc[0, "description"] = 'edited, with "quotes"\nand a line'
    complaints.loc[1, "finished_at"] = pd.Timestamp("2023-05-31 17:00:01")
    second["complaints"] = pd.concat(
        [complaints.iloc[1:], complaints.iloc[[1]].assign(ticket_id="2023-NEWONE")],
        ignore_index=True,
    )  # row 0 deleted, row 1 updated, one inserted
    orgs = second["complaint_orgs"]
    second["complaint_orgs"] = pd.concat([orgs, orgs.iloc[[0]]], ignore_index=True)
    second["complaint_orgs"].loc[len(orgs), "acting"] = not bool(orgs.iloc[0]["acting"])
    expected = memory.write_tabs(second).tabs
    counted = sink.write_tabs(second).tabs
    assert counted == expected
    assert counted["complaints"] == TabWrite(1, 1, 1, 2 * len(TABS["complaints"].columns))
    assert counted["complaint_orgs"].updated == 1
    assert sum(t.inserted + t.updated + t.deleted for t in counted.values()) > 3


def test_text_cells_are_typed_by_the_tab_whatever_their_python_type() -> None:
    """CSV gives text; other readers may hand numbers, booleans or NaN: all are typed
    by the tab's column kinds, blank and missing cells alike become missing."""
    raw = pd.DataFrame(
        {
            "ticket_id": ["2023-AAAAAA", "2023-BBBBBB", "2023-CCCCCC"],
            "message_id": ["12", 13, ""],
            "created_at": ["2023-04-01 08:00:00", "2023-04-02", None],
            "lat": ["13.7", 13.75, float("nan")],
            "star": [5.0, "", None],
            "description": ["", None, 42],
            "unknown_column": ["dropped", "dropped", "dropped"],
        },
        dtype=object,
    )
    spec = TABS["complaints"]
    typed = typed_frame(spec, raw)
    assert list(typed.columns) == spec.column_names
    assert typed["message_id"].tolist() == [12, 13, pd.NA]
    assert str(typed["message_id"].dtype) == "Int64"
    assert typed["created_at"].tolist()[:2] == [
        pd.Timestamp("2023-04-01 08:00:00"),
        pd.Timestamp("2023-04-02"),
    ]
    assert pd.isna(typed["created_at"].iloc[2])
    assert typed["lat"].tolist()[:2] == [13.7, 13.75]
    assert pd.isna(typed["lat"].iloc[2])
    assert typed["star"].tolist() == [5, pd.NA, pd.NA]
    assert typed["description"].tolist() == [None, None, "42"]
    assert typed["province"].tolist() == [None, None, None]  # absent: empty, still typed


@contextlib.contextmanager
def umask(mask: int) -> Iterator[None]:
    """The process umask set to `mask` for the block, then restored."""
    before = os.umask(mask)
    try:
        yield
    finally:
        os.umask(before)


@pytest.mark.parametrize(
    ("mask", "mode"),
    [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)],
    ids=["umask-022", "umask-002", "umask-077"],
)
def test_files_get_the_permissions_of_a_plain_write(tmp_path: Path, mask: int, mode: int) -> None:
    sink = LocalSink(tmp_path)
    with umask(mask):
        sink.write_tabs(tabs())
        plain = tmp_path / "plain.txt"
        plain.write_text("x")
    assert stat.S_IMODE(plain.stat().st_mode) == mode
    for path in tmp_path.glob("*.csv"):
        assert stat.S_IMODE(path.stat().st_mode) == mode, path.name
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_a_replaced_file_keeps_its_permissions(tmp_path: Path) -> None:
    """Like ``open(path, "w")`` on an existing file: an analyst's chmod survives a sync."""
    sink = LocalSink(tmp_path)
    written = tabs()
    with umask(0o022):
        sink.write_tabs(written)
        (tmp_path / "complaints.csv").chmod(0o640)
        sink.write_tabs({"complaints": written["complaints"].iloc[:1]})
    assert stat.S_IMODE((tmp_path / "complaints.csv").stat().st_mode) == 0o640
    assert len(sink.read_tabs(["complaints"])["complaints"]) == 1
