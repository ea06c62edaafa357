"""``etl sync --verify``: what a full re-read found that the output had wrong.

Incremental syncs re-read only what may have changed; a loss nothing detected
(a window the server under-counted, a ticket re-routed between two runs) stays
in the output until something reads its window again. The weekly verification
re-reads every window the output covers and counts what it repairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import pandas as pd

from etl.traffy.extract import frame_identities


@dataclass
class Verification:
    """The output against a full re-read of its windows (canonical frames)."""

    missing: int = 0
    """Tickets Traffy has in the windows that the output lacked."""
    extra: int = 0
    """Tickets the output held in the windows that Traffy no longer has there."""
    stale: int = 0
    """Tickets in both whose state or last activity the output had out of date."""

    def describe(self) -> str:
        if not (self.missing or self.extra or self.stale):
            return "verified: the output matched Traffy"
        return (
            f"verified: {self.missing} tickets missing, {self.extra} extra, "
            f"{self.stale} with a stale state (repaired)"
        )


def compare(
    held: pd.DataFrame | None, fetched: pd.DataFrame, windows: Sequence[tuple[date, date]]
) -> Verification:
    """Count the differences between the held tickets of ``windows`` and a re-read of them."""
    if held is None or held.empty:
        return Verification(missing=len(fetched))
    days = held["created_at"].dt.normalize()
    inside = pd.Series(False, index=held.index)
    for first, last in windows:
        inside |= (days >= pd.Timestamp(first)) & (days <= pd.Timestamp(last))
    held = held[inside]
    old = held.set_index(frame_identities(held))
    new = fetched.set_index(frame_identities(fetched))
    both = old.index.intersection(new.index)
    columns = ["state", "last_activity"]
    stale = (
        old.loc[both, columns].astype(object).fillna("")
        != new.loc[both, columns].astype(object).fillna("")
    ).any(axis=1)
    return Verification(
        missing=int((~new.index.isin(old.index)).sum()),
        extra=int((~old.index.isin(new.index)).sum()),
        stale=int(stale.sum()),
    )
