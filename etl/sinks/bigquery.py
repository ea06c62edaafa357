"""BigQuery sink: every tab as a table of one dataset, merged by row key, one district's rows.

The scale path past Google Sheets (``docs/bigquery.md``). One dataset holds many
districts: every table has a ``district`` column and a sink owns only the rows of
its own district. Its reads filter on it, and every ``MERGE`` matches on it, so a
district's run can never update or delete another district's rows.

A write works out what changed against the rows as read (by row key, from the
typed values), loads only the changed rows and the keys to delete into a staging
table (a Parquet load job: free, never row-by-row streaming), then runs one
``MERGE`` per table: insert new, update changed, delete what the district no
longer has. History tables (``status_history``, ``kpi_snapshots``) and ``_runs``
are insert-only. A table with no change costs nothing: no load, no query.

Why a crash anywhere converges: each table's ``MERGE`` is atomic, and the next
run diffs against the tables as they are, so a change already merged is not
staged again and one not merged yet is. A run drops its staging tables after the
MERGEs, and the district's next run drops any a crash left. ``_sync`` (the cursor)
is written last, as in the other sinks. One writer per district at a time: there is no lease here
(the scheduler runs one job per district).

One table is city-wide instead (``SHARED``: ``kpi_monthly_by_district``, whose key
holds the district compared): every district's run writes the same rows, so it is
read in full and merged on its key alone, with no owner column. In a city run
the first district's write loads and merges it; the others find the rows it
wrote (``_LastSeen``) and write nothing.

Columns are the tab's (``etl.tabs``), typed for Looker Studio: DATE, DATETIME
(Bangkok wall time, as in the other sinks), INT64, FLOAT64, BOOL, STRING; then
``district`` where the tab has none. A schema change is additive only: missing
columns are added, a column whose type differs stops the run before any write.
The sink checks schemas itself because the emulator the tests use accepts
castable type changes (see ``docs/bigquery.md``).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import itertools
import logging
import re
import threading
import typing
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import requests
from google.api_core import exceptions as google_errors
from google.api_core.client_options import ClientOptions
from google.api_core.retry import Retry
from google.cloud import bigquery

from etl.errors import ConfigError, SinkError
from etl.models import BANGKOK
from etl.sinks.base import LoadInfo, RunRecord, TabWrite
from etl.sinks.frames import _row_hashes
from etl.sinks.google_auth import GoogleCredential, is_loopback, load_credential
from etl.tabs import RUNS, TABS, Column, TabSpec

if TYPE_CHECKING:
    from etl.settings import Settings

log = logging.getLogger(__name__)

GOOGLE_BIGQUERY_URL = "https://bigquery.googleapis.com"
SCOPES = ("https://www.googleapis.com/auth/bigquery",)

BIGQUERY_TYPES = {
    "text": "STRING",
    "int": "INT64",
    "float": "FLOAT64",
    "bool": "BOOL",
    "date": "DATE",
    "datetime": "DATETIME",
}
"""Column kind -> BigQuery type. DATETIME, not TIMESTAMP: the tabs hold Bangkok wall
time, and Looker Studio shows a DATETIME as it is, with no time-zone shift."""

_SAME_TYPE = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL"}
"""Legacy names the API returns for the standard SQL types."""

INSERT_ONLY = frozenset({"status_history", "kpi_snapshots", RUNS.name})
"""Tables that only grow: a row once written is never updated or deleted."""

SHARED = frozenset(name for name, spec in TABS.items() if "district" in spec.key)
"""City-wide tables (``kpi_monthly_by_district``): the tab's own ``district`` is in its key
(the district compared, not an owner), and every district's run writes the same rows.
Read in full, merged on the key alone, no owner column: one table for every district."""

PARTITION_BY = {
    "complaints": "month",
    "open_tickets": "month",
    "status_history": "observed_at",
}
"""Large tables, partitioned by month of this column (creation month where the tab has
it), so a report filtered to a few months scans only those months."""

EXTRA_COLUMNS = {RUNS.name: (("bytes_processed", "int"),)}
"""BigQuery-only columns: ``_runs`` also logs the bytes the run's MERGEs processed."""

_PROJECT = re.compile(r"[a-z][a-z0-9-]{4,61}[a-z0-9]|[a-z0-9.-]+:[a-z][a-z0-9-]{4,61}[a-z0-9]")
_DATASET = re.compile(r"\w{1,1024}", re.ASCII)
"""Google's project ids (with an optional domain) and dataset names: nothing that could
end a quoted name in the SQL the sink writes."""

STAGING_PREFIX = "_staging_"
_DELETED = "_deleted"


@dataclass(frozen=True)
class Dataset:
    """``PROJECT.DATASET`` as given in ``bigquery_dataset``."""

    project: str
    dataset: str

    @classmethod
    def parse(cls, text: str) -> Dataset:
        project, _, dataset = text.strip().partition(".")
        if not _PROJECT.fullmatch(project) or not _DATASET.fullmatch(dataset):
            raise ConfigError(
                f"bigquery_dataset {text!r} is not PROJECT.DATASET "
                "(e.g. my-project.traffy); give the project id and the dataset name."
            )
        return cls(project, dataset)

    def __str__(self) -> str:
        return f"{self.project}.{self.dataset}"


@dataclass
class LoadCost:
    """What the last write loaded and queried: the bench's numbers."""

    staged_rows: int = 0
    bytes_loaded: int = 0
    bytes_processed: int = 0
    jobs: int = 0


def table_columns(name: str) -> list[Column]:
    """The table's columns: the tab's, BigQuery-only extras, then ``district`` (the owner)
    where the tab has none."""
    spec = _spec(name)
    columns = list(spec.columns)
    columns += [Column(n, kind, False) for n, kind in EXTRA_COLUMNS.get(name, ())]  # type: ignore[arg-type]
    if "district" not in spec.column_names:
        columns.append(Column("district", "text", True))
    return columns


def table_schema(name: str) -> list[bigquery.SchemaField]:
    """The table's BigQuery schema, with each column's description from the tab model."""
    fields = _spec(name).row_model.model_fields
    schema = []
    for column in table_columns(name):
        info = fields.get(column.name)
        description = info.description if info is not None else None
        # A float may be NaN in a frame (an empty cell in the other sinks): NULL here.
        nullable = info is None or column.kind == "float" or _nullable(info.annotation)
        if column.name == "district" and info is None:
            description = "District (เขต) whose run wrote the row, without prefix"
            nullable = False
        elif column.name == "bytes_processed":
            description = "Bytes the run's MERGE statements processed (BigQuery bills these)"
        schema.append(
            bigquery.SchemaField(
                column.name,
                BIGQUERY_TYPES[column.kind],
                mode="NULLABLE" if nullable else "REQUIRED",
                description=(description or "")[:1024],
            )
        )
    return schema


class _LastSeen:
    """The newest rows of each shared table that a sink of this process read or wrote.

    A city run reads every district's output, then writes them one after another:
    by its turn, a district's own read of a shared table is older than what the
    districts before it wrote there. Its write diffs against the newest rows seen
    instead, so only the first write of the run loads and merges; the others
    write the same rows and find no change. Rows seen before the sink's own read
    are never used, so a diff is never against older rows than the sink's own.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ticks = itertools.count(1)
        self._rows: dict[tuple[str, str], tuple[int, pd.DataFrame]] = {}

    def tick(self) -> int:
        with self._lock:
            return next(self._ticks)

    def remember(self, table: tuple[str, str], rows: pd.DataFrame) -> int:
        """Keep ``rows`` as the table's newest; returns when they were seen."""
        with self._lock:
            tick = next(self._ticks)
            self._rows[table] = (tick, rows)
            return tick

    def since(self, table: tuple[str, str], tick: int) -> pd.DataFrame | None:
        """The table's rows seen after ``tick``, or None."""
        with self._lock:
            seen = self._rows.get(table)
        return seen[1] if seen is not None and seen[0] > tick else None

    def forget(self, table: tuple[str, str]) -> None:
        """After a failed write: what the table holds is known again only by a read."""
        with self._lock:
            self._rows.pop(table, None)


_LAST_SEEN = _LastSeen()


class BigQuerySink:
    """Writes the tabs as tables of one BigQuery dataset, owning one district's rows
    (and writing the city-wide ``SHARED`` tables whole)."""

    write_mode = "merge"

    def __init__(
        self,
        dataset: str,
        district: str,
        *,
        client: bigquery.Client,
        retry_deadline: float = 600.0,
        on_staged: Callable[[str], None] | None = None,
        checked: set[str] | None = None,
    ) -> None:
        self.dataset = Dataset.parse(dataset)
        self.district = district
        self.client = client
        self.description = f"BigQuery dataset {self.dataset} (district {district})"
        self.retry = Retry(deadline=retry_deadline, timeout=retry_deadline)
        self.timeout = retry_deadline
        self.on_staged = on_staged
        """Called with the table's name after its staging load and before its MERGE
        (the point a crash test stops a run at)."""
        self.last_cost = LoadCost()
        self._api_calls = 0
        self._read_cache: dict[str, pd.DataFrame] = {}
        self._seen: dict[str, int] = {}
        """When this sink read (or wrote) each shared table (``_LastSeen``'s clock)."""
        self._endpoint: str = getattr(getattr(client, "_connection", None), "API_BASE_URL", "")
        """The client's API host (no public accessor): shared tables are known per host."""
        self._checked: set[str] = set() if checked is None else checked
        """Tables whose schema was checked (or made): a city-wide run's sinks, one per
        district on the same dataset and client, may share one set and check each once."""
        self._table_names: set[str] | None = None
        self._dataset_checked = False
        self._owner = hashlib.sha1(district.encode("utf-8")).hexdigest()[:10]

    @classmethod
    def from_settings(cls, settings: Settings) -> BigQuerySink:
        """The sink ``bigquery_dataset`` names, with the credential chain of the Sheets sink
        (a loopback ``bigquery_api_url`` needs none)."""
        if not settings.bigquery_dataset:
            raise ConfigError("No BigQuery dataset: set bigquery_dataset (PROJECT.DATASET).")
        target = Dataset.parse(settings.bigquery_dataset)
        credential = load_credential(
            settings.google_service_account_json, settings.bigquery_api_url, scopes=SCOPES
        )
        return cls(
            str(target),
            settings.district,
            client=make_client(target.project, settings.bigquery_api_url, credential),
            retry_deadline=settings.bigquery_retry_deadline,
        )

    # --- the Sink interface ---------------------------------------------------------

    def check_ready(self) -> None:
        """List the dataset's tables (the list the read uses next, asked once): a wrong
        project, endpoint or a refused credential fails here, before any Traffy request.
        A dataset not created yet is made by the first write."""
        with self._api_errors():
            self._tables()

    def read_tabs(self, names: Sequence[str]) -> dict[str, pd.DataFrame]:
        with self._api_errors():
            return self._read_tabs(names)

    def _read_tabs(self, names: Sequence[str]) -> dict[str, pd.DataFrame]:
        tabs: dict[str, pd.DataFrame] = {}
        for name in names:
            if name not in TABS and name != RUNS.name:
                continue  # the staff's actions tab stays in Sheets (docs/bigquery.md)
            frame = self._read(name)
            if frame is not None:
                tabs[name] = frame.copy()
        return tabs

    def write_tabs(
        self, tabs: Mapping[str, pd.DataFrame], run: RunRecord | None = None
    ) -> LoadInfo:
        with self._api_errors():
            return self._write_tabs(tabs, run)

    def _write_tabs(self, tabs: Mapping[str, pd.DataFrame], run: RunRecord | None) -> LoadInfo:
        self._api_calls = 0
        self.last_cost = LoadCost()
        info = LoadInfo()
        staged: list[tuple[str, str]] = []  # (table, its staging table)
        try:
            for name in tabs:
                self._ensure_table(name)  # every schema checked before the first load
            self._drop_leftovers()
            for name, frame in tabs.items():
                spec, owned = TABS[name], self._owned(name, frame)
                changed, deleted, info.tabs[name] = _diff(
                    spec, self._stored(name), owned, name in INSERT_ONLY, self._owner_of(name)
                )
                if len(changed) or len(deleted):
                    rows = pd.concat([changed.assign(**{_DELETED: False}), deleted])
                    staged.append((name, self._stage(name, rows)))
                    if self.on_staged is not None:
                        self.on_staged(name)
            if staged:
                self._merge_all(staged)
            info.bytes_processed = self.last_cost.bytes_processed
            for name, frame in tabs.items():
                self._remember(name, self._owned(name, frame)[TABS[name].column_names])
            info.api_calls = self._api_calls
            if run is not None:
                run.load = info
                self.record_run(run)
                info.api_calls = self._api_calls
        except BaseException:
            self._read_cache.clear()  # whatever was merged, the next read sees it
            self._seen.clear()
            for name in SHARED.intersection(tabs):
                _LAST_SEEN.forget(self._shared_id(name))
            raise
        return info

    def preview(self, tabs: Mapping[str, pd.DataFrame]) -> str:
        with self._api_errors():
            return self._preview(tabs)

    def _preview(self, tabs: Mapping[str, pd.DataFrame]) -> str:
        lines = []
        for name, frame in tabs.items():
            owned = self._owned(name, frame)
            old = self._stored(name)
            write = _diff(TABS[name], old, owned, name in INSERT_ONLY, self._owner_of(name))[2]
            lines.append(f"{name}: +{write.inserted} ~{write.updated} -{write.deleted}")
        return "\n".join(lines)

    def record_run(self, run: RunRecord) -> None:
        """Add the run to ``_runs``: one parameterised INSERT, skipped when the run is
        already there (a retried log adds it once)."""
        with self._api_errors():
            self._record_run(run)

    def _record_run(self, run: RunRecord) -> None:
        self._ensure_table(RUNS.name)
        row = run.row()
        row["started_at"] = _wall_time(run.started_at)
        row["finished_at"] = _wall_time(run.finished_at)
        row["bytes_processed"] = self.last_cost.bytes_processed
        row["district"] = self.district
        columns = table_columns(RUNS.name)
        params = [
            bigquery.ScalarQueryParameter(f"v{at}", BIGQUERY_TYPES[c.kind], row.get(c.name))  # type: ignore[arg-type]
            for at, c in enumerate(columns)
        ]
        table = self._table(RUNS.name)
        self._query(
            f"INSERT INTO `{table}` ({', '.join(f'`{c.name}`' for c in columns)}) "
            f"SELECT {', '.join(f'@v{at}' for at in range(len(columns)))} FROM UNNEST([1]) "
            f"WHERE NOT EXISTS (SELECT 1 FROM `{table}` "
            f"WHERE district = @v{len(columns) - 1} AND run_id = @v0)",
            params,
        )
        self._read_cache.pop(RUNS.name, None)

    # --- operations ---------------------------------------------------------------

    def init(self) -> list[str]:
        """Create the dataset when missing and every table, add missing columns:
        what ``etl init`` does. Returns what changed."""
        with self._api_errors():
            return self._init()

    def _init(self) -> list[str]:
        changes = [self._ensure_dataset()]
        for name in [*TABS, RUNS.name]:
            change = self._ensure_table(name)
            changes.append(change)
        return [change for change in changes if change]

    def _ensure_dataset(self) -> str | None:
        """Create the dataset when missing (in the project's default location)."""
        if self._dataset_checked:
            return None
        self._dataset_checked = True
        try:
            self.client.get_dataset(str(self.dataset), retry=self.retry, timeout=self.timeout)
        except google_errors.NotFound:
            self.client.create_dataset(str(self.dataset), retry=self.retry, timeout=self.timeout)
            self._api_calls += 1
            return f"created dataset {self.dataset}"
        finally:
            self._api_calls += 1
        return None

    def check_writable(self) -> str:
        """What ``etl doctor`` checks: the dataset exists and the credential may create,
        write and drop a table in it (a scratch table, dropped again)."""
        dataset = str(self.dataset)
        self.client.get_dataset(dataset, retry=self.retry, timeout=self.timeout)
        probe = f"{dataset}.{STAGING_PREFIX}doctor_{uuid.uuid4().hex[:12]}"
        table = bigquery.Table(probe, schema=[bigquery.SchemaField("ok", "BOOL")])
        table.expires = datetime.now(UTC) + timedelta(hours=1)
        self.client.create_table(table, retry=self.retry, timeout=self.timeout)
        try:
            self._query(f"INSERT INTO `{probe}` (ok) VALUES (TRUE)")
        finally:
            self.client.delete_table(probe, not_found_ok=True, retry=self.retry)
        return f"dataset {dataset} exists and the credential may write to it"

    def count_rows(self, name: str, *, all_districts: bool = False) -> int:
        """Rows of a table (this district's, or every district's; all of a shared table),
        counted by a query: table metadata (``num_rows``) is not current after DML in
        every backend."""
        where, params = ("", []) if all_districts else self._where(name)
        rows = self._query(f"SELECT COUNT(*) AS n FROM `{self._table(name)}`{where}", params)
        return int(rows.to_arrow(create_bqstorage_client=False).column("n")[0].as_py())

    # --- reading ------------------------------------------------------------------

    def _read(self, name: str) -> pd.DataFrame | None:
        if name in self._read_cache:
            return self._read_cache[name]
        if name not in self._tables():
            if name in SHARED:
                self._seen[name] = _LAST_SEEN.tick()  # none yet: any rows written later are newer
            return None
        spec = _spec(name)
        where, params = self._where(name)
        order = ", ".join(f"`{k}`" for k in spec.key)
        rows = self._query(f"SELECT * FROM `{self._table(name)}`{where} ORDER BY {order}", params)
        frame = _typed(spec, rows.to_arrow(create_bqstorage_client=False))
        self._remember(name, frame)
        return frame

    def _stored(self, name: str) -> pd.DataFrame | None:
        """The rows a write diffs against: as this sink read (or last wrote) them; for a
        shared table, the newest any sink of the process saw since (``_LastSeen``)."""
        if name in SHARED and name in self._seen:
            newer = _LAST_SEEN.since(self._shared_id(name), self._seen[name])
            if newer is not None:
                return newer
        return self._read(name)

    def _remember(self, name: str, frame: pd.DataFrame) -> None:
        """The table holds ``frame`` (this district's rows; all of a shared table)."""
        self._read_cache[name] = frame
        if name in SHARED:
            self._seen[name] = _LAST_SEEN.remember(self._shared_id(name), frame)

    def _shared_id(self, name: str) -> tuple[str, str]:
        return self._endpoint, self._table(name)

    def _owner_of(self, name: str) -> str | None:
        """The district whose rows the sink writes in the table (None: a shared table)."""
        return None if name in SHARED else self.district

    def _tables(self) -> set[str]:
        """The dataset's tables (asked once per sink: a run reads many)."""
        if self._table_names is None:
            try:
                listed = self.client.list_tables(str(self.dataset), retry=self.retry)
                self._table_names = {item.table_id for item in listed}
            except google_errors.NotFound:
                self._table_names = set()
            self._api_calls += 1
        return self._table_names

    # --- writing ------------------------------------------------------------------

    def _stage(self, name: str, rows: pd.DataFrame) -> str:
        """Load the rows to merge into a new staging table (a Parquet load job)."""
        staging = self._table(f"{STAGING_PREFIX}{self._owner}_{name}_{uuid.uuid4().hex[:8]}")
        data = _parquet(table_columns(name), rows)
        schema = [
            bigquery.SchemaField(f.name, f.field_type, mode="NULLABLE") for f in table_schema(name)
        ] + [bigquery.SchemaField(_DELETED, "BOOL", mode="NULLABLE")]
        config = bigquery.LoadJobConfig(
            source_format=bigquery.SourceFormat.PARQUET,
            write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE,
            create_disposition=bigquery.CreateDisposition.CREATE_IF_NEEDED,
            schema=schema,
        )
        try:
            job = self.client.load_table_from_file(
                io.BytesIO(data), staging, job_config=config, timeout=self.timeout
            )
            job.result(retry=self.retry, timeout=self.timeout)
        except google_errors.GoogleAPICallError as error:
            raise SinkError(f"BigQuery {self.dataset}: loading {name}: {error.message}") from None
        self._api_calls += 2
        self.last_cost.jobs += 1
        self.last_cost.staged_rows += len(rows)
        self.last_cost.bytes_loaded += len(data)
        return staging

    def _merge_all(self, staged: list[tuple[str, str]]) -> None:
        """One script (one request): every table's MERGE, then the staging tables dropped.

        Each MERGE is atomic; the script is not one transaction, because the emulator
        the tests run against aborts a MERGE inside ``BEGIN TRANSACTION`` (untested code
        would not ship). A script that stops half-way converges on the next run, which
        diffs against the tables as they are."""
        merges = [
            _merge_sql(self._table(name), staging, name, name in INSERT_ONLY) + ";"
            for name, staging in staged
        ]
        drops = [f"DROP TABLE IF EXISTS `{staging}`;" for _, staging in staged]
        script = "\n".join([*merges, *drops])
        owned = any(name not in SHARED for name, _ in staged)  # a MERGE names @district
        rows = self._query(script, self._where()[1] if owned else [])
        self.last_cost.jobs += 1
        self.last_cost.bytes_processed += getattr(rows, "total_bytes_processed", None) or 0

    def _owned(self, name: str, frame: pd.DataFrame) -> pd.DataFrame:
        """The frame with the table's columns, ``district`` set to this sink's district:
        the rows it writes are the rows it owns. A shared table's rows keep theirs."""
        out = frame.copy()
        for column in table_columns(name):
            if column.name not in out:
                out[column.name] = None
        if name not in SHARED:
            out["district"] = self.district
        return out[[c.name for c in table_columns(name)]]

    def _ensure_table(self, name: str) -> str | None:
        """Create the table, or add the columns it lacks; a retyped column is an error."""
        if name in self._checked:
            return None
        self._ensure_dataset()
        table_id = self._table(name)
        wanted = table_schema(name)
        try:
            table = self.client.get_table(table_id, retry=self.retry, timeout=self.timeout)
        except google_errors.NotFound:
            table = bigquery.Table(table_id, schema=wanted)
            if name in PARTITION_BY:
                table.time_partitioning = bigquery.TimePartitioning(
                    type_=bigquery.TimePartitioningType.MONTH, field=PARTITION_BY[name]
                )
            spec = _spec(name)
            table.clustering_fields = list(dict.fromkeys(["district", *spec.key]))[:4]
            table.description = (spec.row_model.__doc__ or "").strip().splitlines()[0]
            self.client.create_table(table, retry=self.retry, timeout=self.timeout)
            self._api_calls += 2
            self._checked.add(name)
            if self._table_names is not None:
                self._table_names.add(name)
            self._remember(name, spec.empty())  # a new table: nothing to read back
            return f"created table {name}"
        self._api_calls += 1
        have = {field.name: field for field in table.schema}
        for field in wanted:
            old = have.get(field.name)
            if old is None:
                continue
            if _type(old.field_type) != _type(field.field_type):
                raise SinkError(
                    f"BigQuery table {table_id} column {field.name} is {old.field_type}, "
                    f"this version writes {field.field_type}: a column's type never changes "
                    "(schemas/published.json). Restore the column or write to a new dataset."
                )
        missing = [field for field in wanted if field.name not in have]
        change = None
        if missing:
            # An added column is NULLABLE whatever the tab says: BigQuery adds no REQUIRED
            # column to a table with rows.
            added = [
                bigquery.SchemaField(f.name, f.field_type, "NULLABLE", description=f.description)
                for f in missing
            ]
            table.schema = [*table.schema, *added]
            self.client.update_table(table, ["schema"], retry=self.retry, timeout=self.timeout)
            self._api_calls += 1
            change = f"added to {name}: {', '.join(f.name for f in missing)}"
            self._read_cache.pop(name, None)
            self._seen.pop(name, None)
        self._checked.add(name)
        return change

    def _drop_leftovers(self) -> None:
        """Drop this district's staging tables left by a run that crashed."""
        prefix = f"{STAGING_PREFIX}{self._owner}_"
        self._table_names = None
        for table_id in sorted(self._tables()):
            if table_id.startswith(prefix):
                log.info("Dropping staging table %s left by an earlier run", table_id)
                self.client.delete_table(self._table(table_id), not_found_ok=True, retry=self.retry)
                self._api_calls += 1

    @contextlib.contextmanager
    def _api_errors(self) -> Iterator[None]:
        """BigQuery's errors as the one-line ``SinkError`` the CLI prints."""
        try:
            yield
        except google_errors.GoogleAPICallError as error:
            raise SinkError(f"BigQuery {self.dataset}: {error.message}") from None
        except (google_errors.RetryError, requests.RequestException) as error:
            raise SinkError(
                f"BigQuery {self.dataset} did not answer ({type(error).__name__}); "
                "check bigquery_api_url and the network, then run again."
            ) from None

    # --- queries ------------------------------------------------------------------

    def _table(self, name: str) -> str:
        return f"{self.dataset}.{name}"

    def _where(self, name: str | None = None) -> tuple[str, list[bigquery.ScalarQueryParameter]]:
        """The filter to this district's rows (none for a shared table)."""
        if name in SHARED:
            return "", []
        return " WHERE district = @district", [
            bigquery.ScalarQueryParameter("district", "STRING", self.district)
        ]

    def _query(self, sql: str, params: Sequence[bigquery.ScalarQueryParameter] = ()) -> Any:
        config = bigquery.QueryJobConfig(query_parameters=list(params))
        try:
            rows = self.client.query_and_wait(
                sql, job_config=config, retry=self.retry, api_timeout=self.timeout,
                wait_timeout=self.timeout,
            )  # fmt: skip
        except google_errors.GoogleAPICallError as error:
            raise SinkError(f"BigQuery {self.dataset}: {error.message}") from None
        self._api_calls += 1
        return rows


def make_client(project: str, api_url: str, credential: GoogleCredential) -> bigquery.Client:
    """A client on ``api_url`` (Google's, or a loopback emulator's)."""
    options = None
    if api_url.rstrip("/") != GOOGLE_BIGQUERY_URL:
        options = ClientOptions(api_endpoint=api_url.rstrip("/"))
    if is_loopback(api_url):
        log.debug("BigQuery API on loopback %s", api_url)
    return bigquery.Client(
        project=project, credentials=credential.credentials, client_options=options
    )


def _merge_sql(target: str, staging: str, name: str, insert_only: bool) -> str:
    """One MERGE: matched on ``district`` (this sink's only) and the row key; a shared
    table's on its key alone."""
    spec = _spec(name)
    names = [c.name for c in table_columns(name)]
    owner = [] if name in SHARED else ["T.district = @district", "S.district = T.district"]
    on = " AND ".join([*owner, *(f"T.`{k}` = S.`{k}`" for k in spec.key)])
    insert = (
        f"INSERT ({', '.join(f'`{n}`' for n in names)}) "
        f"VALUES ({', '.join(f'S.`{n}`' for n in names)})"
    )
    if insert_only:
        return f"MERGE `{target}` T USING `{staging}` S ON {on} WHEN NOT MATCHED THEN {insert}"
    updates = ", ".join(f"`{n}` = S.`{n}`" for n in names if n not in spec.key and n != "district")
    update = f"WHEN MATCHED THEN UPDATE SET {updates} " if updates else ""  # all key: no update
    return (
        f"MERGE `{target}` T USING `{staging}` S ON {on} "
        f"WHEN MATCHED AND S.{_DELETED} THEN DELETE {update}"
        f"WHEN NOT MATCHED AND NOT S.{_DELETED} THEN {insert}"
    )


def _diff(
    spec: TabSpec,
    old: pd.DataFrame | None,
    new: pd.DataFrame,
    insert_only: bool,
    district: str | None,
) -> tuple[pd.DataFrame, pd.DataFrame, TabWrite]:
    """The new rows to stage (new keys, and changed rows unless insert-only), the old
    keys to delete (marked ``_deleted``, with the owner's ``district``; a shared table's
    key has its own), and the counts.

    Rows compare by their typed values (``etl.sinks.frames``), so a value that
    round-trips through BigQuery unchanged is no change. Of one key, the last row counts.
    """
    new = new.reset_index(drop=True)
    new_keys, new_rows = _row_hashes(spec, new) if len(new) else (_empty(), _empty())
    last = ~pd.Series(new_keys).duplicated(keep="last").to_numpy()
    new, new_keys, new_rows = new[last].reset_index(drop=True), new_keys[last], new_rows[last]
    if old is None or old.empty:
        return new, new.iloc[0:0], TabWrite(len(new), 0, 0, len(new) * len(new.columns))
    old_keys, old_rows = _row_hashes(spec, old)
    stored = pd.Series(old_rows, index=pd.Index(old_keys))
    stored = stored[~stored.index.duplicated(keep="last")]
    known = np.isin(new_keys, stored.index.to_numpy())
    before = stored.reindex(new_keys).to_numpy()
    differs = known & (before != new_rows)
    inserted, updated = int((~known).sum()), int(differs.sum())
    if insert_only:
        differs[:] = False
        updated = 0
    changed = new[~known | differs]
    deleted = old.iloc[0:0]
    if not insert_only:
        gone = ~np.isin(old_keys, new_keys)
        deleted = old.loc[gone, list(spec.key)].assign(**{_DELETED: True})
        if district is not None:
            deleted = deleted.assign(district=district)
    cells = (len(changed)) * len(new.columns)
    return changed, deleted, TabWrite(inserted, updated, len(deleted), cells)


def _empty() -> np.ndarray[Any, np.dtype[np.int64]]:
    return np.array([], dtype=np.int64)


def _parquet(columns: list[Column], frame: pd.DataFrame) -> bytes:
    """The rows as Parquet with BigQuery's types (dates as DATE, wall times as
    timestamps without a zone, which BigQuery loads into DATETIME)."""
    arrays = {}
    for column in columns:
        values = frame[column.name] if column.name in frame else pd.Series([None] * len(frame))
        arrays[column.name] = _arrow(values, column.kind)
    if _DELETED in frame:
        arrays[_DELETED] = pa.array(frame[_DELETED].astype(bool).to_numpy(), pa.bool_())
    buffer = io.BytesIO()
    pq.write_table(pa.table(arrays), buffer, compression="snappy")
    return buffer.getvalue()


def _arrow(values: pd.Series, kind: str) -> pa.Array:
    if kind in ("date", "datetime"):
        moments = pd.to_datetime(values).astype("datetime64[us]")
        stamps = pa.array(moments.to_numpy(), pa.timestamp("us"), from_pandas=True)
        return stamps.cast(pa.date32()) if kind == "date" else stamps
    if kind == "int":
        return pa.array(pd.to_numeric(values).astype("Int64"), pa.int64(), from_pandas=True)
    if kind == "float":
        return pa.array(pd.to_numeric(values).astype("float64"), pa.float64(), from_pandas=True)
    if kind == "bool":
        return pa.array(values.astype(object).where(values.notna(), None), pa.bool_())
    text = values.astype(object).where(values.notna(), None)
    return pa.array(text.to_numpy(), pa.string(), from_pandas=True)


def _typed(spec: TabSpec, table: pa.Table) -> pd.DataFrame:
    """Rows read back, typed as the other sinks read theirs (``etl.sinks.base.Sink``)."""
    columns: dict[str, Any] = {}
    rows = table.num_rows
    for column in spec.columns:
        if column.name not in table.column_names:
            values: Any = pa.nulls(rows)
        else:
            values = table.column(column.name)
        if column.kind in ("date", "datetime"):
            moments = pc.cast(values, pa.timestamp("us")) if len(values) else values
            columns[column.name] = (
                pd.Series(moments.to_pandas(), dtype="datetime64[us]")
                .astype("datetime64[ns]")
                .to_numpy()
                if len(values)
                else np.array([], dtype="datetime64[ns]")
            )
        elif column.kind == "int":
            integers = pc.cast(values, pa.int64()).to_pandas(types_mapper=_INT64.get)
            columns[column.name] = pd.array(integers, dtype="Int64")
        elif column.kind == "float":
            columns[column.name] = np.asarray(
                pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False), dtype="float64"
            )
        elif column.kind == "bool":
            filled = pc.fill_null(pc.cast(values, pa.bool_()), False)
            columns[column.name] = np.asarray(filled.to_numpy(zero_copy_only=False), dtype=bool)
        else:
            columns[column.name] = (
                pd.Series(pc.cast(values, pa.string()).to_pandas(), dtype=object)
                .where(lambda s: s.notna(), None)
                .to_numpy(dtype=object)
            )
    return pd.DataFrame(columns, columns=spec.column_names)


def _nullable(annotation: Any) -> bool:
    """Whether the tab's model allows an empty value (``X | None``)."""
    return type(None) in typing.get_args(annotation)


_INT64 = {pa.int64(): pd.Int64Dtype()}


def _type(name: str) -> str:
    return _SAME_TYPE.get(name, name)


def _spec(name: str) -> TabSpec:
    return RUNS if name == RUNS.name else TABS[name]


def _wall_time(moment: datetime) -> datetime:
    return moment.astimezone(BANGKOK).replace(tzinfo=None)
