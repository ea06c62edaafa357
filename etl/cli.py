"""The ``etl`` command: parse options, call the library, print one line per failure."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from etl import city, logs, looker, outputs, pipeline, publish, schemas
from etl import report as html_report
from etl.errors import ConfigError, EtlError, ExitCode
from etl.logs import LogFormat, Verbosity
from etl.settings import Settings, load_settings
from etl.traffy import ExtractInfo

app = typer.Typer(
    help="Traffy Fondue complaints of a Bangkok district -> tabs for the executives' report.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold credentials
    add_completion=False,
    # Plain click help: a flag shows no value (not `--dry-run <bool>`), and `--help` is the
    # plain text docs/cli.md is generated from (`make docs`).
    rich_markup_mode=None,
)

DistrictOpt = Annotated[
    str | None,
    typer.Option(
        "--district",
        metavar="NAME",
        help="Thai district name (default from config: สวนหลวง); 'all' or a comma list "
        "serves those districts from one extraction, each in its own output.",
    ),
]
SinceOpt = Annotated[
    datetime | None,
    typer.Option(
        "--since",
        formats=["%Y-%m-%d"],
        metavar="YYYY-MM-DD",
        help="First creation date to sync, YYYY-MM-DD (default: window_months back, see config).",
    ),
]
UntilOpt = Annotated[
    datetime | None,
    typer.Option(
        "--until",
        formats=["%Y-%m-%d"],
        metavar="YYYY-MM-DD",
        help="Last creation date to sync (default: today, Bangkok time).",
    ),
]
TraffyUrlOpt = Annotated[
    str | None,
    typer.Option("--traffy-url", metavar="URL", help="Traffy API host; the feed path is appended."),
]
OutOpt = Annotated[
    Path | None,
    typer.Option("--out", metavar="DIR", help="Folder for the local CSV tabs (default: output/)."),
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        metavar="FILE",
        help="A TOML file overriding config/default.toml (or ETL_CONFIG).",
    ),
]
FeedOpt = Annotated[
    str | None,
    typer.Option(
        "--feed",
        metavar="v1|search",
        help="Traffy feed: v1 (geojson/v1, default) or search (/share/teamchadchart/search).",
    ),
]
SpreadsheetOpt = Annotated[
    str | None,
    typer.Option(
        "--spreadsheet-id",
        metavar="ID",
        help="Write to this Google spreadsheet (or ETL_SPREADSHEET_ID) instead of local files.",
    ),
]
CheckSpreadsheetOpt = Annotated[
    str | None,
    typer.Option(
        "--spreadsheet-id",
        metavar="ID",
        help="The Google spreadsheet to check (or ETL_SPREADSHEET_ID).",
    ),
]
InitSpreadsheetOpt = Annotated[
    str | None,
    typer.Option(
        "--spreadsheet-id",
        metavar="ID",
        help="The Google spreadsheet to prepare (or ETL_SPREADSHEET_ID).",
    ),
]
BigQueryOpt = Annotated[
    str | None,
    typer.Option(
        "--bigquery-dataset",
        metavar="PROJECT.DATASET",
        help="Write to (read from) this BigQuery dataset, PROJECT.DATASET "
        "(or ETL_BIGQUERY_DATASET); see docs/bigquery.md.",
    ),
]
DryRunOpt = Annotated[
    bool,
    typer.Option("--dry-run", help="Show per tab the rows that would change; write nothing."),
]
AllowRemovalsOpt = Annotated[
    bool,
    typer.Option(
        "--allow-removals",
        help="Publish even when a month would lose more than max_removed_share of the "
        "tickets the output holds (they were really removed from Traffy).",
    ),
]
VerboseOpt = Annotated[
    bool,
    typer.Option("--verbose", "-v", help="Log every page and retry; tracebacks on failure."),
]
TracebackOpt = Annotated[
    bool, typer.Option("--verbose", "-v", help="A traceback with the error on failure.")
]
QuietOpt = Annotated[
    bool,
    typer.Option("--quiet", "-q", help="Only errors: no progress, no logs, no summary."),
]
LogFormatOpt = Annotated[
    LogFormat,
    typer.Option(
        "--log-format",
        case_sensitive=False,
        metavar="text|json",
        envvar="ETL_LOG_FORMAT",
        help="text: plain lines (a progress display on a terminal); "
        "json: one JSON object per log line, and the summary as JSON.",
    ),
]


def _version(show: bool) -> None:
    if show:
        from importlib import metadata

        typer.echo(f"etl (traffy-etl) {metadata.version('traffy-etl')}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Traffy Fondue complaints of a Bangkok district -> tabs for the executives' report."""


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
    bigquery_dataset: BigQueryOpt = None,
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
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="Re-read every window the output covers, repair what incremental runs "
            "missed and print it: tickets missing, extra, with a stale state (weekly).",
        ),
    ] = False,
    allow_removals: AllowRemovalsOpt = False,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    log_format: LogFormatOpt = LogFormat.text,
) -> None:
    """Extract the district's new and still-open tickets, validate them and write the tabs.

    The first run fetches the whole window; later runs continue from the cursor
    kept in the output's _sync tab (see docs/extraction.md).
    """
    ui = _Ui.start(quiet, verbose, log_format)
    with ui.one_line_errors():
        settings = _settings(
            config,
            district=district,
            since=_date(since),
            until=_date(until),
            traffy_url=traffy_url,
            out=out,
            feed=feed,
            spreadsheet_id=spreadsheet_id,
            bigquery_dataset=bigquery_dataset,
        )
        result = ui.run_served(
            settings,
            one=lambda progress: pipeline.run_sync(
                settings, dry_run=dry_run, full_refresh=full_refresh, verify=verify,
                allow_removals=allow_removals, progress=progress,
            ),
            several=lambda progress: pipeline.run_city_sync(
                settings, local_rest=out is not None, dry_run=dry_run,
                full_refresh=full_refresh, verify=verify,
                allow_removals=allow_removals, progress=progress,
            ),
        )  # fmt: skip
    ui.finish_served(result, settings)


@app.command()
def backfill(
    from_: Annotated[
        str,
        typer.Option(
            "--from", metavar="YYYY-MM", help="First month to load, YYYY-MM (e.g. 2023-04)."
        ),
    ],
    to: Annotated[
        str,
        typer.Option("--to", metavar="YYYY-MM", help="Last month to load, YYYY-MM (inclusive)."),
    ],
    district: DistrictOpt = None,
    traffy_url: TraffyUrlOpt = None,
    out: OutOpt = None,
    spreadsheet_id: SpreadsheetOpt = None,
    bigquery_dataset: BigQueryOpt = None,
    dry_run: DryRunOpt = False,
    allow_removals: AllowRemovalsOpt = False,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    log_format: LogFormatOpt = LogFormat.text,
) -> None:
    """Load whole months from Traffy's monthly CSV files into the tabs (history).

    Each month's file is streamed and merged with the tickets already in the
    output; a month that is not published fails the run and nothing is written.
    """
    ui = _Ui.start(quiet, verbose, log_format)
    with ui.one_line_errors():
        settings = _settings(
            config,
            district=district,
            traffy_url=traffy_url,
            out=out,
            spreadsheet_id=spreadsheet_id,
            bigquery_dataset=bigquery_dataset,
        )
        result = ui.run_served(
            settings,
            one=lambda progress: pipeline.run_backfill(
                settings, first_month=from_, last_month=to, dry_run=dry_run,
                allow_removals=allow_removals, progress=progress,
            ),
            several=lambda progress: pipeline.run_city_backfill(
                settings, first_month=from_, last_month=to, local_rest=out is not None,
                dry_run=dry_run, allow_removals=allow_removals, progress=progress,
            ),
        )  # fmt: skip
    ui.finish_served(result, settings)


@app.command()
def init(
    spreadsheet_id: InitSpreadsheetOpt = None,
    bigquery_dataset: BigQueryOpt = None,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
    verbose: TracebackOpt = False,
    log_format: LogFormatOpt = LogFormat.text,
) -> None:
    """Prepare the spreadsheet: missing tabs with headers, frozen header rows, date and
    number formats, warning-only protection of pipeline-owned tabs. Safe to re-run;
    it never deletes or re-creates a tab."""
    from etl.errors import ConfigError

    ui = _Ui.start(quiet, verbose, log_format)
    with ui.one_line_errors():
        settings = _settings(
            config, spreadsheet_id=spreadsheet_id, bigquery_dataset=bigquery_dataset
        )
        prepared = outputs.outputs_to_init(settings)
        if not prepared:
            raise ConfigError(
                "etl init needs a spreadsheet: --spreadsheet-id or ETL_SPREADSHEET_ID "
                "(or [spreadsheets] / ETL_SPREADSHEETS for a city-wide run), or a BigQuery "
                "dataset: --bigquery-dataset."
            )
        changes = []
        for label, output in prepared.items():
            done = output.init()
            changes += [f"{label}: {change}" for change in done] if len(prepared) > 1 else done
    if settings.bigquery_dataset:  # the dataset and its tables (docs/bigquery.md)
        ui.result(
            "\n".join(changes) or "The dataset is ready; nothing to change.",
            {"bigquery_dataset": settings.bigquery_dataset, "changes": changes},
        )
        return
    data: dict[str, object] = {"spreadsheet_id": settings.spreadsheet_id, "changes": changes}
    if settings.spreadsheets:
        data["spreadsheets"] = dict(settings.spreadsheets)
    ui.result(
        "\n".join(changes) if changes else "The spreadsheet is ready; nothing to change.", data
    )


@app.command()
def demo(
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", metavar="DIR", help="Folder for the sample's CSV tabs (default: output/demo/)."
        ),
    ] = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    log_format: LogFormatOpt = LogFormat.text,
) -> None:
    """Sync offline from a local fake Traffy server serving the project's sample tickets.

    The sample reproduces the Suan Luang office's table of April to September 2566
    as the office saw it on its report date: the clock is frozen at 15 September
    2566, 15:00 Bangkok time, so ticket ages are the office's. It always writes
    local files (default output/demo/), never a configured spreadsheet, and
    keeps its own sync state apart from real syncs.
    """
    from etl.fakes.synthetic import SEED_REPORT_TIME, SEED_TABLE, seed_months
    from etl.fakes.traffy import FakeTraffy

    ui = _Ui.start(quiet, verbose, log_format)
    with ui.one_line_errors(), FakeTraffy(seed_months()) as server:
        logs.log.info("Serving sample tickets at %s", server.url)
        settings = _settings(
            None,
            district="สวนหลวง",
            since=SEED_TABLE[0].first,
            until=SEED_TABLE[-1].last,
            traffy_url=server.url,
            out=out or Path("output/demo"),
        ).model_copy(update={"spreadsheet_id": None, "bigquery_dataset": None})  # local files
        result = ui.run(
            lambda progress: pipeline.run_sync(settings, progress=progress, now=SEED_REPORT_TIME)
        )
    ui.finish(result, settings)


@app.command()
def doctor(
    traffy_url: TraffyUrlOpt = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", metavar="DIR", help="The local tabs' folder to check (default: output/)."
        ),
    ] = None,
    spreadsheet_id: CheckSpreadsheetOpt = None,
    bigquery_dataset: BigQueryOpt = None,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    log_format: LogFormatOpt = LogFormat.text,
) -> None:
    """Check configuration, Traffy, credentials and the spreadsheet; change nothing.

    One line per check, OK or FAIL with the fix; exit code 0 only when none failed.
    """
    from etl import doctor as checks

    ui = _Ui.start(quiet, verbose, log_format)
    with ui.one_line_errors():
        results = checks.run_checks(
            lambda: _settings(
                config,
                traffy_url=traffy_url,
                out=out,
                spreadsheet_id=spreadsheet_id,
                bigquery_dataset=bigquery_dataset,
            )
        )
    failed = [c.name for c in results if c.failed]
    ui.result(
        "\n".join(checks.report_lines(results)),
        {"ok": not failed, "checks": checks.as_dicts(results)},
    )
    if failed:
        ui.error(
            f"error: {len(failed)} of {len(results)} checks failed ({', '.join(failed)}); "
            "each FAIL line above names the fix.",
            ExitCode.FAILED,
        )
        raise typer.Exit(ExitCode.FAILED)


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
        Path,
        typer.Option(
            "--html", metavar="FILE", help="The HTML file to write (one self-contained page)."
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", metavar="DIR", help="Folder of the synced CSV tabs to read (default: output/)."
        ),
    ] = None,
    spreadsheet_id: Annotated[
        str | None,
        typer.Option(
            "--spreadsheet-id",
            metavar="ID",
            help="Read the tabs from this Google spreadsheet (or ETL_SPREADSHEET_ID).",
        ),
    ] = None,
    bigquery_dataset: BigQueryOpt = None,
    config: ConfigOpt = None,
    oldest: Annotated[
        int | None,
        typer.Option(
            "--oldest", min=1, metavar="N", help="Oldest open tickets to list (default: 20)."
        ),
    ] = None,
    district: Annotated[
        str | None,
        typer.Option(
            "--district",
            metavar="NAME",
            help="Report this district of a city-wide run: its spreadsheet from "
            "[spreadsheets], else the folder OUT/<district>/.",
        ),
    ] = None,
    quiet: QuietOpt = False,
    verbose: TracebackOpt = False,
    log_format: LogFormatOpt = LogFormat.text,
) -> None:
    """Write the executives' report as one HTML file that opens offline, from the synced tabs."""
    ui = _Ui.start(quiet, verbose, log_format)
    with ui.one_line_errors():
        settings = _settings(
            config,
            out=out,
            spreadsheet_id=spreadsheet_id,
            report_oldest_tickets=oldest,
            district=district,
            bigquery_dataset=bigquery_dataset,
        )
        if len(settings.served_districts) > 1:  # a city-wide run's: one page per district
            pages = outputs.report_outputs(settings, html)
        else:
            sink = outputs.district_output(settings) if district else outputs.make_sink(settings)
            pages = [(sink, html)]
        infos = [
            html_report.write_report(
                sink,
                path,
                oldest=settings.report_oldest_tickets,
                in_progress_states=settings.state_groups.get("in_progress", []),
            )
            for sink, path in pages
        ]
    ui.result(
        "\n".join(
            f"wrote {info.path}: {info.months} months, {info.open_tickets} oldest open tickets, "
            f"{info.size_bytes / 1e6:.1f} MB"
            for info in infos
        ),
        asdict(infos[0]) if len(infos) == 1 else {"reports": [asdict(i) for i in infos]},
    )


@app.command("looker-url")
def looker_url(
    template: Annotated[
        str,
        typer.Option(
            "--template", metavar="ID", help="The template report's id (after /reporting/)."
        ),
    ],
    spreadsheet_id: Annotated[
        str | None,
        typer.Option(
            "--spreadsheet-id",
            metavar="ID",
            help="The office's spreadsheet id (or ETL_SPREADSHEET_ID).",
        ),
    ] = None,
    gid: Annotated[
        list[str] | None,
        typer.Option(
            "--gid",
            metavar="TAB=GID",
            help="TAB=GID: use this gid for the tab instead of reading it from the "
            "spreadsheet (repeat; give every report tab to work without a credential).",
        ),
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", metavar="NAME", help="Name of the copied report.")
    ] = None,
    config: ConfigOpt = None,
    log_format: LogFormatOpt = LogFormat.text,
) -> None:
    """Print a Looker Studio Linking API URL copying the template onto the spreadsheet.

    The tabs' gids are read from the spreadsheet (credentials as for etl sync);
    --gid overrides one.
    """
    ui = _Ui.start(False, False, log_format)
    with ui.one_line_errors():
        settings = _settings(config, spreadsheet_id=spreadsheet_id)
        if not settings.spreadsheet_id:
            raise ConfigError("Give --spreadsheet-id ID (the id in the spreadsheet's URL).")
        try:
            given = looker.parse_gids(gid or [])
            ids = looker.report_worksheet_ids(settings, given)
            url = looker.linking_url(template, settings.spreadsheet_id, ids, report_name=name)
        except ValueError as error:
            raise ConfigError(str(error)) from None
    ui.result(url, {"url": url, "spreadsheet_id": settings.spreadsheet_id, "gids": ids})


def summary_lines(result: publish.SyncResult) -> list[str]:
    """The run summary a person reads on stdout: counts, cost, time, destination."""
    e = result.extract
    complaints = result.load.tabs.get("complaints")
    # Feed 1 and the monthly files hold all of Bangkok: the other districts' tickets
    # count in the city comparison. The search feed's few strays are only dropped.
    others = "dropped" if result.feed == "search" else "only counted, in the city comparison"
    lines = [
        f"District {result.district}: tickets created {result.since} .. {result.until}",
        f"  fetched    {e.records} records in {e.pages} pages",
        *_plan_lines(result),
        _completeness_line(e),
        f"  district   {e.valid} valid, {e.rejected} rejected, {e.duplicates} duplicates, "
        f"{e.other_districts} of other districts ({others})",
    ]
    if result.preview is not None:
        lines.append(f"Dry run, nothing written to {result.output}. Would change:")
        lines.append(result.preview)
    elif complaints is not None:
        lines.append(
            f"  tickets    {complaints.inserted} new, {complaints.updated} changed, "
            f"{complaints.deleted} removed, {e.rejected} rejected ({result.rejected_share:.1%})"
        )
    if result.removed:
        gone = "; ".join(loss.describe() for loss in result.removed)
        lines.append(f"  removed    {gone} (no longer in Traffy's windows)")
    if result.verification is not None:
        lines.append(f"  {result.verification.describe()}")
    if result.unknown_states:
        states = ", ".join(f"{s or '(empty)'} x{n}" for s, n in result.unknown_states.items())
        lines.append(f"  unknown states: {states} (add them to state_groups in config)")
    if result.preview is None:
        lines.append(f"  rows written per tab ({result.load.rows_written} in all):")
    width = max((len(tab) for tab in result.load.tabs), default=0)
    for tab, write in result.load.tabs.items():
        lines.append(
            f"    {tab:<{width}}  +{write.inserted} new, ~{write.updated} changed, "
            f"-{write.deleted} removed"
        )
    lines.append(
        f"  API calls  {result.api_calls} ({e.requests} Traffy, {result.load.api_calls} output)"
    )
    if result.load.bytes_processed is not None:
        lines.append(f"  BigQuery   {result.load.bytes_processed:,} bytes processed by MERGE")
    stages = ", ".join(f"{k} {v:.2f}s" for k, v in result.stage_seconds.items())
    lines.append(f"  duration   {result.seconds:.1f}s ({stages})")
    lines.append(f"  output     {result.output}")
    return lines


def _completeness_line(e: ExtractInfo) -> str:
    """The proof that every window was read: records read against the server's count."""
    line = f"  complete   {e.windows} window(s) read"
    if e.rescans:
        line += f" ({e.rescans} re-scanned)"
    if e.windows > e.uncounted_windows:
        line += f"; {e.read} records read of the {e.expected} the server counted"
    if e.uncounted_windows:
        line += f"; {e.uncounted_windows} without a server count"
    return line


def _plan_lines(result: publish.SyncResult) -> list[str]:
    """How the run chose what to fetch, and the schema drift it saw."""
    e, plan = result.extract, result.plan
    lines = []
    if plan is not None:
        line = f"  {plan.mode:<10} feed {result.feed}, {len(plan.new)} window(s)"
        if plan.mode == "incremental":
            line += (
                f" of new tickets + {len(plan.refresh)} refreshing {plan.open_tickets} open tickets"
            )
        if e.rescans or e.splits:
            line += f"; {e.rescans} re-scans (drift or short pages), {e.splits} windows split"
        lines.append(line + f"; {result.complaints_total} tickets in the tabs")
    if e.unknown_fields:
        names = ", ".join(f"{n} x{c}" for n, c in sorted(e.unknown_fields.items()))
        lines.append(f"  unknown fields ignored: {names}")
    return lines


@dataclass
class _Ui:
    """How this invocation talks: verbosity, log format, and whether a person watches."""

    verbosity: Verbosity
    log_format: LogFormat
    console: Console | None

    @classmethod
    def start(cls, quiet: bool, verbose: bool, log_format: LogFormat) -> _Ui:
        if quiet and verbose:
            typer.echo("error: --quiet and --verbose contradict each other; pick one.", err=True)
            raise typer.Exit(ExitCode.USAGE)
        verbosity = Verbosity.quiet if quiet else Verbosity.verbose if verbose else Verbosity.normal
        console = None
        if (
            verbosity is not Verbosity.quiet
            and log_format is LogFormat.text
            and logs.interactive(sys.stderr)
        ):
            console = Console(stderr=True)
        logs.setup(verbosity, log_format, sys.stderr, console)
        return cls(verbosity, log_format, console)

    def run(self, work: Callable[[publish.Progress], publish.SyncResult]) -> publish.SyncResult:
        """Run ``work`` (a sync or backfill) with the progress display or progress log lines."""
        progress = logs.TerminalProgress(self.console) if self.console else logs.Progress()
        with progress:
            result = work(progress)
            progress.close(result.load.rows_written)
        return result

    def run_city(self, work: Callable[[publish.Progress], city.CityResult]) -> city.CityResult:
        """Run a city run (``etl.pipeline.run_city_sync``) with the progress display, a stage
        per district."""
        progress = logs.TerminalProgress(self.console) if self.console else logs.Progress()
        with progress:
            result = work(progress)
            progress.close()
        return result

    def run_served(
        self,
        settings: Settings,
        *,
        one: Callable[[publish.Progress], publish.SyncResult],
        several: Callable[[publish.Progress], city.CityResult],
    ) -> publish.SyncResult | city.CityResult:
        """Run ``one`` when the settings serve one district, else ``several`` (a summary
        line per district, see ``finish_served``)."""
        if len(settings.served_districts) > 1:
            return self.run_city(several)
        return self.run(one)

    def finish_served(
        self, result: publish.SyncResult | city.CityResult, settings: Settings
    ) -> None:
        """``finish`` or ``finish_city``, as ``run_served`` ran."""
        if isinstance(result, city.CityResult):
            self.finish_city(result, settings)
        else:
            self.finish(result, settings)

    def finish_city(self, result: city.CityResult, settings: Settings) -> None:
        """A line per district and the totals; exit 1 naming each district that failed,
        else 3 naming those with too many invalid records (published, as ``finish``)."""
        partial = [
            d.result
            for d in result.districts
            if d.result and d.result.rejected_share > settings.warn_invalid_share
        ]
        data = result.to_dict() | {"partial": [r.district for r in partial]}
        self.result("\n".join(city.summary_lines(result)), data)
        if result.failed:
            named = "; ".join(f"{d.district}: {d.error}" for d in result.failed)
            self.error(
                f"error: {len(result.failed)} of {len(result.districts)} districts were not "
                f"published ({named}); the others were.",
                ExitCode.FAILED,
            )
            raise typer.Exit(ExitCode.FAILED)
        if partial:
            named = ", ".join(f"{r.district} {r.rejected_share:.1%}" for r in partial)
            self.error(
                f"warning: records invalid over warn_invalid_share "
                f"{settings.warn_invalid_share:.0%} in {named}; the rest was published. "
                "See each district's rejects tab.",
                ExitCode.PARTIAL,
            )
            raise typer.Exit(ExitCode.PARTIAL)

    def finish(self, result: publish.SyncResult, settings: Settings) -> None:
        """Print the summary on stdout; exit 3 when too many records were invalid."""
        partial = result.rejected_share > settings.warn_invalid_share
        self.result("\n".join(summary_lines(result)), result.to_dict() | {"partial": partial})
        if partial:
            self.error(
                f"warning: {result.extract.rejected} records invalid "
                f"({result.rejected_share:.1%}, over warn_invalid_share "
                f"{settings.warn_invalid_share:.0%}); the rest was published. "
                "See the rejects tab; if the feed changed, update the feed module.",
                ExitCode.PARTIAL,
            )
            raise typer.Exit(ExitCode.PARTIAL)

    def result(self, text: str, data: Mapping[str, object]) -> None:
        """The command's result on stdout: ``text`` for a person (not with ``--quiet``),
        or ``data`` as one JSON object with ``--log-format json``, for machines."""
        if self.log_format is LogFormat.json:
            typer.echo(json.dumps(data, ensure_ascii=False, default=str))
        elif self.verbosity is not Verbosity.quiet:
            typer.echo(text)

    def error(self, message: str, code: int) -> None:
        """One line on stderr: plain text, or a JSON object with ``--log-format json``."""
        if self.log_format is LogFormat.json:
            level = "warning" if code == ExitCode.PARTIAL else "error"
            text = message.removeprefix(f"{level}: ")  # the level has its own field
            line = {"level": level, "message": text, "exit_code": int(code)}
            typer.echo(json.dumps(line, ensure_ascii=False), err=True)
        else:
            typer.echo(message, err=True)

    @contextmanager
    def one_line_errors(self) -> Iterator[None]:
        """Turn every failure into one line on stderr and its exit code.

        ``--verbose`` adds the traceback. Unexpected exceptions are bugs: they
        get one line too, saying so, and exit 1.
        """
        verbose = self.verbosity is Verbosity.verbose
        try:
            yield
        except EtlError as error:
            if verbose:
                logs.log.error("traceback", exc_info=True)
            self.error(f"error: {error}", error.exit_code)
            raise typer.Exit(error.exit_code) from None
        except KeyboardInterrupt:
            self.error("error: interrupted before the run finished; run the command again.", 130)
            raise typer.Exit(ExitCode.INTERRUPTED) from None
        except Exception as error:
            if verbose:
                logs.log.error("traceback", exc_info=True)
            hint = "" if verbose else " Run again with --verbose for the traceback;"
            self.error(
                f"error: unexpected {type(error).__name__}: {error}.{hint} "
                "please report it as a bug.",
                ExitCode.FAILED,
            )
            raise typer.Exit(ExitCode.FAILED) from None


def main() -> None:
    app()


def _short_helps() -> None:
    """`etl --help` lists each command with its docstring's first paragraph, wrapped,
    instead of click's cut at about 45 characters (`Check configuration, Traffy, ...`)."""
    for command in app.registered_commands:
        doc = command.callback.__doc__ if command.callback else None
        if command.short_help is None and doc:
            command.short_help = " ".join(doc.strip().split("\n\n")[0].split())


_short_helps()
