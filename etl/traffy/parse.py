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
