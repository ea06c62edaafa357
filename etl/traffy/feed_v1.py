"""Feed 1: ``GET /teamchadchart-stat-api/geojson/v1``, a GeoJSON FeatureCollection.

What this module knows of the feed (TRAFFY_API.md): ``limit`` (<= 1000),
``offset``, ``sort=asc``, ``start``/``end`` dates as a pair; no server-side
district filter; naive Bangkok timestamps; ``total``/``count`` can lie, so
only ``features`` is trusted.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from etl.models import Complaint
from etl.traffy import parse

PATH = "/teamchadchart-stat-api/geojson/v1"
NAME = "v1"


KNOWN_FIELDS = frozenset(
    {
        "ticket_id", "message_id", "description", "note", "photo_url", "after_photo",
        "problem_type_fondue", "type", "org", "org_action", "address", "subdistrict",
        "district", "province", "state", "state_type_latest", "timestamp", "last_activity",
        "timestamp_inprogress", "timestamp_finished", "duration_minutes_inprogress",
        "duration_minutes_finished", "duration_minutes_total", "count_reopen", "star",
        "view_count", "like", "dislike", "total_point", "see_info", "problemtype_photo",
        "problem_type_abdul", "description_reporter", "ai",
    }
)  # fmt: skip
"""Properties seen in feed-1 features; others are counted as schema drift."""


def page_params(
    start: date, end: date, limit: int, offset: int, district: str = ""
) -> dict[str, str | int]:
    """Query of one page: ascending creation order inside a creation-date window.

    ``district`` is not sent: feed 1 ignores it (the filter is client-side).
    """
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "limit": limit,
        "offset": offset,
        "sort": "asc",
    }


def features_of(body: dict[str, Any]) -> list[Any] | None:
    """The page's records, or ``None`` when the body is not a feed-1 page."""
    features = body.get("features")
    return features if isinstance(features, list) else None


records_of = features_of


def total_of(body: dict[str, Any]) -> int | None:
    """``total`` when it is a positive count; 0 means "not computed" on this feed."""
    total = body.get("total")
    if isinstance(total, int) and not isinstance(total, bool) and total > 0:
        return total
    return None


def unknown_fields(record: Any) -> list[str]:
    """Property names this module does not know (schema drift, for the run summary)."""
    try:
        properties = record["properties"]
    except (KeyError, TypeError):
        return []
    return sorted(set(properties) - KNOWN_FIELDS) if isinstance(properties, dict) else []


def in_district(record: Any, district: str) -> bool:
    """Client-side district filter: feed 1 ignores ``district``.

    ``district`` may be null or blank; then the address decides (``เขตสวนหลวง``).
    """
    if not isinstance(record, dict):
        return True  # let validation reject it with a reason
    properties = record.get("properties")
    if not isinstance(properties, dict):
        return True
    value = properties.get("district")
    if isinstance(value, str) and value.strip():
        return value.strip().removeprefix("เขต") == district
    address = properties.get("address")
    return isinstance(address, str) and f"เขต{district}" in address.replace("เขต ", "เขต")


class V1Properties(BaseModel):
    """The fields of a feed-1 feature we use; unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore")

    ticket_id: str | None = None
    message_id: int | None = None
    timestamp: str
    last_activity: str | None = None
    timestamp_inprogress: str | None = None
    timestamp_finished: str | None = None
    state: str | None = None
    state_type_latest: str | None = None
    problem_type_fondue: list[str] | None = None
    type: str | None = None
    org: list[str] | None = None
    org_action: list[str] | None = None
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

    @field_validator("star", mode="before")
    @classmethod
    def _blank_star(cls, value: Any) -> Any:
        return None if value == "" else value


class V1Geometry(BaseModel):
    model_config = ConfigDict(extra="ignore")

    coordinates: tuple[float, float] | None = None


class V1Feature(BaseModel):
    model_config = ConfigDict(extra="ignore")

    properties: V1Properties
    geometry: V1Geometry | None = None


def ticket_id_of(record: Any) -> str | None:
    """Best-effort ticket id of a raw record, for the rejects tab."""
    try:
        value = record["properties"]["ticket_id"]
    except (KeyError, TypeError):
        return None
    return str(value) if value else None


def to_complaint(record: Any) -> Complaint:
    """Validate one raw feature and map it to a :class:`Complaint`.

    Raises ``ValueError`` (pydantic's ``ValidationError`` is one) with the
    reason when the record cannot be used.
    """
    feature = V1Feature.model_validate(record)
    p = feature.properties
    point = feature.geometry.coordinates if feature.geometry else None
    lat, lon = parse.location(*point) if point else (None, None)
    created_at = parse.parse_time(p.timestamp)
    if created_at is None:
        raise ValueError("timestamp is empty")
    ticket_id = parse.ticket_key(p.ticket_id, p.message_id, created_at, lat, lon)
    return Complaint(
        ticket_id=ticket_id,
        message_id=p.message_id,
        created_at=created_at,
        last_activity=parse.parse_time(p.last_activity),
        inprogress_at=parse.parse_time(p.timestamp_inprogress),
        finished_at=parse.parse_time(p.timestamp_finished),
        state=(p.state or "").strip(),
        state_type=p.state_type_latest,
        types=tuple(p.problem_type_fondue) if p.problem_type_fondue else parse.split_types(p.type),
        organizations=tuple(p.org or ()),
        organizations_acting=tuple(p.org_action or ()),
        district=parse.clean_text(p.district),
        subdistrict=parse.clean_text(p.subdistrict),
        province=parse.clean_text(p.province),
        address=parse.clean_text(p.address),
        description=parse.clean_text(p.description),
        note=parse.clean_text(p.note),
        lat=lat,
        lon=lon,
        photo_url=parse.clean_url(p.photo_url),
        after_photo_url=parse.clean_url(p.after_photo),
        count_reopen=p.count_reopen or 0,
        star=p.star,
        view_count=p.view_count,
    )


def check_page(body: dict[str, Any]) -> None:
    """Sort a body without ``features``: a transient server error, or a changed API.

    The API reports some failures inside an HTTP 200 body (``status`` not
    ``success``, or an error ``message``); those are worth retrying.
    """
    from etl.errors import TraffyFatal
    from etl.traffy.client import RetriableResponse

    if features_of(body) is not None:
        return
    status, message = body.get("status"), body.get("message")
    if status != "success" or message:
        raise RetriableResponse(f"error body: status={status!r}, message={str(message)[:120]!r}")
    raise TraffyFatal(
        "The Traffy feed-1 response has no 'features' list: the API may have changed. "
        "Check the feed setting or report it to the maintainers."
    )
