"""Where each district's tabs go: a spreadsheet, a BigQuery dataset or a folder.

One place decides (``make_sink`` for one district, ``district_sinks`` for a
run serving several); ``etl sync``, ``backfill``, ``report``, ``init`` and the
demo all ask here, so a setting means the same output to every command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from etl.errors import ConfigError
from etl.settings import Settings
from etl.sinks import LocalSink, Sink


def make_sink(settings: Settings) -> Sink:
    """The sink the settings ask for: the BigQuery dataset or the spreadsheet when one is
    configured, else local files."""
    if settings.bigquery_dataset:
        from etl.sinks.bigquery import BigQuerySink  # google-cloud-bigquery: an extra

        return BigQuerySink.from_settings(settings)
    if settings.spreadsheet_id:
        from etl.sinks.sheets import SheetsSink  # gspread is only loaded when used

        return SheetsSink.from_settings(settings)
    return LocalSink(settings.out, names=settings.tabs)


def district_sinks(settings: Settings, *, local_rest: bool) -> dict[str, Sink]:
    """The output of each served district: its spreadsheet from ``[spreadsheets]``, else
    the folder ``out/<district>/`` (named as Traffy writes the district).

    With spreadsheets configured, a district without one is a usage error unless
    ``local_rest`` (``--out`` given): a forgotten id must not send an office's
    report to a folder on the runner that nobody reads.
    """
    if settings.spreadsheet_id and settings.spreadsheet_id not in settings.spreadsheets.values():
        raise ConfigError(
            "spreadsheet_id (--spreadsheet-id, ETL_SPREADSHEET_ID) names one spreadsheet; "
            "a run serving several districts takes one per district from [spreadsheets] "
            "in the config file or ETL_SPREADSHEETS (a JSON object)."
        )
    served = settings.served_districts
    if settings.bigquery_dataset:  # one dataset, a district column (docs/bigquery.md)
        return {name: make_sink(settings.model_copy(update={"district": name})) for name in served}
    missing = [name for name in served if name not in settings.spreadsheets]
    if settings.spreadsheets and missing and not local_rest:
        shown = ", ".join(missing[:5]) + (
            f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        )
        raise ConfigError(
            f"No spreadsheet for {len(missing)} served district(s): {shown}. Add them to "
            "[spreadsheets] (or ETL_SPREADSHEETS), or give --out DIR for their CSV files."
        )
    sinks: dict[str, Sink] = {}
    for name in served:
        if name in settings.spreadsheets:
            one = settings.model_copy(
                update={"district": name, "spreadsheet_id": settings.spreadsheets[name]}
            )
            sinks[name] = make_sink(one)
        else:
            sinks[name] = LocalSink(settings.out / name, names=settings.tabs)
    return sinks


class Preparable(Protocol):
    """An output ``etl init`` can prepare (a spreadsheet, a BigQuery dataset)."""

    def init(self) -> list[str]: ...


def outputs_to_init(settings: Settings) -> dict[str, Preparable]:
    """What ``etl init`` prepares, by label: the BigQuery dataset; else the spreadsheet
    ``spreadsheet_id`` names; else, when it is unset or one of ``[spreadsheets]``, every
    spreadsheet there (labelled by district). Empty: nothing to prepare (local files
    need none)."""
    if settings.bigquery_dataset:
        from etl.sinks.bigquery import BigQuerySink

        return {settings.bigquery_dataset: BigQuerySink.from_settings(settings)}
    from etl.sinks.sheets import SheetsSink  # gspread is only loaded when used

    if settings.spreadsheet_id and settings.spreadsheet_id not in settings.spreadsheets.values():
        return {settings.spreadsheet_id: SheetsSink.from_settings(settings)}
    return {
        district: SheetsSink.from_settings(
            settings.model_copy(update={"district": district, "spreadsheet_id": sid})
        )
        for district, sid in settings.spreadsheets.items()
    }


def district_output(settings: Settings) -> Sink:
    """Where one district's tabs are (``etl report --district``): its spreadsheet, else
    the folder a city run wrote for it (``out/<district>/``), else ``out`` itself."""
    if len(settings.served_districts) != 1:
        raise ConfigError("Name one district: each district's output is read on its own.")
    folder = settings.out / settings.district
    if not settings.spreadsheet_id and folder.is_dir():
        return LocalSink(folder, names=settings.tabs)
    return make_sink(settings)


def report_outputs(settings: Settings, html: Path) -> list[tuple[Sink, Path]]:
    """``etl report`` of a city-wide configuration: each served district's output and
    its page, ``report-<district>.html`` beside ``html`` (the workflow keeps the folder)."""
    pages = []
    for name in settings.served_districts:
        one = settings.model_copy(
            update={"district": name, "spreadsheet_id": settings.spreadsheets.get(name)}
        )
        pages.append((district_output(one), html.with_name(f"{html.stem}-{name}{html.suffix}")))
    return pages
