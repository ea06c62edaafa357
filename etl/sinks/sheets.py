"""Google Sheets sink: diff-based writes of the pipeline's tabs to one spreadsheet.

Write mode: merge by row key. A sync reads the spreadsheet metadata once and
every managed tab in one ``values.batchGet``, computes per row key what
changed (``etl.sinks.sheets_cells``), then sends at most one
``spreadsheets.batchUpdate`` (new tabs, grid growth) and as few
``values.batchUpdate`` calls as the request size allows. Nothing changed: two
requests, no cell written.

Besides the pipeline's tabs (``etl.tabs.TABS``) it keeps three of its own:
``actions`` (staff tab, see `etl.tabs.ActionRow`), ``_state`` (a lease that
stops two syncs writing at once, and init bookkeeping) and ``_runs`` (one row
per run, `SheetsSink.record_run`). Tabs are never deleted or re-created: their
sheet ids are what Looker Studio data sources are bound to.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd
import requests
from gspread.exceptions import APIError

from etl.errors import SheetsAuthError, SheetsError, SheetsLimitError, SheetsLockedError
from etl.models import BANGKOK
from etl.sinks.base import LoadInfo, RunRecord, TabWrite
from etl.sinks.google_auth import GoogleCredential, load_credential
from etl.sinks.google_session import (
    GOOGLE_SHEETS_URL,
    RetryPolicy,
    SheetsHTTPClient,
    SheetsSession,
)
from etl.sinks.sheets_cells import (
    Block,
    TabDiff,
    blocks,
    decode_rows,
    diff_actions,
    diff_owned,
    encode_frame,
    normalize,
    to_serial,
    wire,
)
from etl.sinks.sheets_quota import RequestLimiter, process_limiter
from etl.tabs import (
    ACTION_REFERENCE_COLUMNS,
    ACTIONS,
    RUNS,
    RUNS_TAB,
    STATE,
    STATE_TAB,
    TABS,
    TabSpec,
)

if TYPE_CHECKING:
    from etl.settings import Settings

log = logging.getLogger(__name__)

MAX_CELLS = 10_000_000
PROTECTION_NOTE = "traffy-etl: written by the pipeline, edits are overwritten"
_NUMBER_FORMATS: dict[str, dict[str, str]] = {
    "date": {"type": "DATE", "pattern": "yyyy-mm-dd"},
    "datetime": {"type": "DATE_TIME", "pattern": "yyyy-mm-dd hh:mm:ss"},
    "int": {"type": "NUMBER", "pattern": "0"},
}
_STATE_KEYS = ("lease_owner", "lease_expires_at", "last_sync_at", "last_run_id", "init_signature")


@dataclass
class SyncPlan:
    """What a sync would change, per tab id; `write_tabs` executes it."""

    diffs: dict[str, TabDiff] = field(default_factory=dict)
    structure: list[dict[str, Any]] = field(default_factory=list)
    new_tabs: list[str] = field(default_factory=list)
    truncated_cells: int = 0
    cells_after: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.structure) or any(d.changed for d in self.diffs.values())

    def load_info(self, api_calls: int) -> LoadInfo:
        info = LoadInfo(api_calls=api_calls)
        for tab, d in self.diffs.items():
            if not tab.startswith("_"):  # bookkeeping tabs are not the user's data
                info.tabs[tab] = TabWrite(d.inserted, d.updated, d.deleted, d.cells)
        return info

    def summary(self) -> str:
        """A few lines for --dry-run: counts and first changes per tab."""
        lines = []
        for tab, d in self.diffs.items():
            lines.append(f"{tab}: +{d.inserted} ~{d.updated} -{d.deleted} ({d.cells} cells)")
            lines.extend(f"  {s}" for s in d.samples)
        if self.new_tabs:
            lines.append(f"new tabs: {', '.join(self.new_tabs)}")
        if self.truncated_cells:
            lines.append(f"{self.truncated_cells} cell(s) over 50,000 characters truncated")
        return "\n".join(lines)


@dataclass
class _Sheet:
    sheet_id: int
    title: str
    rows: int
    columns: int
    frozen_rows: int
    protected: bool
    hidden: bool = False


class SheetsSink:
    """Writes the tabs to one Google spreadsheet, changing only what changed."""

    write_mode = "merge"

    def __init__(
        self,
        spreadsheet_id: str,
        *,
        api_url: str = GOOGLE_SHEETS_URL,
        credential: GoogleCredential | None = None,
        tab_names: Mapping[str, str] | None = None,
        actions_tab: str = "actions",
        timeout: float = 120.0,
        retry: RetryPolicy | None = None,
        max_request_bytes: int = 2_000_000,
        lock_minutes: float = 30.0,
        dry_run: bool = False,
        clock: Callable[[], datetime] | None = None,
        limiter: RequestLimiter | None = None,
    ) -> None:
        self.spreadsheet_id = spreadsheet_id
        self.credential = credential or load_credential(None, api_url)
        self.http = SheetsHTTPClient(
            SheetsSession(self.credential.credentials, base_url=api_url, timeout=timeout),
            retry,
            limiter,
        )
        self.names = {tab: (tab_names or {}).get(tab, tab) for tab in TABS}
        self.names[ACTIONS.name] = actions_tab
        self.names[STATE_TAB] = STATE_TAB
        self.names[RUNS_TAB] = RUNS_TAB
        self.max_request_bytes = max_request_bytes
        self.lock = timedelta(minutes=lock_minutes)
        self.dry_run = dry_run
        self.clock = clock or (lambda: datetime.now(UTC))
        self.last_plan: SyncPlan | None = None
        self._cache: tuple[dict[str, _Sheet], dict[str, list[list[Any]]]] | None = None
        self.description = f"Google spreadsheet {spreadsheet_id}"

    @classmethod
    def from_settings(cls, settings: Settings, *, dry_run: bool = False) -> SheetsSink:
        """The sink `etl sync`/`etl init` use when a spreadsheet id is set."""
        if not settings.spreadsheet_id:
            raise SheetsError("No spreadsheet id: set ETL_SPREADSHEET_ID or --spreadsheet-id.")
        credential = load_credential(settings.google_service_account_json, settings.sheets_api_url)
        return cls(
            settings.spreadsheet_id,
            api_url=settings.sheets_api_url,
            credential=credential,
            tab_names=settings.tabs,
            actions_tab=settings.actions_tab,
            timeout=settings.sheets_timeout,
            retry=RetryPolicy(
                attempts=settings.sheets_retry_attempts,
                initial=settings.sheets_retry_backoff_initial,
                maximum=settings.sheets_retry_backoff_max,
            ),
            max_request_bytes=settings.sheets_max_request_bytes,
            lock_minutes=settings.sheets_lock_minutes,
            dry_run=dry_run,
            limiter=process_limiter(settings.sheets_requests_per_minute),
        )

    @property
    def api_calls(self) -> int:
        """Every HTTP request this sink made, retries included."""
        return self.http.total_calls

    def spec(self, tab: str) -> TabSpec:
        return {ACTIONS.name: ACTIONS, STATE_TAB: STATE, RUNS_TAB: RUNS}.get(tab) or TABS[tab]

    # -- reading -----------------------------------------------------------

    def sheet_ids(self, tabs: Sequence[str]) -> dict[str, int]:
        """The sheet id (the ``#gid=`` of its URL) of each of ``tabs`` the spreadsheet has.

        Looked up by the tab's configured name, keyed by tab id; a tab not
        created yet is left out. Looker Studio data sources are bound to these
        ids, so a renamed tab keeps its data source.
        """
        sheets = self._metadata()
        return {tab: sheets[self.names[tab]].sheet_id for tab in tabs if self.names[tab] in sheets}

    def check_ready(self) -> None:
        """Nothing to do: a run reads the tabs before its first Traffy request, and that
        read fails on a wrong id or a missing share. Edit rights cannot be seen without
        writing; ``etl doctor`` checks them."""

    def read_tabs(self, names: Sequence[str]) -> dict[str, pd.DataFrame]:
        """Tabs by id as typed frames; ``actions`` includes the staff columns."""
        sheets, contents = self._snapshot()
        present = [n for n in names if self.names.get(n, n) in sheets]
        out: dict[str, pd.DataFrame] = {}
        for name in present:
            rows = contents[self.names[name]]
            header = rows[0] if rows else []
            body = [r for r in rows[1:] if any(normalize(v) is not None for v in r)]
            out[name] = decode_rows(self.spec(name), header, body)
        return out

    # -- writing -----------------------------------------------------------

    def plan(self, tabs: Mapping[str, pd.DataFrame]) -> SyncPlan:
        """What `write_tabs` would change (two read requests, no write)."""
        plan, _state = self._plan(tabs)
        return plan

    def preview(self, tabs: Mapping[str, pd.DataFrame]) -> str:
        """``--dry-run``: per tab, rows to insert, update and delete, and the first changes."""
        return self.plan(tabs).summary() or "nothing to change"

    def write_tabs(
        self, tabs: Mapping[str, pd.DataFrame], run: RunRecord | None = None
    ) -> LoadInfo:
        """Make the tabs hold these frames; ``actions`` follows ``complaints``.

        A ``run`` is logged in ``_runs`` by the same request as the last cells,
        at the row after the last one read: a retried request rewrites the
        same row, never a second one. Nothing changed: one request, the log row.
        """
        before = self.api_calls
        plan, state = self._plan(tabs, run_row=run is not None)
        logged = self._snapshot()[1].get(RUNS_TAB, [])
        runs_row = len(logged) + 1
        self._cache = None  # whatever happens next, the spreadsheet may change
        self.last_plan = plan
        if self.dry_run:
            return plan.load_info(self.api_calls - before)
        chunks = [chunk for chunk in self._chunks(self._value_ranges(plan)) if chunk]
        if chunks:
            self._check_lease(state)
        # The log row goes out with the last request, so it counts the calls so far
        # plus those planned (a retry of that last request is not in it).
        calls = (1 if plan.structure else 0) + max(len(chunks), 1 if run else 0)
        if run:
            run.load = plan.load_info(self.api_calls - before + calls)
        log_range = [*_runs_header(logged), self._run_range(run, max(runs_row, 2))] if run else []
        if plan.structure:
            self._call(
                "change the tabs' structure",
                self.http.batch_update,
                self.spreadsheet_id,
                {"requests": plan.structure},
            )
        if not chunks:
            if log_range:
                self._call(
                    "record the run",
                    self.http.values_batch_update,
                    self.spreadsheet_id,
                    {"valueInputOption": "RAW", "data": log_range},
                )
            return plan.load_info(self.api_calls - before)
        run_id = uuid.uuid4().hex[:12]
        acquired = False
        try:
            for i, chunk in enumerate(chunks):
                extra: list[dict[str, Any]] = []
                last = i == len(chunks) - 1
                if last:
                    extra = self._state_ranges(run_id, release=True) + log_range
                elif i == 0:
                    extra = self._state_ranges(run_id, release=False)
                self._call(
                    "write cells",
                    self.http.values_batch_update,
                    self.spreadsheet_id,
                    {"valueInputOption": "RAW", "data": extra + chunk},
                )
                acquired = not last
        except SheetsError:
            if acquired:
                self._release_quietly(run_id)
            raise
        if plan.truncated_cells:
            log.warning("%d cell(s) over 50,000 characters were truncated", plan.truncated_cells)
        return plan.load_info(self.api_calls - before)

    def _run_range(self, run: RunRecord, row: int) -> dict[str, Any]:
        """The run's ``_runs`` row as a value range at ``row`` (1-based).

        An explicit position, never an append: a request retried after its
        response was lost rewrites the same cells instead of adding a row.
        """
        values = [wire(v) for v in _run_cells(run)]
        return {
            "range": f"{_quote(RUNS_TAB)}!A{row}:{_column(len(values) - 1)}{row}",
            "values": [values],
        }

    def _plan(
        self, tabs: Mapping[str, pd.DataFrame], *, run_row: bool = False
    ) -> tuple[SyncPlan, dict[str, str]]:
        unknown = sorted(set(tabs) - set(TABS))
        if unknown:
            raise SheetsError(f"Unknown tab(s) {unknown}; known: {', '.join(TABS)}.")
        sheets, contents = self._snapshot()
        state = state_values(contents.get(STATE_TAB, []))
        plan = SyncPlan()
        for tab, frame in tabs.items():
            spec = TABS[tab]
            missing = [c for c in spec.column_names if c not in frame.columns]
            if missing:
                raise SheetsError(f"Tab {tab} lacks column(s) {missing}.")
            cells, truncated = encode_frame(spec, frame[spec.column_names])
            plan.truncated_cells += truncated
            plan.diffs[tab] = diff_owned(spec, contents.get(self.names[tab], []), cells)
        if "complaints" in tabs:
            reference = _action_rows(tabs["complaints"])
            cells, _ = encode_frame(ACTIONS, reference)
            plan.diffs[ACTIONS.name] = diff_actions(
                ACTIONS, ACTION_REFERENCE_COLUMNS, contents.get(self.names[ACTIONS.name], []), cells
            )
        needs = {
            self.names[t]: (d.rows_needed, d.columns_needed, self.spec(t))
            for t, d in plan.diffs.items()
        }
        if run_row and RUNS_TAB in sheets:
            # Room for the run's log row below the rows read.
            logged = len(contents.get(RUNS_TAB, []))
            needs[RUNS_TAB] = (max(logged, 1) + 1, len(RUNS.columns), RUNS)
        for own in (STATE, RUNS):
            if own.name not in sheets:
                needs[own.name] = (
                    1 + (len(_STATE_KEYS) if own is STATE else int(run_row)),
                    len(own.columns),
                    own,
                )
                plan.diffs.setdefault(own.name, TabDiff())
        if RUNS_TAB not in sheets:
            plan.diffs[RUNS_TAB].runs.extend(_header_runs(RUNS))
        if STATE_TAB not in sheets:
            plan.diffs[STATE_TAB].runs.extend(_header_runs(STATE))
        plan.structure, plan.new_tabs, plan.cells_after = self._grow(sheets, needs)
        for name in (STATE_TAB, RUNS_TAB):
            if name in plan.diffs and not plan.diffs[name].changed:
                del plan.diffs[name]
        return plan, state

    def _grow(
        self, sheets: Mapping[str, _Sheet], needs: Mapping[str, tuple[int, int, TabSpec]]
    ) -> tuple[list[dict[str, Any]], list[str], int]:
        """Structure requests so every tab fits its rows; fails before writing past 10 M cells."""
        grid = {title: (s.rows, s.columns) for title, s in sheets.items()}
        exact = dict(grid)
        for title, (rows, cols, _spec) in needs.items():
            old_rows, old_cols = grid.get(title, (0, 0))
            exact[title] = (max(old_rows, rows, 2), max(old_cols, cols))
        total = sum(r * c for r, c in exact.values())
        if total > MAX_CELLS:
            biggest = sorted(((r * c, t) for t, (r, c) in exact.items()), reverse=True)[:3]
            raise SheetsLimitError(
                f"Writing would need {total:,} cells, over Google Sheets' limit of "
                f"{MAX_CELLS:,} per spreadsheet; nothing was written. Largest tabs: "
                + ", ".join(f"{t} ({n:,})" for n, t in biggest)
                + ". Remove unused tabs or empty rows/columns, or sync fewer months "
                "(window_months)."
            )
        spare = MAX_CELLS - total
        requests_: list[dict[str, Any]] = []
        new_tabs: list[str] = []
        used_ids = {s.sheet_id for s in sheets.values()}
        for title, (rows, _cols, spec) in needs.items():
            want_rows, want_cols = exact[title]
            if want_rows > grid.get(title, (0, 0))[0] or title not in grid:
                # Headroom so daily syncs rarely need a structure request.
                headroom = min(max(100, rows // 10), spare // max(want_cols, 1))
                want_rows += headroom
                spare -= headroom * want_cols
            if title not in sheets:
                sheet_id = _new_sheet_id(used_ids)
                used_ids.add(sheet_id)
                new_tabs.append(title)
                requests_.append(_add_sheet(sheet_id, title, want_rows, want_cols, spec))
                requests_.extend(_setup_requests(sheet_id, spec, protect=spec is not ACTIONS))
            elif (want_rows, want_cols) != grid[title]:
                sheet = sheets[title]
                requests_.append(
                    {
                        "updateSheetProperties": {
                            "properties": {
                                "sheetId": sheet.sheet_id,
                                "gridProperties": {"rowCount": want_rows, "columnCount": want_cols},
                            },
                            "fields": "gridProperties.rowCount,gridProperties.columnCount",
                        }
                    }
                )
            exact[title] = (want_rows, want_cols)
        return requests_, new_tabs, sum(r * c for r, c in exact.values())

    def _value_ranges(self, plan: SyncPlan) -> list[tuple[dict[str, Any], int]]:
        """Every changed block as value ranges, with their JSON sizes.

        Ranges are cut small (a sixteenth of a request) so requests pack close to
        the size limit: a first load takes about as many requests as its bytes
        need, not one per half-full range.
        """
        data: list[tuple[dict[str, Any], int]] = []
        for tab, d in plan.diffs.items():
            title = self.names[tab]
            for block in blocks(d.runs):
                data.extend(_sized_ranges_of(title, block, self.max_request_bytes // 16))
        return data

    def _chunks(self, data: list[tuple[dict[str, Any], int]]) -> Iterator[list[dict[str, Any]]]:
        """Ranges packed into requests under the size limit (state ranges ride along)."""
        budget = self.max_request_bytes - 2_000
        chunk: list[dict[str, Any]] = []
        size = 0
        for item, item_size in data:
            if chunk and size + item_size > budget:
                yield chunk
                chunk, size = [], 0
            chunk.append(item)
            size += item_size
        if chunk:
            yield chunk

    # -- lease ---------------------------------------------------------------

    def _check_lease(self, state: Mapping[str, str]) -> None:
        owner = state.get("lease_owner")
        expires = state.get("lease_expires_at")
        if not owner or not expires:
            return
        try:
            until = datetime.fromisoformat(expires)
        except ValueError:
            return
        if until.tzinfo is None:
            until = until.replace(tzinfo=UTC)
        if until > self.clock():
            local = until.astimezone(BANGKOK).isoformat(sep=" ", timespec="minutes")
            raise SheetsLockedError(
                f"Another sync (run {owner}) holds the spreadsheet until {local} "
                "(Bangkok time); nothing was written. Wait for it, or if it died, retry after "
                "that time."
            )

    def _state_ranges(self, run_id: str, *, release: bool) -> list[dict[str, Any]]:
        now = self.clock()
        lease = ["", ""] if release else [run_id, (now + self.lock).isoformat()]
        values = [["lease_owner", lease[0]], ["lease_expires_at", lease[1]]]
        if release:
            values += [["last_sync_at", now.isoformat()], ["last_run_id", run_id]]
        end = 1 + len(values)
        return [{"range": f"{_quote(STATE_TAB)}!A2:B{end}", "values": values}]

    def _release_quietly(self, run_id: str) -> None:
        try:
            self.http.values_batch_update(
                self.spreadsheet_id,
                {"valueInputOption": "RAW", "data": self._state_ranges(run_id, release=True)[:1]},
            )
        except (APIError, requests.RequestException):
            log.warning("Could not release the sync lease; it expires by itself.")

    # -- init ------------------------------------------------------------------

    def init(self) -> list[str]:
        """Create missing tabs with headers, frozen header, number formats and
        warning-only protection; idempotent. Returns what it changed."""
        self._cache = None
        sheets = self._metadata()
        tabs = [*TABS, ACTIONS.name, STATE_TAB, RUNS_TAB]
        present = [self.names[t] for t in tabs if self.names[t] in sheets]
        contents = self._read(present, header_only=[t for t in present if t != STATE_TAB])
        state = state_values(contents.get(STATE_TAB, []))
        signature = init_signature([(self.names[t], self.spec(t)) for t in tabs])
        reapply = state.get("init_signature") != signature
        changes: list[str] = []
        structure: list[dict[str, Any]] = []
        data: list[dict[str, Any]] = []
        used_ids = {s.sheet_id for s in sheets.values()}
        for tab in tabs:
            title, spec = self.names[tab], self.spec(tab)
            protect = spec is not ACTIONS
            sheet = sheets.get(title)
            if sheet is None:
                sheet_id = _new_sheet_id(used_ids)
                used_ids.add(sheet_id)
                rows = 1 + (len(_STATE_KEYS) if spec is STATE else 0)
                structure.append(
                    _add_sheet(sheet_id, title, max(rows, 100), len(spec.columns), spec)
                )
                structure.extend(_setup_requests(sheet_id, spec, protect=protect))
                changes.append(f"created tab {title}")
                header: list[Any] = []
            else:
                if sheet.frozen_rows != 1:
                    structure.append(_freeze(sheet.sheet_id))
                    changes.append(f"froze the header of {title}")
                if sheet.columns < len(spec.columns):
                    structure.append(_resize(sheet.sheet_id, sheet.rows, len(spec.columns)))
                if reapply:
                    structure.extend(_formats(sheet.sheet_id, spec))
                    changes.append(f"set number formats of {title}")
                if protect and not sheet.protected:
                    structure.append(_protect(sheet.sheet_id))
                    changes.append(f"protected {title} (warning only)")
                if not spec.for_looker and not sheet.hidden:  # made before tabs were hidden
                    structure.append(_hide(sheet.sheet_id))
                    changes.append(f"hid {title} (the pipeline's bookkeeping)")
                rows_ = contents.get(title, [])
                header = list(rows_[0]) if rows_ else []
            if spec is ACTIONS:
                runs = diff_actions(
                    spec, ACTION_REFERENCE_COLUMNS, [header] if header else [], []
                ).runs
            else:
                runs = [
                    r for r in diff_owned(spec, [header] if header else [], []).runs if r.row == 0
                ]
            for block in blocks(runs):
                data.extend(_ranges_of(title, block, self.max_request_bytes))
            if runs and sheet is not None:
                changes.append(f"wrote the header of {title}")
        if reapply or STATE_TAB not in sheets:
            keys = [[k, ""] for k in _STATE_KEYS]
            existing = {k: v for k, v in state.items()}
            for row in keys:
                row[1] = existing.get(row[0], "")
            keys[-1][1] = signature
            data.append({"range": f"{_quote(STATE_TAB)}!A2:B{1 + len(keys)}", "values": keys})
        if structure:
            self._call(
                "set up the tabs",
                self.http.batch_update,
                self.spreadsheet_id,
                {"requests": structure},
            )
        if data:
            self._call(
                "write headers",
                self.http.values_batch_update,
                self.spreadsheet_id,
                {"valueInputOption": "RAW", "data": data},
            )
        return changes

    # -- runs ------------------------------------------------------------------

    def record_run(self, run: RunRecord) -> None:
        """Log a run that wrote nothing (a failed one) in the row after ``_runs``' last.

        Written at that row as `write_tabs` logs a run, so a retried request
        leaves one row. A missing ``_runs`` tab is created by `init`; a full one
        grows first, as a sync grows it (to an absolute size: retries are harmless).
        """
        self._cache = None
        sheets = self._metadata()
        if RUNS_TAB not in sheets:
            self.init()
            sheets = self._metadata()
        logged = self._read([RUNS_TAB]).get(RUNS_TAB, [])
        row = max(len(logged) + 1, 2)
        structure, _new_tabs, _cells = self._grow(
            sheets, {RUNS_TAB: (row, len(RUNS.columns), RUNS)}
        )
        if structure:
            self._call(
                "make room in _runs",
                self.http.batch_update,
                self.spreadsheet_id,
                {"requests": structure},
            )
        self._call(
            "record the run",
            self.http.values_batch_update,
            self.spreadsheet_id,
            {"valueInputOption": "RAW", "data": [*_runs_header(logged), self._run_range(run, row)]},
        )

    # -- API calls ---------------------------------------------------------------

    def _metadata(self) -> dict[str, _Sheet]:
        meta = self._call(
            "read the spreadsheet", self.http.fetch_sheet_metadata, self.spreadsheet_id
        )
        sheets: dict[str, _Sheet] = {}
        for sheet in meta.get("sheets", []):
            props = sheet["properties"]
            grid = props.get("gridProperties", {})
            protected = any(
                p.get("description") == PROTECTION_NOTE for p in sheet.get("protectedRanges", [])
            )
            sheets[props["title"]] = _Sheet(
                int(props["sheetId"]),
                props["title"],
                int(grid.get("rowCount", 0)),
                int(grid.get("columnCount", 0)),
                int(grid.get("frozenRowCount", 0)),
                protected,
                bool(props.get("hidden", False)),  # Google leaves it out when false
            )
        return sheets

    def _snapshot(self) -> tuple[dict[str, _Sheet], dict[str, list[list[Any]]]]:
        """Metadata and every managed tab, read once (two requests) and reused.

        A sync reads the previous tabs (to carry history forward) and then
        plans its write from the same content: one read serves both. Any write
        forgets the snapshot.
        """
        if self._cache is None:
            sheets = self._metadata()
            titles = [self.names[t] for t in [*TABS, ACTIONS.name, STATE_TAB, RUNS_TAB]]
            self._cache = sheets, self._read([t for t in titles if t in sheets])
        return self._cache

    def _read(
        self, titles: Sequence[str], *, header_only: Sequence[str] = ()
    ) -> dict[str, list[list[Any]]]:
        """Every tab's values in ONE batchGet, unformatted (numbers, serial dates)."""
        if not titles:
            return {}
        ranges = [f"{_quote(t)}!1:1" if t in header_only else _quote(t) for t in titles]
        reply = self._call(
            "read the tabs",
            self.http.values_batch_get,
            self.spreadsheet_id,
            ranges,
            {
                "valueRenderOption": "UNFORMATTED_VALUE",
                "dateTimeRenderOption": "SERIAL_NUMBER",
                "majorDimension": "ROWS",
            },
        )
        return {
            title: list(value_range.get("values", []))
            for title, value_range in zip(titles, reply.get("valueRanges", []), strict=False)
        }

    def _call(self, what: str, method: Callable[..., Any], *args: Any) -> Any:
        try:
            return method(*args)
        except APIError as error:
            raise self._error(error, what) from None
        except requests.RequestException as error:
            raise SheetsError(
                f"Cannot reach the Google Sheets API to {what} ({type(error).__name__})."
            ) from None

    def _error(self, error: APIError, what: str) -> SheetsError:
        status = error.error.get("status", "")
        message = str(error.error.get("message", ""))[:300]
        share = (
            f"share the spreadsheet with {self.credential.email} as Editor"
            if self.credential.email
            else "share the spreadsheet with the service account's e-mail as Editor"
        )
        if error.code in (401, 403):
            return SheetsAuthError(
                f"Google refused to let us {what} in spreadsheet {self.spreadsheet_id} "
                f"({error.code} {status}, credential: {self.credential.source}): {share}."
            )
        if error.code == 404:
            return SheetsError(
                f"Spreadsheet {self.spreadsheet_id} not found (404): check the spreadsheet id "
                f"and {share}."
            )
        if "above the limit" in message:
            return SheetsLimitError(f"Could not {what}: {message}")
        return SheetsError(
            f"Could not {what}: Google Sheets answered {error.code} {status}: {message}"
        )


# ---------------------------------------------------------------------------
# Helpers


def _quote(title: str) -> str:
    return "'" + title.replace("'", "''") + "'"


def _column(index: int) -> str:
    letters = ""
    n = index + 1
    while n:
        n, rem = divmod(n - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _ranges_of(title: str, block: Block, max_bytes: int) -> list[dict[str, Any]]:
    """A block as value ranges, split by rows so none exceeds `max_bytes`."""
    return [item for item, _size in _sized_ranges_of(title, block, max_bytes)]


def _sized_ranges_of(title: str, block: Block, max_bytes: int) -> list[tuple[dict[str, Any], int]]:
    """:func:`_ranges_of` with each range's JSON size, each row serialised once."""
    out: list[tuple[dict[str, Any], int]] = []
    rows = [[wire(v) for v in row] for row in block.rows]
    sizes = [len(json.dumps(row)) + 2 for row in rows]
    start = 0
    while start < len(rows):
        size, end = 0, start
        while end < len(rows):
            if end > start and size + sizes[end] > max_bytes:
                break
            size += sizes[end]
            end += 1
        width = len(rows[start])
        first = f"{_column(block.col)}{block.row + start + 1}"
        last = f"{_column(block.col + width - 1)}{block.row + end}"
        item = {"range": f"{_quote(title)}!{first}:{last}", "values": rows[start:end]}
        out.append((item, size + len(item["range"]) + 30))
        start = end
    return out


def _runs_header(logged: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
    """The ``_runs`` header as a value range when the tab's is older (fewer columns): a
    column added to ``RunRow`` gets its name above the values logged under it."""
    names = RUNS.column_names
    if logged and [str(v) for v in logged[0][: len(names)]] == names:
        return []
    if not logged:
        return []  # a new tab: its header is written with the tab
    return [{"range": f"{_quote(RUNS_TAB)}!A1:{_column(len(names) - 1)}1", "values": [names]}]


def _header_runs(spec: TabSpec) -> list[Any]:
    return diff_owned(spec, [], []).runs


def _new_sheet_id(used: set[int]) -> int:
    while True:
        candidate = random.randrange(1, 2**31 - 1)
        if candidate not in used:
            return candidate


def _add_sheet(sheet_id: int, title: str, rows: int, columns: int, spec: TabSpec) -> dict[str, Any]:
    """A new tab with a frozen header row; the pipeline's bookkeeping tabs are hidden."""
    return {
        "addSheet": {
            "properties": {
                "sheetId": sheet_id,
                "title": title,
                "hidden": not spec.for_looker,
                "gridProperties": {"rowCount": rows, "columnCount": columns, "frozenRowCount": 1},
            }
        }
    }


def _freeze(sheet_id: int) -> dict[str, Any]:
    return {
        "updateSheetProperties": {
            "properties": {"sheetId": sheet_id, "gridProperties": {"frozenRowCount": 1}},
            "fields": "gridProperties.frozenRowCount",
        }
    }


def _hide(sheet_id: int) -> dict[str, Any]:
    return {
        "updateSheetProperties": {
            "properties": {"sheetId": sheet_id, "hidden": True},
            "fields": "hidden",
        }
    }


def _resize(sheet_id: int, rows: int, columns: int) -> dict[str, Any]:
    return {
        "updateSheetProperties": {
            "properties": {
                "sheetId": sheet_id,
                "gridProperties": {"rowCount": rows, "columnCount": columns},
            },
            "fields": "gridProperties.rowCount,gridProperties.columnCount",
        }
    }


def _protect(sheet_id: int) -> dict[str, Any]:
    return {
        "addProtectedRange": {
            "protectedRange": {
                "range": {"sheetId": sheet_id},
                "description": PROTECTION_NOTE,
                "warningOnly": True,
            }
        }
    }


def _formats(sheet_id: int, spec: TabSpec) -> list[dict[str, Any]]:
    """Number formats per typed column, from row 2 down (whole column, so new rows inherit)."""
    out = []
    for i, column in enumerate(spec.columns):
        number_format = _NUMBER_FORMATS.get(column.kind)
        if number_format is None:
            continue
        out.append(
            {
                "repeatCell": {
                    "range": {
                        "sheetId": sheet_id,
                        "startRowIndex": 1,
                        "startColumnIndex": i,
                        "endColumnIndex": i + 1,
                    },
                    "cell": {"userEnteredFormat": {"numberFormat": number_format}},
                    "fields": "userEnteredFormat.numberFormat",
                }
            }
        )
    return out


def _setup_requests(sheet_id: int, spec: TabSpec, *, protect: bool) -> list[dict[str, Any]]:
    return _formats(sheet_id, spec) + ([_protect(sheet_id)] if protect else [])


def init_signature(tabs: Sequence[tuple[str, TabSpec]]) -> str:
    text = json.dumps([[t, [(c.name, c.kind) for c in s.columns]] for t, s in tabs])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def state_values(rows: Sequence[Sequence[Any]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for row in rows[1:]:
        if row and isinstance(row[0], str):
            value = normalize(row[1]) if len(row) > 1 else None
            out.setdefault(row[0], "" if value is None else str(value))
    return out


def _run_cells(run: RunRecord) -> list[Any]:
    """The run's ``_runs`` row as cells: times as Bangkok date-time serials."""
    values = run.row()
    values["started_at"] = to_serial(_bangkok_wall_time(run.started_at), "datetime")
    values["finished_at"] = to_serial(_bangkok_wall_time(run.finished_at), "datetime")
    return [values[name] for name in RUNS.column_names]


def _bangkok_wall_time(moment: datetime) -> datetime:
    """Run times are shown to people: Bangkok wall time, like every other tab."""
    return moment.astimezone(BANGKOK).replace(tzinfo=None)


def _action_rows(complaints: pd.DataFrame) -> pd.DataFrame:
    """The reference columns of ``actions`` from the complaints frame."""
    out = pd.DataFrame(index=complaints.index)
    for name in ACTIONS.column_names:
        source = "sections" if name == "section" else name
        if name in ACTION_REFERENCE_COLUMNS:
            out[name] = complaints[source]
        else:
            out[name] = pd.Series([None] * len(complaints), index=complaints.index, dtype="object")
    out["fixed_on"] = pd.to_datetime(out["fixed_on"])
    return out.reset_index(drop=True)
