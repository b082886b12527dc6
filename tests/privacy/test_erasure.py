"""Erasure (删除权): the people asked for leave every table, state and serving file; nobody else changes.

A small world is built once (import, build, tags, serving files). About ten people are picked from the
synthetic truth — a store tablet user, a buyer, someone with a quarantined line, a profile reached through
a retired one_id — and erased by a mix of identifiers. Which rows are theirs is decided here from the
truth (their identifiers as stored, their one_id, the messageIds and order ids stamped with it), by plain
substring search, independently of the rewriter; every other row of every table must be unchanged.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from siyu.cli.profile_cmds import default_tag_defs
from siyu.collect.collector import Collector
from siyu.collect.spool import Spool
from siyu.core.identifiers import IdentifierType, stored_value
from siyu.privacy import landing
from siyu.privacy.erasure import ErasureSubjects, erase_from_lake, erase_from_spool, resolve_subjects
from siyu.privacy.trace_scan import scan_for_traces
from siyu.profile.tags.build import build_tags
from siyu.serving.segment_store import build_segment_store
from siyu.serving.snapshot import build_snapshot, current_file
from siyu.synth import generate_world
from siyu.warehouse.build import build
from siyu.warehouse.lake import Lake
from siyu.warehouse.loader import import_source

RETIRED = "o_retired0000000000001"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """1,200 people × 45 days: imported, built, tagged, with a look-up snapshot and a segment store."""
    with pytest.MonkeyPatch.context() as mp:
        root = tmp_path_factory.mktemp("erasure-world")
        for name in ("SIYU_VAULT_KEY", "SIYU_VAULT_KEY_FILE", "SIYU_VAULT_KEYRING"):
            mp.delenv(name, raising=False)
        mp.setenv("SIYU_HOME", str(root / "home"))
        landing.landing_vault.cache_clear()
        generate_world(root / "world", users=1200, days=45, seed=13)
        lake = Lake(root / "lake")
        import_source(root / "world", lake)
        build(lake, "duckdb")
        build_tags(lake, default_tag_defs(), "duckdb")
        build_snapshot(lake)
        build_segment_store(lake)
        yield root
    landing.landing_vault.cache_clear()


def _stored(kind: str, value: str) -> str:
    return stored_value(IdentifierType(kind), value) if kind in ("phone", "email") else value


def _pick(root: Path, lake: Lake) -> tuple[dict[str, str], dict[str, set[tuple[str, str]]], dict[str, str]]:
    """``person → one_id``, ``person → truth identifiers (as stored)`` and ``person → the name to erase by``."""
    truth = pq.read_table(root / "world" / "truth" / "identities.parquet").to_pylist()
    ids: dict[str, set[tuple[str, str]]] = defaultdict(set)
    tablets = set()
    for r in truth:
        if r["person_id"] is None:
            tablets.add(r["identifier_value"])
        else:
            ids[r["person_id"]].add((r["identifier_type"], _stored(r["identifier_type"], r["identifier_value"])))
    con = duckdb.connect()
    nodes = {(t, v): o for t, v, o in con.execute(
        "SELECT identifier_type, identifier_value, one_id FROM read_parquet($f)",
        {"f": lake.files("identity", "nodes")}).fetchall()}
    members: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for k, o in nodes.items():
        members[o].add(k)
    clean: dict[str, str] = {}  # people OneID got exactly right: erasing their one_id erases them, nobody else
    for p, s in sorted(ids.items()):
        found = {nodes.get(k) for k in s}
        one = next(iter(found))
        if len(found) == 1 and one is not None and members[one] <= s:
            clean[p] = one
    tablet_users = {o for (o,) in con.execute(
        "SELECT DISTINCT one_id FROM read_parquet($f) WHERE id_device_id IN (SELECT unnest($t))",
        {"f": lake.files("dwd", "events"), "t": sorted(tablets)}).fetchall()}
    buyers = {o for (o,) in con.execute("SELECT DISTINCT one_id FROM read_parquet($f)",
                                        {"f": lake.files("dwd", "orders")}).fetchall()}
    payloads = [p for (p,) in con.execute("SELECT payload FROM read_parquet($f)",
                                          {"f": lake.files("ods", "quarantine")}).fetchall()]
    kinds = lambda p: {t for t, _ in ids[p]}  # noqa: E731
    chosen: list[str] = []
    for want in (lambda p: clean[p] in tablet_users and "user_id" in kinds(p),
                 lambda p: clean[p] in buyers and "phone" in kinds(p),
                 lambda p: any(v in pl for _, v in ids[p] for pl in payloads),
                 lambda p: "unionid" in kinds(p) and "user_id" not in kinds(p),
                 lambda p: "openid" in kinds(p), lambda p: "phone" in kinds(p), lambda p: True,
                 lambda p: "member_no" in kinds(p), lambda p: clean[p] in tablet_users, lambda p: True):
        chosen.append(next(p for p in list(clean)[::7] if p not in chosen and want(p)))
    by: dict[str, str] = {}
    order = ["user_id", "phone", "one_id", "unionid", "openid", "phone", "retired", "member_no", "one_id", "user_id"]
    for p, how in zip(chosen, order, strict=True):
        have = dict(sorted(ids[p]))
        if how == "phone" and "phone" in have:  # plaintext, written as people write it
            canon = next(v for t, v in _canonical(truth, p) if t == "phone")
            by[p] = f"phone:{canon[3:6]} {canon[6:10]} {canon[10:]}"
        elif how == "openid" and "openid" in have:
            by[p] = f"openid:{have['openid'].split(':', 1)[1]}"  # without its app id: every app
        elif how in ("one_id", "retired"):
            by[p] = f"one_id:{RETIRED if how == 'retired' else clean[p]}"
        else:
            kind = how if how in have else sorted(have)[0]
            by[p] = f"{kind}:{have[kind]}"
    return {p: clean[p] for p in chosen}, {p: ids[p] for p in chosen}, by


def _canonical(truth: list[dict[str, Any]], person: str) -> list[tuple[str, str]]:
    return [(r["identifier_type"], r["identifier_value"]) for r in truth if r["person_id"] == person]


def _file_sums(lake: Lake, needles: list[str]) -> dict[str, tuple[int, int, int]]:
    """Every data file → (rows holding no needle, order-independent hash sum of those rows, rows holding one).

    A row holds a needle when the needle is a substring of any of its text values."""
    groups: dict[tuple[str, pa.Schema], list[str]] = defaultdict(list)
    for f in sorted(lake.root.rglob("*.parquet")):
        rel = f.relative_to(lake.root).parts
        if not any(p.startswith((".", "_")) for p in rel):
            groups[("/".join(rel[:2]), pq.read_schema(f))].append(str(f))
    con = duckdb.connect()
    con.register("truth_needles", pa.table({"n": needles}))
    out = {f: (0, 0, 0) for files in groups.values() for f in files}
    for (_, schema), files in groups.items():
        names = ['"' + c.replace('"', '""') + '"' for c in schema.names]
        text = [n for n, f in zip(names, schema, strict=True) if pa.types.is_string(f.type)] or ["''"]
        src = "read_parquet($f, filename = 'x_f', file_row_number = true, hive_partitioning = false)"
        rows = con.execute(f"""
            WITH hit AS (SELECT DISTINCT x_f, file_row_number FROM {src} AS p
                         JOIN truth_needles ON contains(concat_ws(chr(31), {", ".join(text)}), n))
            SELECT p.x_f, count(*) FILTER (WHERE h.x_f IS NULL),
                   coalesce(sum(hash(row({", ".join(f"p.{n}" for n in names)}))) FILTER (WHERE h.x_f IS NULL), 0),
                   count(h.x_f)
            FROM {src} AS p LEFT JOIN hit AS h ON h.x_f = p.x_f AND h.file_row_number = p.file_row_number
            GROUP BY p.x_f""", {"f": files}).fetchall()
        for f, n, h, theirs in rows:
            out[f] = (int(n), int(h), int(theirs))
    return out


def _by_table(lake: Lake, sums: dict[str, tuple[int, int, int]]) -> dict[str, tuple[int, int]]:
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for f, (n, h, _) in sums.items():
        table = "/".join(Path(f).relative_to(lake.root).parts[:2])
        out[table][0] += n
        out[table][1] = (out[table][1] + h) % 2**64
    return {k: (v[0], v[1]) for k, v in out.items()}


def _stamps(lake: Lake) -> dict[str, tuple[int, int]]:
    return {str(f): (f.stat().st_ino, f.stat().st_mtime_ns) for f in lake.root.rglob("*.parquet")
            if not any(p.startswith((".", "_")) for p in f.relative_to(lake.root).parts)}


@pytest.fixture(scope="module")
def erased(world: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A copy of the world's lake with the picked people erased, and what was measured before and after."""
    lake = Lake(tmp_path_factory.mktemp("erased") / "lake")
    shutil.copytree(world / "lake", lake.root)
    one_ids, ids, by = _pick(world, lake)
    # a profile merged into another one earlier: the retired id redirects to a picked person's one_id
    retired_for = next(p for p, how in by.items() if how == f"one_id:{RETIRED}")
    redirect = pa.table({"from_one_id": [RETIRED], "to_one_id": [one_ids[retired_for]],
                         "at": pa.array([datetime(2026, 1, 1, tzinfo=UTC)], pa.timestamp("us", tz="UTC"))})
    pq.write_table(redirect, lake.files("identity", "redirects")[0], compression="zstd")

    con = duckdb.connect()
    ones = sorted(set(one_ids.values()) | {RETIRED})
    messages = [m for (m,) in con.execute("SELECT message_id FROM read_parquet($f) WHERE one_id IN (SELECT unnest($o))",
                                          {"f": lake.files("dwd", "events"), "o": ones}).fetchall()]
    orders = [o for (o,) in con.execute("SELECT order_id FROM read_parquet($f) WHERE one_id IN (SELECT unnest($o))",
                                        {"f": lake.files("dwd", "orders"), "o": ones}).fetchall()]
    values = {v for s in ids.values() for _, v in s}
    values |= {v.split(":", 1)[1] for s in ids.values() for t, v in s if t == "openid"}  # as externalIds write it
    truth_needles = sorted(values | set(ones) | set(messages) | set(orders))

    request = [*by.values(), "user_id:u_nobody_0000", "phone:not a phone", "no-type-given"]
    before = _file_sums(lake, truth_needles)
    stamps = _stamps(lake)
    schemas = {f: pq.read_schema(f) for f in stamps}
    pinned = next(f for f, (_, _, theirs) in before.items() if theirs and "/ods/events/" in f)
    pin = lake.root.parent / "pin.parquet"  # what Lake.pinned does: a hard link, read later
    os.link(pinned, pin)
    serving = {k: current_file(lake, k) for k in ("snapshot", "segments")}
    subjects = resolve_subjects(lake, request)
    scan_before = scan_for_traces(lake, subjects.needles)
    nodes_before = dict(((t, v), o) for t, v, o in con.execute(
        "SELECT identifier_type, identifier_value, one_id FROM read_parquet($f)",
        {"f": lake.files("identity", "nodes")}).fetchall())
    report = erase_from_lake(lake, subjects)
    return {"lake": lake, "one_ids": one_ids, "ids": ids, "by": by, "request": request, "subjects": subjects,
            "report": report, "truth_needles": truth_needles, "before": before, "stamps": stamps,
            "serving": serving, "scan_before": scan_before, "nodes_before": nodes_before, "messages": messages,
            "schemas": schemas, "pin": (pin, pinned)}


def test_the_request_resolves_to_the_picked_people(erased: dict[str, Any]) -> None:
    s: ErasureSubjects = erased["subjects"]
    assert len(erased["one_ids"]) == 10
    assert s.one_ids == set(erased["one_ids"].values()) | {RETIRED}, "one_ids, retired ones included"
    for person, name in erased["by"].items():
        assert s.resolved[name] == (erased["one_ids"][person],), name
    assert s.unknown == {"user_id:u_nobody_0000": "not_found", "phone:not a phone": s.unknown["phone:not a phone"],
                         "no-type-given": "invalid: expected type:value"}
    assert s.unknown["phone:not a phone"].startswith("invalid")
    assert set(erased["messages"]) == s.message_ids
    truth = {f"{t}:{v}" for ids in erased["ids"].values() for t, v in ids}
    assert truth <= s.identifiers | set(s.shared)
    tablets = [k for k in s.shared if k.startswith("device_id:store-tablet")]
    assert tablets and all(s.shared[k] >= 1 for k in tablets), "the tablet is reported shared, with its other users"
    assert not any(k in s.needles for k in s.shared) and not any(k.split(":", 1)[1] in s.needles for k in s.shared)
    assert "user_id:u_nobody_0000" in s.identifiers, "a name nobody has is still searched for"
    assert json.dumps(s.summary()), "the summary holds counts only"


def test_the_scanner_finds_them_before_and_nothing_after(erased: dict[str, Any]) -> None:
    lake, subjects = erased["lake"], erased["subjects"]
    before = erased["scan_before"]
    assert not before.clean
    kinds = {h.kind for h in before.hits}
    assert {"parquet", "duckdb"} <= kinds, kinds
    tables = {h.table for h in before.hits}
    assert {"ods/events", "ods/quarantine", "dwd/events", "dwd/orders", "ads/profiles", "identity/nodes"} <= tables
    after = scan_for_traces(lake, [*subjects.needles, *erased["truth_needles"]])
    assert after.clean, after.hits[:5]
    assert after.scanned["parquet"] > 100 and after.scanned["duckdb"] == 2 and after.scanned["file"] >= 3


def test_everyone_else_is_unchanged(erased: dict[str, Any]) -> None:
    lake, before = erased["lake"], erased["before"]
    after = _file_sums(lake, erased["truth_needles"])
    assert set(after) == set(before), "no file appears or vanishes"
    assert not any(theirs for _, _, theirs in after.values()), "a row of an erased person is left"
    assert _by_table(lake, after) == _by_table(lake, before)
    assert sum(theirs for _, _, theirs in before.values()) == erased["report"].rows_removed
    per_table: dict[str, int] = defaultdict(int)
    for f, (_, _, theirs) in before.items():
        per_table["/".join(Path(f).relative_to(lake.root).parts[:2])] += theirs
    assert {k: v.rows_removed for k, v in erased["report"].tables.items() if v.rows_removed} == \
        {k: v for k, v in per_table.items() if v}


def test_only_files_holding_them_were_rewritten(erased: dict[str, Any]) -> None:
    lake, stamps, before = erased["lake"], erased["stamps"], erased["before"]
    now = _stamps(lake)
    rewritten = {f for f in stamps if now[f] != stamps[f]}
    holding = {f for f, (_, _, theirs) in before.items() if theirs}
    assert rewritten == holding
    assert len(rewritten) == erased["report"].files_rewritten
    assert len(stamps) - len(rewritten) > 20, "files holding none of them are left alone"
    assert not list(lake.root.rglob(".erase-*")), "no scratch file is left"
    for f in rewritten:
        assert pq.read_schema(f).equals(erased["schemas"][f], check_metadata=True), f


def test_state_and_serving_files_are_cleared(erased: dict[str, Any]) -> None:
    lake, subjects = erased["lake"], erased["subjects"]
    state = lake.read_state("identity")
    assert not set(state["shared"]) & subjects.needles
    ids = sum(pq.read_metadata(f).num_rows for f in lake.files("identity", "one_ids"))
    assert state["totals"]["one_ids"] == ids
    manifest = lake.read_state("build-duckdb")
    rewritten_days = {Path(f).parent.name[3:] for f in erased["stamps"]
                      if "/ods/events/" in f and _stamps(lake)[f] != erased["stamps"][f]}
    assert rewritten_days and not rewritten_days & set(manifest["ods_days"])
    serving = erased["report"].serving
    assert serving["snapshot"] == "republished" and serving["segments"] == "republished"
    files = sorted(p.name for p in (lake.root / "_serving").glob("*.duckdb"))
    assert len(files) == 2 and all(current_file(lake, k) is not None for k in ("snapshot", "segments"))
    assert all(current_file(lake, k) != erased["serving"][k] for k in ("snapshot", "segments"))
    assert not list((lake.root / "_serving").glob(".pin-*"))
    con = duckdb.connect(str(current_file(lake, "snapshot")), read_only=True)
    assert con.execute("SELECT count(*) FROM profiles WHERE one_id IN (SELECT unnest($o))",
                       {"o": sorted(subjects.one_ids)}).fetchone() == (0,)
    assert con.execute("SELECT count(*) FROM profiles").fetchone()[0] > 1000  # type: ignore[index]
    con.close()


def test_erasing_again_removes_nothing(erased: dict[str, Any]) -> None:
    lake = erased["lake"]
    stamps = _stamps(lake)
    again = erase_from_lake(lake, erased["subjects"])
    assert again.rows_removed == 0 and again.files_rewritten == 0
    assert again.serving == {}, "the serving files are current: left alone"
    fresh = resolve_subjects(lake, erased["request"])
    assert not fresh.one_ids and not fresh.message_ids and set(fresh.unknown) == set(erased["request"])
    assert erase_from_lake(lake, fresh, serving=False).rows_removed == 0
    assert _stamps(lake) == stamps


def test_the_lake_still_builds_and_nobody_else_moves(erased: dict[str, Any], tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    shutil.copytree(erased["lake"].root, lake.root)
    subjects: ErasureSubjects = erased["subjects"]
    report = build(lake, "duckdb")
    assert report.days_built, "the rewritten days are rebuilt"
    con = duckdb.connect()
    nodes = dict(((t, v), o) for t, v, o in con.execute(
        "SELECT identifier_type, identifier_value, one_id FROM read_parquet($f)",
        {"f": lake.files("identity", "nodes")}).fetchall())
    kept = {k: o for k, o in erased["nodes_before"].items() if o not in subjects.one_ids}
    assert nodes == kept, "every other identifier keeps its one_id; the erased ones do not come back"
    profiles = {o for (o,) in con.execute("SELECT one_id FROM read_parquet($f)",
                                          {"f": lake.files("ads", "profiles")}).fetchall()}
    assert profiles == set(kept.values())
    assert report.identity is not None and report.identity.one_ids == len(set(kept.values()))
    assert scan_for_traces(lake, subjects.needles).clean


def test_spool_messages_of_erased_people_are_deleted(erased: dict[str, Any], tmp_path: Path) -> None:
    subjects: ErasureSubjects = erased["subjects"]
    ids = erased["ids"]
    user = next(v for s in ids.values() for t, v in s if t == "user_id")
    phone = next(name.split(":", 1)[1] for name in erased["by"].values() if name.startswith("phone:"))
    now = datetime(2026, 2, 20, 3, tzinfo=UTC)
    path = tmp_path / "spool.db"
    with Spool(path) as spool:
        Collector(spool).collect([
            {"type": "identify", "userId": user, "messageId": "sp-1", "timestamp": now.isoformat(),
             "traits": {"plan": "gold"}},
            {"type": "identify", "anonymousId": "anon-x-123456", "messageId": "sp-2", "timestamp": now.isoformat(),
             "traits": {"phone": phone.replace(" ", "-")}},
            {"type": "track", "event": "x", "userId": user, "messageId": "sp-3", "timestamp": "not a time"},
            {"type": "track", "event": "page_viewed", "userId": "u_someone_else", "messageId": "sp-4",
             "timestamp": now.isoformat()},
        ], source="web", received_at=now)
    plain = phone.replace(" ", "")
    needles = [*subjects.needles, plain]
    assert not scan_for_traces([], needles, spool_paths=[path]).clean
    assert erase_from_spool(path, subjects) == 3
    assert scan_for_traces([], needles, spool_paths=[path]).clean, "not in any row, nor in the file's bytes"
    left = _spool_rows(path)
    assert [m for m, _ in left] == ["sp-4"] and "u_someone_else" in left[0][1]
    assert erase_from_spool(path, subjects) == 0
    assert erase_from_spool(tmp_path / "missing.db", subjects) == 0 and not (tmp_path / "missing.db").exists()


def _spool_rows(path: Path) -> list[tuple[str, str]]:
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        return [(m, bytes(b).decode()) for m, b in conn.execute("SELECT message_id, body FROM spool ORDER BY seq")]
    finally:
        conn.close()


def test_files_are_replaced_never_changed_in_place(erased: dict[str, Any]) -> None:
    """A pinned hard link (a serving build reading the lake) keeps the content it linked."""
    pin, original = erased["pin"]
    rows = erased["before"][original]
    assert pq.read_metadata(pin).num_rows == rows[0] + rows[2], "the pin still reads the old file"
    assert pq.read_metadata(original).num_rows == rows[0]
    assert os.stat(pin).st_ino != os.stat(original).st_ino


def _subjects(**kw: Any) -> ErasureSubjects:
    base: dict[str, Any] = {"requested": (), "resolved": {}, "unknown": {}, "one_ids": frozenset(),
                            "identifiers": frozenset(), "shared": {}, "message_ids": frozenset(),
                            "order_ids": frozenset()}
    return ErasureSubjects(**{**base, **kw})


def test_any_table_is_covered_and_keeps_its_exact_schema(tmp_path: Path) -> None:
    """A table no build knows (a model's training set), odd column names, types the writer must keep."""
    lake = Lake(tmp_path / "lake")
    schema = pa.schema([
        pa.field('who "person"', pa.string(), nullable=False),
        pa.field("notes", pa.dictionary(pa.int32(), pa.string())),
        pa.field("at", pa.timestamp("us", tz="Asia/Shanghai")),
        pa.field("amount", pa.decimal128(18, 2)),
        pa.field("seen", pa.list_(pa.string())),
        pa.field("select", pa.int32(), nullable=False),
    ], metadata={"origin": "a model"})
    at = datetime(2026, 3, 1, tzinfo=UTC)
    rows = pa.Table.from_pylist([
        {'who "person"': "o_aaaaaaaaaaaaaaaaaaaa", "notes": "x", "at": at, "amount": 1, "seen": [], "select": 1},
        {'who "person"': "o_other", "notes": '{"ref":"bind:u_7654321"}', "at": at, "amount": 2, "seen": [],
         "select": 2},
        {'who "person"': "o_other", "notes": "u_76543210 is someone else", "at": None, "amount": None,
         "seen": ["ph_" + "0" * 32], "select": 3},
        {'who "person"': "o_other", "notes": "y", "at": at, "amount": 3, "seen": ["a", "ph_" + "1" * 32],
         "select": 4},
    ], schema=schema)
    path = lake.root / "models" / "churn_training" / "dt=2026-03-01" / "part-0.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(rows, path, row_group_size=2, compression="zstd")
    schema = pq.ParquetFile(path).schema_arrow  # as stored (a list's item is called element in Parquet)
    untouched = lake.write_file("models", "other", "part-0.parquet", pa.table({"one_id": ["o_other"]}))
    stamp = untouched.stat().st_ino
    subjects = _subjects(one_ids=frozenset({"o_aaaaaaaaaaaaaaaaaaaa"}),
                         identifiers=frozenset({"user_id:u_7654321", "phone:ph_" + "1" * 32}))
    report = erase_from_lake(lake, subjects)
    assert report.tables["models/churn_training"].rows_removed == 3
    assert report.tables["models/other"].rows_removed == 0 and untouched.stat().st_ino == stamp
    after = pq.ParquetFile(path)
    assert after.schema_arrow.equals(schema, check_metadata=True)
    assert after.metadata.row_group(0).column(0).compression == "ZSTD"
    assert after.read().to_pylist() == rows.slice(2, 1).to_pylist(), "u_76543210 is another id: kept"
    gone = _subjects(one_ids=frozenset({"o_other"}))
    assert erase_from_lake(lake, gone).rows_removed == 2
    empty = pq.ParquetFile(path)
    assert empty.metadata.num_rows == 0 and empty.schema_arrow.equals(schema, check_metadata=True)


def test_erasure_waits_for_the_lake_lock(tmp_path: Path) -> None:
    import threading
    import time

    lake = Lake(tmp_path / "lake")
    lake.write_file("ads", "profiles", "part-0.parquet", pa.table({"one_id": ["o_x", "o_y"]}))
    held, release = threading.Event(), threading.Event()

    def build_running() -> None:
        with lake.lock():
            held.set()
            release.wait(5)

    t = threading.Thread(target=build_running)
    t.start()
    held.wait(5)
    timer = threading.Timer(0.5, release.set)
    timer.start()
    t0 = time.monotonic()
    report = erase_from_lake(lake, _subjects(one_ids=frozenset({"o_x"})))
    assert time.monotonic() - t0 >= 0.45 and report.rows_removed == 1
    t.join()
