"""Hostile input files: each gives a clear error or quarantine rows, never a crash or a lost good row."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from typer.testing import CliRunner

from siyu.cli.main import app
from siyu.core.entities import ENTITIES
from siyu.warehouse.lake import Lake
from siyu.warehouse.loader import import_source
from tests.warehouse.mini import msg, write_lines


def _accepted_ids(lake: Lake) -> set[str]:
    return set(pq.read_table(lake.files("ods", "events"), columns=["message_id"])["message_id"].to_pylist())


def _quarantine(lake: Lake) -> list[dict]:  # type: ignore[type-arg]
    return pq.read_table(lake.files("ods", "quarantine")).to_pylist()


def test_hostile_files_side_by_side(tmp_path: Path) -> None:
    src = tmp_path / "src"
    ev = src / "events"
    write_lines(ev / "good.jsonl", [msg("g1", 1, user_id="u1"), msg("g2", 1, user_id="u2")])
    # a 10 MB line between two good ones
    huge = orjson.dumps({**msg("h1", 1, user_id="u3"), "properties": {"blob": "x" * (10 * 1024 * 1024)}})
    write_lines(ev / "huge.jsonl", [msg("h0", 1, user_id="u3"), huge, msg("h2", 1, user_id="u3")])
    # GB18030 text, as WeCom admin exports often are
    gb = orjson.dumps(msg("c1", 1, event="wecom_friend_added", user_id="u4",
                          props={"staff_id": "s1", "add_way": "扫描二维码", "state": "门店活码"}))
    (ev / "wecom.jsonl").write_bytes(gb.decode().encode("gb18030") + b"\n")
    (ev / "empty.jsonl").write_bytes(b"")
    (ev / "garbage.jsonl").write_bytes(os.urandom(4096) + b"\x00\x00" + os.urandom(100))
    # a gzip file cut short after its first lines
    full = b"\n".join(orjson.dumps(msg(f"z{i}", 2, user_id="u5")) for i in range(2000)) + b"\n"
    packed = gzip.compress(full)
    (ev / "cut.jsonl.gz").write_bytes(packed[: len(packed) // 2])
    # invalid UTF-8 bytes inside an otherwise UTF-8 file
    write_lines(ev / "mixed.jsonl", [msg("m1", 1, user_id="u6"), b'{"type":"track","x":"\xff\xfe"}'])
    # entities: one truncated Parquet, one good
    ent = src / "entities"
    ent.mkdir(parents=True)
    good = pa.table({"sku": ["a"], "name": ["面膜"], "category": ["beauty"], "product_line": ["skin"],
                     "price": [9.9]}, schema=ENTITIES["products"].schema)
    pq.write_table(good, ent / "products.parquet")
    staff = pa.table({"staff_id": ["s1"], "name": ["王"], "role": ["guide"], "store_id": ["st1"],
                      "region": ["华东"]}, schema=ENTITIES["staff"].schema)
    pq.write_table(staff, tmp_path / "staff.parquet")
    data = (tmp_path / "staff.parquet").read_bytes()
    (ent / "staff.parquet").write_bytes(data[: len(data) // 2])

    lake = Lake(tmp_path / "lake")
    report = import_source(src, lake)
    files = {Path(f.path).name: f for f in [*report.files, *report.entity_files]}

    ids = _accepted_ids(lake)
    assert {"g1", "g2", "h0", "h2", "c1", "m1"} <= ids  # every good row around the bad ones
    assert files["huge.jsonl"].quarantined == 1
    assert files["wecom.jsonl"].encoding == "gb18030"
    row = pq.read_table(lake.files("ods", "events")).filter(pa.compute.equal(
        pq.read_table(lake.files("ods", "events"))["message_id"], "c1")).to_pylist()[0]
    assert "扫描二维码" in row["properties"]
    assert files["empty.jsonl"].lines == 0 and files["empty.jsonl"].error is None
    assert files["garbage.jsonl"].error and "binary" in files["garbage.jsonl"].error
    cut = files["cut.jsonl.gz"]
    assert cut.error and 0 < cut.accepted < 2000 and {f"z{i}" for i in range(cut.accepted)} <= ids
    reasons = {q["reason"] for q in _quarantine(lake)}
    assert {"oversized", "bad_encoding"} <= reasons
    oversized = next(q for q in _quarantine(lake) if q["reason"] == "oversized")
    assert oversized["payload_bytes"] > 10 * 1024 * 1024 and len(oversized["payload_sha256"]) == 64
    assert files["staff.parquet"].error and "staff" in files["staff.parquet"].error
    assert report.entity_rows == {"products": 1}


def test_cli_import_reports_problems_and_does_not_crash(tmp_path: Path) -> None:
    src = tmp_path / "src" / "events"
    src.mkdir(parents=True)
    (src / "bin.jsonl").write_bytes(b"\x00\x01\x02" * 100)
    write_lines(src / "ok.jsonl", [msg("k1", 1, user_id="u1")])
    result = CliRunner().invoke(app, ["import", str(tmp_path / "src"), "--lake", str(tmp_path / "lake")])
    assert result.exit_code == 0, result.output
    assert "binary" in result.output
    assert _accepted_ids(Lake(tmp_path / "lake")) == {"k1"}


def test_reimporting_the_same_file_lands_nothing_twice(tmp_path: Path) -> None:
    write_lines(tmp_path / "src" / "events" / "a.jsonl", [msg("r1", 1, user_id="u1")])
    lake = Lake(tmp_path / "lake")
    import_source(tmp_path / "src", lake)
    again = import_source(tmp_path / "src", lake)
    assert again.files[0].skipped_already_imported
    assert pq.read_table(lake.files("ods", "events")).num_rows == 1


def test_an_export_is_sniffed_where_its_chinese_starts(tmp_path: Path) -> None:
    """A GB18030 export whose first ~200 KB are ASCII-only lines is still read as GB18030 (the sniff looks at
    the first non-ASCII line, not the first bytes); a UTF-8 file with one corrupt line stays UTF-8 and only
    that line is quarantined."""
    ev = tmp_path / "src" / "events"
    ev.mkdir(parents=True)
    plain = [orjson.dumps(msg(f"a{i}", 1, user_id=f"u{i}")) for i in range(2000)]
    chinese = [orjson.dumps(msg(f"c{i}", 1, event="wecom_friend_added", user_id=f"w{i}",
                                props={"staff_id": "s1", "add_way": "扫描二维码", "state": "门店活码"}))
               for i in range(50)]
    assert sum(len(line) for line in plain) > 200_000
    (ev / "export.jsonl").write_bytes(b"\n".join(plain + chinese).decode().encode("gb18030") + b"\n")
    bad = b'{"type":"track","event":"x","userId":"bad","properties":{"s":"\xff\xfe\xfd"}}'
    utf8 = [orjson.dumps(msg(f"t{i}", 1, user_id=f"v{i}", props={"note": "面膜很好用"})) for i in range(20)]
    (ev / "utf8.jsonl").write_bytes(b"\n".join([bad, *utf8]) + b"\n")

    lake = Lake(tmp_path / "lake")
    report = import_source(tmp_path / "src", lake)
    files = {Path(f.path).name: f for f in report.files}
    assert files["export.jsonl"].encoding == "gb18030" and files["export.jsonl"].quarantined == 0
    assert files["utf8.jsonl"].encoding == "utf-8" and files["utf8.jsonl"].quarantined == 1
    ids = _accepted_ids(lake)
    assert {f"c{i}" for i in range(50)} | {f"t{i}" for i in range(20)} <= ids
    props = pq.read_table(lake.files("ods", "events")).to_pydict()
    notes = [p for m, p in zip(props["message_id"], props["properties"], strict=True) if m.startswith(("c", "t"))]
    assert all("扫描二维码" in p or "面膜很好用" in p for p in notes)
