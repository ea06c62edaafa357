"""The canonical complaint every stage after extraction works with.

Feed modules (``etl.traffy.feed_*``) own their raw record models and map them
into :class:`Complaint`; nothing downstream knows which feed a ticket came
from. Times are aware ``Asia/Bangkok`` datetimes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

BANGKOK = ZoneInfo("Asia/Bangkok")


class Complaint(BaseModel):
    """One Traffy ticket as the report sees it, whichever feed it came from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ticket_id: str = Field(min_length=1)
    message_id: int | None = None
    created_at: datetime
    last_activity: datetime | None = None
    inprogress_at: datetime | None = None
    finished_at: datetime | None = None
    state: str
    state_type: str | None = None
    types: tuple[str, ...] = ()
    organizations: tuple[str, ...] = ()
    organizations_acting: tuple[str, ...] = ()
    district: str | None = None
    subdistrict: str | None = None
    province: str | None = None
    address: str | None = None
    description: str | None = None
    note: str | None = None
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    photo_url: str | None = None
    after_photo_url: str | None = None
    count_reopen: int = Field(default=0, ge=0)
    star: int | None = Field(default=None, ge=1, le=5)
    view_count: int | None = Field(default=None, ge=0)

    def model_post_init(self, context: Any, /) -> None:
        """Share one "fields set" among complaints that set every field (all of them,
        as the feeds build them): pydantic keeps a set per instance, 2.2 KB of the
        4.7 KB a complaint cost, 2 GB for all of Bangkok. The set is only read, and
        ``model_copy`` copies it before changing it."""
        if len(self.__pydantic_fields_set__) == len(_ALL_FIELDS):
            object.__setattr__(self, "__pydantic_fields_set__", _ALL_FIELDS)


_ALL_FIELDS: set[str] = set(Complaint.model_fields)


class Reject(BaseModel):
    """A record that failed validation: quarantined with its reason, never dropped."""

    model_config = ConfigDict(frozen=True)

    ticket_id: str | None
    reason: str
    raw: Any
    source: str
