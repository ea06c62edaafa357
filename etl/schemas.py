"""JSON Schema of every tab, generated from the row models.

The files in ``schemas/`` are the contract the Looker Studio report is built
on; CI fails when they differ from what the models generate, so a column
change is always a deliberate, reviewed change.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from etl.tabs import TABS

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"


def tab_schema(tab: str) -> dict[str, Any]:
    spec = TABS[tab]
    schema = spec.row_model.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = tab
    schema["x-key"] = list(spec.key)
    schema["x-column-order"] = spec.column_names
    return schema


def rendered() -> dict[str, str]:
    """File name -> text of every schema, exactly as committed."""
    return {
        f"{tab}.schema.json": json.dumps(tab_schema(tab), ensure_ascii=False, indent=2) + "\n"
        for tab in TABS
    }


def write(folder: Path = SCHEMA_DIR) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in rendered().items():
        path = folder / name
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


def stale(folder: Path = SCHEMA_DIR) -> list[str]:
    """Schema files that are missing or differ from the models."""
    return [
        name
        for name, text in rendered().items()
        if not (folder / name).is_file() or (folder / name).read_text(encoding="utf-8") != text
    ]
