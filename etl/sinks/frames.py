"""Typing a tab's frame by its column kinds: shared by every sink that reads text."""

from __future__ import annotations

import pandas as pd

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
