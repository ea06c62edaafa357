"""Google's own schema of the Sheets API v4, checked on every request the fake serves.

Google answers HTTP 400 ``INVALID_ARGUMENT`` to a body holding a field its
schema does not have, an enum value it does not list, or a value of the wrong
JSON type, and to a query parameter the method does not take. A fake that
accepts anything cannot show that a new kind of request would work against
Google; this module makes `etl.fakes.sheets.FakeSheetsServer` refuse what
Google refuses, in Google's words (``Invalid JSON payload received. Unknown
name "x" at 'requests[0].update_cells': Cannot find field.``).

The schema is `sheets.v4.discovery.json` beside this file: Google's discovery
document for Sheets API v4, pruned by :func:`prune` (run this module:
``python -m etl.fakes.sheets_schema SOURCE.json``) to what a check needs
(schemas without descriptions, each method's parameters and request schema),
so the repository carries no 300 kB of prose. Its ``x-provenance`` key says
where the full document came from.

Deliberately stricter than Google, because our code should use one spelling:
field names only in the lowerCamelCase the document gives (Google's JSON
parser also takes the proto's snake_case names) and enum values by name only
(Google also takes their numbers). Output-only fields are not refused (Google
ignores them on input too), and field masks are checked only for the
requests that the fake applies (`FIELD_MASK_TARGETS`).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

DISCOVERY_PATH = Path(__file__).with_name("sheets.v4.discovery.json")

# Google's error messages name the proto types of scalar fields.
_SCALAR_TYPES = {
    ("integer", "int32"): "TYPE_INT32",
    ("integer", "uint32"): "TYPE_UINT32",
    ("string", "int64"): "TYPE_INT64",
    ("string", "uint64"): "TYPE_UINT64",
    ("number", "double"): "TYPE_DOUBLE",
    ("number", "float"): "TYPE_FLOAT",
    ("boolean", None): "TYPE_BOOL",
    ("string", None): "TYPE_STRING",
}
_INT_RANGES = {
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint64": (0, 2**64 - 1),
}

# The message a field mask of these batchUpdate requests selects fields of.
FIELD_MASK_TARGETS = {
    "repeatCell": "CellData",
    "updateCells": "CellData",
    "updateSheetProperties": "SheetProperties",
    "updateSpreadsheetProperties": "SpreadsheetProperties",
    "updateDimensionProperties": "DimensionProperties",
}

# Most violations one answer lists (Google lists them all; a client needs a few).
MAX_VIOLATIONS = 20

# Method names the fake routes to -> the discovery document's method ids.
METHOD_IDS = {
    "spreadsheets.get": "sheets.spreadsheets.get",
    "spreadsheets.batchUpdate": "sheets.spreadsheets.batchUpdate",
    "values.get": "sheets.spreadsheets.values.get",
    "values.batchGet": "sheets.spreadsheets.values.batchGet",
    "values.update": "sheets.spreadsheets.values.update",
    "values.batchUpdate": "sheets.spreadsheets.values.batchUpdate",
    "values.append": "sheets.spreadsheets.values.append",
    "values.clear": "sheets.spreadsheets.values.clear",
    "values.batchClear": "sheets.spreadsheets.values.batchClear",
}


@dataclass(frozen=True)
class Violation:
    """One field Google would refuse: its path (snake_case, like Google's) and why."""

    field: str
    description: str


def snake(name: str) -> str:
    """lowerCamelCase -> snake_case, as Google names fields in its errors."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def _enum_type(name: str) -> str:
    """The proto enum type Google names for a field (`majorDimension` -> `Dimension`)."""
    if name in ("majorDimension", "dimension"):
        return "Dimension"
    return name[:1].upper() + name[1:]


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."


class _Checker:
    def __init__(self, schemas: Mapping[str, Any]) -> None:
        self.schemas = schemas
        self.found: list[Violation] = []

    def add(self, field: str, description: str) -> None:
        if len(self.found) < MAX_VIOLATIONS:
            self.found.append(Violation(field, description))

    def message(self, ref: str, value: Any, path: str) -> None:
        """Check `value` against the schema named `ref`, found at `path`."""
        if not isinstance(value, dict):
            self.add(
                path,
                f"Invalid value at '{path}' "
                f"(type.googleapis.com/google.apps.sheets.v4.{ref}), {_show(value)}",
            )
            return
        properties = self.schemas[ref].get("properties", {})
        where = f" at '{path}'" if path else ""
        for key, item in value.items():
            spec = properties.get(key)
            if spec is None:
                self.add(
                    path,
                    f'Invalid JSON payload received. Unknown name "{key}"{where}: '
                    "Cannot find field.",
                )
                continue
            child = f"{path}.{snake(key)}" if path else snake(key)
            self.value(spec, key, item, child, path)
        if ref == "Request":
            self.field_masks(value, path)

    def value(self, spec: Mapping[str, Any], key: str, item: Any, path: str, parent: str) -> None:
        """Check one field `key` (at `path`) of the message at `parent`."""
        if item is None:  # proto3 JSON: null is the field's default
            return
        where = f" at '{parent}'" if parent else ""
        if spec.get("type") == "array":
            if not isinstance(item, list) and path.endswith("]"):  # a row of a 2-D array
                self.add(
                    path,
                    f"Invalid value at '{path}' "
                    f"(type.googleapis.com/google.protobuf.ListValue), {_show(item)}",
                )
                return
            if not isinstance(item, list):
                self.add(
                    parent,
                    f'Invalid JSON payload received. Unknown name "{key}"{where}: '
                    "Proto field is repeated, expected a list.",
                )
                return
            inner = spec.get("items", {})
            if inner.get("type") == "any":  # cells of a ValueRange: the fake parses them
                return
            for i, element in enumerate(item):
                if element is None:
                    self.add(f"{path}[{i}]", f"Invalid value at '{path}[{i}]', null")
                    continue
                self.value(inner, key, element, f"{path}[{i}]", parent)
            return
        if isinstance(item, list) and spec.get("type") != "any":
            self.add(
                parent,
                f'Invalid JSON payload received. Unknown name "{key}"{where}: '
                "Proto field is not repeating, cannot start list.",
            )
            return
        if "$ref" in spec:
            self.message(spec["$ref"], item, path)
        elif spec.get("type") == "object":
            extra = spec.get("additionalProperties")
            if not isinstance(item, dict):
                self.add(path, f"Invalid value at '{path}' (map), {_show(item)}")
            elif extra is not None:
                for k, v in item.items():
                    self.value(extra, k, v, f"{path}[{k}]", path)
        elif "enum" in spec:
            if item not in spec["enum"]:
                self.add(
                    path,
                    f"Invalid value at '{path}' (type.googleapis.com/google.apps.sheets.v4."
                    f"{_enum_type(key)}), {_show(item)}",
                )
        elif spec.get("type") != "any":
            self.scalar(spec, item, path)

    def scalar(self, spec: Mapping[str, Any], item: Any, path: str) -> None:
        kind, fmt = str(spec.get("type")), spec.get("format")
        name = _SCALAR_TYPES.get((kind, fmt)) or _SCALAR_TYPES.get((kind, None), "TYPE_STRING")
        if fmt in _INT_RANGES:
            ok = _integral(item, *_INT_RANGES[fmt])
        elif kind == "number":
            ok = (isinstance(item, int | float) and not isinstance(item, bool)) or item in (
                "NaN",
                "Infinity",
                "-Infinity",
            )
        elif kind == "boolean":
            ok = isinstance(item, bool)
        else:
            ok = isinstance(item, str)
        if not ok:
            self.add(path, f"Invalid value at '{path}' ({name}), {_show(item)}")

    def field_masks(self, request: Mapping[str, Any], path: str) -> None:
        """A field mask must name fields of the message it selects from."""
        for kind, target in FIELD_MASK_TARGETS.items():
            body = request.get(kind)
            if not isinstance(body, dict) or not isinstance(body.get("fields"), str):
                continue
            masks = body["fields"]
            if "(" in masks:  # sub-selections `a(b,c)`: Google's partial-response syntax
                continue
            for mask in masks.split(","):
                mask = mask.strip()
                # Google takes `a/b` (gspread writes it so) as well as `a.b`.
                if mask != "*" and not self.mask_path(target, mask.replace("/", ".")):
                    self.add(
                        f"{path}.{snake(kind)}.fields",
                        f"Invalid {_camel_path(path)}.{kind}: Invalid field mask path "
                        f"'{mask}' for {target}",
                    )

    def mask_path(self, ref: str, mask: str) -> bool:
        spec: Mapping[str, Any] = {"$ref": ref}
        for part in mask.split("."):
            while spec.get("type") == "array":
                spec = spec.get("items", {})
            if "$ref" not in spec:
                return False
            props = self.schemas[spec["$ref"]].get("properties", {})
            if part not in props:
                return False
            spec = props[part]
        return bool(mask)


def _camel_path(path: str) -> str:
    """'requests[0]' as Google writes it in batchUpdate messages."""
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), path)


def _integral(item: Any, low: int, high: int) -> bool:
    if isinstance(item, bool):
        return False
    if isinstance(item, str):  # proto3 JSON takes integers as strings too
        if not re.fullmatch(r"-?\d+", item):
            return False
        item = int(item)
    if isinstance(item, float):
        if not item.is_integer():
            return False
        item = int(item)
    return isinstance(item, int) and low <= item <= high


@cache
def discovery() -> dict[str, Any]:
    """The vendored (pruned) discovery document."""
    data: dict[str, Any] = json.loads(DISCOVERY_PATH.read_text(encoding="utf-8"))
    return data


def _methods(resource: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    yield from resource.get("methods", {}).values()
    for child in resource.get("resources", {}).values():
        yield from _methods(child)


@cache
def method(kind: str) -> dict[str, Any]:
    """The discovery entry of a method the fake routes to (`values.update`...)."""
    wanted = METHOD_IDS[kind]
    for found in _methods(discovery()):
        if found["id"] == wanted:
            return found
    raise KeyError(wanted)  # pragma: no cover: METHOD_IDS names documented methods


def check_body(ref: str, payload: Any) -> list[Violation]:
    """Violations of a request body against the schema named `ref`."""
    checker = _Checker(discovery()["schemas"])
    checker.message(ref, payload, "")
    return checker.found


def check_query(kind: str, query: Mapping[str, Sequence[str]]) -> list[Violation]:
    """Violations of a request's query parameters (enums, types, unknown names)."""
    params = {**discovery()["parameters"], **method(kind).get("parameters", {})}
    found: list[Violation] = []
    for name, values in query.items():
        spec = params.get(name)
        if spec is None or spec.get("location") == "path":
            found.append(
                Violation(
                    name,
                    f'Invalid JSON payload received. Unknown name "{name}": Cannot bind '
                    f"query parameter. Field '{name}' could not be found in request message.",
                )
            )
            continue
        for value in values:
            field = snake(name) if name[:1] != "$" else name
            if "enum" in spec and value not in spec["enum"]:
                found.append(
                    Violation(
                        field,
                        f"Invalid value at '{field}' (type.googleapis.com/google.apps.sheets.v4."
                        f'{_enum_type(name)}), "{value}"',
                    )
                )
            elif spec.get("type") == "boolean" and value not in ("true", "false"):
                found.append(Violation(field, f"Invalid value at '{field}' (TYPE_BOOL), {value}"))
            elif spec.get("type") == "integer" and not re.fullmatch(r"-?\d+", value):
                found.append(Violation(field, f"Invalid value at '{field}' (TYPE_INT32), {value}"))
    return found[:MAX_VIOLATIONS]


def check_request(
    kind: str, query: Mapping[str, Sequence[str]], payload: Any, has_body: bool
) -> list[Violation]:
    """Everything Google's schema says is wrong with one request to method `kind`."""
    found = check_query(kind, query)
    request = method(kind).get("request")
    if request is not None:
        found += check_body(request["$ref"], payload)
    elif has_body:
        found.append(Violation("", "Invalid JSON payload received. This method takes no body."))
    return found[:MAX_VIOLATIONS]


def check_response(kind: str, result: Any) -> list[Violation]:
    """Violations of the fake's own answer: a fake must not say what Google cannot."""
    response = method(kind).get("response")
    return [] if response is None else check_body(response["$ref"], result)


# ---------------------------------------------------------------------------
# Pruning Google's document to what the check needs

_SCHEMA_KEYS = ("id", "type", "format", "enum", "$ref", "items", "properties")
_PARAMETER_KEYS = ("type", "format", "enum", "location", "repeated", "required")
_METHOD_KEYS = ("id", "httpMethod", "path", "flatPath", "request", "response")


def _prune_schema(spec: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: spec[k] for k in _SCHEMA_KEYS if k in spec}
    if "items" in spec:
        out["items"] = _prune_schema(spec["items"])
    if "properties" in spec:
        out["properties"] = {k: _prune_schema(v) for k, v in spec["properties"].items()}
    if "additionalProperties" in spec:
        out["additionalProperties"] = _prune_schema(spec["additionalProperties"])
    return out


def _prune_resource(resource: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "methods" in resource:
        out["methods"] = {
            name: {
                **{k: m[k] for k in _METHOD_KEYS if k in m},
                "parameters": {
                    p: {k: s[k] for k in _PARAMETER_KEYS if k in s}
                    for p, s in m.get("parameters", {}).items()
                },
            }
            for name, m in resource["methods"].items()
        }
    if "resources" in resource:
        out["resources"] = {k: _prune_resource(v) for k, v in resource["resources"].items()}
    return out


def prune(document: Mapping[str, Any], source: str) -> dict[str, Any]:
    """What `check_request` reads of a discovery document, with its provenance."""
    return {
        "x-provenance": (
            f"Pruned by etl/fakes/sheets_schema.py from {source}: Google's Sheets API v4 "
            "discovery document (Apache-2.0) as google-api-python-client ships it "
            "(googleapiclient/discovery_cache/documents/sheets.v4.json). Descriptions "
            "dropped; schemas, enums and method parameters kept."
        ),
        "id": document["id"],
        "revision": document["revision"],
        "parameters": {
            p: {k: s[k] for k in _PARAMETER_KEYS if k in s}
            for p, s in document["parameters"].items()
        },
        **_prune_resource(document),
        "schemas": {k: _prune_schema(v) for k, v in document["schemas"].items()},
    }


def main(argv: Sequence[str]) -> int:
    """Write the pruned copy of the discovery document at `argv[0]` beside this module."""
    if len(argv) != 1:
        print("usage: python -m etl.fakes.sheets_schema SHEETS_V4_DISCOVERY.json", file=sys.stderr)
        return 2
    source = Path(argv[0])
    pruned = prune(json.loads(source.read_text(encoding="utf-8")), source.name)
    text = json.dumps(pruned, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    DISCOVERY_PATH.write_text(text, encoding="utf-8")
    print(f"wrote {DISCOVERY_PATH} ({len(text):,} bytes, revision {pruned['revision']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
