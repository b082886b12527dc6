"""Change history: enter / leave / change records, state on a day, net changes over a week."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest

from siyu.profile.history import HistoryError, changes_between, record_changes, state_on, week_of
from siyu.warehouse.build import register_layer
from siyu.warehouse.engine import Engine
from siyu.warehouse.lake import Lake

D1, D2, D3 = date(2026, 3, 2), date(2026, 3, 3), date(2026, 3, 9)


def _record(engine: Engine, lake: Lake, day: date, state: dict[tuple[str, str], str]) -> int:
    engine.register_arrow("cur", pa.Table.from_pylist(
        [{"one_id": o, "tag": t, "value": v} for (o, t), v in state.items()],
        schema=pa.schema([("one_id", pa.string()), ("tag", pa.string()), ("value", pa.string())])))
    return record_changes(engine, lake, "tags", "cur", ("one_id", "tag"), day)


def test_changes_state_and_week(engine: Engine, tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    keys = ("one_id", "tag")
    assert _record(engine, lake, D1, {("a", "vip"): "true", ("b", "vip"): "true", ("a", "band"): "low"}) == 3
    assert _record(engine, lake, D2, {("a", "vip"): "true", ("c", "vip"): "true", ("a", "band"): "high"}) == 3
    assert _record(engine, lake, D2, {("a", "vip"): "true", ("c", "vip"): "true", ("a", "band"): "high"}) == 3
    assert _record(engine, lake, D3, {("a", "vip"): "true", ("c", "vip"): "true", ("a", "band"): "high"}) == 0
    register_layer(engine, lake, "ads", "tags_changes", "h")

    def on(day: date) -> set[tuple[str, str, str]]:
        t = state_on(engine, "h", keys, day)
        return {(r["one_id"], r["tag"], r["value"]) for r in t.to_pylist()}

    assert on(date(2026, 3, 1)) == set()
    assert on(D1) == {("a", "vip", "true"), ("b", "vip", "true"), ("a", "band", "low")}
    assert on(D3) == {("a", "vip", "true"), ("c", "vip", "true"), ("a", "band", "high")}
    vip_on_d1 = state_on(engine, "h", keys, D1, where="AND tag = $tag", params={"tag": "vip"})
    assert sorted(vip_on_d1["one_id"].to_pylist()) == ["a", "b"]

    start, end = week_of(D2)
    assert (start, end) == (date(2026, 3, 2), date(2026, 3, 8))
    week = changes_between(engine, "h", keys, start, end)
    # net change: b entered on Monday and left on Tuesday, so over the week b did not change
    assert {(r["one_id"], r["tag"], r["change"]) for r in week.to_pylist()} == {
        ("a", "vip", "entered"), ("c", "vip", "entered"), ("a", "band", "entered")}
    later = changes_between(engine, "h", keys, D2, D3)
    assert {(r["one_id"], r["tag"], r["change"], r["from_value"], r["to_value"]) for r in later.to_pylist()} == {
        ("b", "vip", "left", "true", None), ("c", "vip", "entered", None, "true"),
        ("a", "band", "changed", "low", "high")}


def test_recording_an_earlier_day_is_refused(engine: Engine, tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    _record(engine, lake, D2, {("a", "vip"): "true"})
    with pytest.raises(HistoryError, match="rewrite history"):
        _record(engine, lake, D1, {("a", "vip"): "true"})
