"""Small frame helpers shared by the transform and the sinks."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd

from etl.models import BANGKOK


def row_texts(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    """Each row's ``columns`` as one comparable text (missing values as empty text).

    Vectorised: comparing rows of two versions of a tab is then one string
    comparison per row, not a Python loop over cells.
    """
    text = frame[columns].astype(object).astype("string").fillna("")
    first, *rest = columns
    if not rest:
        return text[first]
    others: list[pd.Series] = [text[c] for c in rest]
    return text[first].str.cat(others, sep="\x1f")  # type: ignore[arg-type]


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector during a bulk job that makes no cycles.

    Parsing and validating pages, building tabs and writing CSV rows make millions of
    short-lived containers, which keeps triggering full collections, and each walks
    every object kept so far (a million tickets' tuples): for a million tickets that
    was 30 s of 70 of extraction (86 full collections, measured).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def by_creation(frame: pd.DataFrame) -> np.ndarray[Any, np.dtype[np.intp]]:
    """Positions ordering ``frame`` by creation time then ticket id, ties kept in order:
    ``sort_values(["created_at", "ticket_id"], kind="stable")`` without sorting a million
    ids as text (tickets come nearly ordered by creation; only rows created the same
    moment are compared by id)."""
    created = frame["created_at"].to_numpy("datetime64[ns]").astype("int64")
    rows = np.argsort(created, kind="stable")
    ordered = created[rows]
    tickets = frame["ticket_id"].to_numpy(dtype=object)
    tied = np.flatnonzero(ordered[1:] == ordered[:-1])
    if tied.size:
        starts = tied[np.r_[True, tied[1:] != tied[:-1] + 1]]
        ends = tied[np.r_[tied[1:] != tied[:-1] + 1, True]] + 2
        for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
            rows[start:end] = sorted(rows[start:end].tolist(), key=tickets.__getitem__)
    return rows


def bangkok_wall_time(values: pd.Series) -> pd.Series:
    """Aware datetimes (any zone) -> naive datetime64 in Bangkok wall time."""
    moments = pd.to_datetime(values, utc=True)
    return moments.dt.tz_convert(BANGKOK).dt.tz_localize(None).astype("datetime64[ns]")
