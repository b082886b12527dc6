"""Data-subject access and rectification, checked against the lake read independently (pyarrow)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from siyu.cli.main import app
from siyu.core.errors import SiyuError
from siyu.privacy.rectification import rectify
from siyu.privacy.subject_access import subject_access
from siyu.serving.lookup import PersonLookup
from siyu.serving.snapshot import build_snapshot
from siyu.store import open_store
from siyu.warehouse.build import build
from siyu.warehouse.lake import Lake

runner = CliRunner()


def _buyer(lake: Lake) -> tuple[str, str]:
    p = pq.read_table(lake.files("ads", "profiles"), columns=["one_id", "user_id", "orders"])
    p = p.filter(pc.and_(pc.is_valid(p["user_id"]), pc.greater(p["orders"], 1)))
    return p["one_id"][0].as_py(), p["user_id"][0].as_py()


def _count(lake: Lake, layer: str, table: str, column: str, values: set[str]) -> int:
    t = pq.read_table(lake.files(layer, table), columns=[column])
    return sum(1 for v in t[column].to_pylist() if v in values)


def test_access_document_holds_every_row_about_the_person(small_lake: Lake, tmp_path: Path) -> None:
    one_id, user_id = _buyer(small_lake)
    doc = subject_access(small_lake, "user_id", user_id)
    assert doc["one_id"] == one_id
    ids = {one_id, *doc["merged_one_ids"]}
    for layer, table in (("dwd", "events"), ("dwd", "orders"), ("dws", "user_daily"), ("ads", "tag_values"),
                         ("ads", "profiles")):
        assert len(doc["tables"][f"{layer}/{table}"]) == _count(small_lake, layer, table, "one_id", ids) > 0
    orders = {r["order_id"] for r in doc["tables"]["dwd/orders"]}
    assert len(doc["tables"]["dwd/order_items"]) == _count(small_lake, "dwd", "order_items", "order_id", orders)
    nodes = pq.read_table(small_lake.files("identity", "nodes")).to_pylist()
    assert {(r["identifier_type"], r["identifier_value"]) for r in doc["identifiers"]} == \
        {(n["identifier_type"], n["identifier_value"]) for n in nodes if n["one_id"] in ids}
    assert all(isinstance(e["properties"], dict | None) for e in doc["tables"]["dwd/events"])  # JSON opened
    # The same person by another identifier, and a stranger.
    other = next(r for r in doc["identifiers"] if r["identifier_type"] != "user_id")
    assert subject_access(small_lake, "one_id", one_id)["one_id"] == one_id
    assert subject_access(small_lake, other["identifier_type"], other["identifier_value"])["one_id"] == one_id \
        if other["identifier_type"] not in ("phone", "email") else True
    with pytest.raises(SiyuError, match="no person"):
        subject_access(small_lake, "user_id", "nobody")
    with pytest.raises(SiyuError, match="unknown identifier type"):
        subject_access(small_lake, "shoe_size", "42")


def test_access_and_rectify_through_the_cli_are_audited(small_lake: Lake, tmp_path: Path) -> None:
    one_id, user_id = _buyer(small_lake)
    store = f"sqlite:///{tmp_path / 'store.db'}"
    out = tmp_path / "person.json"
    base = ["--lake", str(small_lake.root), "--store", store]
    r = runner.invoke(app, ["privacy", "access", "user_id", user_id, "--out", str(out), *base])
    assert r.exit_code == 0, r.output
    assert json.loads(out.read_text())["one_id"] == one_id
    r = runner.invoke(app, ["privacy", "rectify", "user_id", user_id, "--set", "city=杭州", "--json", *base])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["changed"]["city"]["new"] != "杭州"  # masked in the answer and the audit
    r = runner.invoke(app, ["privacy", "rectify", "user_id", user_id, "--set", "phone=13800000000", *base])
    assert r.exit_code == 2 and "identifier" in r.output  # bad input: exit 2, like every CLI input error
    r = runner.invoke(app, ["privacy", "rectify", "user_id", user_id, "--set", "noequals", *base])
    assert r.exit_code != 0 and "field=value" in r.output
    with open_store(store) as st:
        from siyu.privacy.audit import AuditLog

        actions = [e.action for e in AuditLog(st).entries(limit=10)]
    assert sorted(map(str, actions)) == ["rectification", "subject_access"]
    assert "杭州" not in json.dumps([str(e) for e in actions])


def test_rectified_value_is_what_profiles_show_after_a_build(small_lake: Lake) -> None:
    one_id, user_id = _buyer(small_lake)
    done = rectify(small_lake, "user_id", user_id, {"city": "杭州", "nickname": "小王"})
    assert done.one_id == one_id and set(done.changed) == {"city", "nickname"}
    build(small_lake, "duckdb")
    build_snapshot(small_lake)
    lookup = PersonLookup(small_lake)
    try:
        person = lookup.person(one_id)
    finally:
        lookup.close()
    assert person is not None
    assert person["traits"]["city"] == "杭州"
    assert person["traits"]["nickname"] not in (None, "小王")  # a name: landed as a token, like any other
    assert "phone" not in person["traits"] or str(person["traits"]["phone"]).startswith(("ph_", "enc:"))
    rectify(small_lake, "user_id", user_id, {"nickname": None})  # removing a field
    build(small_lake, "duckdb")
    doc = subject_access(small_lake, "user_id", user_id)
    latest = [e for e in doc["tables"]["dwd/events"] if e["type"] == "identify"][-1]
    assert latest["traits"]["city"] == "杭州" and "nickname" not in latest["traits"]
