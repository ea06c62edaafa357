"""Feed 1: ``GET /teamchadchart-stat-api/geojson/v1``, a GeoJSON FeatureCollection.

What this module knows of the feed (TRAFFY_API.md): ``limit`` (<= 1000),
``offset``, ``sort=asc``, ``start``/``end`` dates as a pair; no server-side
district filter; naive Bangkok timestamps. ``total`` is the server's count of
a ``start``/``end`` window (0: not computed), which extraction must reach.
"""

from __future__ import annotations

from datetime import date, datetime
from sys import intern
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
    if not isinstance(properties, dict):
        return []
    keys = tuple(properties)
    unknown = _UNKNOWN.get(keys)
    if unknown is None:
        unknown = sorted(set(keys) - KNOWN_FIELDS)
        if len(_UNKNOWN) < 10_000:
            _UNKNOWN[keys] = unknown
    return list(unknown)


_UNKNOWN: dict[tuple[str, ...], list[str]] = {}
"""Unknown names by a record's property names: records of a feed share a few layouts."""


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


def _shared(text: str | None) -> str | None:
    """One copy of a repeated short text (district, state, agency) for all tickets:
    a million tickets otherwise hold a million copies of each (about 1 KB a ticket)."""
    return None if text is None else intern(text)


def _names(names: list[str] | None) -> tuple[str, ...]:
    return tuple(intern(name) for name in names) if names else ()


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
        state=intern((p.state or "").strip()),
        state_type=_shared(p.state_type_latest),
        types=_names(p.problem_type_fondue) if p.problem_type_fondue else parse.split_types(p.type),
        organizations=_names(p.org),
        organizations_acting=_names(p.org_action),
        district=_shared(parse.clean_text(p.district)),
        subdistrict=_shared(parse.clean_text(p.subdistrict)),
        province=_shared(parse.clean_text(p.province)),
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
    """Sort a body that may be a failure dressed as a page.

    The API reports failures inside HTTP 200 bodies. A body with no
    ``features`` list, or an *empty* one next to an error ``message`` or a
    non-success ``status``, is a failed request, not an empty window
    (TRAFFY_API.md: ``status:"success"``, a message, ``total: 0``,
    ``features: []``): retried, then fatal. A page *with* features may carry
    a message too (the cache warning of ``feed1-v1-example.json``): its
    features are real and kept.
    """
    from etl.errors import TraffyFatal
    from etl.traffy.client import RetriableResponse

    features = features_of(body)
    if features:
        return
    status, message = body.get("status"), body.get("message")
    if status != "success" or message:
        raise RetriableResponse(f"error body: status={status!r}, message={str(message)[:120]!r}")
    if features is None:
        raise TraffyFatal(
            "The Traffy feed-1 response has no 'features' list: the API may have changed. "
            "Check the feed setting or report it to the maintainers."
        )


# --- Batch validation: a record straight to a row of the canonical frame ----------------
#
# ``to_complaint`` costs two pydantic models and a Complaint per record (about 35 us and
# 1.4 KB kept per ticket): too slow and too big for all of Bangkok. ``fast_row`` takes the
# common, clean record apart with exact type checks and the very parsers ``to_complaint``
# uses, and gives up (``None``) on anything it is not sure of: those records go through
# ``to_complaint``, so an odd record gets exactly the same result, or the same reason.


FIELDS = (
    "ticket_id", "message_id", "timestamp", "last_activity", "timestamp_inprogress",
    "timestamp_finished", "state", "state_type_latest", "problem_type_fondue", "type", "org",
    "org_action", "district", "subdistrict", "province", "address", "description", "note",
    "photo_url", "after_photo", "count_reopen", "star", "view_count",
)  # fmt: skip
"""The properties ``fast_row`` reads, in the order it unpacks them."""

_NONE = type(None)
_ALLOWED: dict[str, tuple[type, ...]] = {
    "message_id": (int, _NONE),
    "timestamp": (str,),
    "problem_type_fondue": (list, _NONE),
    "org": (list, _NONE),
    "org_action": (list, _NONE),
    "count_reopen": (int, _NONE),
    "star": (int, str, _NONE),  # only "" as text: checked on the value
    "view_count": (int, _NONE),
}
"""Exact types ``fast_row`` takes per property (text or null when not listed); anything
else (numbers as text, floats, booleans) is for the model to coerce or reject."""

_PATTERNS: dict[tuple[type, ...], bool] = {}
"""Whether a record's tuple of property types is one ``fast_row`` takes (few distinct)."""


def _pattern_ok(kinds: tuple[type, ...]) -> bool:
    ok = all(
        kind in _ALLOWED.get(name, (str, _NONE)) for name, kind in zip(FIELDS, kinds, strict=True)
    )
    if len(_PATTERNS) < 10_000:
        _PATTERNS[kinds] = ok
    return ok


def fast_row(record: Any, share: dict[Any, Any]) -> tuple[Any, ...] | None:
    """The record as a row of ``etl.traffy.extract.COLUMNS`` (times naive Bangkok wall
    time), or ``None`` when only ``to_complaint`` can tell (invalid or unusual records).

    ``share`` keeps one copy of repeated texts and lists (states, districts, agencies);
    it holds only values this function checked, so a list found in it needs no check.
    Written flat, without helper calls: it runs once per record of all of Bangkok.
    """
    if type(record) is not dict:
        return None
    p = record.get("properties")
    if type(p) is not dict:
        return None
    values: tuple[Any, ...] = tuple(map(p.get, FIELDS))
    kinds = tuple(map(type, values))
    ok = _PATTERNS.get(kinds)
    if not (_pattern_ok(kinds) if ok is None else ok):
        return None
    (ticket_id, message_id, timestamp, last_activity, inprogress, finished, state, state_type,
     fondue, type_text, org, acting, district, subdistrict, province, address, description,
     note, photo, after, count_reopen, star, view_count) = values  # fmt: skip
    if ticket_id is not None:
        ticket_id = ticket_id.strip()
    if not ticket_id:
        if message_id is None:
            return None  # the key is made of the time and place: to_complaint does it
        ticket_id = f"#{message_id}"
    if star is not None and (star.__class__ is str or not 1 <= star <= 5):
        if star != "":
            return None
        star = None
    if (count_reopen is not None and count_reopen < 0) or (
        view_count is not None and view_count < 0
    ):
        return None
    try:
        created_at = fromisoformat(timestamp)  # a text: the pattern says so
        last_activity = fromisoformat(last_activity) if last_activity else None
        inprogress = fromisoformat(inprogress) if inprogress else None
        finished = fromisoformat(finished) if finished else None
    except ValueError:
        return None  # padded, blank or broken: parse_time strips, or gives the reason
    if (
        created_at.tzinfo is not None
        or (last_activity is not None and last_activity.tzinfo is not None)
        or (inprogress is not None and inprogress.tzinfo is not None)
        or (finished is not None and finished.tzinfo is not None)
    ):
        return None  # aware: parse_time converts to Bangkok
    get = share.get
    shared = share.setdefault
    if fondue:
        types = get(tuple(fondue))
        if types is None:
            if not _texts(fondue):
                return None
            types = shared(tuple(fondue), tuple(fondue))
    else:
        types = shared(split := parse.split_types(type_text), split)
    organizations: Any = ()
    if org:
        organizations = get(tuple(org))
        if organizations is None:
            if not _texts(org):
                return None
            organizations = shared(tuple(org), tuple(org))
    actors: Any = ()
    if acting:
        actors = get(tuple(acting))
        if actors is None:
            if not _texts(acting):
                return None
            actors = shared(tuple(acting), tuple(acting))
    lat = lon = None
    geometry = record.get("geometry")
    if geometry is not None:
        if geometry.__class__ is not dict:
            return None
        point = geometry.get("coordinates")
        if point is not None:
            if point.__class__ is not list or len(point) != 2:
                return None
            lon, lat = point
            if lon.__class__ not in _REAL or lat.__class__ not in _REAL:
                return None
            if lon == 0 and lat == 0:
                lat = lon = None
            elif -90 <= lat <= 90 and -180 <= lon <= 180:
                lat, lon = float(lat), float(lon)
            else:
                return None
    if state is not None:
        state = state.strip()
    state = shared(state, state) if state else ""
    if state_type is not None:
        state_type = shared(state_type, state_type)
    if district is not None:
        district = district.strip()
        district = shared(district, district) if district else None
    if subdistrict is not None:
        subdistrict = subdistrict.strip()
        subdistrict = shared(subdistrict, subdistrict) if subdistrict else None
    if province is not None:
        province = province.strip()
        province = shared(province, province) if province else None
    if photo is not None:
        photo = photo.strip()
        if not photo or photo.endswith(parse.PLACEHOLDER_PHOTOS):
            photo = None
    if after is not None:
        after = after.strip()
        if not after or after.endswith(parse.PLACEHOLDER_PHOTOS):
            after = None
    return (
        ticket_id,
        message_id,
        created_at,
        last_activity,
        inprogress,
        finished,
        state,
        state_type,
        types,
        organizations,
        actors,
        district,
        subdistrict,
        province,
        (address.strip() or None) if address else None,
        (description.strip() or None) if description else None,
        (note.strip() or None) if note else None,
        lat,
        lon,
        photo,
        after,
        count_reopen or 0,
        star,
        view_count,
    )


fromisoformat = datetime.fromisoformat
_REAL = (float, int)  # exact classes: a boolean is not a coordinate


def _texts(items: list[Any]) -> bool:
    return all(item.__class__ is str for item in items)
