"""Serving snapshots: the profile facts a look-up needs, copied into one DuckDB file sorted by key.

A look-up by identifier must answer in milliseconds on a million profiles. Scanning the lake's
Parquet for one person reads every row group, so after each profile build the facts are copied into
``LAKE/_serving/snapshot-<stamp>.duckdb`` with every table ordered by its look-up key: DuckDB's
per-row-group min/max then skips all but one row group. A snapshot is written aside and published
by renaming the ``current`` pointer, so readers switch whole snapshots, never half of one.

Tables: ``id_map`` (identifier → current one_id), ``profiles`` (the ``profile`` view: profile,
RFM, lifecycle, tier), ``person_tags`` (tag values with their kind), ``person_segments``,
``consent`` (the latest decision that counts per purpose from ``consent_changed`` events, see
``siyu.privacy.consent``), ``person_identifiers`` (one_id → ``type:value``, for consent checks), ``traits``
(the latest ``identify`` traits), ``redirects`` and ``meta``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from siyu.core.logs import get_logger
from siyu.privacy.consent import latest_consent_sql
from siyu.profile.segments import open_profile
from siyu.warehouse.build import register_layer
from siyu.warehouse.engine import Engine
from siyu.warehouse.engine.duckdb_engine import DuckDBEngine
from siyu.warehouse.lake import Lake

log = get_logger("siyu.serving")

SERVING_DIR = "_serving"
KEEP_SNAPSHOTS = 2

_TABLES: dict[str, str] = {
    "id_map": """
        SELECT m.identifier_type, m.identifier_value, coalesce(r.to_one_id, m.one_id) AS one_id
        FROM id_map AS m LEFT JOIN redirects AS r ON r.from_one_id = m.one_id
        ORDER BY m.identifier_type, m.identifier_value""",
    "profiles": "SELECT * FROM profile ORDER BY one_id",
    "person_tags": """
        SELECT t.one_id, t.tag, t.value, t.score, coalesce(c.kind, 'rule') AS kind
        FROM tag_values AS t LEFT JOIN serving_tag_kinds AS c ON c.tag = t.tag
        ORDER BY t.one_id, t.tag""",
    "person_segments": "SELECT one_id, segment FROM serving_segment_members ORDER BY one_id, segment",
    "consent": f"""
        SELECT one_id, purpose, granted, changed_at, notice_version, source
        FROM ({latest_consent_sql("serving_consent_events")}) AS c ORDER BY one_id, purpose""",
    "person_identifiers": """
        SELECT coalesce(r.to_one_id, m.one_id) AS one_id, m.identifier_type || ':' || m.identifier_value AS subject
        FROM id_map AS m LEFT JOIN redirects AS r ON r.from_one_id = m.one_id
        ORDER BY 1, 2""",
    "traits": """
        SELECT one_id, traits, event_time AS updated_at FROM (
            SELECT coalesce(r.to_one_id, e.one_id) AS one_id, e.traits, e.event_time,
                   row_number() OVER (PARTITION BY coalesce(r.to_one_id, e.one_id)
                                      ORDER BY e.event_time DESC, e.message_id DESC) AS rn
            FROM serving_dwd_events AS e LEFT JOIN redirects AS r ON r.from_one_id = e.one_id
            WHERE e.type = 'identify' AND e.traits IS NOT NULL AND e.one_id IS NOT NULL
        ) AS x WHERE rn = 1 ORDER BY one_id""",
    "redirects": "SELECT from_one_id, to_one_id FROM redirects ORDER BY to_one_id",
}


def serving_dir(lake: Lake) -> Path:
    return lake.root / SERVING_DIR


#: kind → the pointer file naming its published file.
POINTERS = {"snapshot": "current", "segments": "current-segments"}


def current_file(lake: Lake, kind: str = "snapshot") -> Path | None:
    """The published file of ``kind`` (``snapshot`` for look-ups, ``segments`` for the segment store)."""
    pointer = serving_dir(lake) / POINTERS[kind]
    if not pointer.exists():
        return None
    path = serving_dir(lake) / pointer.read_text(encoding="utf-8").strip()
    return path if path.exists() else None


def current_snapshot(lake: Lake) -> Path | None:
    """The published look-up snapshot, or None before the first one."""
    return current_file(lake, "snapshot")


def publish(eng: DuckDBEngine, lake: Lake, kind: str, tables: dict[str, str], params: dict[str, object]) -> Path:
    """Write ``tables`` (name → SQL over ``eng``'s views) into a new ``<kind>-<stamp>.duckdb`` file aside,
    then publish it by renaming the kind's pointer; older files of the kind are pruned."""
    folder = serving_dir(lake)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    name = f"{kind}-{stamp}.duckdb"
    tmp = folder / f".tmp-{name}"
    eng.con.execute("ATTACH $p AS serving_out", {"p": str(tmp)})
    try:
        for table, sql in tables.items():
            named = {k: v for k, v in params.items() if f"${k}" in sql}  # JSON paths ('$.purpose') are not params
            eng.con.execute(f"CREATE TABLE serving_out.{table} AS {sql}", named or None)
    finally:
        eng.con.execute("DETACH serving_out")
    os.replace(tmp, folder / name)
    pointer_tmp = folder / f".tmp-{POINTERS[kind]}"
    pointer_tmp.write_text(name, encoding="utf-8")
    os.replace(pointer_tmp, folder / POINTERS[kind])
    _prune(folder, kind, keep=name)
    return folder / name


def _register_sources(eng: Engine, lake: Lake) -> None:
    empty_members = "SELECT CAST(NULL AS VARCHAR) AS one_id, CAST(NULL AS VARCHAR) AS segment WHERE false"
    if lake.exists("ads", "segment_members"):
        register_layer(eng, lake, "ads", "segment_members", "serving_segment_members")
    else:
        eng.create_view("serving_segment_members", empty_members)
    if lake.exists("ads", "tag_catalogue"):
        register_layer(eng, lake, "ads", "tag_catalogue", "serving_tag_catalogue")
        eng.create_view("serving_tag_kinds", "SELECT DISTINCT tag, kind FROM serving_tag_catalogue")
    else:
        eng.create_view("serving_tag_kinds", "SELECT CAST(NULL AS VARCHAR) AS tag, CAST(NULL AS VARCHAR) AS kind "
                                             "WHERE false")
    register_layer(eng, lake, "dwd", "events", "serving_dwd_events")
    eng.create_view("serving_consent_events",
                    "SELECT coalesce(r.to_one_id, e.one_id) AS one_id, e.event, e.event_time, e.properties "
                    "FROM serving_dwd_events AS e LEFT JOIN redirects AS r ON r.from_one_id = e.one_id "
                    "WHERE e.event = 'consent_changed'")


def publish_version(lake: Lake, kind: str, tables: dict[str, str], *, engine: DuckDBEngine | None = None,
                    prepare: Callable[[DuckDBEngine, Lake], object] | None = None) -> Path:
    """Copy ``tables`` (SQL over the profile views, plus what ``prepare`` registers) from one version of
    the lake into a new ``kind`` file with a ``meta`` table, and publish it.

    Reads a pinned (hard-linked) copy of the lake, so builds go on meanwhile and cannot change a file
    under the copy."""
    t0 = time.perf_counter()
    eng = engine or DuckDBEngine()
    try:
        with lake.pinned() as version:
            ctx = open_profile(version, eng)
            if prepare is not None:
                prepare(eng, version)
            with_meta = {**tables, "meta": "SELECT $as_of::DATE AS as_of, $built::TIMESTAMPTZ AS built_at"}
            path = publish(eng, lake, kind, with_meta, {"as_of": ctx.as_of, "built": datetime.now(UTC)})
    finally:
        if engine is None:
            eng.close()
    log.info(f"serving.{kind}", path=str(path), seconds=round(time.perf_counter() - t0, 2))
    return path


def build_snapshot(lake: Lake, *, engine: DuckDBEngine | None = None) -> Path:
    """The look-up snapshot of the lake as it is now, published; returns its path."""
    return publish_version(lake, "snapshot", _TABLES, engine=engine, prepare=_register_sources)


#: A snapshot build never takes this long: scratch files older than this were left by a killed build.
STALE_SCRATCH_SECONDS = 6 * 3600


def _prune(folder: Path, kind: str, keep: str) -> None:
    """Remove all but the newest files of ``kind`` (readers holding an old file keep it open until they
    switch), and scratch files of builds that were killed."""
    now = time.time()
    for scratch in [*folder.glob(f".tmp-{kind}-*"), *folder.glob(".pin-*")]:
        with contextlib.suppress(OSError):
            if now - scratch.stat().st_mtime > STALE_SCRATCH_SECONDS:
                if scratch.is_dir():
                    shutil.rmtree(scratch, ignore_errors=True)
                else:
                    scratch.unlink()
    snaps = sorted(p for p in folder.glob(f"{kind}-*.duckdb") if p.name != keep)
    for old in snaps[: max(0, len(snaps) - (KEEP_SNAPSHOTS - 1))]:
        with contextlib.suppress(OSError):
            old.unlink()


def open_snapshot(path: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to one snapshot file."""
    return duckdb.connect(str(path), read_only=True)
