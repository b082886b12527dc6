"""Data-subject access (查阅复制权, PIPL art. 45): everything siyu holds about one person, as one JSON document.

The person is found by any identifier through the lake's identity tables (so people who arrived after the
last serving snapshot are found too), together with every retired one_id merged into them. Then every lake
table with a ``one_id`` column — dwd, dws, ads and model sets, found by walking the lake, so a table added
later is not forgotten — gives its rows for those ids; the identity tables give the identifiers; the
consent ledger (when a store is given) gives the decision history. Values the lake keeps encrypted are
opened with the vault when a key is configured (it is the person's own data); keyed tokens cannot be
opened and are marked as such.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import orjson

from siyu.core.errors import SiyuError
from siyu.core.identifiers import IdentifierType, stored_value
from siyu.privacy.classification import field_class
from siyu.privacy.consent_ledger import ConsentLedger
from siyu.privacy.erasure_rewrite import lake_tables
from siyu.privacy.landing import landing_vault
from siyu.privacy.vault import VaultError
from siyu.warehouse.lake import Lake

#: Layers whose tables are per-person facts (ods is the raw copy of dwd; identity is read separately).
PERSON_LAYERS = ("dwd", "dws", "ads", "models")
#: JSON text columns opened into objects in the document.
JSON_COLUMNS = frozenset({"properties", "traits", "context", "extra"})
_LOOKUP_TYPES = ("one_id", *(t.value for t in IdentifierType))


def find_person_in_lake(lake: Lake, identifier_type: str, value: str) -> list[str]:
    """The person's current one_id followed by every one_id merged into it; [] when nobody has it."""
    if identifier_type not in _LOOKUP_TYPES:
        raise SiyuError(f"unknown identifier type {identifier_type!r}; one of {', '.join(_LOOKUP_TYPES)}",
                        code="bad_identifier_type", input_name="identifier_type")
    nodes = lake.files("identity", "nodes")
    if not nodes:
        return []
    con = duckdb.connect()
    try:
        con.register("nodes", con.read_parquet(nodes, hive_partitioning=False))
        redirects = lake.files("identity", "redirects")
        con.execute("CREATE TEMP TABLE redirects AS SELECT * FROM read_parquet($f)" if redirects else
                    "CREATE TEMP TABLE redirects (from_one_id VARCHAR, to_one_id VARCHAR, at TIMESTAMP)",
                    {"f": redirects} if redirects else None)
        if identifier_type == "one_id":
            row = con.execute("SELECT coalesce((SELECT to_one_id FROM redirects WHERE from_one_id = $v), "
                              "(SELECT any_value(one_id) FROM nodes WHERE one_id = $v))", {"v": value}).fetchone()
        else:
            try:
                stored = stored_value(IdentifierType(identifier_type), value)
            except ValueError as exc:
                raise SiyuError(f"bad {identifier_type} value: {exc}", code="bad_identifier",
                                input_name="value") from None
            row = con.execute("SELECT coalesce(r.to_one_id, n.one_id) FROM nodes AS n LEFT JOIN redirects AS r "
                              "ON r.from_one_id = n.one_id WHERE n.identifier_type = $t AND n.identifier_value = $v "
                              "LIMIT 1", {"t": identifier_type, "v": stored}).fetchone()
        if row is None or row[0] is None:
            return []
        one_id = str(row[0])
        merged = [str(r[0]) for r in con.execute("SELECT from_one_id FROM redirects WHERE to_one_id = $o "
                                                 "ORDER BY 1", {"o": one_id}).fetchall()]
    finally:
        con.close()
    return [one_id, *merged]


def subject_access(lake: Lake, identifier_type: str, value: str, *, ledger: ConsentLedger | None = None,
                   open_encrypted: bool = True) -> dict[str, Any]:
    """The access document for the person known by ``identifier_type:value`` (``unknown_person`` if none)."""
    ids = find_person_in_lake(lake, identifier_type, value)
    if not ids:
        raise SiyuError(f"no person with {identifier_type} = this value", code="unknown_person",
                        input_name="value")
    con = duckdb.connect()
    tables: dict[str, list[dict[str, Any]]] = {}
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register("person_ids", con.sql("SELECT unnest($ids) AS one_id", params={"ids": ids}))
        identifiers = _rows(con, lake.files("identity", "nodes"),
                            "SELECT identifier_type, identifier_value, one_id, first_seen FROM src "
                            "WHERE one_id IN (SELECT one_id FROM person_ids) ORDER BY 1, 2")
        for name, paths in lake_tables(lake):
            if name.split("/")[0] not in PERSON_LAYERS:
                continue
            files = [str(p) for p in paths]
            rel = con.read_parquet(files, hive_partitioning=True, union_by_name=True)
            if "one_id" not in rel.columns:
                continue
            order = " ORDER BY event_time, message_id" if {"event_time", "message_id"} <= set(rel.columns) else ""
            rows = _rows(con, files, f"SELECT * FROM src WHERE one_id IN (SELECT one_id FROM person_ids){order}")
            if rows:
                tables[name] = rows
        order_ids = sorted({r["order_id"] for r in tables.get("dwd/orders", []) if r.get("order_id")})
        if order_ids and lake.files("dwd", "order_items"):
            con.register("person_orders", con.sql("SELECT unnest($o) AS order_id", params={"o": order_ids}))
            items = _rows(con, lake.files("dwd", "order_items"),
                          "SELECT * FROM src WHERE order_id IN (SELECT order_id FROM person_orders) ORDER BY 1, 2")
            if items:
                tables["dwd/order_items"] = items
    finally:
        con.close()
    if open_encrypted:
        tables = {name: [_opened_row(r) for r in rows] for name, rows in tables.items()}
    subjects = [f"{r['identifier_type']}:{r['identifier_value']}" for r in identifiers]
    return {
        "generated_at": datetime.now(UTC).isoformat(),
        "one_id": ids[0], "merged_one_ids": ids[1:],
        "identifiers": identifiers,
        "notes": ["phone numbers and e-mail addresses are kept only as keyed tokens (ph_…, em_…): siyu cannot "
                  "turn them back into the number; values shown as enc:v… could not be opened without the vault key"],
        "consent_history": ledger.history(subjects, ids) if ledger is not None else None,
        "tables": tables,
    }


def _rows(con: duckdb.DuckDBPyConnection, files: list[str], sql: str) -> list[dict[str, Any]]:
    if not files:
        return []
    con.register("src", con.read_parquet(files, hive_partitioning=True, union_by_name=True))
    try:
        res = con.execute(sql)
        names = [d[0] for d in res.description or []]
        return [{k: _parsed(k, v) for k, v in zip(names, row, strict=True)} for row in res.fetchall()]
    finally:
        con.unregister("src")


def _parsed(column: str, value: Any) -> Any:
    if column in JSON_COLUMNS and isinstance(value, str):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def _opened_row(row: dict[str, Any]) -> dict[str, Any]:
    return {k: _opened(k, v) for k, v in row.items()}


def _opened(key: str, value: Any, depth: int = 0) -> Any:
    """Vault tokens under personal keys decrypted (when a key is configured); everything else unchanged."""
    if depth > 32:
        return value
    if isinstance(value, dict):
        return {k: _opened(str(k), v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_opened(key, v, depth + 1) for v in value]
    if isinstance(value, str) and value.startswith("enc:v"):
        vault, kind = landing_vault(), field_class(key).kind
        if vault is not None and kind is not None:
            try:
                return vault.decrypt(value, field=str(kind))
            except VaultError:
                return value
    return value


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def write_access_document(document: dict[str, Any], out: Path) -> int:
    """Write the document as indented JSON (atomically); returns the bytes written."""
    data = orjson.dumps(document, default=_default, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(out)
    return len(data)


__all__ = ["PERSON_LAYERS", "find_person_in_lake", "subject_access", "write_access_document"]
