"""Point look-ups of one person on the published serving snapshot, safe to call from many threads.

Each call takes its own cursor on a shared read-only connection; ``refresh()`` switches to a newer
snapshot when the loader publishes one (requests already running finish on the old one).
"""

from __future__ import annotations

import threading
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import orjson

from siyu.core.errors import SiyuError
from siyu.core.identifiers import IdentifierType, stored_value
from siyu.serving.snapshot import current_snapshot, open_snapshot
from siyu.warehouse.lake import Lake

#: Identifier types a caller may look a person up by (``one_id`` is siyu's own).
LOOKUP_TYPES = ("one_id", *(t.value for t in IdentifierType))

#: Profile fields that identify a person directly: masked for roles without PII access.
PII_FIELDS = frozenset({"user_id", "member_no", "unionid", "phone_token"})


class SnapshotMissing(SiyuError):
    code = "not_ready"


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


class PersonLookup:
    """Look-ups by identifier and per-person facts from the current snapshot of one lake."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self._lock = threading.Lock()
        self._con: duckdb.DuckDBPyConnection | None = None
        self._path: Path | None = None
        self.refresh()

    @property
    def snapshot(self) -> Path | None:
        return self._path

    def refresh(self) -> bool:
        """Switch to the newest published snapshot; True when it changed."""
        path = current_snapshot(self.lake)
        if path is None or path == self._path:
            return False
        con = open_snapshot(path)
        with self._lock:
            self._con, self._path = con, path
        return True

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            con = self._con
        if con is None:
            raise SnapshotMissing("no serving snapshot yet: the first build has not finished")
        return con.cursor()

    def _rows(self, sql: str, params: list[Any]) -> list[dict[str, Any]]:
        cur = self._cursor()
        try:
            res = cur.execute(sql, params)
            names = [d[0] for d in res.description or []]
            return [dict(zip(names, (_plain(v) for v in row), strict=True)) for row in res.fetchall()]
        finally:
            cur.close()

    def find(self, identifier_type: str, value: str) -> str | None:
        """The current one_id for an identifier, or None; a malformed value raises ``bad_identifier``."""
        if identifier_type == "one_id":
            rows = self._rows("SELECT one_id FROM profiles WHERE one_id = ?", [value])
            if not rows:
                rows = self._rows("SELECT to_one_id AS one_id FROM redirects WHERE from_one_id = ?", [value])
            return str(rows[0]["one_id"]) if rows else None
        try:
            kind = IdentifierType(identifier_type)
            stored = stored_value(kind, value)
        except ValueError as exc:
            raise SiyuError(f"bad {identifier_type} value: {exc}", code="bad_identifier",
                            input_name="value") from None
        rows = self._rows("SELECT one_id FROM id_map WHERE identifier_type = ? AND identifier_value = ?",
                          [kind.value, stored])
        return str(rows[0]["one_id"]) if rows else None

    def find_stored(self, identifier_type: str, stored: str) -> str | None:
        """Like :meth:`find` for a value already in stored form (a phone as its ``ph_`` token)."""
        rows = self._rows("SELECT one_id FROM id_map WHERE identifier_type = ? AND identifier_value = ?",
                          [identifier_type, stored])
        return str(rows[0]["one_id"]) if rows else None

    def find_in_lake(self, identifier_type: str, value: str) -> str | None:
        """Like :meth:`find`, but through the lake's identity tables: sees people who arrived after the
        last snapshot (a scan, so only used where freshness matters more than speed, e.g. timelines)."""
        nodes = self.lake.files("identity", "nodes")
        if not nodes or identifier_type == "one_id":
            return value if identifier_type == "one_id" and nodes else None
        try:
            kind = IdentifierType(identifier_type)
            stored = stored_value(kind, value)
        except ValueError as exc:
            raise SiyuError(f"bad {identifier_type} value: {exc}", code="bad_identifier",
                            input_name="value") from None
        con = duckdb.connect()
        try:
            con.register("nodes", con.read_parquet(nodes, hive_partitioning=False))
            redirects = self.lake.files("identity", "redirects")
            if redirects:
                con.register("redirects", con.read_parquet(redirects, hive_partitioning=False))
            else:
                con.execute("CREATE TEMP TABLE redirects (from_one_id VARCHAR, to_one_id VARCHAR)")
            row = con.execute("SELECT coalesce(r.to_one_id, n.one_id) FROM nodes AS n "
                              "LEFT JOIN redirects AS r ON r.from_one_id = n.one_id "
                              "WHERE n.identifier_type = ? AND n.identifier_value = ? LIMIT 1",
                              [kind.value, stored]).fetchone()
        finally:
            con.close()
        return str(row[0]) if row else None

    def person(self, one_id: str) -> dict[str, Any] | None:
        """Profile, tags (and predictions), segments and consent of one person, or None."""
        profiles = self._rows("SELECT * FROM profiles WHERE one_id = ?", [one_id])
        if not profiles:
            return None
        tags = self._rows("SELECT tag, value, score, kind FROM person_tags WHERE one_id = ? ORDER BY tag", [one_id])
        segments = self._rows("SELECT segment FROM person_segments WHERE one_id = ? ORDER BY segment", [one_id])
        consent = self._rows("SELECT purpose, granted, changed_at FROM consent WHERE one_id = ? ORDER BY purpose",
                             [one_id])
        traits = self._rows("SELECT traits, updated_at FROM traits WHERE one_id = ?", [one_id])
        merged = self._rows("SELECT from_one_id FROM redirects WHERE to_one_id = ? ORDER BY from_one_id", [one_id])
        meta = self._rows("SELECT as_of, built_at FROM meta", [])
        return {"profile": profiles[0], "tags": tags, "segments": [r["segment"] for r in segments],
                "consent": consent,
                "traits": orjson.loads(traits[0]["traits"]) if traits else {},
                "traits_updated_at": traits[0]["updated_at"] if traits else None,
                "merged_one_ids": [r["from_one_id"] for r in merged],
                "as_of": meta[0]["as_of"] if meta else None, "snapshot_built_at": meta[0]["built_at"] if meta else None}

    def merged_ids(self, one_id: str) -> list[str]:
        """The one_id and every retired id that now points to it (events may still carry those)."""
        if self._con is None:
            return [one_id]
        rows = self._rows("SELECT from_one_id FROM redirects WHERE to_one_id = ?", [one_id])
        return [one_id, *(str(r["from_one_id"]) for r in rows)]

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
            self._con, self._path = None, None
