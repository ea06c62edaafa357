"""Bangkok's 50 districts: the only names a run may serve.

A typo in a district name used to be a silent disaster: feed 1 has no
server-side district filter, so ``สวนหลวงง`` matched no ticket, the run
published empty tabs and exited 0. Every name is therefore checked against
``config/districts.toml`` (data, not code) before the first request, and a
name that is not there is a usage error that suggests the nearest ones.
"""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass
from functools import cache

from etl.errors import ConfigError
from etl.shipped import shipped_config

PREFIX = "เขต"
"""Traffy writes district names without it; people often type it."""


@dataclass(frozen=True)
class District:
    """One district office's area, as ``config/districts.toml`` lists it."""

    name: str
    """Thai, as Traffy writes it: no ``เขต`` prefix (``สวนหลวง``)."""
    name_en: str
    code: int
    """The Bangkok Metropolitan Administration's district code (สวนหลวง = 1034)."""


@cache
def bangkok() -> tuple[District, ...]:
    """The 50 districts, in the order of their codes."""
    with shipped_config("districts.toml").open("rb") as file:
        listed = tomllib.load(file)["district"]
    return tuple(District(d["name"], d["name_en"], int(d["code"])) for d in listed)


def bare_name(text: str) -> str:
    """``" เขตสวนหลวง "`` -> ``สวนหลวง``: the form Traffy writes."""
    text = text.strip()
    return text.removeprefix(PREFIX).strip() or text


def _latin(text: str) -> str:
    return "".join(text.split()).casefold()


class UnknownDistrict(ConfigError):
    """A district name that is not one of Bangkok's 50."""


def district_named(text: str) -> District:
    """The district ``text`` names (Thai, with or without ``เขต``, or the English name),
    else ``UnknownDistrict`` naming the nearest ones."""
    name = bare_name(text)
    by_name = {d.name: d for d in bangkok()}
    if name in by_name:
        return by_name[name]
    for district in bangkok():  # "Suan Luang", "suanluang"
        if _latin(district.name_en) == _latin(name):
            return district
    nearest = difflib.get_close_matches(name, list(by_name), n=3, cutoff=0.5)
    hint = f" Did you mean {' or '.join(nearest)}?" if nearest else ""
    raise UnknownDistrict(
        f"{text.strip()!r} is not a Bangkok district.{hint} "
        "Use the Thai name as Traffy writes it (the list is config/districts.toml)."
    )
