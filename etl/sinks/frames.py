"""Typing a tab's frame by its column kinds: shared by every sink that reads text."""

from __future__ import annotations

import pandas as pd

from etl.frames import row_texts
from etl.sinks.base import TabWrite
from etl.tabs import TabSpec

_TRUE = {"true", "1", "yes"}


def typed_frame(spec: TabSpec, frame: pd.DataFrame) -> pd.DataFrame:
    """Coerce a frame of text cells (CSV, Sheets) to the tab's column kinds.

    Columns the tab does not know are dropped; missing ones come back empty,
    so a tab written by an older version still reads.
    """
    out = pd.DataFrame(index=frame.index)
    for column in spec.columns:
        raw = frame[column.name] if column.name in frame else pd.Series(pd.NA, index=frame.index)
        text = raw.astype("string").mask(raw.astype("string") == "")
        if column.kind == "text":
            out[column.name] = text.astype(object).where(text.notna(), None)
        elif column.kind == "int":
            out[column.name] = pd.to_numeric(text).astype("Int64")
        elif column.kind == "float":
            out[column.name] = pd.to_numeric(text).astype("float64")
        elif column.kind == "bool":
            out[column.name] = text.str.lower().isin(_TRUE)
        else:
            out[column.name] = pd.to_datetime(text, format="ISO8601").astype("datetime64[ns]")
    return out


def diff_rows(spec: TabSpec, old: pd.DataFrame | None, new: pd.DataFrame) -> TabWrite:
    """Rows inserted, updated and deleted between two versions of a tab, by its key."""
    new_rows = _row_texts(spec, new)
    if old is None or old.empty:
        return TabWrite(inserted=len(new_rows), cells_written=len(new_rows) * len(spec.columns))
    old_rows = _row_texts(spec, old)
    kept = new_rows.index.intersection(old_rows.index)
    updated = int((new_rows[kept] != old_rows[kept]).sum())
    inserted = len(new_rows.index.difference(old_rows.index))
    deleted = len(old_rows.index.difference(new_rows.index))
    return TabWrite(inserted, updated, deleted, (inserted + updated) * len(spec.columns))


def _row_texts(spec: TabSpec, frame: pd.DataFrame) -> pd.Series:
    """Each row as one comparable text, indexed by the row key."""
    text = typed_frame(spec, frame.astype(object).astype("string"))
    keys = row_texts(text, list(spec.key))
    rows = row_texts(text, spec.column_names)
    return pd.Series(rows.to_numpy(), index=pd.Index(keys.to_numpy())).groupby(level=0).last()
