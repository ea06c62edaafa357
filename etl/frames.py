"""Small frame helpers shared by the transform and the sinks."""

from __future__ import annotations

import pandas as pd


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
