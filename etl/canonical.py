"""The canonical complaints frame: what validation hands to the transform.

One row per ticket, the fields of :class:`etl.models.Complaint` as columns
(lists as tuples, times as naive ``datetime64[ns]`` in Bangkok wall time).
Extraction builds it straight from raw records (``etl.traffy.extract``), the
transform only reads it: both import it from here, neither from the other.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pandas as pd

from etl.frames import bangkok_wall_time, gc_paused
from etl.models import Complaint

COLUMNS = tuple(Complaint.model_fields)
"""The canonical frame's columns: :class:`Complaint`'s fields, in order."""

TIME_COLUMNS = ("created_at", "last_activity", "inprogress_at", "finished_at")
"""Columns held as naive ``datetime64[ns]`` in Bangkok wall time."""


def complaints_frame(complaints: Sequence[Complaint]) -> pd.DataFrame:
    """The complaints as one frame with the canonical fields (lists kept as tuples).

    The collector is paused: with a million ``Complaint`` objects alive, each full
    collection the row tuples trigger walks all of them (a fifth of the time at 200,000).
    """
    columns = list(COLUMNS)
    with gc_paused():
        frame = pd.DataFrame.from_records(
            [tuple(getattr(c, name) for name in columns) for c in complaints], columns=columns
        )
    for name in TIME_COLUMNS:
        frame[name] = bangkok_wall_time(frame[name])
    return frame


def raw_json(record: Any) -> str:
    """The raw record as compact JSON text, Thai kept readable."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str)
