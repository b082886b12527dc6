"""Shared by the rule tests: turn PersonData into the four views and run compiled rules on an engine."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date
from typing import Any

import pyarrow as pa

from siyu.profile.rules import CompiledRule, FieldType, PersonData, RuleSchema
from siyu.profile.rules.schema import EVENT_PROPERTY_COLUMNS, ORDER_COLUMNS
from siyu.warehouse.engine import Engine

AS_OF = date(2026, 3, 1)

ARROW_TYPES = {
    FieldType.STRING: pa.string(), FieldType.INTEGER: pa.int64(), FieldType.NUMBER: pa.decimal128(18, 2),
    FieldType.BOOLEAN: pa.bool_(), FieldType.DATE: pa.date32(), FieldType.TIMESTAMP: pa.timestamp("us"),
}
# The events view's DOUBLE columns (the schema calls them all "number").
DOUBLE_COLUMNS = {"read_seconds", "completion", "response_seconds"}


def _event_type(name: str, type_: FieldType) -> pa.DataType:
    if name in DOUBLE_COLUMNS:
        return pa.float64()
    return pa.int32() if type_ is FieldType.INTEGER else ARROW_TYPES[type_]


EVENTS_SCHEMA = pa.schema(
    [("one_id", pa.string()), ("event", pa.string()), ("event_time", pa.timestamp("us")), ("dt", pa.date32()),
     ("properties", pa.string())]
    + [(name, _event_type(name, t)) for name, t in EVENT_PROPERTY_COLUMNS.items()]
)
ORDERS_SCHEMA = pa.schema(
    [("one_id", pa.string()), ("paid_at", pa.timestamp("us")), ("dt", pa.date32())]
    + [(name, ARROW_TYPES[t]) for name, t in ORDER_COLUMNS.items()]
)
TAGS_SCHEMA = pa.schema([("one_id", pa.string()), ("tag", pa.string()), ("value", pa.string())])


def tables(people: Iterable[PersonData], schema: RuleSchema) -> dict[str, pa.Table]:
    """The ``profile``, ``tag_values``, ``events`` and ``orders`` views holding exactly ``people``."""
    people = list(people)
    profile_schema = pa.schema([(name, ARROW_TYPES[t]) for name, t in schema.fields.items()])
    profile = [{**{n: p.fields.get(n) for n in schema.fields}, "one_id": p.one_id} for p in people]
    tags = [{"one_id": p.one_id, "tag": t, "value": v} for p in people for t, v in p.tags.items()]
    events = [_event_row(p.one_id, e) for p in people for e in p.events]
    orders = [{**{c: o.get(c) for c in ORDERS_SCHEMA.names}, "one_id": p.one_id} for p in people for o in p.orders]
    return {
        "profile": pa.Table.from_pylist(profile, schema=profile_schema),
        "tag_values": pa.Table.from_pylist(tags, schema=TAGS_SCHEMA),
        "events": pa.Table.from_pylist(events, schema=EVENTS_SCHEMA),
        "orders": pa.Table.from_pylist(orders, schema=ORDERS_SCHEMA),
    }


def _event_row(one_id: str, e: dict[str, Any]) -> dict[str, Any]:
    row = {c: e.get(c) for c in EVENTS_SCHEMA.names}
    props = e.get("properties")
    row["properties"] = props if isinstance(props, str) or props is None else json.dumps(props, ensure_ascii=False)
    row["one_id"] = one_id
    return row


def register(engine: Engine, people: Iterable[PersonData], schema: RuleSchema) -> None:
    for name, table in tables(people, schema).items():
        engine.register_arrow(name, table)


def run(engine: Engine, compiled: CompiledRule) -> set[str]:
    result = engine.query(compiled.sql, compiled.params)
    assert result.column_names == ["one_id"]
    ids = result.column("one_id").to_pylist()
    assert len(ids) == len(set(ids)), "one_ids must be distinct"
    return set(ids)
