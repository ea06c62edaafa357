"""Where the run talks: logs on stderr (plain lines or JSON), progress on a terminal.

Every time a person reads here is Bangkok time with its offset
(``2026-11-30 05:12:03+07:00``), like the run summary, ``_runs`` and ``meta``:
one run shows one date, whatever the machine's zone (UTC on CI).

Logs and progress go to stderr so stdout carries only the run summary (and
can be piped into a file or ``$GITHUB_STEP_SUMMARY``). On an interactive
terminal a rich progress display shows pages fetched and rows written; when
stderr is not a terminal (CI, cron, a pipe) the same events are plain log
lines, so both paths run the same code.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import datetime
from enum import StrEnum
from types import TracebackType
from typing import IO, Any

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import Progress as RichProgress
from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

from etl.models import BANGKOK

log = logging.getLogger("etl")


class LogFormat(StrEnum):
    text = "text"
    json = "json"


class Verbosity(StrEnum):
    quiet = "quiet"  # errors only, no progress, no summary
    normal = "normal"  # one line per stage and per retry
    verbose = "verbose"  # every page, and tracebacks on failure


LEVELS = {
    Verbosity.quiet: logging.ERROR,
    Verbosity.normal: logging.INFO,
    Verbosity.verbose: logging.DEBUG,
}

# Attributes every LogRecord has; anything else was passed with ``extra=`` and
# goes into the JSON object as a field.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def bangkok_time(created: float, timespec: str = "seconds", sep: str = " ") -> str:
    """A log record's time (seconds since the epoch) in Bangkok, with its offset."""
    return datetime.fromtimestamp(created, BANGKOK).isoformat(sep=sep, timespec=timespec)


class BangkokFormatter(logging.Formatter):
    """Plain log lines stamped in Bangkok time with the offset, not the machine's zone."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return bangkok_time(record.created)


def _rich_time(moment: datetime) -> Text:
    """RichHandler's time column: it passes the machine's naive local time."""
    return Text(moment.astimezone(BANGKOK).isoformat(sep=" ", timespec="seconds"))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": bangkok_time(record.created, "milliseconds", sep="T"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def interactive(stream: IO[str]) -> bool:
    """True when a person watches ``stream``: then we draw progress instead of lines."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def setup(
    verbosity: Verbosity = Verbosity.normal,
    fmt: LogFormat = LogFormat.text,
    stream: IO[str] | None = None,
    console: Console | None = None,
) -> None:
    """Send the ``etl`` loggers to ``stream`` (stderr) in the chosen format and level.

    With a ``console`` (a terminal showing progress) text logs print through it,
    above the progress display instead of through it.
    """
    stream = stream if stream is not None else sys.stderr
    handler: logging.Handler
    if fmt is LogFormat.json:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(JsonFormatter())
    elif console is not None:
        handler = RichHandler(
            console=console, show_path=False, markup=False, log_time_format=_rich_time
        )
    else:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(BangkokFormatter(TEXT_FORMAT))
    log.handlers[:] = [handler]
    log.setLevel(LEVELS[verbosity])
    log.propagate = False


def counted(number: int, noun: str) -> str:
    """``1 row``, ``2 rows``: log lines a person reads say it right."""
    return f"{number} {noun}{'' if number == 1 else 's'}"


class Progress:
    """The pipeline's progress events as log lines: what CI and cron see.

    ``stage`` marks the start of extract / transform / load; ``page`` counts a
    fetched Traffy page. When a stage starts, the one before it is logged as done.
    """

    level = logging.INFO
    """Stage lines are the progress report in CI; on a terminal the display shows them."""

    def __init__(self) -> None:
        self.pages = 0
        self.records = 0
        self._stage: str | None = None
        self._started = 0.0
        self.closed = False

    def stage(self, name: str) -> None:
        self._finish()
        self._stage, self._started = name, time.perf_counter()
        log.debug("%s: started", name)

    def page(self, records: int) -> None:
        self.pages += 1
        self.records += records
        log.debug("extract: page %d, %d records (%d in all)", self.pages, records, self.records)

    def close(self, rows_written: int | None = None) -> None:
        """The run ended: log the last stage (with the rows written, when known)."""
        if self.closed:
            return
        self.closed = True
        if self._stage == "load" and rows_written is not None:
            log.log(
                self.level,
                "load: %s written in %.1f s",
                counted(rows_written, "row"),
                time.perf_counter() - self._started,
            )
            self._stage = None
        self._finish()

    def _finish(self) -> None:
        if self._stage is None:
            return
        seconds = time.perf_counter() - self._started
        if self._stage == "extract" and self.pages:
            log.log(
                self.level,
                "extract: %s, %s in %.1f s",
                counted(self.pages, "page"),
                counted(self.records, "record"),
                seconds,
            )
        else:
            log.log(self.level, "%s: done in %.1f s", self._stage, seconds)
        self._stage = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()


class TerminalProgress(Progress):
    """The same events drawn by rich on a terminal: a spinner per stage with counts."""

    level = logging.DEBUG

    def __init__(self, console: Console) -> None:
        super().__init__()
        self.display = RichProgress(
            SpinnerColumn(finished_text="[green]✓[/]"),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._task: Any = None

    def stage(self, name: str) -> None:
        super().stage(name)
        self._done()
        self._task = self.display.add_task(self._describe(name), total=1)

    def page(self, records: int) -> None:
        super().page(records)
        if self._task is not None:
            self.display.update(self._task, description=self._describe("extract"))

    def close(self, rows_written: int | None = None) -> None:
        if self.closed:
            return
        if self._task is not None and rows_written is not None:
            self.display.update(
                self._task, description=f"load: {counted(rows_written, 'row')} written"
            )
        super().close(rows_written)
        if sys.exc_info()[0] is None:
            self._done()
        self.display.stop()

    def _done(self) -> None:
        """Tick the current stage off (a failed stage keeps its spinner, frozen)."""
        if self._task is not None:
            self.display.update(self._task, completed=1)
            self.display.stop_task(self._task)

    def _describe(self, name: str) -> str:
        if name == "extract":
            return f"extract: {self.pages} pages fetched, {self.records} records"
        if name == "load":
            return "load: writing tabs"
        return name

    def __enter__(self) -> TerminalProgress:
        self.display.start()
        return self
