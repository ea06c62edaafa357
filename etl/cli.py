"""The ``etl`` command: parse options, call the library, print one line per failure."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer

from etl import looker, pipeline, schemas
from etl import report as html_report
from etl.errors import ConfigError, EtlError
from etl.settings import Settings, load_settings

app = typer.Typer(
    help="Traffy Fondue complaints of a Bangkok district -> tabs for the executives' report.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold credentials
    add_completion=False,
)

DistrictOpt = Annotated[
    str | None,
    typer.Option("--district", help="Thai district name (default from config: สวนหลวง)."),
]
SinceOpt = Annotated[
    datetime | None,
    typer.Option(
        "--since",
        formats=["%Y-%m-%d"],
        help="First creation date to sync, YYYY-MM-DD (default: window_months back, see config).",
    ),
]
UntilOpt = Annotated[
    datetime | None,
    typer.Option(
        "--until", formats=["%Y-%m-%d"], help="Last creation date to sync (default: today)."
    ),
]
TraffyUrlOpt = Annotated[
    str | None,
    typer.Option("--traffy-url", help="Traffy API host; the feed path is appended."),
]
OutOpt = Annotated[
    Path | None, typer.Option("--out", help="Folder for the local CSV tabs (default: output/).")
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", help="A TOML file overriding config/default.toml (or ETL_CONFIG)."),
]
FeedOpt = Annotated[
    str | None,
    typer.Option(
        "--feed",
        help="Traffy feed: v1 (geojson/v1, default) or search (/share/teamchadchart/search).",
    ),
]
SpreadsheetOpt = Annotated[
    str | None,
    typer.Option(
        "--spreadsheet-id",
        help="Write to this Google spreadsheet (or ETL_SPREADSHEET_ID) instead of local files.",
    ),
]
DryRunOpt = Annotated[
    bool,
    typer.Option("--dry-run", help="Show per tab the rows that would change; write nothing."),
]
VerboseOpt = Annotated[
    bool, typer.Option("--verbose", "-v", help="Log each step; show tracebacks on failure.")
]


def _date(value: datetime | None) -> date | None:
    return value.date() if value else None


def _settings(config: Path | None, **flags: object) -> Settings:
    return load_settings(config, **flags)


@app.command()
def sync(
    district: DistrictOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    traffy_url: TraffyUrlOpt = None,
    out: OutOpt = None,
    spreadsheet_id: SpreadsheetOpt = None,
    dry_run: DryRunOpt = False,
    config: ConfigOpt = None,
    feed: FeedOpt = None,
    full_refresh: Annotated[
        bool,
        typer.Option(
            "--full-refresh",
            help="Fetch the whole window again instead of new and still-open tickets.",
        ),
    ] = False,
    verbose: VerboseOpt = False,
) -> None:
    """Extract the district's new and still-open tickets, validate them and write the tabs.

    The first run fetches the whole window; later runs continue from the cursor
    kept in the output's _sync tab (see docs/extraction.md).
    """
    _logging(verbose)
    with _one_line_errors(verbose):
        settings = _settings(
            config,
            district=district,
            since=_date(since),
            until=_date(until),
            traffy_url=traffy_url,
            out=out,
            feed=feed,
            spreadsheet_id=spreadsheet_id,
        )
        result = pipeline.run_sync(settings, dry_run=dry_run, full_refresh=full_refresh)
    _print_summary(result)


@app.command()
def backfill(
    from_: Annotated[
        str, typer.Option("--from", help="First month to load, YYYY-MM (e.g. 2023-04).")
    ],
    to: Annotated[str, typer.Option("--to", help="Last month to load, YYYY-MM (inclusive).")],
    district: DistrictOpt = None,
    traffy_url: TraffyUrlOpt = None,
    out: OutOpt = None,
    spreadsheet_id: SpreadsheetOpt = None,
    config: ConfigOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Load whole months from Traffy's monthly CSV files into the tabs (history).

    Each month's file is streamed and merged with the tickets already in the
    output; a month that is not published fails the run and nothing is written.
    """
    _logging(verbose)
    with _one_line_errors(verbose):
        settings = _settings(
            config,
            district=district,
            traffy_url=traffy_url,
            out=out,
            spreadsheet_id=spreadsheet_id,
        )
        result = pipeline.run_backfill(settings, first_month=from_, last_month=to)
    _print_summary(result)


@app.command()
def init(
    spreadsheet_id: SpreadsheetOpt = None,
    config: ConfigOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Prepare the spreadsheet: missing tabs with headers, frozen header rows, date and
    number formats, warning-only protection of pipeline-owned tabs. Safe to re-run;
    it never deletes or re-creates a tab."""
    from etl.errors import ConfigError
    from etl.sinks.sheets import SheetsSink

    _logging(verbose)
    with _one_line_errors(verbose):
        settings = _settings(config, spreadsheet_id=spreadsheet_id)
        if not settings.spreadsheet_id:
            raise ConfigError(
                "etl init needs a spreadsheet: --spreadsheet-id or ETL_SPREADSHEET_ID."
            )
        changes = SheetsSink.from_settings(settings).init()
    typer.echo("\n".join(changes) if changes else "The spreadsheet is ready; nothing to change.")


@app.command()
def demo(
    out: OutOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Sync offline from a local fake Traffy server serving the project's sample tickets.

    The sample reproduces the Suan Luang office's table of April to September 2566.
    """
    from etl.fakes.synthetic import SEED_TABLE, seed_months
    from etl.fakes.traffy import FakeTraffy

    _logging(verbose)
    with _one_line_errors(verbose), FakeTraffy(seed_months()) as server:
        typer.echo(f"Serving sample tickets at {server.url}", err=True)
        settings = _settings(
            None,
            district="สวนหลวง",
            since=SEED_TABLE[0].first,
            until=SEED_TABLE[-1].last,
            traffy_url=server.url,
            out=out,
        )
        result = pipeline.run_sync(settings)
    _print_summary(result)


@app.command("schemas")
def schemas_command(
    check: Annotated[
        bool, typer.Option("--check", help="Fail if schemas/ differs from the models.")
    ] = False,
) -> None:
    """Write (or check) the JSON Schema of every tab in schemas/."""
    if check:
        stale = schemas.stale()
        if stale:
            typer.echo(
                f"error: schemas out of date: {', '.join(stale)}. Run `etl schemas` and commit.",
                err=True,
            )
            raise typer.Exit(1)
        typer.echo("schemas/ matches the models.")
        return
    for path in schemas.write():
        typer.echo(f"wrote {path}")


@app.command("report")
def report_command(
    html: Annotated[
        Path, typer.Option("--html", help="The HTML file to write (one self-contained page).")
    ],
    out: OutOpt = None,
    spreadsheet_id: Annotated[
        str | None,
        typer.Option(
            "--spreadsheet-id",
            help="Read the tabs from this Google spreadsheet (or ETL_SPREADSHEET_ID).",
        ),
    ] = None,
    config: ConfigOpt = None,
    oldest: Annotated[
        int | None,
        typer.Option("--oldest", min=1, help="Oldest open tickets to list (default: 20)."),
    ] = None,
    verbose: VerboseOpt = False,
) -> None:
    """Write the executives' report as one HTML file that opens offline, from the synced tabs."""
    _logging(verbose)
    with _one_line_errors(verbose):
        settings = _settings(
            config, out=out, spreadsheet_id=spreadsheet_id, report_oldest_tickets=oldest
        )
        info = html_report.write_report(
            pipeline.make_sink(settings), html, oldest=settings.report_oldest_tickets
        )
    typer.echo(
        f"wrote {info.path}: {info.months} months, {info.open_tickets} oldest open tickets, "
        f"{info.size_bytes / 1e6:.1f} MB"
    )


@app.command("looker-url")
def looker_url(
    template: Annotated[
        str, typer.Option("--template", help="The template report's id (after /reporting/).")
    ],
    spreadsheet_id: Annotated[
        str | None,
        typer.Option(
            "--spreadsheet-id", help="The office's spreadsheet id (or ETL_SPREADSHEET_ID)."
        ),
    ] = None,
    gid: Annotated[
        list[str] | None,
        typer.Option("--gid", help="TAB=GID for each tab the template reads (repeat)."),
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="Name of the copied report.")] = None,
    config: ConfigOpt = None,
) -> None:
    """Print a Looker Studio Linking API URL copying the template onto the spreadsheet."""
    with _one_line_errors(False):
        settings = _settings(config)
        spreadsheet = spreadsheet_id or settings.spreadsheet_id
        if not spreadsheet:
            raise ConfigError("Give --spreadsheet-id ID (the id in the spreadsheet's URL).")
        if not gid:
            raise ConfigError(
                "Give --gid TAB=GID for each tab the template reads "
                f"({', '.join(looker.REPORT_TABS)}); the gid is the number after #gid= "
                "in the tab's URL."
            )
        try:
            url = looker.linking_url(
                template, spreadsheet, looker.parse_gids(gid), report_name=name
            )
        except ValueError as error:
            raise ConfigError(str(error)) from None
    typer.echo(url)


def _print_summary(result: pipeline.SyncResult) -> None:
    if result.preview is not None:
        typer.echo(f"Dry run, nothing written to {result.output}. Would change:\n{result.preview}")
        return
    e = result.extract
    lines = [
        f"District {result.district}: tickets created {result.since} .. {result.until}",
        f"  fetched   {e.records} records in {e.pages} pages ({e.requests} requests)",
        *_plan_lines(result),
        f"  district  {e.valid} valid, {e.rejected} rejected, {e.duplicates} duplicates, "
        f"{e.other_districts} of other districts skipped",
    ]
    if result.unknown_states:
        states = ", ".join(f"{s or '(empty)'} x{n}" for s, n in result.unknown_states.items())
        lines.append(f"  unknown states: {states} (add them to state_groups in config)")
    for tab, write in result.load.tabs.items():
        lines.append(
            f"  {tab:<16} +{write.inserted} new, ~{write.updated} changed, -{write.deleted} removed"
        )
    if result.load.api_calls:
        lines.append(f"  {result.load.api_calls} Sheets API requests")
    stages = ", ".join(f"{k} {v:.2f}s" for k, v in result.stage_seconds.items())
    lines.append(f"  wrote to {result.output} in {result.seconds:.1f}s ({stages})")
    typer.echo("\n".join(lines))


def _plan_lines(result: pipeline.SyncResult) -> list[str]:
    """How the run chose what to fetch, and the schema drift it saw."""
    e, plan = result.extract, result.plan
    lines = []
    if plan is not None:
        line = f"  {plan.mode:<9} feed {result.feed}, {len(plan.new)} window(s)"
        if plan.mode == "incremental":
            line += (
                f" of new tickets + {len(plan.refresh)} refreshing {plan.open_tickets} open tickets"
            )
        if e.rescans or e.splits:
            line += f"; {e.rescans} re-scans on drift, {e.splits} windows split"
        lines.append(line + f"; {result.complaints_total} tickets in the tabs")
    if e.unknown_fields:
        names = ", ".join(f"{n} x{c}" for n, c in sorted(e.unknown_fields.items()))
        lines.append(f"  unknown fields ignored: {names}")
    return lines


@contextmanager
def _one_line_errors(verbose: bool) -> Iterator[None]:
    """Turn the library's errors into one line on stderr and the error's exit code."""
    try:
        yield
    except EtlError as error:
        if verbose:
            logging.getLogger("etl").exception("failed")
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(error.exit_code) from None


def _logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def main() -> None:
    app()
