"""The publish guard: what a run may not do to the output, checked before it writes.

Completeness checks prove a run read every window it asked for; they cannot see
an upstream outage, where the server itself counts fewer tickets. The output
then is the last line of defence: tickets the sink holds are the office's
record, so a run that would remove more than a small share of any month's
tickets is refused (``--allow-removals`` lets a person decide otherwise), and
the history tabs only ever grow. Pure functions on frames: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from etl.errors import ConfigError, EtlError
from etl.tabs import TABS
from etl.thai import month_th

HISTORY_TABS = ("status_history", "kpi_snapshots")
"""Append-only: a sync adds rows to them and never removes one."""


class PublishRefused(EtlError):
    """The run would remove data the output holds; nothing was written."""


class OutputOfAnotherDistrict(ConfigError):
    """The output holds another district's tickets (usage error, exit 2)."""


@dataclass(frozen=True)
class MonthLoss:
    """Tickets of one creation month (Bangkok) the output holds and the run would drop."""

    month: pd.Timestamp
    held: int
    removed: int

    def describe(self) -> str:
        label = f"{self.month:%Y-%m} ({month_th(self.month.date())})"
        return f"{self.removed} of {self.held} tickets of {label}"


def month_losses(held: pd.DataFrame | None, published: pd.DataFrame) -> list[MonthLoss]:
    """Per creation month, the held tickets (canonical frame) missing from ``published``."""
    if held is None or held.empty:
        return []
    months = held["created_at"].dt.to_period("M").dt.to_timestamp()
    gone = ~held["ticket_id"].isin(published["ticket_id"])
    counts = pd.DataFrame({"month": months, "gone": gone}).groupby("month")["gone"]
    return [
        MonthLoss(pd.Timestamp(month), int(held_n), int(removed))
        for month, held_n, removed in zip(
            counts.size().index, counts.size(), counts.sum(), strict=True
        )
        if removed
    ]


def check_removals(
    held: pd.DataFrame | None,
    published: pd.DataFrame,
    *,
    max_share: float,
    allowed: int,
) -> list[MonthLoss]:
    """Refuse (``PublishRefused``) when any month would lose more than ``max_share`` of
    its held tickets and more than ``allowed`` of them; returns every month's loss.

    The floor keeps small months usable: Traffy does delete and re-route some
    tickets, and one ticket of a 10-ticket month is not an outage.
    """
    losses = month_losses(held, published)
    over = [loss for loss in losses if loss.removed > max(int(max_share * loss.held), allowed)]
    if over:
        raise PublishRefused(
            f"Refused to publish: this run would remove {'; '.join(m.describe() for m in over)} "
            f"(a month may lose at most {max_share:.0%} of its tickets, or {allowed}); "
            "nothing was written. Traffy may be missing tickets: try again later. If they "
            "were really removed upstream, run again with --allow-removals."
        )
    return losses


def check_history(previous: Mapping[str, pd.DataFrame], tabs: Mapping[str, pd.DataFrame]) -> None:
    """Every row of the append-only tabs the output holds is still in the new tabs.

    A bug guard: the history code only appends, and this proves it on every
    run, before anything is written.
    """
    for name in HISTORY_TABS:
        before = previous.get(name)
        if before is None or before.empty:
            continue
        key = list(TABS[name].key)
        after = tabs.get(name)
        kept = (
            before[key].merge(after[key].drop_duplicates(), how="left", indicator=True)
            if after is not None
            else before[key].assign(_merge="left_only")
        )
        lost = int((kept["_merge"] == "left_only").sum())
        if lost:
            raise PublishRefused(
                f"Refused to publish: this run would remove {lost} of the {len(before)} rows "
                f"of {name}, which only grows; nothing was written. This is a bug: please "
                "report it with the run's log."
            )


def check_district(held_by: str | None, district: str, output: str) -> None:
    """An output holds one district: syncing another into it would replace its tickets
    and bury its history under another office's."""
    if held_by and held_by != district:
        raise OutputOfAnotherDistrict(
            f"{output} holds the tickets of เขต{held_by}, not เขต{district}. Write "
            f"เขต{district} to another output (--out DIR, or its own spreadsheet), or, to "
            "start this one afresh, move its files (or the spreadsheet) aside first: its "
            "history is never overwritten."
        )
