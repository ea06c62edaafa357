"""Complaints -> the normalized tabs. Pure pandas: no I/O, no clock.

Times leave here as naive datetime64 in Bangkok wall time, the shape every
sink expects (see ``etl.sinks.base.Sink``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime

import pandas as pd

from etl.frames import row_texts
from etl.models import BANGKOK, Complaint, Reject
from etl.tabs import TABS
from etl.traffy.extract import gc_paused, raw_json

TRAFFY_TICKET_URL = "https://share.traffy.in.th/teamchadchart?case_id="

STATE_TYPE_GROUPS = {
    "start": "waiting",
    "inprogress": "in_progress",
    "forward": "forwarded",
    "follow": "following",
    "finish": "finished",
    "irrelevant": "irrelevant",
}
"""Fallback when a Thai state is not in the config: the feed's own state_type."""

SECTION_PREFIX = "ฝ่าย"


def complaints_frame(complaints: Sequence[Complaint]) -> pd.DataFrame:
    """The complaints as one frame with the canonical fields (lists kept as tuples).

    The collector is paused: with a million ``Complaint`` objects alive, each full
    collection the row tuples trigger walks all of them (a fifth of the time at 200,000).
    """
    columns = list(Complaint.model_fields)
    with gc_paused():
        frame = pd.DataFrame.from_records(
            [tuple(getattr(c, name) for name in columns) for c in complaints], columns=columns
        )
    for name in ("created_at", "last_activity", "inprogress_at", "finished_at"):
        frame[name] = bangkok_wall_time(frame[name])
    return frame


def bangkok_wall_time(values: pd.Series) -> pd.Series:
    """Aware datetimes (any zone) -> naive datetime64 in Bangkok wall time."""
    moments = pd.to_datetime(values, utc=True)
    return moments.dt.tz_convert(BANGKOK).dt.tz_localize(None).astype("datetime64[ns]")


def state_groups(states: pd.Series, state_types: pd.Series, groups: Mapping[str, str]) -> pd.Series:
    """Each ticket's state group: the configured Thai state first, then state_type."""
    by_state = states.map(groups)
    by_type = state_types.map(STATE_TYPE_GROUPS)
    return by_state.fillna(by_type).fillna("unknown").astype(object)


def complaints_tab(frame: pd.DataFrame, groups: Mapping[str, str]) -> pd.DataFrame:
    """Tab ``complaints``: one row per ticket, lists joined for reading."""
    if frame.empty:
        return TABS["complaints"].empty()
    out = pd.DataFrame(index=frame.index)
    out["ticket_id"] = frame["ticket_id"]
    out["message_id"] = frame["message_id"].astype("Int64")
    out["created_at"] = frame["created_at"]
    out["month"] = frame["created_at"].dt.to_period("M").dt.to_timestamp()
    out["state"] = frame["state"]
    out["state_group"] = state_groups(frame["state"], frame["state_type"], groups)
    out["state_type"] = frame["state_type"]
    out["types"] = _joined(frame["types"])
    out["organizations"] = _joined(frame["organizations"])
    out["sections"] = pd.Series(
        [
            _join([o for o in orgs if o.startswith(SECTION_PREFIX)])
            for orgs in frame["organizations"]
        ],
        index=frame.index,
        dtype=object,
    )
    for name in ("district", "subdistrict", "province", "address", "description", "note"):
        out[name] = frame[name]
    out["lat"] = frame["lat"].astype("float64")
    out["lon"] = frame["lon"].astype("float64")
    out["latlong"] = pd.Series(
        [
            None if lat != lat or lon != lon else f"{lat:.6f},{lon:.6f}"  # NaN: no location
            for lat, lon in zip(out["lat"].tolist(), out["lon"].tolist(), strict=True)
        ],
        index=frame.index,
        dtype=object,
    )
    out["photo_url"] = frame["photo_url"]
    out["after_photo_url"] = frame["after_photo_url"]
    out["traffy_url"] = TRAFFY_TICKET_URL + frame["ticket_id"].astype(str)
    out["count_reopen"] = frame["count_reopen"].astype("Int64")
    out["star"] = frame["star"].astype("Int64")
    out["view_count"] = frame["view_count"].astype("Int64")
    for name in ("last_activity", "inprogress_at", "finished_at"):
        out[name] = frame[name]
    return _conform("complaints", out.reset_index(drop=True))


def complaint_types_tab(frame: pd.DataFrame) -> pd.DataFrame:
    """Tab ``complaint_types``: one row per ticket and type, for breakdowns."""
    if frame.empty:
        return TABS["complaint_types"].empty()
    long = frame[["ticket_id", "types"]].explode("types").dropna(subset=["types"])
    long = long.rename(columns={"types": "type"}).drop_duplicates()
    return _conform("complaint_types", long.reset_index(drop=True))


def complaint_orgs_tab(frame: pd.DataFrame) -> pd.DataFrame:
    """Tab ``complaint_orgs``: one row per ticket and agency it was routed to."""
    if frame.empty:
        return TABS["complaint_orgs"].empty()
    with gc_paused():
        tickets, names, acting = _org_rows(frame)
    long = pd.DataFrame(
        {
            "ticket_id": pd.Series(tickets, dtype=object),
            "organization": pd.Series(names, dtype=object),
            "is_section": pd.Series([o.startswith(SECTION_PREFIX) for o in names], dtype=bool),
            "acting": pd.Series(acting, dtype=bool),
        }
    )
    return _conform("complaint_orgs", long)


def _org_rows(frame: pd.DataFrame) -> tuple[list[str], list[str], list[bool]]:
    """Ticket, agency and whether it acted, each pair once, in ticket then list order.

    One pass in plain Python: explode + a set of (ticket, agency) pairs + a lookup per
    row cost three times as much for all of Bangkok (3 million rows).
    """
    tickets: list[str] = []
    names: list[str] = []
    acting: list[bool] = []
    unique_tickets = frame["ticket_id"].is_unique
    seen: set[tuple[str, str]] = set()
    for ticket, orgs, acted in zip(
        frame["ticket_id"].tolist(),
        frame["organizations"].tolist(),
        frame["organizations_acting"].tolist(),
        strict=True,
    ):
        mine: set[str] = set()
        for org in orgs:
            if org is None or org in mine:
                continue
            if not unique_tickets:
                if (ticket, org) in seen:
                    continue
                seen.add((ticket, org))
            mine.add(org)
            tickets.append(ticket)
            names.append(org)
            acting.append(org in acted)
    return tickets, names, acting


def reject_id(raw: object) -> str:
    """A reject's key: the hash of its raw JSON, so a record seen again is the same row."""
    return hashlib.sha1(raw_json(raw).encode()).hexdigest()[:16]


def rejects_tab(rejects: Sequence[Reject], rejected_at: datetime) -> pd.DataFrame:
    """Tab ``rejects``: every invalid record with its reason and raw JSON."""
    rows = []
    for reject in rejects:
        text = raw_json(reject.raw)
        rows.append(
            {
                "reject_id": reject_id(reject.raw),
                "ticket_id": reject.ticket_id,
                "reason": reject.reason,
                "source": reject.source,
                "raw_json": text,
                "rejected_at": rejected_at,
            }
        )
    if not rows:
        return TABS["rejects"].empty()
    out = pd.DataFrame(rows, columns=TABS["rejects"].column_names)
    out["rejected_at"] = bangkok_wall_time(out["rejected_at"])
    return _conform("rejects", out.drop_duplicates(subset=["reject_id"]).reset_index(drop=True))


def _join(items: Sequence[str]) -> str | None:
    return ", ".join(items) if items else None


def _joined(values: pd.Series) -> pd.Series:
    return pd.Series([_join(items) for items in values], index=values.index, dtype=object)


def _conform(tab: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Exactly the tab's columns, in the contract's order; missing text is ``None``."""
    spec = TABS[tab]
    out = frame[spec.column_names].copy()
    for column in spec.columns:
        if column.kind == "text":
            values = out[column.name].astype(object)
            out[column.name] = values.where(values.notna(), None)
    return out


def carry_stamps(
    new: pd.DataFrame, old: pd.DataFrame | None, key: list[str], stamp: str
) -> pd.DataFrame:
    """Keep the previous ``stamp`` of rows whose other values did not change.

    ``as_of`` and ``rejected_at`` say when a row's content was produced; a
    re-run that changes nothing must not restamp it, or every sync would
    rewrite every row (and history would record changes that never happened).
    """
    if old is None or old.empty or new.empty:
        return new
    compared = [c for c in new.columns if c != stamp]
    previous = pd.Series(old[stamp].to_numpy(), index=row_texts(old, compared).to_numpy())
    previous = previous[~previous.index.duplicated(keep="last")]
    kept = row_texts(new, compared).map(previous)
    out = new.copy()
    out[stamp] = kept.where(kept.notna(), new[stamp]).astype(new[stamp].dtype)
    return out
