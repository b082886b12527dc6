"""The trace scan finds a needle wherever it is — checked against a brute-force search — and reports nothing else."""

from __future__ import annotations

import random
import re
import sqlite3
import string
from collections import Counter
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from siyu.privacy.trace_scan import BRUTE_MAX, KEY_MIN, scan_for_traces
from siyu.warehouse.lake import Lake


def _random_rows(rng: random.Random, ids: list[str], n: int) -> list[dict[str, object]]:
    """Text with ids embedded the ways data embeds them: alone, in JSON, prefixed, glued, among Chinese."""
    forms = ["{x}", '{{"user":"{x}","n":1}}', "bind:{x}", "{x}9", "a{x}", "用户{x}的订单", "https://x.cn/?u={x}&t=1",
             "user_id:{x}", "{x}-{x}"]
    rows: list[dict[str, object]] = []
    for i in range(n):
        x = rng.choice(ids)
        text = rng.choice(forms).format(x=x) if rng.random() < 0.7 else "".join(rng.choices(string.printable, k=30))
        rows.append({"k": f"row-{i}", "text": text, "other": rng.choice([None, rng.choice(ids)]), "n": i})
    return rows


def _reference(rows: list[dict[str, object]], needles: list[str], keyed: bool) -> Counter[tuple[str, str]]:
    """(column, needle) → rows, by the documented rule, computed the slow, obvious way."""
    out: Counter[tuple[str, str]] = Counter()
    for row in rows:
        values = {c: str(row[c]) for c in ("k", "text", "other") if row[c] is not None}
        words = set(re.findall("[A-Za-z0-9]+", " ".join(values.values())))
        for needle in needles:
            key = max(re.findall("[A-Za-z0-9]+", needle) or [""], key=len)
            if keyed and len(key) >= KEY_MIN and key not in words:
                continue
            out.update((c, needle) for c, v in values.items() if needle in v)
    return out


def _found(root: Path, needles: list[str]) -> Counter[tuple[str, str]]:
    return Counter({(h.column, h.needle): h.rows for h in scan_for_traces(root, needles).hits})


def test_the_scan_matches_a_brute_force_search(tmp_path: Path) -> None:
    rng = random.Random(5)
    ids = [f"u_{rng.randrange(10**6, 10**7)}" for _ in range(30)] + [f"o_{rng.getrandbits(80):020x}" for _ in range(20)]
    rows = _random_rows(rng, ids, 3000)
    (tmp_path / "t").mkdir()
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "t" / "part.parquet")
    few = [*rng.sample(ids, 10), "u_1", "nothing-here"]
    many = ids + [f"x{i}" for i in range(BRUTE_MAX)] + ["u_1", "ab"]
    assert _found(tmp_path, few) == _reference(rows, few, keyed=False), "few needles: every substring"
    found = _found(tmp_path, many)
    assert found == _reference(rows, many, keyed=True), "many needles: every occurrence whose key is a whole word"
    assert any(n == "u_1" for _, n in found), "a short needle is compared row by row"
    assert len({n for _, n in found}) > 40


def test_every_kind_of_place_is_searched(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    needle = "u_7654321"
    other = "u_1234567"
    lake.write_file("models", "training_set", "part-0.parquet", pa.table({
        'we"ird col': [f'{{"who":"{needle}"}}', "x"], "ids": [[needle], ["y"]], "n": [1, 2]}))
    hidden = lake.root / "dwd" / ".tmp-events-1234" / "dt=2026-01-01"
    hidden.mkdir(parents=True)
    pq.write_table(pa.table({"one_id": [needle]}), hidden / "data_0.parquet")
    lake.write_state("identity", {"shared": [f"user_id:{needle}"]})
    serving = lake.root / "_serving"
    serving.mkdir()
    con = duckdb.connect(str(serving / "snapshot-1.duckdb"))
    con.execute("CREATE TABLE profiles AS SELECT $v AS user_id, [$v] AS ids", {"v": needle})
    con.close()
    spool = tmp_path / "spool.db"
    db = sqlite3.connect(spool)
    db.execute("PRAGMA secure_delete = OFF")  # (this build's default is ON)
    db.execute("CREATE TABLE spool (message_id TEXT, body BLOB)")
    db.execute("INSERT INTO spool VALUES ('m1', ?)", (f'{{"userId":"{needle}"}}'.encode(),))
    db.execute("INSERT INTO spool VALUES ('m2', ?)", (f'{{"userId":"{other}"}}'.encode(),))
    db.commit()
    db.execute("DELETE FROM spool WHERE message_id = 'm2'")  # freed, not overwritten: still in the file
    db.commit()
    db.close()

    report = scan_for_traces(lake, [needle, other], spool_paths=[spool])
    where = {(h.kind, h.table, h.column) for h in report.hits if h.needle == needle}
    assert ("parquet", "models/training_set", 'we"ird col') in where
    assert ("parquet", "models/training_set", "ids") in where, "nested columns as text"
    assert ("parquet", "dwd/.tmp-events-1234", "one_id") in where, "hidden folders too"
    assert ("file", "_state", "") in where
    assert ("duckdb", "profiles", "user_id") in where and ("duckdb", "profiles", "ids") in where
    assert ("spool", "spool", "body") in where
    assert any(h.kind == "spool" and h.column == "<file bytes>" and h.needle == other for h in report.hits), \
        "a deleted row's bytes left in the file are found"
    assert not report.clean and report.scanned == {"parquet": 2, "file": 1, "duckdb": 1, "spool": 1}
    equal = [h for h in report.hits if h.kind == "parquet" and h.column == "one_id"]
    assert equal and equal[0].equal and equal[0].rows == 1
    assert all(h["needle"] is None for h in report.as_dict()["hits"]), "the record holds no needle"
    assert scan_for_traces(lake, ["u_0000000", ""]).clean


def test_what_cannot_be_read_is_reported_not_skipped(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    lake.write_file("ads", "profiles", "part-0.parquet", pa.table({"one_id": ["o_1"]}))
    (lake.root / "_serving").mkdir()
    (lake.root / "_serving" / "snapshot-1.duckdb").write_bytes(b"not a database")
    (lake.root / "ads" / "profiles" / "part-1.parquet").write_bytes(b"not parquet")
    lake.write_file("ads", "odd", "part-0.parquet", pa.table({"__trace_row": ["o_2"]}))
    report = scan_for_traces(lake, ["o_2"])
    assert not report.hits and not report.clean
    assert sorted(e.split(":")[0].rsplit("/", 1)[-1] for e in report.errors) == \
        ["odd", "part-1.parquet", "snapshot-1.duckdb"], report.errors
