"""Feed 2: ``GET /share/teamchadchart/search``, rows under ``results``.

What this module knows of the feed (TRAFFY_API.md): success is HTTP 201;
``district`` filters server-side (so rows need not name their district);
``limit``/``offset``/``start``/``end``/``sort=ASC``; timestamps in UTC with
``+00``; coordinates, ``star`` and ``count_reopen`` as strings; ``type`` as a
Postgres array literal or comma-joined text; the field set changes over time
(``district``, ``message_id`` and friends come and go).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from etl.models import Complaint
from etl.traffy import parse

PATH = "/share/teamchadchart/search"
NAME = "search"

KNOWN_FIELDS = frozenset(
    {
        "type", "org", "description", "ticket_id", "coords", "photo_url", "after_photo",
        "address", "timestamp", "problem_type_abdul", "star", "count_reopen", "note",
        "state", "last_activity", "district", "subdistrict", "province", "message_id",
        "state_type", "org_action", "timestamp_inprogress", "timestamp_finished",
        "view_count", "photo", "photo_after", "comment", "organization",
    }
)  # fmt: skip
"""Fields seen in either shape of the rows (2022 and 2023); others are counted."""


def page_params(
    start: date, end: date, limit: int, offset: int, district: str
) -> dict[str, str | int]:
    """Query of one page: the district's tickets in ascending creation order."""
    return {
        "district": district,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "limit": limit,
        "offset": offset,
        "sort": "ASC",
    }


def records_of(body: dict[str, Any]) -> list[Any] | None:
    """The page's rows, or ``None`` when the body is not a feed-2 page."""
    results = body.get("results")
    return results if isinstance(results, list) else None


def total_of(body: dict[str, Any]) -> int | None:
    """``total`` when it is a positive count (0 is read as "not computed", as on feed 1)."""
    total = body.get("total")
    if isinstance(total, int) and not isinstance(total, bool) and total > 0:
        return total
    return None


def unknown_fields(record: Any) -> list[str]:
    return sorted(set(record) - KNOWN_FIELDS) if isinstance(record, dict) else []


def in_district(record: Any, district: str) -> bool:
    """The server filtered by district; a row that names another district is dropped.

    Rows without a ``district`` field are kept: their address often names only
    the sub-district.
    """
    if not isinstance(record, dict):
        return True
    value = record.get("district")
    if isinstance(value, str) and value.strip():
        return value.strip().removeprefix("เขต") == district
    return True


class SearchRow(BaseModel):
    """The fields of a feed-2 row we use; unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore")

    ticket_id: str | None = None
    message_id: int | None = None
    timestamp: str
    last_activity: str | None = None
    timestamp_inprogress: str | None = None
    timestamp_finished: str | None = None
    state: str | None = None
    state_type: str | None = None
    type: str | list[str] | None = None
    problem_type_abdul: list[str] | None = None
    org: str | list[str] | None = None
    org_action: str | list[str] | None = None
    coords: list[Any] | str | None = None
    district: str | None = None
    subdistrict: str | None = None
    province: str | None = None
    address: str | None = None
    description: str | None = None
    note: str | None = None
    photo_url: str | None = None
    after_photo: str | None = None
    count_reopen: int | None = Field(default=None, ge=0)
    star: int | None = None
    view_count: int | None = None

    @field_validator("star", "count_reopen", "message_id", "view_count", mode="before")
    @classmethod
    def _blank_number(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value


def ticket_id_of(record: Any) -> str | None:
    value = record.get("ticket_id") if isinstance(record, dict) else None
    return str(value) if value else None


def _list(value: str | list[str] | None) -> tuple[str, ...]:
    if isinstance(value, list):
        return tuple(item.strip() for item in value if isinstance(item, str) and item.strip())
    return parse.pg_array(value)


def _point(value: list[Any] | str | None) -> tuple[float | None, float | None]:
    if isinstance(value, str):
        return parse.coords_text(value)
    if isinstance(value, list) and len(value) == 2:
        return parse.checked_location(parse.number(value[0]), parse.number(value[1]))
    return None, None


def to_complaint(record: Any) -> Complaint:
    """Validate one raw row and map it to a :class:`Complaint` (``ValueError`` if unusable)."""
    row = SearchRow.model_validate(record)
    lat, lon = _point(row.coords)
    created_at = parse.parse_time(row.timestamp)
    if created_at is None:
        raise ValueError("timestamp is empty")
    ticket_id = parse.ticket_key(row.ticket_id, row.message_id, created_at, lat, lon)
    types = _list(row.type) or _list(row.problem_type_abdul)
    return Complaint(
        ticket_id=ticket_id,
        message_id=row.message_id,
        created_at=created_at,
        last_activity=parse.parse_time(row.last_activity),
        inprogress_at=parse.parse_time(row.timestamp_inprogress),
        finished_at=parse.parse_time(row.timestamp_finished),
        state=(row.state or "").strip(),
        state_type=row.state_type,
        types=types,
        organizations=_list(row.org),
        organizations_acting=_list(row.org_action),
        district=parse.clean_text(row.district),
        subdistrict=parse.clean_text(row.subdistrict),
        province=parse.clean_text(row.province),
        address=parse.clean_text(row.address),
        description=parse.clean_text(row.description),
        note=parse.clean_text(row.note),
        lat=lat,
        lon=lon,
        photo_url=parse.clean_url(row.photo_url),
        after_photo_url=parse.clean_url(row.after_photo),
        count_reopen=row.count_reopen or 0,
        star=row.star,
        view_count=row.view_count,
    )


def check_page(body: dict[str, Any]) -> None:
    """Sort a body that may be a failure inside a 2xx (see ``feed_v1.check_page``): no
    ``results``, or none next to an error ``message`` or a non-success ``status``."""
    from etl.errors import TraffyFatal
    from etl.traffy.client import RetriableResponse

    results = records_of(body)
    if results:
        return
    status, message = body.get("status"), body.get("message")
    if status not in ("success", 200, 201, True) or message:
        raise RetriableResponse(f"error body: status={status!r}, message={str(message)[:120]!r}")
    if results is None:
        raise TraffyFatal(
            "The Traffy feed-2 (search) response has no 'results' list: the API may have "
            "changed. Try --feed v1, or report it to the maintainers."
        )
