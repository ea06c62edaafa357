"""The committed JSON Schemas are the Looker Studio contract: they must match the models."""

from __future__ import annotations

import json

from etl import schemas
from etl.tabs import TABS


def test_committed_schemas_match_the_models() -> None:
    assert schemas.stale() == [], "run `etl schemas` (make schemas) and commit schemas/"


def test_every_column_is_described_in_english_and_thai() -> None:
    for tab in TABS:
        schema = json.loads((schemas.SCHEMA_DIR / f"{tab}.schema.json").read_text("utf-8"))
        for name, field in schema["properties"].items():
            assert field.get("description"), f"{tab}.{name} has no description"
            assert field.get("title_th"), f"{tab}.{name} has no Thai label"
        assert schema["x-column-order"] == TABS[tab].column_names


def test_column_names_are_ascii_snake_case() -> None:
    for spec in TABS.values():
        for name in spec.column_names:
            assert name.isascii()
            assert name == name.lower()
            assert " " not in name
