"""The fake Sheets server, driven by real gspread through SheetsSession."""

from __future__ import annotations

from collections.abc import Iterator

import gspread
import pytest
import requests
from google.auth.credentials import AnonymousCredentials

from etl.fakes.sheets import MAX_CELLS, FakeSheetsServer, Formula
from etl.sinks.google_session import SheetsSession


@pytest.fixture(scope="module")
def server() -> Iterator[FakeSheetsServer]:
    with FakeSheetsServer(max_payload_bytes=200_000) as srv:
        yield srv


@pytest.fixture
def client(server: FakeSheetsServer) -> gspread.Client:
    session = SheetsSession(AnonymousCredentials(), base_url=server.url, timeout=5)
    return gspread.Client(auth=AnonymousCredentials(), session=session)


@pytest.fixture
def sid(server: FakeSheetsServer) -> str:
    server.clear_faults()
    server.reset_stats()
    return server.create_spreadsheet(tabs=("Sheet1",))


def test_session_rewrites_host_and_sets_timeout(server: FakeSheetsServer) -> None:
    session = SheetsSession(base_url=server.url + "/", timeout=3)
    assert session.rewrite("https://sheets.googleapis.com/v4/spreadsheets/x") == (
        server.url + "/v4/spreadsheets/x"
    )
    assert session.rewrite("https://oauth2.googleapis.com/token") == (
        "https://oauth2.googleapis.com/token"
    )
    default = SheetsSession()
    assert default.rewrite("https://sheets.googleapis.com/v4/x") == (
        "https://sheets.googleapis.com/v4/x"
    )


def test_metadata_and_add_worksheet(client: gspread.Client, sid: str) -> None:
    book = client.open_by_key(sid)
    ws = book.add_worksheet("Tab name", rows=10, cols=3)
    again = client.open_by_key(sid).worksheet("Tab name")
    assert again.id == ws.id
    assert (again.row_count, again.col_count) == (10, 3)
    with pytest.raises(gspread.exceptions.APIError, match="already exists"):
        book.add_worksheet("Tab name", rows=1, cols=1)


def test_raw_update_keeps_text_and_numbers(
    client: gspread.Client, server: FakeSheetsServer, sid: str
) -> None:
    ws = client.open_by_key(sid).sheet1
    ws.update([["=1+1", "00123", 4.5, True], ["+66", "", 7]], "A1")
    assert server.tab_values(sid, "Sheet1") == [["=1+1", "00123", 4.5, True], ["+66", None, 7]]
    assert server.formulas(sid) == []
    assert ws.get_all_values() == [["=1+1", "00123", "4.5", "TRUE"], ["+66", "", "7", ""]]
    got = ws.get("A1:D2", value_render_option=gspread.utils.ValueRenderOption.unformatted)
    assert got == [["=1+1", "00123", 4.5, True], ["+66", "", 7]]


def test_user_entered_formula_is_flagged(
    client: gspread.Client, server: FakeSheetsServer, sid: str
) -> None:
    ws = client.open_by_key(sid).sheet1
    ws.update([['=HYPERLINK("x")', "0003"]], "B2", value_input_option="USER_ENTERED")
    assert server.tab_values(sid, "Sheet1")[1] == [None, Formula('=HYPERLINK("x")'), 3]
    assert server.formulas(sid) == [("Sheet1", "B2", '=HYPERLINK("x")')]


def test_quoted_ranges_batch_get_and_clear(
    client: gspread.Client, server: FakeSheetsServer, sid: str
) -> None:
    book = client.open_by_key(sid)
    ws = book.add_worksheet("It's here", rows=5, cols=5)
    ws.update([["a", "b"], ["c", "d"]], "A1")
    assert ws.batch_get(["A1:A2", "B:B"]) == [[["a"], ["c"]], [["b"], ["d"]]]
    got = book.values_batch_get(["'It''s here'!A2:B2", "Sheet1"])
    assert got["valueRanges"][0]["values"] == [["c", "d"]]
    assert "values" not in got["valueRanges"][1]
    ws.batch_clear(["A1"])
    assert server.tab_values(sid, "It's here") == [[None, "b"], ["c", "d"]]
    ws.clear()
    assert server.tab_values(sid, "It's here") == []


def test_append_grows_the_grid(client: gspread.Client, server: FakeSheetsServer, sid: str) -> None:
    ws = client.open_by_key(sid).add_worksheet("log", rows=2, cols=2)
    ws.update([["h1", "h2"]], "A1")
    ws.append_rows([["x", 1], ["y", 2], ["z", 3]], value_input_option="RAW")
    assert server.tab_values(sid, "log") == [["h1", "h2"], ["x", 1], ["y", 2], ["z", 3]]
    assert server.tab_properties(sid, "log")["gridProperties"]["rowCount"] == 4


def test_grid_limits_and_cell_size(client: gspread.Client, sid: str) -> None:
    ws = client.open_by_key(sid).add_worksheet("small", rows=2, cols=2)
    with pytest.raises(gspread.exceptions.APIError, match="exceeds grid limits"):
        ws.update([["a", "b", "c"]], "A1")
    with pytest.raises(gspread.exceptions.APIError, match="50000 characters"):
        ws.update([["x" * 50_001]], "A1")
    with pytest.raises(gspread.exceptions.APIError, match="Unable to parse range"):
        ws.spreadsheet.values_get("'nope'!A1")


def test_structure_resize_freeze_format_protect_delete(
    client: gspread.Client, server: FakeSheetsServer, sid: str
) -> None:
    ws = client.open_by_key(sid).add_worksheet("t", rows=5, cols=3)
    ws.update([["h"], ["1"], ["2"], ["3"]], "A1")
    ws.resize(rows=20, cols=4)
    ws.freeze(rows=1)
    ws.format("B2:B", {"numberFormat": {"type": "DATE", "pattern": "yyyy-mm-dd"}})
    ws.add_protected_range("A1:C1", warning_only=True)
    ws.delete_rows(2)
    props = server.tab_properties(sid, "t")
    assert props["gridProperties"] == {"rowCount": 19, "columnCount": 4, "frozenRowCount": 1}
    assert server.number_format(sid, "t", 5, 1) == {"type": "DATE", "pattern": "yyyy-mm-dd"}
    assert server.tab_values(sid, "t") == [["h"], ["2"], ["3"]]
    meta = client.open_by_key(sid).fetch_sheet_metadata()
    sheet = next(s for s in meta["sheets"] if s["properties"]["title"] == "t")
    assert sheet["protectedRanges"][0]["warningOnly"] is True


def test_date_serial_formatted_read(client: gspread.Client, sid: str) -> None:
    ws = client.open_by_key(sid).sheet1
    ws.update([[45000.5]], "A1")
    ws.format("A1", {"numberFormat": {"type": "DATE_TIME", "pattern": "yyyy-mm-dd hh:mm"}})
    assert ws.acell("A1").value == "2023-03-15 12:00"


def test_cell_limit_is_enforced(client: gspread.Client, server: FakeSheetsServer, sid: str) -> None:
    server.add_tab(sid, "big", rows=MAX_CELLS // 26 - 1000, columns=26)
    ws = client.open_by_key(sid).worksheet("big")
    with pytest.raises(gspread.exceptions.APIError, match="above the limit"):
        ws.add_rows(1000)
    assert server.tab_properties(sid, "big")["gridProperties"]["rowCount"] == MAX_CELLS // 26 - 1000


def test_faults_counters_and_retry_after(
    client: gspread.Client, server: FakeSheetsServer, sid: str
) -> None:
    book = client.open_by_key(sid)
    ws = book.sheet1
    server.reset_stats()
    server.fail_next(status=429, retry_after=2)
    with pytest.raises(gspread.exceptions.APIError) as err:
        ws.update([["a"]], "A1")
    assert err.value.code == 429
    assert err.value.response.headers["Retry-After"] == "2"
    assert err.value.error["status"] == "RESOURCE_EXHAUSTED"
    ws.update([["a", "b"]], "A1")
    server.fail_write(2, status=503)
    ws.update([["c"]], "A2")
    with pytest.raises(gspread.exceptions.APIError):
        ws.update([["d"]], "A3")
    book.values_get("Sheet1")
    assert server.stats.writes == 4
    assert server.stats.reads == 1
    assert server.stats.faults == 2
    assert server.stats.cells_written == 3
    assert server.stats.by_kind["values.update"] == 4


def test_a_lost_response_fault_does_the_work(
    client: gspread.Client, server: FakeSheetsServer, sid: str
) -> None:
    ws = client.open_by_key(sid).sheet1
    server.fail_next(status=503, kind="write", applied=True)
    with pytest.raises(gspread.exceptions.APIError) as err:
        ws.append_rows([["x", 1]], value_input_option="RAW")
    assert err.value.code == 503
    assert server.tab_values(sid, "Sheet1") == [["x", 1]]  # done all the same
    ws.append_rows([["x", 1]], value_input_option="RAW")  # a client's retry appends again
    assert server.tab_values(sid, "Sheet1") == [["x", 1], ["x", 1]]


def test_payload_limit_and_unknown_spreadsheet(
    client: gspread.Client, server: FakeSheetsServer, sid: str
) -> None:
    ws = client.open_by_key(sid).sheet1
    with pytest.raises(gspread.exceptions.APIError, match="payload size"):
        ws.update([["y" * 40_000] for _ in range(6)], "A1")
    with pytest.raises(gspread.exceptions.SpreadsheetNotFound):
        client.open_by_key("missing")
    reply = requests.get(f"{server.url}/v4/spreadsheets/missing", timeout=5)
    assert reply.json() == {
        "error": {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND"}
    }


def test_staff_helpers_sort_and_edit(server: FakeSheetsServer, sid: str) -> None:
    server.set_values(sid, "Sheet1", "A1", [["id", "note"], ["b", "x"], ["a", "y"]])
    server.sort_rows(sid, "Sheet1", 0)
    server.set_values(sid, "Sheet1", "AB1", [["extra"]])
    values = server.tab_values(sid, "Sheet1")
    assert [r[:2] for r in values] == [["id", "note"], ["a", "y"], ["b", "x"]]
    assert values[0][27] == "extra"
    assert server.tab_properties(sid, "Sheet1")["gridProperties"]["columnCount"] == 28
