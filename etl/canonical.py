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

TEXT_COLUMNS = tuple(
    name for name, field in Complaint.model_fields.items() if field.annotation in (str, str | None)
)
"""Columns of texts, held as Python objects: pandas 3 would copy every text into Arrow
when pyarrow is installed (the BigQuery extra), which doubled the extraction's peak
memory (1.9 -> 3.8 GB for a million tickets) for no gain: the tabs are built from
them once."""


def complaints_frame(complaints: Sequence[Complaint]) -> pd.DataFrame:
    """The complaints as one frame with the canonical fields (lists kept as tuples).

    The collector is paused: with a million ``Complaint`` objects alive, each full
    collection the row tuples trigger walks all of them (a fifth of the time at 200,000).
    """
    with gc_paused():
        data = {name: [getattr(c, name) for c in complaints] for name in COLUMNS}
        frame = pd.DataFrame(
            {
                name: pd.Series(values, dtype=object) if name in TEXT_COLUMNS else values
                for name, values in data.items()
            },
            columns=list(COLUMNS),
        )
    for name in TIME_COLUMNS:
        frame[name] = bangkok_wall_time(frame[name])
    return frame


def raw_json(record: Any) -> str:
    """The raw record as compact JSON text, Thai kept readable."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str)
