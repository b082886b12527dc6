"""Segments on the demo world: size, preview, export, overlap, snapshots and explanations agree."""

from __future__ import annotations

import json
import random
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from siyu.cli.main import app
from siyu.cli.profile_cmds import default_tag_defs
from siyu.core.errors import SiyuError
from siyu.profile.rules import evaluate_rule
from siyu.profile.segments import (
    SegmentDefinition,
    explain_membership,
    export_segment,
    mask_identifier,
    open_profile,
    people_data,
    segment_overlap,
    segment_preview,
    segment_size,
    snapshot_segments,
)
from siyu.profile.tags.build import build_tags
from siyu.warehouse.lake import Lake

SILENT_BUYERS = 'lifecycle = "silent" and count(order_paid, last 90d) >= 1'
SEGMENTS = {
    "silent_vip": SegmentDefinition(name="silent_vip", name_zh="沉默重要客户", owner="crm",
                                    rule='lifecycle = "silent" and rfm_class in ("重要挽留", "重要保持")'),
    "silent_vip_buyers": SegmentDefinition(name="silent_vip_buyers", name_zh="近期购买的沉默重要客户", owner="crm",
                                           rule='in_segment("silent_vip") and did(order_paid, last 90d)'),
}


@pytest.fixture(scope="module")
def lake(demo: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Lake:
    root = tmp_path_factory.mktemp("segments")
    shutil.copytree(demo["lake"].root, root / "lake")
    lk = Lake(root / "lake")
    build_tags(lk, default_tag_defs())
    return lk


def test_size_equals_an_independent_count(lake: Lake) -> None:
    ctx = open_profile(lake)
    stage = pq.read_table(lake.files("ads", "lifecycle")).to_pandas().set_index("one_id")["lifecycle"]
    events = pq.read_table(lake.files("dwd", "events"), columns=["one_id", "event", "dt"],
                           filters=[("event", "=", "order_paid")]).to_pandas()
    redirects = pq.read_table(lake.files("identity", "redirects")).to_pandas()
    moved = dict(zip(redirects["from_one_id"], redirects["to_one_id"], strict=True))
    events["one_id"] = events["one_id"].map(lambda x: moved.get(x, x))
    events["dt"] = pd.to_datetime(events["dt"].astype(str)).dt.date  # hive partition values are categories
    recent = events[(events["dt"] > ctx.as_of - timedelta(days=90)) & (events["dt"] <= ctx.as_of)]
    expected = set(recent["one_id"].dropna()) & set(stage[stage == "silent"].index)
    assert segment_size(ctx, ctx.rule(SILENT_BUYERS)) == len(expected) > 0


def test_sql_and_the_python_evaluator_agree_person_by_person(lake: Lake) -> None:
    """The explanation is the plain-Python evaluator; on real people it must match the compiled SQL."""
    ctx = open_profile(lake, segments=SEGMENTS)
    rule = ctx.rule('in_segment("silent_vip_buyers") or (has_tag("high_value") and not tier = "diamond") '
                    'or sequence(cart_added, order_paid, within 24h, last 60d)')
    sql, params = ctx.members_sql(rule)
    members = set(ctx.engine.query(sql, params)["one_id"].to_pylist())
    everyone = sorted(ctx.engine.query("SELECT one_id FROM profile")["one_id"].to_pylist())
    sample = random.Random(3).sample(everyone, 1000) + sorted(members)[:200]
    people = people_data(ctx, sample)
    for one_id in sample:
        got = evaluate_rule(rule, people[one_id], as_of=ctx.as_of, segment_rule=ctx.segment_rule)
        assert got == (one_id in members), one_id
    _, node = explain_membership(ctx, rule, f"one_id:{sample[-1]}")  # the explanation is the same evaluator
    assert node.value is True and "✓" in node.render()


def test_preview_masks_identifiers_and_export_writes_every_member(lake: Lake, tmp_path: Path) -> None:
    ctx = open_profile(lake)
    rule = ctx.rule(SILENT_BUYERS)
    size = segment_size(ctx, rule)
    preview = segment_preview(ctx, rule, limit=5).to_pylist()
    assert len(preview) == 5 and all(r["lifecycle"] == "silent" for r in preview)
    assert all(r["member_no"] is None or "*" in r["member_no"] for r in preview)
    assert mask_identifier("M0012345678") == "M00******78"
    assert export_segment(ctx, rule, tmp_path / "a.csv") == size == pacsv.read_csv(tmp_path / "a.csv").num_rows
    n = export_segment(ctx, rule, tmp_path / "a.parquet", "parquet")
    assert n == pq.read_table(tmp_path / "a.parquet").num_rows


def test_overlap(lake: Lake) -> None:
    ctx = open_profile(lake)
    a, b = ctx.rule(SILENT_BUYERS), ctx.rule('has_tag("high_value")')
    o = segment_overlap(ctx, a, b)
    assert o["only_a"] + o["both"] == segment_size(ctx, a)
    assert o["only_b"] + o["both"] == segment_size(ctx, b)
    assert o["jaccard"] == round(o["both"] / (o["only_a"] + o["only_b"] + o["both"]), 6)


def test_snapshots_record_enter_and_exit(lake: Lake, tmp_path: Path) -> None:
    copy = Lake(tmp_path / "lake")
    shutil.copytree(lake.root, copy.root)
    first = snapshot_segments(open_profile(copy, segments=SEGMENTS))
    assert first["silent_vip_buyers"] <= first["silent_vip"] and first["_changes"] == (
        first["silent_vip"] + first["silent_vip_buyers"])
    day0 = open_profile(copy).as_of
    build_tags(copy, default_tag_defs(), as_of=day0 + timedelta(days=40))  # forty quiet days later
    later = snapshot_segments(open_profile(copy, segments=SEGMENTS))
    changes = pq.read_table(copy.files("ads", "segment_members_changes")).to_pandas()
    moved = changes[changes["dt"].astype(str) == str(day0 + timedelta(days=40))]
    entered = int(moved["to_value"].notna().sum())
    left = int(moved["to_value"].isna().sum())
    assert later["_changes"] == entered + left > 0
    assert later["silent_vip"] == first["silent_vip"] + entered - left - (
        later["silent_vip_buyers"] - first["silent_vip_buyers"])


def test_bad_segments_fail_closed(lake: Lake) -> None:
    ctx = open_profile(lake, segments=SEGMENTS)
    with pytest.raises(SiyuError, match="unknown_segment"):
        ctx.members_sql(ctx.rule('in_segment("nope")'))
    with pytest.raises(SiyuError):
        ctx.rule('lifecycle = "silent" and')
    hostile = "x'); DROP TABLE profile; --"
    rule = ctx.rule(f'member_no = {json.dumps(hostile)}')
    sql, params = ctx.members_sql(rule)
    assert hostile not in sql and hostile in params.values()
    assert segment_size(ctx, rule) == 0
    assert segment_size(ctx, ctx.rule("orders >= 0")) == ctx.engine.query(
        "SELECT count(*) AS n FROM profile")["n"][0].as_py()  # the profile view is still there


def test_cli_size_explain_and_tags(lake: Lake) -> None:
    runner = CliRunner()
    size = runner.invoke(app, ["segment", "size", SILENT_BUYERS, "--lake", str(lake.root), "--json"])
    assert size.exit_code == 0, size.output
    assert json.loads(size.stdout)["size"] == segment_size(open_profile(lake), open_profile(lake).rule(SILENT_BUYERS))
    bad = runner.invoke(app, ["segment", "size", "lifecycle = ", "--lake", str(lake.root)])
    assert bad.exit_code == 2 and "rule_syntax" in bad.output and "Traceback" not in bad.output
    listed = runner.invoke(app, ["tags", "list", "--lake", str(lake.root), "--json"])
    assert listed.exit_code == 0 and len(json.loads(listed.stdout)) == 23
    hist = runner.invoke(app, ["tags", "history", "high_value", "--lake", str(lake.root), "--json"])
    assert hist.exit_code == 0 and json.loads(hist.stdout)["counts"]["people"] > 0
    valid = runner.invoke(app, ["segment", "validate", SILENT_BUYERS, "--json"])
    assert json.loads(valid.stdout)["realtime"] is False
