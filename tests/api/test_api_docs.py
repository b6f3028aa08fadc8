"""docs/api.md stays true: every field table names exactly the fields of its schema in
`/openapi.json`, with their types and, where the table has the column, whether each is required.

A table follows a marker `<!-- fields: Schema -->` (or `<!-- fields: Schema extends Other -->`
for the fields beyond another schema's). The schema is a component, or the `x-item-schema` of
an NDJSON body (a bulk create's lines).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from api.app import create_app
from api.auth import TokenRegistry
from api.deps import AppContext
from maintenance.db import Database
from propwatch.clock import SystemClock

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
_CELL = re.compile(r"(?<!\\)\|")
MARKER = re.compile(r"<!-- fields: (\w+)(?: extends (\w+))? -->\n((?:\|.*\n)+)")


def _openapi() -> dict[str, Any]:
    # routes only: an in-memory database that is never touched
    app = create_app(AppContext(Database("sqlite://"), {}, SystemClock(), TokenRegistry()))
    doc: dict[str, Any] = app.openapi()
    return doc


OPENAPI = _openapi()


def _schema(name: str) -> dict[str, Any]:
    components: dict[str, dict[str, Any]] = OPENAPI["components"]["schemas"]
    if name in components:
        return components[name]
    for item in OPENAPI["paths"].values():
        for op in item.values():
            bodies = [op.get("requestBody", {}), *op.get("responses", {}).values()]
            for body in bodies:
                for media in body.get("content", {}).values():
                    line = media.get("x-item-schema")
                    if line is not None and line.get("title") == name:
                        return dict(line)
    raise AssertionError(f"docs/api.md documents {name}, which /openapi.json does not have")


def _type(schema: dict[str, Any]) -> str:
    """A schema as the tables spell it: `string`, `date-time or null`, `array of string`."""
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[1]
    if "anyOf" in schema:
        kinds = [_type(s) for s in schema["anyOf"] if s.get("type") != "null"]
        nullable = len(kinds) < len(schema["anyOf"])
        return " | ".join(kinds) + (" or null" if nullable else "")
    kind = schema.get("type")
    if kind == "string" and schema.get("format") in ("date-time", "date"):
        return str(schema["format"])
    if kind == "array":
        return f"array of {_type(schema.get('items', {}))}"
    return str(kind)


def _tables() -> list[tuple[str, str | None, list[dict[str, str]]]]:
    text = DOC.read_text(encoding="utf-8")
    out = []
    for name, base, block in MARKER.findall(text):
        lines = [line.strip() for line in block.strip().splitlines()]
        header = [c.strip() for c in lines[0].strip("|").split("|")]
        rows = []
        for line in lines[2:]:
            # a union type is written `number \| string`: an escaped bar is not a column
            cells = [c.strip().replace("\\|", "|") for c in _CELL.split(line.strip("|"))]
            row = dict(zip(header, cells, strict=True))
            for field in re.findall(r"`([^`]+)`", row["field"]):
                rows.append({**row, "field": field})
        out.append((name, base or None, rows))
    return out


TABLES = _tables()


def test_the_doc_has_the_field_tables_of_every_create_patch_and_answer() -> None:
    documented = {name for name, _, _ in TABLES}
    assert documented >= {
        "WorkOrderCreate",
        "WorkOrderPatch",
        "WorkOrderOut",
        "WorkOrderDetail",
        "CommentIn",
        "CommentOut",
        "AttachmentItem",
        "BulkRow",
        "BulkResult",
    }


@pytest.mark.parametrize(("name", "base", "rows"), TABLES, ids=[t[0] for t in TABLES])
def test_a_field_table_names_exactly_the_schemas_fields_with_their_types(
    name: str, base: str | None, rows: list[dict[str, str]]
) -> None:
    schema = _schema(name)
    properties: dict[str, dict[str, Any]] = schema["properties"]
    expected = set(properties) - (set(_schema(base)["properties"]) if base else set())
    fields = [r["field"] for r in rows]
    assert len(fields) == len(set(fields)), f"{name}: a field is listed twice"
    assert set(fields) == expected, (
        f"{name}: missing from the doc {sorted(expected - set(fields))}, "
        f"not in the schema {sorted(set(fields) - expected)}"
    )
    required = set(schema.get("required", ()))
    for row in rows:
        field = row["field"]
        assert row["type"] == _type(properties[field]), f"{name}.{field}"
        if "required" in row:
            assert (row["required"] == "yes") == (field in required), f"{name}.{field} required"
