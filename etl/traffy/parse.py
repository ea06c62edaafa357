"""Parsers for the field quirks every Traffy feed shares (see TRAFFY_API.md)."""

from __future__ import annotations

from datetime import datetime

from etl.models import BANGKOK

PLACEHOLDER_PHOTOS = ("/TeamChadChart/fondue_photo.png",)


def parse_time(value: str | None) -> datetime | None:
    """A Traffy timestamp as an aware Bangkok datetime.

    Feed 1 sends naive Bangkok wall time (``2023-04-30 23:30:00``); feed 2 and
    the CSV dumps send UTC with ``+00`` and microseconds. Raises ``ValueError``
    on text that is not a timestamp; empty means "not yet".
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=BANGKOK)
    return moment.astimezone(BANGKOK)


def split_types(value: str | None) -> tuple[str, ...]:
    """Feed 1's comma-joined ``type`` text as a tuple, empty parts dropped."""
    if not value:
        return ()
    return tuple(part.strip() for part in value.split(",") if part.strip())


def clean_url(value: str | None) -> str | None:
    """Empty strings and Traffy's placeholder image mean "no photo"."""
    if value is None:
        return None
    text = value.strip()
    if not text or text.endswith(PLACEHOLDER_PHOTOS):
        return None
    return text


def clean_text(value: str | None) -> str | None:
    if value is None:
        return None
    text = value.strip()
    return text or None


def location(lon: float | None, lat: float | None) -> tuple[float | None, float | None]:
    """``(lat, lon)``; the API's ``0, 0`` means "no location"."""
    if lon is None or lat is None or (lon == 0 and lat == 0):
        return None, None
    return lat, lon


def pg_array(value: str | None) -> tuple[str, ...]:
    """A Postgres array literal (``{ถนน,"A, B",ทางเท้า}``) as a tuple of texts.

    The CSV files and feed 2 send ``type`` this way; elements may be
    double-quoted (then they may hold commas, ``\\"`` and ``\\\\``), ``{}``
    is empty and an unquoted ``NULL`` is dropped. Text without braces is
    read as feed 1's comma-joined list. Never raises: a malformed literal
    yields what could be read.
    """
    if value is None:
        return ()
    text = value.strip()
    if not (text.startswith("{") and text.endswith("}")):
        return split_types(text)
    body = text[1:-1]
    items: list[str] = []
    current: list[str] = []
    quoted = in_quotes = False
    i = 0
    while i < len(body):
        char = body[i]
        if in_quotes:
            if char == "\\" and i + 1 < len(body):
                i += 1
                current.append(body[i])
            elif char == '"':
                in_quotes = False
            else:
                current.append(char)
        elif char == '"':
            in_quotes = quoted = True
        elif char == ",":
            _end_item(items, current, quoted)
            current, quoted = [], False
        else:
            current.append(char)
        i += 1
    _end_item(items, current, quoted)
    return tuple(items)


def _end_item(items: list[str], current: list[str], quoted: bool) -> None:
    item = "".join(current) if quoted else "".join(current).strip()
    if quoted:
        if item.strip():
            items.append(item.strip())
    elif item and item.upper() != "NULL":
        items.append(item)


def to_pg_array(items: tuple[str, ...]) -> str:
    """The inverse of :func:`pg_array`, quoting every element (tests, fakes)."""
    quoted = ('"' + item.replace("\\", "\\\\").replace('"', '\\"') + '"' for item in items)
    return "{" + ",".join(quoted) + "}"


def number(value: object) -> float | None:
    """A coordinate sent as a number or as text (feed 2, CSV); ``None`` if unreadable."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return result if result == result and abs(result) != float("inf") else None


def coords_text(value: str | None) -> tuple[float | None, float | None]:
    """The CSV's ``"lon,lat"`` text as ``(lat, lon)``; ``0,0``, blanks and junk mean none."""
    if not value or value.count(",") != 1:
        return None, None
    lon_text, lat_text = value.split(",")
    return checked_location(number(lon_text), number(lat_text))


def checked_location(lon: float | None, lat: float | None) -> tuple[float | None, float | None]:
    """``(lat, lon)`` when both are real coordinates; out-of-range pairs mean none."""
    lat_lon = location(lon, lat)
    if lat_lon[0] is None or lat_lon[1] is None:
        return None, None
    if not (-90 <= lat_lon[0] <= 90 and -180 <= lat_lon[1] <= 180):
        return None, None
    return lat_lon


def ticket_key(
    ticket_id: str | None,
    message_id: int | None,
    created_at: datetime,
    lat: float | None,
    lon: float | None,
) -> str:
    """The id a ticket is written under: Traffy's id, else ``#message_id``, else
    ``@creation-time@lat,lon`` (anonymous reports of feeds without ``message_id``)."""
    text = clean_text(ticket_id)
    if text:
        return text
    if message_id is not None:
        return f"#{message_id}"
    where = f"{lat:.5f},{lon:.5f}" if lat is not None and lon is not None else "-"
    return f"@{created_at.astimezone(BANGKOK):%Y%m%d%H%M%S}@{where}"
