"""Complaints -> the normalized tabs. Pure pandas: no I/O, no clock.

Times leave here as naive datetime64 in Bangkok wall time, the shape every
sink expects (see ``etl.sinks.base.Sink``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

import pandas as pd

from etl.canonical import raw_json
from etl.frames import bangkok_wall_time, gc_paused, row_texts
from etl.models import Reject
from etl.tabs import TABS

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
    out["sections"] = _per_list(frame["organizations"], _sections)
    for name in ("district", "subdistrict", "province", "address", "description", "note"):
        out[name] = frame[name]
    out["lat"] = frame["lat"].astype("float64")
    out["lon"] = frame["lon"].astype("float64")
    out["latlong"] = pd.Series(
        list(map(_latlong, out["lat"].tolist(), out["lon"].tolist())),
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
    """Tab ``complaint_types``: one row per ticket and type, for breakdowns.

    Each (ticket, type) pair once, in ticket then list order: what explode +
    ``drop_duplicates`` gives, in one pass (see ``_org_rows``).
    """
    if frame.empty:
        return TABS["complaint_types"].empty()
    with gc_paused():
        tickets, types, _ = _pairs(frame["ticket_id"], frame["types"], None)
    long = pd.DataFrame(
        {"ticket_id": pd.Series(tickets, dtype=object), "type": pd.Series(types, dtype=object)}
    )
    return _conform("complaint_types", long)


def complaint_orgs_tab(frame: pd.DataFrame) -> pd.DataFrame:
    """Tab ``complaint_orgs``: one row per ticket and agency it was routed to."""
    if frame.empty:
        return TABS["complaint_orgs"].empty()
    with gc_paused():
        tickets, names, acting = _pairs(
            frame["ticket_id"], frame["organizations"], frame["organizations_acting"]
        )
        sections = {name: name.startswith(SECTION_PREFIX) for name in set(names)}
        is_section = [sections[name] for name in names]
    long = pd.DataFrame(
        {
            "ticket_id": pd.Series(tickets, dtype=object),
            "organization": pd.Series(names, dtype=object),
            "is_section": pd.Series(is_section, dtype=bool),
            "acting": pd.Series(acting, dtype=bool),
        }
    )
    return _conform("complaint_orgs", long)


def _pairs(
    tickets: pd.Series, lists: pd.Series, acting: pd.Series | None
) -> tuple[list[str], list[str], list[bool]]:
    """Ticket and item (and whether the item is in ``acting``'s list), each pair once, in
    ticket then list order: explode + ``drop_duplicates`` of (ticket, item), in one pass.

    Lists are shared among tickets (the extraction keeps one copy of each), so each
    distinct list is cleaned (missing and repeated items dropped) once; a set of pairs
    is only needed when a ticket id repeats. Explode + a set of pairs + a lookup per
    row cost three times as much for all of Bangkok (3 million rows).
    """
    out_tickets: list[str] = []
    items: list[str] = []
    flags: list[bool] = []
    unique_tickets = tickets.is_unique
    seen: set[tuple[str, str]] = set()
    cleaned: dict[int, tuple[str, ...]] = {}  # by id: the lists live as long as the frame
    acted_lists = acting.tolist() if acting is not None else [()] * len(tickets)
    for ticket, names, acted in zip(tickets.tolist(), lists.tolist(), acted_lists, strict=True):
        mine = cleaned.get(id(names))
        if mine is None:
            mine = cleaned[id(names)] = tuple(
                dict.fromkeys(name for name in names if name is not None)
            )
        for name in mine:
            if not unique_tickets:
                if (ticket, name) in seen:
                    continue
                seen.add((ticket, name))
            out_tickets.append(ticket)
            items.append(name)
            if acting is not None:
                flags.append(name in acted)
    return out_tickets, items, flags


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


def _sections(orgs: Sequence[str]) -> str | None:
    return _join([o for o in orgs if o.startswith(SECTION_PREFIX)])


def _joined(values: pd.Series) -> pd.Series:
    return _per_list(values, _join)


def _per_list(values: pd.Series, text: Callable[[Sequence[str]], str | None]) -> pd.Series:
    """``text`` of each row's list, computed once per distinct list object: the extraction
    shares lists among tickets, so a million tickets hold a few thousand of them, and the
    rows then share the text too."""
    memo: dict[int, str | None] = {}  # by id: the lists live as long as ``values``
    out = []
    for items in values.tolist():
        key = id(items)
        if key in memo:
            out.append(memo[key])
        else:
            out.append(memo.setdefault(key, text(items)))
    return pd.Series(out, index=values.index, dtype=object)


def _latlong(lat: float, lon: float) -> str | None:
    return None if lat != lat or lon != lon else f"{lat:.6f},{lon:.6f}"  # NaN: no location


def _conform(tab: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Exactly the tab's columns, in the contract's order; missing text is ``None``."""
    spec = TABS[tab]
    out = frame[spec.column_names].copy()
    for column in spec.columns:
        if column.kind == "text":
            out[column.name] = _text_column(out[column.name])
    return out


def _text_column(values: pd.Series) -> pd.Series:
    """Object values with ``None`` for every missing one (NaN, NA, None)."""
    array = values.to_numpy(dtype=object)
    missing = pd.isna(array)
    if missing.any():
        array = array.copy()
        array[missing] = None
    return pd.Series(array, index=values.index, dtype=object)


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
