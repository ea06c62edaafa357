"""Feed 1: ``GET /teamchadchart-stat-api/geojson/v1``, a GeoJSON FeatureCollection.

What this module knows of the feed (TRAFFY_API.md): ``limit`` (<= 1000),
``offset``, ``sort=asc``, ``start``/``end`` dates as a pair; no server-side
district filter; naive Bangkok timestamps; ``total``/``count`` can lie, so
only ``features`` is trusted.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from etl.models import BANGKOK, Complaint
from etl.traffy import parse

PATH = "/teamchadchart-stat-api/geojson/v1"
NAME = "v1"


def page_params(start: date, end: date, limit: int, offset: int) -> dict[str, str | int]:
    """Query of one page: ascending creation order inside a creation-date window."""
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
    ticket_id = parse.clean_text(p.ticket_id)
    if ticket_id is None:
        # Anonymous reports have no ticket id; message_id is unique and stable.
        if p.message_id is None:
            raise ValueError("ticket has neither ticket_id nor message_id")
        ticket_id = f"#{p.message_id}"
    created_at = parse.parse_time(p.timestamp)
    if created_at is None:
        raise ValueError("timestamp is empty")
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


# --- Batch validation: whole pages to columns ----------------------------------------------
#
# ``to_complaint`` costs about 60 us a record (two pydantic models, aware datetimes) and a
# Complaint object about 2 KB: too slow and too big for a million tickets. ``PageColumns``
# takes the common, clean record apart in plain Python with exact type checks, parses the
# page's timestamps in one vectorized call, and sends every record it is not sure about
# through ``to_complaint``, so odd records get exactly the same result and reason.

TIME_COLUMNS = ("created_at", "last_activity", "inprogress_at", "finished_at")
TIME_FIELDS = ("timestamp", "last_activity", "timestamp_inprogress", "timestamp_finished")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
OBJECT_COLUMNS = tuple(name for name in Complaint.model_fields if name not in TIME_COLUMNS)


class _Odd(Exception):
    """The record is not the common clean shape: let ``to_complaint`` decide."""


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if type(value) is not str:
        raise _Odd
    return value.strip() or None


def _count(value: Any) -> int | None:
    if value is None:
        return None
    if type(value) is not int or value < 0:
        raise _Odd
    return value


def _strings(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if type(value) is not list or any(type(item) is not str for item in value):
        raise _Odd
    return tuple(value)


class PageColumns:
    """Valid complaints of many pages as columns: what ``transform.complaints_frame``
    would build from the same records' :class:`Complaint` objects.

    Repeated short texts (districts, states, agencies, types) are shared, not copied
    per ticket: for all of Bangkok that saves about a gigabyte.
    """

    def __init__(self) -> None:
        self.columns: dict[str, list[Any]] = {name: [] for name in OBJECT_COLUMNS}
        self.times: dict[str, list[Any]] = {name: [] for name in TIME_COLUMNS}
        self._shared: dict[Any, Any] = {}

    def __len__(self) -> int:
        return len(self.columns["ticket_id"])

    def add_page(self, records: list[Any]) -> list[tuple[Any, ValueError]]:
        """Validate one page; returns the invalid records with their errors, in page order."""
        rows: list[tuple[Any, ...]] = []
        stamps: list[list[str | None]] = [[], [], [], []]
        where: list[int] = []
        odd: list[int] = []
        for index, record in enumerate(records):
            try:
                row, times = self._row(record)
            except (_Odd, KeyError, TypeError, AttributeError):
                odd.append(index)
                continue
            rows.append(row)
            where.append(index)
            for stamp, value in zip(stamps, times, strict=True):
                stamp.append(value)
        parsed = [_parse_times(values) for values in stamps]
        bad = np.zeros(len(rows), dtype=bool)
        for values, moments in zip(stamps, parsed, strict=True):
            bad |= np.isnat(moments) & np.array([v is not None for v in values], dtype=bool)
        odd.extend(i for i, b in zip(where, bad, strict=True) if b)
        keep = ~bad
        everything = bool(keep.all())
        for name, column in zip(OBJECT_COLUMNS, zip(*rows, strict=True), strict=False):
            if everything:
                self.columns[name].extend(column)
            else:
                self.columns[name].extend(v for v, k in zip(column, keep, strict=True) if k)
        for name, moments in zip(TIME_COLUMNS, parsed, strict=True):
            self.times[name].append(moments if everything else moments[keep])
        invalid: list[tuple[Any, ValueError]] = []
        for index in sorted(odd):
            try:
                complaint = to_complaint(records[index])
            except ValueError as error:
                invalid.append((records[index], error))
                continue
            self._add_complaint(complaint)
        return invalid

    def _row(self, record: Any) -> tuple[tuple[Any, ...], tuple[str | None, ...]]:
        """The record's columns in ``OBJECT_COLUMNS`` order, and its four time texts."""
        if type(record) is not dict:
            raise _Odd
        p = record["properties"]
        if type(p) is not dict:
            raise _Odd
        shared = self._shared.setdefault
        message_id = p.get("message_id")
        if message_id is not None and type(message_id) is not int:
            raise _Odd
        ticket_id = _text(p.get("ticket_id"))
        if ticket_id is None:
            if message_id is None:
                raise _Odd
            ticket_id = f"#{message_id}"
        times = tuple(p.get(name) for name in TIME_FIELDS)
        for value in times:
            if value is not None and (type(value) is not str or len(value) != 19):
                raise _Odd  # blank, other formats, time zones: parse_time decides
        if times[0] is None:
            raise _Odd
        state = p.get("state")
        state_type = p.get("state_type_latest")
        if state_type is not None and type(state_type) is not str:
            raise _Odd
        fondue = _strings(p.get("problem_type_fondue"))
        type_text = _text(p.get("type"))  # checked even when unused, as the model does
        types = fondue if fondue else parse.split_types(type_text)
        state_text = _text(state) or ""
        organizations = _strings(p.get("org")) or ()
        acting = _strings(p.get("org_action")) or ()
        lat, lon = self._location(record.get("geometry"))
        star = p.get("star")
        if star == "":
            star = None
        if star is not None and (type(star) is not int or not 1 <= star <= 5):
            raise _Odd
        count_reopen = _count(p.get("count_reopen"))
        view_count = _count(p.get("view_count"))
        district, subdistrict = _text(p.get("district")), _text(p.get("subdistrict"))
        province = _text(p.get("province"))
        row = (
            ticket_id,
            message_id,
            shared(state_text, state_text),
            None if state_type is None else shared(state_type, state_type),
            shared(types, types),
            shared(organizations, organizations),
            shared(acting, acting),
            None if district is None else shared(district, district),
            None if subdistrict is None else shared(subdistrict, subdistrict),
            None if province is None else shared(province, province),
            _text(p.get("address")),
            _text(p.get("description")),
            _text(p.get("note")),
            lat,
            lon,
            _url(p.get("photo_url")),
            _url(p.get("after_photo")),
            count_reopen or 0,
            star,
            view_count,
        )
        return row, times

    @staticmethod
    def _location(geometry: Any) -> tuple[float | None, float | None]:
        if geometry is None:
            return None, None
        if type(geometry) is not dict:
            raise _Odd
        point = geometry.get("coordinates")
        if point is None:
            return None, None
        if type(point) is not list or len(point) != 2:
            raise _Odd
        lon, lat = point
        if type(lon) not in (float, int) or type(lat) not in (float, int):
            raise _Odd
        if lon == 0 and lat == 0:
            return None, None
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise _Odd
        return float(lat), float(lon)

    def _add_complaint(self, complaint: Complaint) -> None:
        """A record ``to_complaint`` validated: the same columns, times as Bangkok wall time."""
        for name in OBJECT_COLUMNS:
            self.columns[name].append(getattr(complaint, name))
        for name in TIME_COLUMNS:
            moment = getattr(complaint, name)
            wall = None if moment is None else moment.astimezone(BANGKOK).replace(tzinfo=None)
            self.times[name].append(pd.Series([wall], dtype="datetime64[ns]").to_numpy())

    def frame(self) -> pd.DataFrame:
        """All valid complaints so far, in arrival order (duplicates kept)."""
        data: dict[str, Any] = {}
        for name in Complaint.model_fields:
            if name in self.times:
                parts = self.times[name]
                values = np.concatenate(parts) if parts else np.array([], dtype="datetime64[ns]")
                data[name] = pd.Series(values, dtype="datetime64[ns]")
            else:
                data[name] = pd.Series(self.columns[name], dtype=object)
        return pd.DataFrame(data)


def _parse_times(values: list[str | None]) -> np.ndarray[Any, np.dtype[np.datetime64]]:
    """``YYYY-MM-DD HH:MM:SS`` texts as naive datetime64 (Bangkok wall time); NaT for the
    rest, which the caller sends to ``to_complaint``."""
    moments = pd.to_datetime(pd.Series(values, dtype=object), format=TIME_FORMAT, errors="coerce")
    return moments.to_numpy(dtype="datetime64[ns]")


def _url(value: Any) -> str | None:
    if value is not None and type(value) is not str:
        raise _Odd
    return parse.clean_url(value)
