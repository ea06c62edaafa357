"""SheetsSink against the fake Sheets server, through real gspread and HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from pydantic import SecretStr

from etl.errors import SheetsAuthError, SheetsError, SheetsLimitError, SheetsLockedError
from etl.fakes.sheets import MAX_CELLS, FakeSheetsServer
from etl.settings import load_settings
from etl.sinks.google_auth import load_credential
from etl.sinks.google_session import RetryPolicy
from etl.sinks.sheets import RunRecord, SheetsSink
from etl.sinks.sheets_cells import TRUNCATION_MARKER
from etl.tabs import RUNS, TABS

FAST_RETRY = RetryPolicy(attempts=4, initial=0.001, maximum=0.01)


class Clock:
    """A settable clock for lease expiry."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def server() -> Iterator[FakeSheetsServer]:
    with FakeSheetsServer() as srv:
        yield srv


@pytest.fixture(autouse=True)
def fresh(server: FakeSheetsServer) -> None:
    server.clear_faults()
    server.reset_stats()


@pytest.fixture
def sid(server: FakeSheetsServer) -> str:
    return server.create_spreadsheet()


def make_sink(server: FakeSheetsServer, sid: str, **kwargs: object) -> SheetsSink:
    kwargs.setdefault("retry", FAST_RETRY)
    kwargs.setdefault("credential", load_credential(None, server.url, environ={}))
    return SheetsSink(sid, api_url=server.url, **kwargs)  # type: ignore[arg-type]


def complaints(n: int, start: int = 0) -> pd.DataFrame:
    """A complaints frame typed as the pipeline hands it to sinks."""
    spec = TABS["complaints"]
    ids = [f"2024-{i:06d}" for i in range(start, start + n)]
    created = pd.Series(pd.to_datetime("2024-01-01 08:00:00") + pd.to_timedelta(range(n), unit="h"))
    data: dict[str, object] = {}
    for column in spec.columns:
        if column.kind == "text":
            data[column.name] = [f"{column.name} ข้อความ {i}" for i in ids]
        elif column.kind == "int":
            data[column.name] = pd.array(range(start, start + n), dtype="Int64")
        elif column.kind == "float":
            data[column.name] = [13.7 + i / 1000 for i in range(n)]
        elif column.kind == "bool":
            data[column.name] = [i % 2 == 0 for i in range(n)]
        elif column.kind == "date":
            data[column.name] = created.dt.to_period("M").dt.to_timestamp()
        else:
            data[column.name] = created
    data["ticket_id"] = ids
    frame = pd.DataFrame(data)[spec.column_names]
    frame.loc[frame.index % 7 == 0, "note"] = None
    frame["star"] = frame["star"].astype("Int64").mask(frame.index % 5 == 0)
    return frame


def kpis() -> pd.DataFrame:
    spec = TABS["kpi_monthly"]
    frame = pd.DataFrame(
        {
            "month": pd.to_datetime(["2024-01-01", "2024-02-01"]),
            "month_th": ["ม.ค. 2567", "ก.พ. 2567"],
            "total": pd.array([10, 20], dtype="Int64"),
            "in_progress": pd.array([1, 2], dtype="Int64"),
            "in_progress_pct": [10.0, 10.0],
            "in_progress_ratio": [0.1, 0.1],
        }
    )
    for name in ("waiting", "forwarded", "following", "finished", "irrelevant", "unknown"):
        frame[name] = pd.array([0, 1], dtype="Int64")
    frame["as_of"] = pd.to_datetime("2024-02-15 06:30:15")
    # Measures appended after as_of (issue 5).
    for name in ("finished_timed", "reopened", "rated"):
        frame[name] = pd.array([3, 4], dtype="Int64")
    for name in ("days_to_finish_median", "days_to_finish_p90", "reopened_ratio", "star_mean"):
        frame[name] = [1.25, float("nan")]
    return frame[spec.column_names]


def assert_same_frame(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Equal values; text compared as objects (sinks return None for missing text)."""

    def plain(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.reset_index(drop=True).copy()
        for name in out.columns:
            if out[name].dtype == object or pd.api.types.is_string_dtype(out[name]):
                out[name] = out[name].astype(object).where(out[name].notna(), None)
        return out

    pd.testing.assert_frame_equal(plain(got), plain(expected), check_dtype=False)


def sorted_rows(values: list[list[object]]) -> list[list[object]]:
    return [values[0], *sorted(values[1:], key=lambda r: str(r[0]))] if values else []


def test_first_sync_fills_an_empty_spreadsheet(server: FakeSheetsServer, sid: str) -> None:
    sink = make_sink(server, sid)
    frame = complaints(30)
    info = sink.write_tabs({"complaints": frame, "kpi_monthly": kpis()})
    assert info.tabs["complaints"].inserted == 30
    assert info.tabs["actions"].inserted == 30
    assert set(server.tab_titles(sid)) >= {
        "complaints",
        "kpi_monthly",
        "actions",
        "_state",
        "_runs",
    }
    values = server.tab_values(sid, "complaints")
    assert values[0] == TABS["complaints"].column_names
    assert len(values) == 31
    back = sink.read_tabs(["complaints", "kpi_monthly", "missing_is_absent"])
    assert set(back) == {"complaints", "kpi_monthly"}
    assert_same_frame(back["complaints"], frame)
    assert_same_frame(back["kpi_monthly"], kpis())
    props = server.tab_properties(sid, "complaints")
    assert props["gridProperties"]["frozenRowCount"] == 1
    protected = {p["range"]["sheetId"] for p in server.protected_ranges(sid)}
    assert props["sheetId"] in protected
    assert all(p["warningOnly"] for p in server.protected_ranges(sid))


def test_second_sync_writes_nothing(server: FakeSheetsServer, sid: str) -> None:
    sink = make_sink(server, sid)
    frame = complaints(200)
    sink.write_tabs({"complaints": frame, "kpi_monthly": kpis()})
    server.reset_stats()
    info = sink.write_tabs({"complaints": frame, "kpi_monthly": kpis()})
    assert server.stats.requests <= 3
    assert server.stats.writes == 0
    assert server.stats.cells_written == 0
    assert info.api_calls == server.stats.requests
    assert sum(t.cells_written for t in info.tabs.values()) == 0


def test_daily_sync_of_50_changed_tickets(server: FakeSheetsServer, sid: str) -> None:
    sink = make_sink(server, sid)
    old = complaints(5000)
    sink.write_tabs({"complaints": old})
    new = old.copy()
    new.loc[100:139, "state"] = "เสร็จสิ้น"  # 40 updated
    new.loc[100:139, "finished_at"] = pd.Timestamp("2024-09-01 10:00:00")
    new = pd.concat([new.drop(index=range(10)), complaints(10, 9000)], ignore_index=True)
    server.reset_stats()
    info = sink.write_tabs({"complaints": new})
    assert server.stats.requests <= 5
    assert info.tabs["complaints"].inserted == 10
    assert info.tabs["complaints"].updated == 40
    assert info.tabs["complaints"].deleted == 10
    # Cells that really changed: 2 per updated ticket, 29 per new ticket and
    # its 6 reference cells in actions, 2 per updated actions row (state).
    really = 40 * 2 + 10 * len(new.columns) + 10 * 6 + 40 * 1
    assert server.stats.cells_written <= 2 * really
    back = sink.read_tabs(["complaints"])["complaints"]
    expected = new.sort_values("ticket_id").reset_index(drop=True)
    got = back.sort_values("ticket_id").reset_index(drop=True)
    assert_same_frame(got, expected)


def test_staff_edits_survive_sorting_and_added_columns(server: FakeSheetsServer, sid: str) -> None:
    sink = make_sink(server, sid)
    sink.write_tabs({"complaints": complaints(20)})
    header = server.tab_values(sid, "actions")[0]
    col = {name: i for i, name in enumerate(header)}
    # Staff fill in row 3 (ticket 2024-000001), add a column and sort descending.
    row = 3
    server.set_values(sid, "actions", f"G{row}", [["ฝ่ายโยธา", "=SUM(1,2) ล้างท่อ", 45300]])
    server.set_values(sid, "actions", f"L{row}", [["  note with spaces  "]])
    server.set_values(sid, "actions", "M1", [["staff_extra"]])
    server.set_values(sid, "actions", f"M{row}", [["kept"]])
    server.set_values(
        sid, "actions", "A30", [["", "", "", "", "", "", "", "", "", "", "", "loose"]]
    )
    server.sort_rows(sid, "actions", col["ticket_id"], reverse=True)
    before = {
        r[col["ticket_id"]]: r
        for r in server.tab_values(sid, "actions")[1:]
        if r and r[col["ticket_id"]]
    }
    changed = complaints(22)
    changed.loc[1, "state"] = "เสร็จสิ้น"
    sink.write_tabs({"complaints": changed})
    after_rows = server.tab_values(sid, "actions")
    after = {r[col["ticket_id"]]: r for r in after_rows[1:] if r and r[col["ticket_id"]]}
    staff = after["2024-000001"]
    assert staff[col["responsible_section"] : col["fixed_on"] + 1] == [
        "ฝ่ายโยธา",
        "=SUM(1,2) ล้างท่อ",
        45300,
    ]
    assert staff[col["note"]] == "  note with spaces  "
    assert staff[12] == "kept"
    assert staff[col["state"]] == "เสร็จสิ้น"
    for ticket, old_row in before.items():
        if ticket != "2024-000001":
            assert after[ticket] == old_row
    assert set(after) == set(before) | {"2024-000020", "2024-000021"}
    assert sum(1 for r in after_rows if r and r[11:12] == ["loose"]) == 1
    assert server.formulas(sid) == []
    actions = sink.read_tabs(["actions"])["actions"].set_index("ticket_id")
    assert actions.loc["2024-000001", "fixed_on"] == pd.Timestamp("2024-01-09")
    assert actions.loc["2024-000001", "action_taken"] == "=SUM(1,2) ล้างท่อ"


def test_quota_and_server_errors_are_retried(server: FakeSheetsServer, sid: str) -> None:
    sink = make_sink(server, sid)
    server.fail_next(status=500, kind="read")
    server.fail_write(1, status=429, count=2, retry_after=0)
    info = sink.write_tabs({"complaints": complaints(10)})
    assert server.stats.faults == 3
    assert info.api_calls == server.stats.requests
    assert len(server.tab_values(sid, "complaints")) == 11


def test_retries_are_bounded(server: FakeSheetsServer, sid: str) -> None:
    sink = make_sink(server, sid)
    server.fail_next(status=503, count=None)
    with pytest.raises(SheetsError, match="503"):
        sink.write_tabs({"complaints": complaints(3)})
    assert server.stats.requests == FAST_RETRY.attempts


def _owned_tabs(server: FakeSheetsServer, sid: str) -> dict[str, list[list[object]]]:
    return {t: server.tab_values(sid, t) for t in server.tab_titles(sid) if not t.startswith("_")}


def test_crash_mid_sync_is_repaired_by_next_sync(server: FakeSheetsServer) -> None:
    old, new = complaints(300), complaints(320, 15)
    new.loc[50:80, "state"] = "เสร็จสิ้น"
    clean = server.create_spreadsheet()
    make_sink(server, clean).write_tabs({"complaints": old})
    make_sink(server, clean).write_tabs({"complaints": new, "kpi_monthly": kpis()})

    clock = Clock()
    crashed = server.create_spreadsheet()
    sink = make_sink(server, crashed, max_request_bytes=40_000, clock=clock)
    sink.write_tabs({"complaints": old})
    server.reset_stats()
    server.fail_write(3, status=500, count=None)  # dies after two write requests
    with pytest.raises(SheetsError):
        sink.write_tabs({"complaints": new, "kpi_monthly": kpis()})
    server.clear_faults()
    assert server.stats.cells_written > 0  # it really did stop half-way
    with pytest.raises(SheetsLockedError, match="holds the spreadsheet"):
        sink.write_tabs({"complaints": new, "kpi_monthly": kpis()})
    clock.now += timedelta(hours=1)  # the dead run's lease expires
    sink.write_tabs({"complaints": new, "kpi_monthly": kpis()})
    repaired, reference = _owned_tabs(server, crashed), _owned_tabs(server, clean)
    assert set(repaired) == set(reference)
    for tab in reference:
        assert sorted_rows(repaired[tab]) == sorted_rows(reference[tab]), tab
    ids = [r[0] for r in repaired["complaints"][1:]]
    assert len(ids) == len(set(ids)) == 320


def test_lock_stops_a_second_writer(server: FakeSheetsServer, sid: str) -> None:
    clock = Clock()
    first = make_sink(server, sid, max_request_bytes=20_000, clock=clock)
    first.write_tabs({"complaints": complaints(5)})
    # A sync that is still writing holds a lease in _state.
    server.set_values(sid, "_state", "A2", [["lease_owner", "abc123"]])
    until = (clock.now + timedelta(minutes=10)).isoformat()
    server.set_values(sid, "_state", "A3", [["lease_expires_at", until]])
    second = make_sink(server, sid, clock=clock)
    server.reset_stats()
    with pytest.raises(SheetsLockedError, match="abc123") as locked:
        second.write_tabs({"complaints": complaints(8)})
    # 00:10 UTC on New Year's Day is 07:10 in Bangkok: the time a person reads.
    assert "until 2026-01-01 07:10+07:00 (Bangkok time)" in str(locked.value)
    assert server.stats.writes == 0
    clock.now += timedelta(minutes=11)
    assert second.write_tabs({"complaints": complaints(8)}).tabs["complaints"].inserted == 3


def test_text_is_never_evaluated_and_keeps_leading_zeros(
    server: FakeSheetsServer, sid: str
) -> None:
    frame = complaints(5)
    risky = ['=IMPORTXML("http://x")', "+66 81 234 5678", "-", "@mention", "000123"]
    frame["description"] = risky
    frame.loc[0, "ticket_id"] = "007"
    make_sink(server, sid).write_tabs({"complaints": frame})
    values = server.tab_values(sid, "complaints")
    column = TABS["complaints"].column_names.index("description")
    assert [r[column] for r in values[1:]] == risky
    assert values[1][0] == "007"
    assert server.formulas(sid) == []


def test_dates_are_formatted_serial_numbers(server: FakeSheetsServer, sid: str) -> None:
    make_sink(server, sid).write_tabs({"complaints": complaints(2), "kpi_monthly": kpis()})
    names = TABS["complaints"].column_names
    row = server.tab_values(sid, "complaints")[1]
    created = names.index("created_at")
    month = names.index("month")
    assert row[created] == pytest.approx(45292 + 8 / 24)
    assert row[month] == 45292
    assert server.number_format(sid, "complaints", 1, created) == {
        "type": "DATE_TIME",
        "pattern": "yyyy-mm-dd hh:mm:ss",
    }
    assert server.number_format(sid, "complaints", 5000, month)["type"] == "DATE"  # type: ignore[index]
    assert server.number_format(sid, "complaints", 1, names.index("state")) is None
    kpi_row = server.tab_values(sid, "kpi_monthly")[1]
    assert kpi_row[0] == 45292
    assert kpi_row[2] == 10
    assert kpi_row[4] == 10.0


def test_long_text_is_truncated_with_a_marker(server: FakeSheetsServer, sid: str) -> None:
    frame = complaints(2)
    frame.loc[0, "description"] = "ก" * 60_000
    sink = make_sink(server, sid)
    sink.write_tabs({"complaints": frame})
    assert sink.last_plan is not None
    assert sink.last_plan.truncated_cells == 1
    column = TABS["complaints"].column_names.index("description")
    cell = server.tab_values(sid, "complaints")[1][column]
    assert isinstance(cell, str)
    assert len(cell) == 50_000
    assert cell.endswith(TRUNCATION_MARKER)
    server.reset_stats()
    sink.write_tabs({"complaints": frame})
    assert server.stats.writes == 0


def test_cell_limit_fails_before_writing(server: FakeSheetsServer, sid: str) -> None:
    server.add_tab(sid, "archive", rows=MAX_CELLS // 26 - 200, columns=26)
    server.reset_stats()
    with pytest.raises(SheetsLimitError, match="10,000,000"):
        make_sink(server, sid).write_tabs({"complaints": complaints(100)})
    assert server.stats.writes == 0
    assert "complaints" not in server.tab_titles(sid)


def test_payload_stays_under_the_request_limit(server: FakeSheetsServer, sid: str) -> None:
    make_sink(server, sid, max_request_bytes=100_000).write_tabs({"complaints": complaints(400)})
    assert 0 < server.stats.max_payload_bytes <= 100_000
    assert len(server.tab_values(sid, "complaints")) == 401


def test_init_is_idempotent(server: FakeSheetsServer, sid: str) -> None:
    sink = make_sink(server, sid)
    changes = sink.init()
    assert any("created tab complaints" in c for c in changes)
    ids = {t: server.tab_properties(sid, t)["sheetId"] for t in server.tab_titles(sid)}
    assert server.tab_values(sid, "actions")[0][:3] == ["ticket_id", "created_at", "state"]
    assert server.number_format(sid, "actions", 9, 8) == {"type": "DATE", "pattern": "yyyy-mm-dd"}
    protected_before = server.protected_ranges(sid)
    server.reset_stats()
    assert sink.init() == []
    assert server.stats.writes == 0
    assert server.stats.requests == 2
    assert {t: server.tab_properties(sid, t)["sheetId"] for t in server.tab_titles(sid)} == ids
    assert server.protected_ranges(sid) == protected_before
    sink.write_tabs({"complaints": complaints(3)})
    server.reset_stats()
    assert sink.init() == []
    assert server.stats.writes == 0


def test_dry_run_plans_without_writing(server: FakeSheetsServer, sid: str) -> None:
    make_sink(server, sid).write_tabs({"complaints": complaints(10)})
    changed = complaints(12)
    changed.loc[3, "state"] = "เสร็จสิ้น"
    server.reset_stats()
    sink = make_sink(server, sid, dry_run=True)
    info = sink.write_tabs({"complaints": changed})
    assert server.stats.writes == 0
    assert (info.tabs["complaints"].inserted, info.tabs["complaints"].updated) == (2, 1)
    assert sink.last_plan is not None
    assert "update" in sink.last_plan.summary()
    assert "state" in sink.last_plan.summary()


def test_record_run_writes_the_row_after_the_last(server: FakeSheetsServer, sid: str) -> None:
    sink = make_sink(server, sid)
    start = datetime(2026, 1, 1, 1, 0, tzinfo=UTC)
    info = sink.write_tabs({"complaints": complaints(4)})
    server.reset_stats()
    sink.record_run(
        RunRecord("run-1", start, start + timedelta(minutes=2), tickets_fetched=4, load=info)
    )
    assert server.stats.requests == 3  # metadata, _runs, the row
    assert server.stats.by_kind["values.append"] == 0
    rows = server.tab_values(sid, "_runs")
    assert rows[1][0] == "run-1"
    assert rows[1][3] == "ok"
    assert rows[1][6] == 8
    assert "complaints: +4" in str(rows[1][9])


def failed_run(run_id: str) -> RunRecord:
    start = datetime(2026, 1, 2, 1, 0, tzinfo=UTC)
    return RunRecord(
        run_id, start, start + timedelta(seconds=30), "TraffyUnreachable", message="timed out"
    )


def test_a_failed_run_retried_after_a_lost_response_is_logged_once(
    server: FakeSheetsServer, sid: str
) -> None:
    sink = make_sink(server, sid)
    start = datetime(2026, 1, 1, 1, 0, tzinfo=UTC)
    sink.write_tabs({"complaints": complaints(2)}, run=RunRecord("run-ok", start, start))
    server.fail_write(1, status=503, applied=True)  # Google wrote the row; we heard 503
    sink.record_run(failed_run("run-failed"))
    assert server.stats.faults == 1  # the write was retried
    runs = server.tab_values(sid, "_runs")
    assert [row[0] for row in runs[1:]] == ["run-ok", "run-failed"]
    assert runs[2][3:4] + runs[2][11:13] == ["TraffyUnreachable", "timed out", "sync"]


def test_failed_runs_grow_a_full_runs_tab(server: FakeSheetsServer, sid: str) -> None:
    sink = make_sink(server, sid)
    sink.init()
    rows = server.tab_properties(sid, "_runs")["gridProperties"]["rowCount"]
    server.delete_rows(sid, "_runs", 2, rows)  # room for one row below the header
    for run_id in ("run-a", "run-b"):
        sink.record_run(failed_run(run_id))
    runs = server.tab_values(sid, "_runs")
    assert [row[0] for row in runs[1:]] == ["run-a", "run-b"]
    assert server.tab_properties(sid, "_runs")["gridProperties"]["rowCount"] > 3


def test_a_failed_run_on_a_new_spreadsheet_creates_the_tabs(
    server: FakeSheetsServer, sid: str
) -> None:
    make_sink(server, sid).record_run(failed_run("run-1"))
    runs = server.tab_values(sid, "_runs")
    assert runs[0][0] == "run_id"
    assert [row[0] for row in runs[1:]] == ["run-1"]
    assert "complaints" in server.tab_titles(sid)


def test_auth_error_names_the_service_account(
    server: FakeSheetsServer, sid: str, tmp_path: object
) -> None:
    rsa = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.rsa")
    serialization = pytest.importorskip("cryptography.hazmat.primitives.serialization")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    info = {
        "type": "service_account",
        "project_id": "p",
        "private_key_id": "k1",
        "private_key": pem,
        "client_email": "etl-bot@p.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": f"{server.url}/token",
    }
    credential = load_credential(SecretStr(json.dumps(info)), server.url, environ={})
    assert credential.email == "etl-bot@p.iam.gserviceaccount.com"
    sink = make_sink(server, sid, credential=credential)
    sink.write_tabs({"complaints": complaints(2)})  # token fetched from the fake
    server.fail_next(status=403, kind="read", message="The caller does not have permission")
    with pytest.raises(SheetsAuthError) as error:
        sink.write_tabs({"complaints": complaints(2)})
    assert "etl-bot@p.iam.gserviceaccount.com" in str(error.value)
    assert "PRIVATE KEY" not in str(error.value)
    with pytest.raises(SheetsAuthError, match="not a valid") as bad:
        load_credential(SecretStr('{"private_key": "secret-xyz"}'), server.url, environ={})
    assert "secret-xyz" not in str(bad.value)


def test_loopback_without_credential_is_anonymous() -> None:
    credential = load_credential(None, "http://127.0.0.1:9", environ={})
    assert credential.email is None
    assert "anonymous" in credential.source


def test_from_settings_uses_the_sheets_settings(
    server: FakeSheetsServer, sid: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    settings = load_settings(
        spreadsheet_id=sid,
        sheets_api_url=server.url + "/",
        actions_tab="การดำเนินการ",
        tabs={"complaints": "เรื่องร้องเรียน"},
    )
    sink = SheetsSink.from_settings(settings)
    sink.write_tabs({"complaints": complaints(3)})
    assert {"เรื่องร้องเรียน", "การดำเนินการ"} <= set(server.tab_titles(sid))
    assert sink.description == f"Google spreadsheet {sid}"
    with pytest.raises(SheetsError, match="spreadsheet id"):
        SheetsSink.from_settings(load_settings())


def test_removed_rows_leave_no_stale_rows(server: FakeSheetsServer, sid: str) -> None:
    sink = make_sink(server, sid)
    sink.write_tabs({"complaints": complaints(20)})
    kept = complaints(20).drop(index=[2, 5, 6, 11, 19]).reset_index(drop=True)
    server.reset_stats()
    info = sink.write_tabs({"complaints": kept})
    assert info.tabs["complaints"].deleted == 5
    values = server.tab_values(sid, "complaints")
    assert len(values) == 16
    assert sorted(r[0] for r in values[1:]) == sorted(kept["ticket_id"])
    # Moving 4 rows into the holes and clearing 5 tail rows, nothing else.
    assert info.tabs["complaints"].cells_written <= 9 * len(kept.columns)
    assert len(server.tab_values(sid, "actions")) == 21  # staff rows are never removed
    state = {r[0]: r[1] if len(r) > 1 else None for r in server.tab_values(sid, "_state")[1:]}
    assert state["lease_owner"] is None
    assert state["last_run_id"]


def test_init_hides_bookkeeping_tabs_made_visible(server: FakeSheetsServer, sid: str) -> None:
    """Spreadsheets set up before the pipeline hid its own tabs (or a tab a person
    unhid): ``etl init`` hides ``_sync``, ``_state`` and ``_runs`` again, and only them."""
    sink = make_sink(server, sid)
    sink.init()
    unhide = [
        {
            "updateSheetProperties": {
                "properties": {"sheetId": server.tab_properties(sid, t)["sheetId"]},
                "fields": "hidden",
            }
        }
        for t in ("_runs", "_state")
    ]
    sink.http.batch_update(sid, {"requests": unhide})
    assert "hidden" not in server.tab_properties(sid, "_runs")
    changes = sink.init()
    assert sorted(c for c in changes if c.startswith("hid ")) == [
        "hid _runs (the pipeline's bookkeeping)",
        "hid _state (the pipeline's bookkeeping)",
    ]
    for title in ("_runs", "_state", "_sync"):
        assert server.tab_properties(sid, title).get("hidden") is True
    assert "hidden" not in server.tab_properties(sid, "complaints")
    assert sink.init() == []


@pytest.mark.parametrize("how", ["sync", "failed run"])
def test_runs_logged_under_an_older_header_get_the_new_column_names(
    server: FakeSheetsServer, sid: str, how: str
) -> None:
    """A spreadsheet set up before `_runs` gained columns: the header grows with them."""
    sink = make_sink(server, sid)
    start = datetime(2026, 1, 1, 1, 0, tzinfo=UTC)
    sink.write_tabs({"complaints": complaints(2)}, run=RunRecord("run-1", start, start))
    old = RUNS.column_names[: RUNS.column_names.index("message") + 1]
    server.set_values(sid, "_runs", "A1", [old + [""] * (len(RUNS.column_names) - len(old))])
    if how == "sync":
        sink.write_tabs({"complaints": complaints(3)}, run=RunRecord("run-2", start, start))
    else:
        sink.record_run(failed_run("run-2"))
    runs = server.tab_values(sid, "_runs")
    assert runs[0] == RUNS.column_names
    assert [row[0] for row in runs[1:]] == ["run-1", "run-2"]
    assert runs[2][RUNS.column_names.index("mode")] == "sync"
