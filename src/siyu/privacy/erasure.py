"""Erasure (删除权, PIPL art. 47): remove people from the lake, its state and serving files, and the spool.

1. :func:`resolve_subjects` turns what the request names (``user_id:u_1``, ``phone:13812345678`` — a
   plaintext phone or email is normalised and tokenised as landing does —, ``unionid:…``,
   ``openid:app:id`` or ``openid:id`` for every app, ``one_id:o_…``) into people: their one_ids through
   ``identity/nodes`` and ``identity/redirects`` both ways (the ids merged into theirs too), and their
   *needles* — every value that marks one of their rows: one_ids, identifiers as ``value`` and
   ``type:value``, messageIds (``dwd/events``) and order ids (``dwd/orders``). An identifier that rows of
   someone else also carry (``dwd/events`` of another one_id, or the id map) — a store tablet's
   device_id, a family's phone — is not theirs alone: it is kept, and reported as shared with the
   number of other people. Names that match nobody are reported in ``unknown``; the others proceed.
2. :func:`erase_from_lake` rewrites, under the exclusive lake lock, every Parquet file of every table
   of every layer that holds a matching row (``siyu.privacy.erasure_rewrite``), then clears the
   erased identifiers from ``_state`` (identity state: shared list, blocks, totals; build manifests:
   the rewritten days and entity exports are marked changed so the next build redoes them from the
   erased ODS) and republishes the serving files (look-up snapshot, segment store) from the erased
   lake, deleting the older ones and unused pins (``refresh_serving``).
3. :func:`erase_from_spool` deletes the collector spool's messages of these people (``secure_delete``,
   then a WAL checkpoint, so the bytes are gone from the file too).

Erase the spool first, then the lake: a loader that landed a spooled message meanwhile has put it in
the lake before the lake is scanned. ``siyu.privacy.trace_scan`` then proves nothing is left.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from siyu.core.identifiers import (
    ID_COLUMNS,
    BadIdentifier,
    IdentifierType,
    canonical_value,
    extract_identifiers,
    stored_value,
)
from siyu.privacy.erasure_rewrite import (
    MIN_TOKEN,
    TOKEN_CHARS,
    find_matches,
    fix_state,
    lake_tables,
    refresh_serving,
    register_needles,
    remove_leftovers,
    rewrite_files,
)
from siyu.privacy.landing import redact_text
from siyu.warehouse.engine.duckdb_engine import DuckDBEngine
from siyu.warehouse.lake import Lake

_WHOLE_TOKEN = re.compile(f"[{TOKEN_CHARS}]{{{MIN_TOKEN},}}")
_KEYED = re.compile(r"(ph|em)_[0-9a-f]{32}")


def text_needle(needle: str) -> str | None:
    """The token a needle is looked for as inside text, or None when it is too generic for that.

    ``type:value`` and ``app:openid`` are looked for by their last part (an openid is written without its
    app id in ``context.externalIds``). A token must have at least ``MIN_TOKEN`` characters and hold a
    letter and a digit, or be 16 characters or more: ``u_5369112`` or a uuid is, ``android`` or ``10086``
    is not (those match by whole-column equality only)."""
    last = needle.rsplit(":", 1)[-1]
    if not _WHOLE_TOKEN.fullmatch(last):
        return None
    mixed = any(c.isdigit() for c in last) and any(c.isalpha() for c in last)
    return last if mixed or len(last) >= 16 else None


@dataclass(frozen=True)
class ErasureSubjects:
    """The people to erase and every value that marks their rows. Holds identifiers: keep it in memory;
    :meth:`summary` is what may be stored."""

    requested: tuple[str, ...]
    #: requested name → the current one_ids it resolved to
    resolved: dict[str, tuple[str, ...]]
    #: requested name → why it matched nobody (``not_found`` or ``invalid: …``)
    unknown: dict[str, str]
    one_ids: frozenset[str]
    #: ``type:value`` of identifiers that are theirs alone (erased)
    identifiers: frozenset[str]
    #: ``type:value`` → how many other people carry it (kept)
    shared: dict[str, int]
    message_ids: frozenset[str]
    order_ids: frozenset[str]

    @property
    def needles(self) -> frozenset[str]:
        """A row with a text column equal to one of these is theirs."""
        values = {i.split(":", 1)[1] for i in self.identifiers}
        return frozenset(self.one_ids | self.identifiers | values | self.message_ids | self.order_ids)

    @property
    def text_needles(self) -> frozenset[str]:
        """A row whose text (JSON, a quarantined payload) holds one of these as a token is theirs (see
        :func:`text_needle`); tokens of shared identifiers are left out."""
        kept = {text_needle(s) for s in self.shared} | {text_needle(s.split(":", 1)[1]) for s in self.shared}
        found = {text_needle(n) for n in self.needles}
        return frozenset(t for t in found - kept if t is not None)

    def summary(self) -> dict[str, Any]:
        """Counts only: no identifier (for the erasure request's record)."""
        return {"requested": len(self.requested), "resolved": len(self.resolved), "unknown": len(self.unknown),
                "one_ids": len(self.one_ids), "identifiers": len(self.identifiers), "shared": len(self.shared),
                "message_ids": len(self.message_ids), "order_ids": len(self.order_ids)}


def _parse(raw: str) -> tuple[str, str, bool] | str:
    """``(type, value as stored, match openid by its id only)`` or why it cannot be looked up."""
    kind, sep, value = raw.partition(":")
    kind, value = kind.strip().lower(), value.strip()
    if not sep or not value:
        return "invalid: expected type:value"
    if kind == "one_id":
        return kind, value, False
    try:
        t = IdentifierType(kind)
    except ValueError:
        return f"invalid: unknown identifier type {kind!r}"
    try:
        if t in (IdentifierType.PHONE, IdentifierType.EMAIL):
            if _KEYED.fullmatch(value) and value.startswith(kind[:2]):
                return kind, value, False  # already the stored token
            return kind, stored_value(t, value), False
        return kind, canonical_value(t, value), t is IdentifierType.OPENID and ":" not in value
    except BadIdentifier as exc:
        return f"invalid: {exc}"


def _view(con: Any, name: str, files: list[str], empty: pa.Schema) -> None:
    if files:
        con.read_parquet(files, hive_partitioning=False, union_by_name=True).create_view(name, replace=True)
    else:
        con.register(name, empty.empty_table())


def _strings(*names: str) -> pa.Schema:
    return pa.schema([(n, pa.string()) for n in names])


def _column(con: Any, sql: str, params: dict[str, Any] | None = None) -> list[Any]:
    return [r[0] for r in con.execute(sql, params or {}).fetchall()]


def resolve_subjects(lake: Lake, identifiers: Sequence[str], *, engine: DuckDBEngine | None = None
                     ) -> ErasureSubjects:
    """Who ``identifiers`` name, and every needle of theirs (see the module docstring)."""
    eng = engine or DuckDBEngine()
    con = eng.con
    try:
        unknown: dict[str, str] = {}
        rows: list[tuple[str, str, str, bool]] = []
        for raw in dict.fromkeys(identifiers):
            parsed = _parse(raw)
            if isinstance(parsed, str):
                unknown[raw] = parsed
            else:
                rows.append((raw, *parsed))
        types = {"input": pa.string(), "t": pa.string(), "v": pa.string(), "suffix": pa.bool_()}
        con.register("er_inputs", pa.table({n: pa.array([r[i] for r in rows], t)
                                            for i, (n, t) in enumerate(types.items())}))
        _view(con, "er_nodes", lake.files("identity", "nodes"),
              _strings("identifier_type", "identifier_value", "one_id"))
        _view(con, "er_one_ids", lake.files("identity", "one_ids"), _strings("one_id"))
        _view(con, "er_events", lake.files("dwd", "events"), _strings("message_id", "one_id"))
        _view(con, "er_orders", lake.files("dwd", "orders"), _strings("order_id", "one_id"))
        redirect_files = lake.files("identity", "redirects")
        redirects: dict[str, str] = dict(con.execute(
            "SELECT from_one_id, to_one_id FROM read_parquet($f, hive_partitioning = false)",
            {"f": redirect_files}).fetchall()) if redirect_files else {}

        hits = con.execute("""
            SELECT i.input, n.one_id FROM er_inputs AS i JOIN er_nodes AS n
              ON n.identifier_type = i.t AND n.identifier_value = i.v WHERE NOT i.suffix AND i.t <> 'one_id'
            UNION SELECT i.input, n.one_id FROM er_inputs AS i JOIN er_nodes AS n
              ON n.identifier_type = 'openid' AND regexp_extract(n.identifier_value, '[^:]*$') = i.v WHERE i.suffix
            UNION SELECT i.input, i.v FROM er_inputs AS i WHERE i.t = 'one_id' AND (
              i.v IN (SELECT one_id FROM er_nodes) OR i.v IN (SELECT one_id FROM er_one_ids)
              OR i.v IN (SELECT one_id FROM er_events))""").fetchall()
        hits += [(raw, v) for raw, t, v, _ in rows if t == "one_id" and v in redirects]

        def current(one_id: str) -> str:
            for _ in range(64):  # chains are flattened by the resolver; follow them anyway
                if one_id not in redirects:
                    break
                one_id = redirects[one_id]
            return one_id

        resolved: dict[str, set[str]] = {}
        for raw, one_id in hits:
            if one_id is not None:
                resolved.setdefault(raw, set()).add(current(one_id))
        for raw, *_ in rows:
            if raw not in resolved:
                unknown[raw] = "not_found"
        people = set().union(*resolved.values()) if resolved else set()
        one_ids = people | {src for src in redirects if current(src) in people}
        con.register("er_ids", pa.table({"one_id": pa.array(sorted(one_ids), pa.string())}))

        cols = {r[0] for r in con.execute("DESCRIBE er_events").fetchall()}
        id_cols = {t.value: c for t, c in ID_COLUMNS.items() if c in cols}
        keep = ", ".join(sorted({"message_id", *id_cols.values(), *({"order_id"} & cols)}))
        con.execute(f"CREATE OR REPLACE TEMP TABLE er_rows AS SELECT {keep} FROM er_events "
                    "WHERE one_id IN (SELECT one_id FROM er_ids)")
        message_ids = set(_column(con, "SELECT DISTINCT message_id FROM er_rows WHERE message_id IS NOT NULL"))
        order_ids = set(_column(con, "SELECT DISTINCT order_id FROM er_orders WHERE one_id IN "
                                     "(SELECT one_id FROM er_ids) AND order_id IS NOT NULL"))
        if "order_id" in cols:
            order_ids |= set(_column(con, "SELECT DISTINCT order_id FROM er_rows WHERE order_id IS NOT NULL"))

        # Their identifiers: the id map's, every identifier their events carry, and what was asked for.
        cand = set(con.execute("SELECT identifier_type, identifier_value FROM er_nodes "
                               "WHERE one_id IN (SELECT one_id FROM er_ids)").fetchall())
        for t, c in id_cols.items():
            cand |= {(t, v) for v in _column(con, f"SELECT DISTINCT {c} FROM er_rows WHERE {c} IS NOT NULL")}
        cand |= {(t, v) for _raw, t, v, suffix in rows if t != "one_id" and not suffix}
        con.register("er_cand", pa.table({"t": pa.array(sorted(t for t, _ in cand), pa.string()),
                                          "v": pa.array([v for _, v in sorted(cand)], pa.string())}))
        shared: dict[str, int] = {}
        if cand:
            others = [f"SELECT '{t}' AS t, {c} AS v, one_id FROM er_others WHERE {c} IN "
                      f"(SELECT v FROM er_cand WHERE t = '{t}')" for t, c in id_cols.items()]
            any_hit = " OR ".join(f"{c} IN (SELECT v FROM er_cand WHERE t = '{t}')" for t, c in id_cols.items())
            con.execute("CREATE OR REPLACE TEMP TABLE er_others AS SELECT coalesce(one_id, '') AS one_id, "
                        f"{', '.join(id_cols.values()) or 'NULL AS none'} FROM er_events "
                        "WHERE coalesce(one_id, '') NOT IN (SELECT one_id FROM er_ids) "
                        f"AND ({any_hit or 'false'})")
            others.append("SELECT n.identifier_type, n.identifier_value, n.one_id FROM er_nodes AS n JOIN er_cand AS c "
                          "ON n.identifier_type = c.t AND n.identifier_value = c.v "
                          "WHERE n.one_id NOT IN (SELECT one_id FROM er_ids)")
            for t, v, n in con.execute("SELECT t, v, count(DISTINCT one_id) FROM (" + " UNION ALL ".join(others)
                                       + ") AS o GROUP BY t, v").fetchall():
                shared[f"{t}:{v}"] = int(n)
        exclusive = frozenset(f"{t}:{v}" for t, v in cand) - set(shared)
        return ErasureSubjects(
            requested=tuple(dict.fromkeys(identifiers)),
            resolved={k: tuple(sorted(v)) for k, v in resolved.items()}, unknown=unknown,
            one_ids=frozenset(one_ids), identifiers=exclusive, shared=shared,
            message_ids=frozenset(message_ids), order_ids=frozenset(order_ids))
    finally:
        if engine is None:
            eng.close()


@dataclass
class TableErasure:
    files_scanned: int = 0
    files_rewritten: int = 0
    rows_removed: int = 0
    seconds: float = 0.0


@dataclass
class LakeErasureReport:
    """What :func:`erase_from_lake` did: per ``layer/table`` files and rows, the state and serving files."""

    tables: dict[str, TableErasure] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    serving: dict[str, Any] = field(default_factory=dict)
    leftovers_removed: int = 0
    seconds: float = 0.0

    @property
    def rows_removed(self) -> int:
        return sum(t.rows_removed for t in self.tables.values())

    @property
    def files_rewritten(self) -> int:
        return sum(t.files_rewritten for t in self.tables.values())

    def as_dict(self) -> dict[str, Any]:
        return {"tables": {k: asdict(v) for k, v in self.tables.items()}, "rows_removed": self.rows_removed,
                "files_rewritten": self.files_rewritten, "state": self.state, "serving": self.serving,
                "leftovers_removed": self.leftovers_removed, "seconds": self.seconds}


def erase_from_lake(lake: Lake, subjects: ErasureSubjects, *, serving: bool = True, workers: int = 2,
                    threads: int | None = None, memory_limit: str | None = None) -> LakeErasureReport:
    """Remove every row of ``subjects`` from every table of the lake, holding the lake lock exclusively.

    Each table is scanned once (per distinct file schema) for matching rows; only files holding one
    are rewritten (``workers`` at a time). Then ``_state`` is cleared of the erased identifiers and,
    with ``serving``, the serving files are republished. Idempotent: a second run removes nothing.
    ``threads``/``memory_limit`` bound the DuckDB scan (default: ``SIYU_DUCKDB_MEMORY_LIMIT`` or half the machine).
    """
    t0 = time.perf_counter()
    report = LakeErasureReport()
    with lake.lock():
        report.leftovers_removed = remove_leftovers(lake)
        changed: list[str] = []
        if subjects.needles:
            eng = DuckDBEngine(threads=threads, memory_limit=memory_limit)
            try:
                register_needles(eng.con, subjects.needles, subjects.text_needles)
                for name, files in lake_tables(lake):
                    t1 = time.perf_counter()
                    removed = rewrite_files(find_matches(eng.con, files, tokens=bool(subjects.text_needles)),
                                            workers=workers)
                    changed += removed
                    report.tables[name] = TableErasure(len(files), len(removed), sum(removed.values()),
                                                       round(time.perf_counter() - t1, 3))
            finally:
                eng.close()
        report.state = fix_state(lake, subjects.needles, changed)
        if serving:
            report.serving = refresh_serving(lake, force=bool(changed))
    report.seconds = round(time.perf_counter() - t0, 3)
    return report


def _spool_row_matches(body: bytes, message_id: str | None, needles: frozenset[str], tokens: frozenset[str]) -> bool:
    if message_id is not None and message_id in needles:
        return True
    text = body.decode("utf-8", errors="replace")
    try:
        msg = orjson.loads(body)
    except orjson.JSONDecodeError:
        msg = None
    if isinstance(msg, dict):
        if msg.get("messageId") in needles:
            return True
        found, _ = extract_identifiers(msg)  # plaintext phones and emails as their stored tokens
        if any(v in needles or f"{t.value}:{v}" in needles for t, v in found.items()):
            return True
    return any(t in tokens for t in _WHOLE_TOKEN.findall(redact_text(text)))


def erase_from_spool(path: str | Path, subjects: ErasureSubjects) -> int:
    """Delete the spooled messages of ``subjects`` (pending or landed) and their ``seen`` messageIds;
    returns the messages deleted. Holds the spool's consumer lock, so no loader lands meanwhile.

    A message is theirs when its messageId is one of theirs, it carries one of their identifiers
    (read as the loader reads them: plaintext phones and emails are tokenised), or its text — with
    phone numbers, e-mails and national ids replaced by their tokens — holds one of their tokens.
    Deleted content is overwritten (``secure_delete``) and the WAL checkpointed and truncated.
    """
    from siyu.collect.spool import Spool

    path = Path(path)
    if not path.exists():
        return 0
    needles, tokens = subjects.needles, subjects.text_needles
    with Spool(path, group_commit=False) as spool, spool.consumer_lock():
        conn = sqlite3.connect(path, timeout=30.0, isolation_level=None)
        try:
            conn.execute("PRAGMA secure_delete = ON")
            conn.execute("PRAGMA busy_timeout = 30000")
            conn.execute("BEGIN IMMEDIATE")
            try:
                doomed: list[tuple[int, str | None]] = []
                cur = conn.execute("SELECT seq, message_id, body FROM spool")
                while batch := cur.fetchmany(5000):
                    doomed += [(seq, mid) for seq, mid, body in batch
                               if _spool_row_matches(bytes(body), mid, needles, tokens)]
                conn.executemany("DELETE FROM spool WHERE seq = ?", [(seq,) for seq, _ in doomed])
                gone = {mid for _, mid in doomed if mid is not None} | set(subjects.message_ids)
                conn.executemany("DELETE FROM seen WHERE message_id = ?", [(m,) for m in sorted(gone)])
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
    return len(doomed)

