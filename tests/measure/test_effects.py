"""Strategy-effect log: round trip and knowledge-base search (SQLite and PostgreSQL), audit entries, checks on
input, and evaluation against KPI changes worked out by hand on a small hand-built lake."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest

from siyu.core.errors import SiyuError
from siyu.measure.effects import (
    effect_windows,
    evaluate_effect,
    get_effect,
    record_effect,
    search_effects,
    update_effect,
    verdict,
)
from siyu.measure.kpi import load_catalogue
from siyu.privacy.audit import AuditLog
from siyu.store import NotFound, Store, StoreInputError, open_store
from siyu.warehouse.engine import Engine, open_engine
from tests.store_fixtures import store, store_url

__all__ = ["store", "store_url"]

SH = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 3, 9, 9, 0, tzinfo=SH)  # a Monday morning in Shanghai (01:00 UTC)
END = datetime(2026, 3, 15, 20, 0, tzinfo=SH)


def _record(store: Store, **kw: Any) -> Any:
    values: dict[str, Any] = {"name": "沉默用户唤醒 SOP", "kind": "journey", "metric": "dau", "started_at": START,
                              "ended_at": END, "users_covered": 1200, "segment": "silent", "tags": ["唤醒", "sop"],
                              "description": "三步唤醒：优惠券 → 导购私聊 → 社群邀请", "author": "ops_li"}
    values.update(kw)
    return record_effect(store, **values)


# --- the log and its search (SQLite and PostgreSQL) -------------------------------------------------------------


def test_round_trip_update_and_audit(store: Store) -> None:
    e = _record(store)
    back = get_effect(store, e.id)
    assert back == e and back.tags == ("sop", "唤醒") and back.verification == "pending"
    assert back.started_at == START.astimezone(UTC) and back.ended_at == END.astimezone(UTC)
    assert back.description.startswith("三步唤醒") and back.kpi_before is None
    changed = update_effect(store, e.id, actor="ops_wang", users_covered=1500, tags=["sop", "q1"],
                            verification="inconclusive")
    assert (changed.users_covered, changed.tags, changed.verification) == (1500, ("q1", "sop"), "inconclusive")
    assert changed.updated_at >= e.updated_at and changed.name == e.name
    entries = AuditLog(store).entries(action="config_change")
    assert [(x.actor, x.target_type, x.target, x.details["change"]) for x in entries] == [
        ("ops_li", "strategy_effect", str(e.id), "create"), ("ops_wang", "strategy_effect", str(e.id), "update")]
    assert entries[1].details["fields"] == {"users_covered": 1500, "tags": ["q1", "sop"],
                                            "verification": "inconclusive"}
    assert AuditLog(store).verify().ok
    with pytest.raises(NotFound):
        get_effect(store, e.id + 100)


def test_search_is_a_knowledge_base(store: Store) -> None:
    sop = _record(store)
    coupon = _record(store, name="618 满减券", kind="campaign", metric="gmv", tags=["618", "coupon_a"],
                     segment=None, started_at=datetime(2026, 6, 1, tzinfo=SH),
                     ended_at=datetime(2026, 6, 18, tzinfo=SH),
                     description="Full-reduction COUPON for the 618 festival")
    price = _record(store, name="会员价调整", kind="price", metric="aov", tags=["couponxa"],
                    started_at=datetime(2026, 7, 1, tzinfo=SH), ended_at=None, description="")
    update_effect(store, coupon.id, actor="ops_li", verification="verified", test="welch_ttest", p_value=0.01)

    def ids(**kw: Any) -> list[int]:
        return [e.id for e in search_effects(store, **kw)]

    assert ids() == [price.id, coupon.id, sop.id]  # newest first
    assert ids(tag="sop") == [sop.id] and ids(tag="唤醒") == [sop.id] and ids(tag="so") == []
    assert ids(tag="coupon_a") == [coupon.id]  # "_" is a character here, not LIKE's wildcard ("couponxa")
    assert ids(kind="price") == [price.id] and ids(metric="gmv") == [coupon.id]
    assert ids(text="coupon") == [coupon.id] and ids(text="唤醒") == [sop.id] and ids(text="%") == []
    assert ids(verification="verified") == [coupon.id] and ids(verification="pending") == [price.id, sop.id]
    assert ids(since=date(2026, 3, 15), until=date(2026, 3, 15)) == [sop.id]  # the SOP's last day
    assert ids(since=date(2026, 3, 16), until=date(2026, 5, 31)) == []
    assert ids(since=date(2026, 12, 1)) == [price.id]  # still running
    assert ids(until=date(2026, 3, 8)) == []
    assert ids(limit=1, offset=1) == [coupon.id]
    with pytest.raises(StoreInputError):
        search_effects(store, kind="flyer")


@pytest.mark.parametrize(("change", "says"), [
    ({"started_at": datetime(2026, 3, 9, 9, 0)}, "timezone"),
    ({"ended_at": START - timedelta(hours=1)}, "before started_at"),
    ({"kind": "flyer"}, "kind"),
    ({"metric": "Bad Metric"}, "metric"),
    ({"users_covered": -1}, "users_covered"),
    ({"tags": ["a,b"]}, "bad tag"),
    ({"baseline_start": date(2026, 3, 1)}, "both baseline_start and baseline_end"),
    ({"baseline_start": date(2026, 3, 1), "baseline_end": date(2026, 3, 9)}, "must end before the action starts"),
    ({"name": "a\x00b"}, "NUL"),
])
def test_bad_entries_are_refused_with_the_field_named(change: dict[str, Any], says: str) -> None:
    with open_store("sqlite://") as st_:
        with pytest.raises(StoreInputError, match=says):
            _record(st_, **change)
        e = _record(st_)
        with pytest.raises(StoreInputError, match="cannot change"):
            update_effect(st_, e.id, actor="x", author="someone_else")
        with pytest.raises(StoreInputError, match="p_value"):
            update_effect(st_, e.id, actor="x", p_value=1.5)
        assert get_effect(st_, e.id) == e  # a refused update changes nothing
        assert len(AuditLog(st_).entries()) == 1


# --- windows and verdicts ------------------------------------------------------------------------------------


def test_windows_follow_the_business_day() -> None:
    with open_store("sqlite://") as st_:
        e = _record(st_, started_at=datetime(2026, 3, 8, 17, 0, tzinfo=UTC))  # 01:00 on 9 March in Shanghai
        assert effect_windows(e) == ((date(2026, 3, 2), date(2026, 3, 8)), (date(2026, 3, 9), date(2026, 3, 15)))
        assert effect_windows(e, as_of=date(2026, 3, 11)) == ((date(2026, 3, 6), date(2026, 3, 8)),
                                                               (date(2026, 3, 9), date(2026, 3, 11)))
        running = _record(st_, ended_at=None, baseline_start=date(2026, 2, 1), baseline_end=date(2026, 2, 28))
        with pytest.raises(SiyuError, match="still running"):
            effect_windows(running)
        assert effect_windows(running, date(2026, 3, 20)) == ((date(2026, 2, 1), date(2026, 2, 28)),
                                                              (date(2026, 3, 9), date(2026, 3, 20)))
        with pytest.raises(SiyuError, match="before action"):
            effect_windows(running, date(2026, 3, 1))


@pytest.mark.parametrize(("change", "p", "higher", "want"), [
    (0.2, 0.01, True, "verified"),
    (0.2, 0.05, True, "not_verified"),  # p must be below alpha
    (-0.2, 0.01, True, "not_verified"),  # significant, but the wrong way
    (-0.2, 0.01, False, "verified"),  # lower is better (e.g. an unsubscribe rate)
    (0.2, None, True, "inconclusive"),  # no test: a before/after change alone proves nothing
    (None, 0.01, True, "inconclusive"),
])
def test_verdict(change: float | None, p: float | None, higher: bool, want: str) -> None:
    assert verdict(change, p, higher_is_better=higher) == want


# --- evaluation against hand-computed KPI changes ---------------------------------------------------------------

# Active people per day: p00 … p(k-1). Baseline 2 – 8 March, the action 9 – 15 March.
ACTIVE = {date(2026, 3, 2) + timedelta(days=i): k for i, k in enumerate(
    [10, 12, 11, 13, 9, 10, 12,  # before: mean 77 / 7 = 11
     14, 15, 13, 16, 14, 15, 12])}  # after: mean 99 / 7
SILENT = {f"p{i:02d}" for i in (0, 3, 9, 10, 11, 12, 13, 14, 15)}


def _dau_lake(eng: Engine) -> pa.Table:
    rows = [(f"p{i:02d}", True, day) for day, k in ACTIVE.items() for i in range(k)]
    eng.register_arrow("kpi_user_daily", pa.table({"one_id": [r[0] for r in rows], "active": [r[1] for r in rows],
                                                   "dt": pa.array([r[2] for r in rows], pa.date32())}))
    labels = [*sorted(SILENT), "p01", "p02"]
    return pa.table({"one_id": labels, "label": ["silent"] * len(SILENT) + ["vip", "vip"]})


def test_evaluate_against_a_hand_computed_change(engine: Engine) -> None:
    _dau_lake(engine)
    with open_store("sqlite://") as st_:
        e = _record(st_)
        got = evaluate_effect(engine, load_catalogue(), st_, e.id, actor="analyst_zhao")
    assert (got.baseline_start, got.baseline_end, got.after_start, got.after_end) == (
        date(2026, 3, 2), date(2026, 3, 8), date(2026, 3, 9), date(2026, 3, 15))
    assert got.kpi_before == pytest.approx(11.0) and got.kpi_after == pytest.approx(99 / 7)
    assert got.kpi_change == pytest.approx(22 / 77) and got.scope == "all"
    assert (got.verification, got.test, got.p_value) == ("inconclusive", "before_after", None)


def test_evaluate_a_segment_with_an_experiment() -> None:
    eng = open_engine("duckdb")
    labels = _dau_lake(eng)

    def silent_mean(days: list[date]) -> float:  # by hand: active people of the segment per day
        return sum(sum(f"p{i:02d}" in SILENT for i in range(ACTIVE[d])) for d in days) / len(days)

    before = silent_mean([date(2026, 3, 2) + timedelta(days=i) for i in range(7)])
    after = silent_mean([date(2026, 3, 9) + timedelta(days=i) for i in range(7)])
    with open_store("sqlite://") as st_:
        e = _record(st_)
        got = evaluate_effect(eng, load_catalogue(), st_, e.id, actor="analyst_zhao", labels=labels, p_value=0.003,
                              test="two_proportion_ztest", experiment="exp_2026_03_silent")
        assert got.scope == "silent" and got.kpi_before == pytest.approx(before)
        assert got.kpi_after == pytest.approx(after) and got.kpi_change == pytest.approx((after - before) / before)
        assert (got.verification, got.test, got.p_value, got.experiment) == (
            "verified", "two_proportion_ztest", 0.003, "exp_2026_03_silent")
        assert get_effect(st_, e.id) == got and got.evaluated_at is not None
        # the experiment's own lift decides the direction when given
        worse = evaluate_effect(eng, load_catalogue(), st_, e.id, actor="analyst_zhao", labels=labels,
                                p_value=0.003, test="welch_ttest", lift=-0.5)
        assert worse.verification == "not_verified"
        assert [x.details["change"] for x in AuditLog(st_).entries()] == ["create", "evaluate", "evaluate"]
        assert AuditLog(st_).entries()[1].details["kpi_after"] == pytest.approx(after)
        running = _record(st_, ended_at=None)
        with pytest.raises(SiyuError, match="still running"):
            evaluate_effect(eng, load_catalogue(), st_, running.id, actor="a")
        short = evaluate_effect(eng, load_catalogue(), st_, running.id, actor="a", as_of=date(2026, 3, 10))
        assert (short.after_end, short.baseline_start) == (date(2026, 3, 10), date(2026, 3, 7))
        assert short.kpi_after == pytest.approx((14 + 15) / 2) and short.kpi_before == pytest.approx((10 + 12) / 2)
        unknown = _record(st_, metric="no_such_metric")
        with pytest.raises(SiyuError, match="unknown metric"):
            evaluate_effect(eng, load_catalogue(), st_, unknown.id, actor="a")
