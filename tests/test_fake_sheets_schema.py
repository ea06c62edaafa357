"""The fake Sheets server refuses what Google's discovery document says Google refuses."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import gspread
import pytest
import requests
from google.auth.credentials import AnonymousCredentials

from etl.fakes import sheets_schema
from etl.fakes.sheets import FakeSheetsServer
from etl.sinks.google_session import SheetsSession


@pytest.fixture(scope="module")
def server() -> Iterator[FakeSheetsServer]:
    with FakeSheetsServer() as srv:
        yield srv


@pytest.fixture
def sid(server: FakeSheetsServer) -> str:
    return server.create_spreadsheet(tabs=("Sheet1",))


def _post(server: FakeSheetsServer, path: str, body: Any, **params: str) -> requests.Response:
    return requests.post(
        f"{server.url}/v4/spreadsheets/{path}", json=body, params=params, timeout=5
    )


def _refused(response: requests.Response) -> tuple[str, list[str]]:
    """The message and the field paths of a 400 INVALID_ARGUMENT answer."""
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == 400
    assert error["status"] == "INVALID_ARGUMENT"
    (detail,) = error["details"]
    assert detail["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    return error["message"], [v["field"] for v in detail["fieldViolations"]]


def _date_format(sheet_id: int, cell: dict[str, Any], fields: str) -> dict[str, Any]:
    return {
        "requests": [
            {
                "repeatCell": {
                    "range": {"sheetId": sheet_id, "startRowIndex": 1, "endColumnIndex": 1},
                    "cell": cell,
                    "fields": fields,
                }
            }
        ]
    }


def test_a_known_good_request_is_accepted(server: FakeSheetsServer, sid: str) -> None:
    fmt = {"numberFormat": {"type": "DATE", "pattern": "yyyy-mm-dd"}}
    body = _date_format(0, {"userEnteredFormat": fmt}, "userEnteredFormat.numberFormat")
    response = _post(server, f"{sid}:batchUpdate", body)
    assert response.status_code == 200, response.text
    assert server.number_format(sid, "Sheet1", 3, 0) == fmt["numberFormat"]
    written = _post(
        server,
        f"{sid}/values:batchUpdate",
        {
            "valueInputOption": "RAW",
            "data": [{"range": "Sheet1!A1:B2", "majorDimension": "ROWS", "values": [[1, "a"]]}],
            "includeValuesInResponse": False,
        },
    )
    assert written.status_code == 200, written.text
    assert server.tab_values(sid, "Sheet1") == [[1, "a"]]


def test_an_unknown_field_is_refused_in_googles_words(server: FakeSheetsServer, sid: str) -> None:
    body = {"requests": [{"updateCells": {"x": 1, "fields": "*"}}]}
    message, fields = _refused(_post(server, f"{sid}:batchUpdate", body))
    assert message == (
        'Invalid JSON payload received. Unknown name "x" at '
        "'requests[0].update_cells': Cannot find field."
    )
    assert fields == ["requests[0].update_cells"]


def test_an_unknown_top_level_field_is_refused(server: FakeSheetsServer, sid: str) -> None:
    body = {"valueInputOption": "RAW", "data": [], "valueInputOptions": "RAW"}
    message, fields = _refused(_post(server, f"{sid}/values:batchUpdate", body))
    assert message == 'Invalid JSON payload received. Unknown name "valueInputOptions": ' + (
        "Cannot find field."
    )
    assert fields == [""]


def test_a_nested_unknown_field_is_refused_and_nothing_changes(
    server: FakeSheetsServer, sid: str
) -> None:
    cell = {"userEnteredFormat": {"numberFormat": {"type": "DATE"}, "fontSize": 10}}
    body = _date_format(0, cell, "userEnteredFormat")
    body["requests"].insert(0, {"addSheet": {"properties": {"title": "new"}}})
    message, fields = _refused(_post(server, f"{sid}:batchUpdate", body))
    assert fields == ["requests[1].repeat_cell.cell.user_entered_format"]
    assert "Unknown name \"fontSize\" at 'requests[1].repeat_cell.cell.user_entered_format'" in (
        message
    )
    assert server.tab_titles(sid) == ["Sheet1"]  # the batch is refused whole
    assert server.number_format(sid, "Sheet1", 3, 0) is None


def test_a_bad_enum_is_refused_in_the_body_and_in_the_query(
    server: FakeSheetsServer, sid: str
) -> None:
    cell = {"userEnteredFormat": {"numberFormat": {"type": "DATETIME"}}}
    message, fields = _refused(
        _post(server, f"{sid}:batchUpdate", _date_format(0, cell, "userEnteredFormat"))
    )
    path = "requests[0].repeat_cell.cell.user_entered_format.number_format.type"
    assert fields == [path]
    assert message.startswith(f"Invalid value at '{path}' (type.googleapis.com/")
    assert message.endswith('"DATETIME"')

    appended = _post(
        server, f"{sid}/values/Sheet1!A1:append", {"values": [[1]]}, valueInputOption="RAWW"
    )
    message, fields = _refused(appended)
    assert message == (
        "Invalid value at 'value_input_option' "
        '(type.googleapis.com/google.apps.sheets.v4.ValueInputOption), "RAWW"'
    )
    assert fields == ["value_input_option"]

    for name, value in [
        ("majorDimension", "DIAGONAL"),
        ("valueRenderOption", "PRETTY"),
        ("dateTimeRenderOption", "ISO"),
    ]:
        got = requests.get(
            f"{server.url}/v4/spreadsheets/{sid}/values/Sheet1",
            params={name: value},
            timeout=5,
        )
        message, fields = _refused(got)
        assert fields == [sheets_schema.snake(name)]
        assert message.endswith(f'"{value}"')
    message, fields = _refused(
        _post(
            server,
            f"{sid}/values/Sheet1!A1:append",
            {"values": [[1]]},
            valueInputOption="RAW",
            insertDataOption="APPEND",
        )
    )
    assert fields == ["insert_data_option"]
    assert server.tab_values(sid, "Sheet1") == []


def test_wrong_json_types_are_refused(server: FakeSheetsServer, sid: str) -> None:
    body = {
        "requests": [
            {
                "addSheet": {
                    "properties": {
                        "title": 7,
                        "hidden": "yes",
                        "gridProperties": {"rowCount": "many", "columnCount": 2.5},
                    }
                }
            },
            {"deleteDimension": {"range": [0, 1]}},
            {"updateSheetProperties": "all"},
        ]
    }
    message, fields = _refused(_post(server, f"{sid}:batchUpdate", body))
    props = "requests[0].add_sheet.properties"
    assert fields == [
        f"{props}.title",
        f"{props}.hidden",
        f"{props}.grid_properties.row_count",
        f"{props}.grid_properties.column_count",
        "requests[1].delete_dimension",
        "requests[2].update_sheet_properties",
    ]
    assert f"Invalid value at '{props}.grid_properties.row_count' (TYPE_INT32), \"many\"" in message
    assert "cannot start list" in message
    # A list where one value is expected, one value where a list is expected.
    message, fields = _refused(
        _post(server, f"{sid}/values:batchUpdate", {"valueInputOption": "RAW", "data": {}})
    )
    assert fields == [""]
    assert 'Unknown name "data"' in message
    message, fields = _refused(
        _post(
            server,
            f"{sid}/values:batchUpdate",
            {"valueInputOption": "RAW", "data": [{"range": "A1", "values": [1, [2]]}]},
        )
    )
    assert fields == ["data[0].values[0]"]
    assert (
        "Invalid value at 'data[0].values[0]' (type.googleapis.com/google.protobuf.ListValue)"
        in (message)
    )


def test_integers_as_strings_and_nulls_are_accepted_as_google_does(
    server: FakeSheetsServer, sid: str
) -> None:
    body = {
        "requests": [
            {"addSheet": {"properties": {"title": "t", "gridProperties": {"rowCount": "3"}}}},
            {"appendDimension": {"sheetId": 0, "dimension": "ROWS", "length": 2.0}},
        ],
        "responseRanges": None,
    }
    response = _post(server, f"{sid}:batchUpdate", body)
    assert response.status_code == 200, response.text
    assert server.tab_properties(sid, "t")["gridProperties"]["rowCount"] == 3


def test_unknown_query_parameters_and_bodies_of_reads_are_refused(
    server: FakeSheetsServer, sid: str
) -> None:
    got = requests.get(
        f"{server.url}/v4/spreadsheets/{sid}/values/Sheet1",
        params={"valueRender": "FORMULA", "prettyPrint": "false"},
        timeout=5,
    )
    message, fields = _refused(got)
    assert message == (
        'Invalid JSON payload received. Unknown name "valueRender": Cannot bind query '
        "parameter. Field 'valueRender' could not be found in request message."
    )
    assert fields == ["valueRender"]


def test_not_json_numbers_and_bad_field_masks_are_refused(
    server: FakeSheetsServer, sid: str
) -> None:
    raw = b'{"valueInputOption": "RAW", "data": [{"range": "A1", "values": [[NaN]]}]}'
    response = requests.post(
        f"{server.url}/v4/spreadsheets/{sid}/values:batchUpdate", data=raw, timeout=5
    )
    assert response.status_code == 400
    assert "Invalid JSON payload received" in response.json()["error"]["message"]
    cell = {"userEnteredFormat": {"numberFormat": {"type": "DATE"}}}
    message, fields = _refused(
        _post(server, f"{sid}:batchUpdate", _date_format(0, cell, "userEnteredFormat.numberFmt"))
    )
    assert fields == ["requests[0].repeat_cell.fields"]
    assert "'userEnteredFormat.numberFmt'" in message


def test_real_gspread_hears_the_refusal(server: FakeSheetsServer, sid: str) -> None:
    session = SheetsSession(AnonymousCredentials(), base_url=server.url, timeout=5)
    client = gspread.Client(auth=AnonymousCredentials(), session=session)
    ws = client.open_by_key(sid).sheet1
    ws.format("A1", {"numberFormat": {"type": "DATE"}})  # gspread's own request: accepted
    with pytest.raises(gspread.exceptions.APIError, match=r"Unknown name \"numberFmt\""):
        ws.format("A1", {"numberFmt": {"type": "DATE"}})


def test_the_fakes_answers_fit_googles_response_schemas() -> None:
    """The check of the fake's own answers catches a field Google never sends."""
    good = {"spreadsheetId": "x", "replies": [{"addSheet": {"properties": {"sheetId": 1}}}]}
    assert sheets_schema.check_response("spreadsheets.batchUpdate", good) == []
    bad = {"spreadsheetId": "x", "replies": [{"addSheet": {"sheet": {"sheetId": 1}}}]}
    (found,) = sheets_schema.check_response("spreadsheets.batchUpdate", bad)
    assert found.field == "replies[0].add_sheet"


def test_the_vendored_document_is_a_faithful_pruning() -> None:
    """Pruning the vendored copy again changes nothing but the provenance line."""
    vendored = sheets_schema.discovery()
    assert "sheets.v4" in vendored["x-provenance"]
    assert vendored["id"] == "sheets:v4"
    again = sheets_schema.prune(vendored, "x")
    assert {**again, "x-provenance": ""} == {**vendored, "x-provenance": ""}
    for kind in sheets_schema.METHOD_IDS:
        assert sheets_schema.method(kind)["id"] == sheets_schema.METHOD_IDS[kind]
    schemas = vendored["schemas"]
    assert "fontSize" in schemas["TextFormat"]["properties"]
    assert "description" not in json.dumps(schemas["CellFormat"])
