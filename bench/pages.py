"""Synthetic Bangkok written as feed-1 pages on disk, and a client that serves them.

Pages are cut exactly as ``etl.traffy.extract`` asks for them (date windows,
ascending creation order, ``limit``/``offset``), so ``extract()`` runs unchanged
on them without HTTP. Generating a million tickets takes about a minute, so
the pages are cached by their parameters under ``bench/.cache/``.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import orjson

from etl.fakes.synthetic import SyntheticBangkok
from etl.traffy.extract import windows

CACHE = Path(__file__).parent / ".cache"
GENERATOR_VERSION = 1  # bump when SyntheticBangkok's output changes


@dataclass(frozen=True)
class PageSet:
    """Which synthetic pages: the cache key."""

    count: int
    seed: int = 7
    first: str = "2022-01-01"
    years: float = 4.0
    odd_share: float = 0.03
    page_size: int = 1000
    window_days: int = 31
    version: int = GENERATOR_VERSION

    @property
    def since(self) -> date:
        return date.fromisoformat(self.first)

    @property
    def until(self) -> date:
        return self.since + timedelta(days=int(self.years * 365.25) - 1)

    @property
    def folder(self) -> Path:
        key = "-".join(f"{v}" for v in asdict(self).values())
        return CACHE / f"pages-{key}"


def envelope(features: list[Any]) -> dict[str, Any]:
    """A feed-1 page as the API wraps it."""
    return {
        "type": "FeatureCollection",
        "status": "success",
        "message": "",
        "exec_time": "0.010s",
        "source": "geojson cache (bench) (expire 1800s)",
        "total": 0,
        "sum_state": [],
        "count_total": 0,
        "count": len(features),
        "features": features,
    }


def page_name(start: str, offset: int) -> str:
    return f"{start}_{offset:07d}.json"


def ensure_pages(pages: PageSet) -> Path:
    """Write the page files once; later calls reuse them."""
    done = pages.folder / "done.json"
    if done.is_file():
        return pages.folder
    if pages.folder.exists():
        shutil.rmtree(pages.folder)
    pages.folder.mkdir(parents=True)
    bangkok = SyntheticBangkok(
        pages.seed, first=pages.since, years=pages.years, odd_share=pages.odd_share
    )
    spans = list(windows(pages.since, pages.until, pages.window_days))
    bounds = iter(spans)
    first, last = next(bounds)
    buffer: list[Any] = []
    offset = 0
    files = 0
    total_bytes = 0

    def flush(final: bool) -> None:
        nonlocal buffer, offset, files, total_bytes
        while len(buffer) >= pages.page_size or (final and buffer is not None):
            chunk, buffer = buffer[: pages.page_size], buffer[pages.page_size :]
            body = orjson.dumps(envelope(chunk))
            (pages.folder / page_name(first.isoformat(), offset)).write_bytes(body)
            files += 1
            total_bytes += len(body)
            offset += len(chunk)
            if final and len(chunk) < pages.page_size:
                return

    for feature in bangkok.features(pages.count):
        stamp = str(feature["properties"]["timestamp"])
        created = date.fromisoformat(stamp[:10]) if stamp[:4].isdigit() else first
        while created > last:
            flush(final=True)  # the window's last page is short (maybe empty): paging stops
            first, last = next(bounds)
            offset = 0
        buffer.append(feature)
        flush(final=False)
    flush(final=True)
    for window in bounds:  # windows after the last ticket: one empty page each
        first, offset = window[0], 0
        flush(final=True)
    summary = {"files": files, "bytes": total_bytes, **asdict(pages)}
    done.write_text(json.dumps(summary, indent=1))
    return pages.folder


class LocalPages:
    """Stands in for ``TraffyClient``: answers ``get_json`` from the page files.

    Parsing is orjson, as in the real client, so only HTTP is left out.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.requests = 0
        self.bytes_read = 0

    def get_json(self, path: str, params: dict[str, Any], check: Any = None) -> dict[str, Any]:
        self.requests += 1
        file = self.folder / page_name(str(params["start"]), int(params["offset"]))
        raw = file.read_bytes() if file.is_file() else orjson.dumps(envelope([]))
        self.bytes_read += len(raw)
        body: dict[str, Any] = orjson.loads(raw)
        if check is not None:
            check(body)
        return body
