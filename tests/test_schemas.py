"""The committed JSON Schemas are the Looker Studio contract: they must match the models."""

from __future__ import annotations

import json
import re

from etl import schemas
from etl.tabs import ACTIONS, RUNS, STATE, TABS

THAI = re.compile("[\u0e00-\u0e7f]")
"""A character of the Thai Unicode block."""


def test_committed_schemas_match_the_models() -> None:
    assert schemas.stale() == [], "run `etl schemas` (make schemas) and commit schemas/"


def test_every_column_is_described_in_english_and_thai() -> None:
    for tab in TABS:
        schema = json.loads((schemas.SCHEMA_DIR / f"{tab}.schema.json").read_text("utf-8"))
        for name, field in schema["properties"].items():
            assert field.get("description"), f"{tab}.{name} has no description"
            assert field.get("title_th"), f"{tab}.{name} has no Thai label"
            assert THAI.search(field.get("description_th") or ""), (
                f"{tab}.{name} has no Thai description (description_th)"
            )
        assert schema["x-column-order"] == TABS[tab].column_names


def test_every_column_of_every_tab_has_a_thai_description() -> None:
    """The staff read the ``dictionary`` tab in Thai: every column is explained there,
    not only the measures. The staff tab and the bookkeeping tabs are held to it too."""
    specs = [*TABS.values(), ACTIONS, STATE, RUNS]
    assert {"_sync", "_state", "_runs", "actions", "kpi_monthly_by_org"} <= {s.name for s in specs}
    for spec in specs:
        for name, field in spec.row_model.model_fields.items():
            extra = field.json_schema_extra
            thai = extra.get("description_th") if isinstance(extra, dict) else None
            assert isinstance(thai, str), f"{spec.name}.{name}: no thai_description= in its col()"
            assert thai.strip(), f"{spec.name}.{name}: empty Thai description"
            assert THAI.search(thai), f"{spec.name}.{name}: no Thai in {thai!r}"


def test_column_names_are_ascii_snake_case() -> None:
    for spec in TABS.values():
        for name in spec.column_names:
            assert name.isascii()
            assert name == name.lower()
            assert " " not in name
