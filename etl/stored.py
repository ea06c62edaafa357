"""Complaints already in the sink, read back as the canonical complaints frame.

An incremental run fetches only what may have changed; the tabs it writes
must still cover every month, so the tickets of earlier runs are read back
from the sink and merged with the fresh ones. Lists come back losslessly
from the long tabs (``complaint_types``, ``complaint_orgs``). No Complaint
object is built per stored ticket: the merge works on frames.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

import pandas as pd

from etl.canonical import COLUMNS, TIME_COLUMNS

SYNC_TAB = "_sync"
"""The sync state (cursor) tab; see ``etl.traffy.incremental.SyncState``."""
TABS_READ = ("complaints", "complaint_types", "complaint_orgs", "kpi_monthly", "rejects", SYNC_TAB)

_LISTS = ("types", "organizations", "organizations_acting")


def complaints_from_tabs(tabs: Mapping[str, pd.DataFrame]) -> pd.DataFrame | None:
    """The complaints a previous run wrote as a canonical frame; None when there are none."""
    tab = tabs.get("complaints")
    if tab is None or tab.empty:
        return None
    tab = tab.reset_index(drop=True)
    ids = tab["ticket_id"].astype(str)
    frame = pd.DataFrame(
        {name: tab[name] for name in COLUMNS if name not in _LISTS}, index=tab.index
    )
    frame["ticket_id"] = ids
    frame["state"] = tab["state"].fillna("")
    frame["count_reopen"] = tab["count_reopen"].fillna(0).astype("int64")
    for name in TIME_COLUMNS:
        frame[name] = frame[name].astype("datetime64[ns]")
    types = tabs.get("complaint_types")
    orgs = tabs.get("complaint_orgs")
    frame["types"] = _tuples(ids, types, "type")
    frame["organizations"] = _tuples(ids, orgs, "organization")
    acting = None if orgs is None else orgs[orgs["acting"].fillna(False).astype(bool)]
    frame["organizations_acting"] = _tuples(ids, acting, "organization")
    return frame[list(COLUMNS)]


def _tuples(ids: pd.Series, long: pd.DataFrame | None, column: str) -> pd.Series:
    """Each ticket's values of a long tab, in the tab's order, as a tuple (``()`` for none).

    A plain loop: a groupby aggregating to tuples calls Python per group anyway, slower.
    """
    empty: tuple[str, ...] = ()
    if long is None or long.empty:
        return pd.Series([empty] * len(ids), index=ids.index, dtype=object)
    values = long[["ticket_id", column]].dropna()
    lists: dict[str, list[str]] = defaultdict(list)
    for ticket, value in zip(values["ticket_id"].tolist(), values[column].tolist(), strict=True):
        lists[str(ticket)].append(value)
    return pd.Series(
        [tuple(lists[i]) if i in lists else empty for i in ids.tolist()],
        index=ids.index,
        dtype=object,
    )
