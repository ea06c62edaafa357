"""Complaints already in the sink, read back as :class:`Complaint` objects.

An incremental run fetches only what may have changed; the tabs it writes
must still cover every month, so the tickets of earlier runs are read back
from the sink and merged with the fresh ones. Lists come back losslessly
from the long tabs (``complaint_types``, ``complaint_orgs``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pandas as pd

from etl.models import BANGKOK, Complaint

SYNC_TAB = "_sync"
"""The sync state (cursor) tab; see ``etl.traffy.incremental.SyncState``."""
TABS_READ = ("complaints", "complaint_types", "complaint_orgs", "kpi_monthly", "rejects", SYNC_TAB)

_TIMES = ("created_at", "last_activity", "inprogress_at", "finished_at")
_TEXTS = (
    "state_type", "district", "subdistrict", "province", "address", "description", "note",
    "photo_url", "after_photo_url",
)  # fmt: skip
_INTS = ("message_id", "star", "view_count")


def complaints_from_tabs(tabs: Mapping[str, pd.DataFrame]) -> list[Complaint]:
    """The complaints a previous run wrote; ``[]`` when there are none."""
    frame = tabs.get("complaints")
    if frame is None or frame.empty:
        return []
    types: dict[str, list[str]] = defaultdict(list)
    if "complaint_types" in tabs:
        for ticket, kind in tabs["complaint_types"][["ticket_id", "type"]].itertuples(index=False):
            types[ticket].append(kind)
    orgs: dict[str, list[str]] = defaultdict(list)
    acting: dict[str, list[str]] = defaultdict(list)
    if "complaint_orgs" in tabs:
        columns = ["ticket_id", "organization", "acting"]
        for ticket, org, acts in tabs["complaint_orgs"][columns].itertuples(index=False):
            orgs[ticket].append(org)
            if acts:
                acting[ticket].append(org)
    complaints = []
    for row in frame.to_dict("records"):
        ticket = str(row["ticket_id"])
        values: dict[str, Any] = {"ticket_id": ticket, "state": _text(row["state"]) or ""}
        for name in _TIMES:
            values[name] = _time(row[name])
        for name in _TEXTS:
            values[name] = _text(row[name])
        for name in _INTS:
            values[name] = None if pd.isna(row[name]) else int(row[name])
        values["count_reopen"] = 0 if pd.isna(row["count_reopen"]) else int(row["count_reopen"])
        values["lat"] = None if pd.isna(row["lat"]) else float(row["lat"])
        values["lon"] = None if pd.isna(row["lon"]) else float(row["lon"])
        values["types"] = tuple(types.get(ticket, ()))
        values["organizations"] = tuple(orgs.get(ticket, ()))
        values["organizations_acting"] = tuple(acting.get(ticket, ()))
        complaints.append(Complaint(**values))
    return complaints


def _time(value: Any) -> datetime | None:
    if value is None or pd.isna(value):
        return None
    moment: datetime = pd.Timestamp(value).to_pydatetime()
    return moment.replace(tzinfo=BANGKOK) if moment.tzinfo is None else moment


def _text(value: Any) -> str | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return str(value)
