"""Anomaly alerts: detection against hand-worked series and planted anomalies, false-alert rates on long
stationary series, rule files, idempotent storage (SQLite and PostgreSQL), one run over a hand-built lake,
and webhook delivery over real loopback HTTP (retries, signatures, nothing lost)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from siyu.core.errors import SiyuError
from siyu.measure.alerts import (
    SIGNATURE_HEADER,
    SeasonalRule,
    ThresholdRule,
    WebhookConfig,
    acknowledge_alert,
    alert_id,
    alert_rules_json_schema,
    deliver_pending,
    detect,
    detect_alerts,
    error_scale,
    get_alert,
    list_alerts,
    load_rules,
    parse_rules,
    pending_count,
    robust_baseline,
    run_alerts,
    save_alerts,
    verify_signature,
)
from siyu.measure.kpi import load_catalogue
from siyu.profile.definitions import DefinitionError
from siyu.store import NotFound, Store, open_store
from siyu.warehouse.engine import Engine, open_engine
from tests.store_fixtures import store, store_url

__all__ = ["store", "store_url"]

MON = date(2026, 1, 5)  # a Monday
WEEKLY = (0.6, 1.0, 1.0, 1.0, 1.0, 0.9, 1.0)  # Monday's dip is the season, not an anomaly


def _days(start: date, n: int) -> list[date]:
    return [start + timedelta(days=i) for i in range(n)]


def _threshold(**kw: Any) -> ThresholdRule:
    return ThresholdRule(kind="threshold", name=kw.pop("name", "t"), metric=kw.pop("metric", "gmv"), **kw)


def _seasonal(**kw: Any) -> SeasonalRule:
    return SeasonalRule(kind="seasonal", name=kw.pop("name", "s"), metric=kw.pop("metric", "dau"), **kw)


def _seasonal_series(weeks: int, seed: int, noise: float) -> tuple[list[date], list[float]]:
    rng = np.random.default_rng(seed)
    days = _days(MON, 7 * weeks)
    return days, [float(1000 * WEEKLY[d.weekday()] * (1 + noise * rng.standard_normal())) for d in days]


# --- threshold rules: hand-worked ------------------------------------------------------------------------


def test_drop_fires_at_exactly_the_boundary_and_not_before() -> None:
    rule = _threshold(drop=0.3)
    two = _days(MON, 2)
    assert [a.deviation for a in detect(rule, two, [100.0, 70.0])] == [-0.3]
    assert detect(rule, two, [100.0, 70.01]) == []
    # 3.3 → 2.31 is a 30% drop that floating point computes as -0.29999999999999993: still fires
    assert (2.31 - 3.3) / 3.3 > -0.3 and len(detect(rule, two, [3.3, 2.31])) == 1
    assert detect(rule, two, [3.3, 2.3101]) == []


def test_rise_and_bounds_boundaries() -> None:
    two = _days(MON, 2)
    rise = _threshold(rise=0.5)
    assert len(detect(rise, two, [10.0, 15.0])) == 1 and detect(rise, two, [10.0, 14.99]) == []
    bounds = _threshold(lower=5.0, upper=9.0)
    assert detect(bounds, two, [5.0, 9.0]) == []  # on the bound is inside the allowed range
    low, high = detect(bounds, _days(MON, 3), [4.99, 7.0, 9.01])[0], None
    assert low.day == MON and low.expected == 5.0 and low.deviation == pytest.approx(-0.002)
    assert low.message_en == "gmv is 4.99, below the lower bound 5"
    high = detect(bounds, _days(MON, 3), [4.99, 7.0, 9.01])[1]
    assert high.message_zh == "gmv 为 9.01，高于上限 9"


def test_last_week_drop_message_in_chinese_and_english() -> None:
    rule = _threshold(metric="community_daily_interaction_rate", baseline="last_week", drop=0.3)
    days = _days(MON, 8)  # Monday to the next Monday
    values = [0.20, 0.21, 0.22, 0.2, 0.2, 0.2, 0.2, 0.13]
    (a,) = detect(rule, days, values, metric_zh="社群日互动率", metric_en="Community daily interaction rate")
    assert a.day == MON + timedelta(days=7) and a.expected == 0.20 and a.deviation == pytest.approx(-0.35)
    assert a.message_zh == "社群日互动率 较上周同期下降 35%"
    assert a.message_en == "Community daily interaction rate fell 35% against the same day last week"


def test_trailing_mean_hand_worked_and_too_thin_a_window() -> None:
    rule = _threshold(baseline="trailing_mean", periods=7, drop=0.3)
    days = _days(MON, 8)
    (a,) = detect(rule, days, [10, 12, 14, 16, 18, 20, 22, 11.0])  # mean 16, 11 is -31.25%
    assert (a.expected, a.deviation) == (16.0, -0.3125)
    assert a.message_zh == "gmv 较前 7 日均值下降 31%"
    # only 3 of the 7 previous days usable (fewer than half): not judged
    assert detect(rule, days, [None, None, None, None, 18, 20, 22, 1.0]) == []
    assert len(detect(rule, days, [None, None, None, 16, 16, 16, 16, 1.0])) == 1  # 4 of 7 is enough


def test_min_volume_skips_small_bases_and_keeps_them_out_of_baselines() -> None:
    rule = _threshold(drop=0.3, min_volume=100)
    days = _days(MON, 3)
    # day 2 has 5 people behind its rate: it is neither judged nor used as day 3's baseline
    assert detect(rule, days, [0.5, 0.1, 0.49], volumes=[1000, 5, 1000]) == []
    assert [a.day for a in detect(rule, days, [0.5, 0.3, 0.25], volumes=[1000, 1000, 1000])] == [days[1]]
    # an unknown volume counts as too small: day 3's 67% drop is not judged
    assert [a.day for a in detect(rule, days, [0.5, 0.3, 0.1], volumes=[1000, 1000, None])] == [days[1]]


# --- seasonal rules ---------------------------------------------------------------------------------------


def test_error_scale_and_baseline_match_scipy() -> None:
    rng = np.random.default_rng(3)
    errors = rng.standard_t(4, 40) * 0.1
    ref = scipy.stats.median_abs_deviation(errors, center=lambda a, axis: 0.0, scale="normal")
    assert error_scale(errors) == pytest.approx(ref, rel=1e-12)
    b = robust_baseline([10.0, 12.0, 11.0, 40.0], errors, spread_floor=0.0)
    assert b.median == 11.5 and b.sigma == pytest.approx(11.5 * ref) and (b.n, b.n_errors) == (4, 40)
    floored = robust_baseline([10.0, 10.0, 10.0], [0.0] * 7, spread_floor=0.05, min_spread=0.2)
    assert floored.rel_sigma == 0.0 and floored.sigma == 0.5  # max(0, 5% of 10, 0.2)


def test_planted_wednesday_drop_is_caught_and_the_monday_dip_is_not() -> None:
    days, values = _seasonal_series(weeks=10, seed=7, noise=0.03)
    wed = MON + timedelta(weeks=9, days=2)
    values[days.index(wed)] *= 0.65  # a 35% drop
    judged = days[-14:]
    found = detect(_seasonal(sensitivity="high"), days, values, judge=judged)
    assert [(a.day, a.zscore is not None and a.zscore < 0) for a in found] == [(wed, True)]
    # the z-score by hand: median of the four previous Wednesdays over the spread of the forecast errors
    x = dict(zip(days, values, strict=True))
    m = float(np.median([x[wed - timedelta(weeks=k)] for k in range(1, 5)]))
    errors = []
    for j in range(1, 29):
        d = wed - timedelta(days=j)
        f = float(np.median([x[d - timedelta(weeks=k)] for k in range(1, 5)]))
        errors.append((x[d] - f) / f)
    spread = max(m * scipy.stats.median_abs_deviation(errors, center=lambda a, axis: 0.0, scale="normal"), 0.05 * m)
    assert found[0].zscore == pytest.approx((x[wed] - m) / spread, rel=1e-12)
    assert found[0].expected == pytest.approx(m) and "周三" in found[0].message_zh
    # Mondays are 40% below Sundays every week: a day-over-day rule fires on each (and on the Wednesday),
    # the seasonal rule on none
    mondays = [d for d in judged if d.weekday() == 0]
    assert [a.day for a in detect(_threshold(drop=0.3), days, values, judge=judged)] == sorted([*mondays, wed])
    assert detect(_seasonal(sensitivity="high"), days, values, judge=mondays) == []


def test_direction_and_min_change() -> None:
    days, values = _seasonal_series(weeks=10, seed=8, noise=0.03)
    up, down = days.index(MON + timedelta(weeks=9, days=1)), days.index(MON + timedelta(weeks=9, days=3))
    values[up] *= 1.5
    values[down] *= 0.5
    judged = days[-7:]
    both = {a.day for a in detect(_seasonal(), days, values, judge=judged)}
    rises = {a.day for a in detect(_seasonal(direction="up"), days, values, judge=judged)}
    falls = {a.day for a in detect(_seasonal(direction="down"), days, values, judge=judged)}
    assert rises == {days[up]} and falls == {days[down]} and both == rises | falls
    assert detect(_seasonal(min_change=0.6), days, values, judge=judged) == []  # both moves are below 60%


def test_a_short_history_is_not_judged() -> None:
    days, values = _seasonal_series(weeks=4, seed=9, noise=0.03)
    values[-1] *= 0.2
    assert detect(_seasonal(weeks=4), days, values, judge=days[-1:]) == []  # its forecast errors need 2 × 4 weeks
    assert len(detect(_seasonal(weeks=4, min_history=2), days, values, judge=days[-1:])) == 1


def test_false_alert_rate_on_a_long_stationary_series_is_small_and_ordered_by_sensitivity() -> None:
    days, values = _seasonal_series(weeks=300, seed=11, noise=0.10)
    judged = days[56:]
    rates = {s: len(detect(_seasonal(sensitivity=s), days, values, judge=judged)) / len(judged)
             for s in ("low", "medium", "high")}
    # measured here: 0.2% / 0.9% / 2.5% of days (normal tails would give 0.006% / 0.27% / 1.2%; docs/alerts.md)
    assert rates["low"] < rates["medium"] < rates["high"]
    assert rates["low"] <= 0.004 and rates["medium"] <= 0.02 and rates["high"] <= 0.04
    assert detect(_seasonal(sensitivity=8.0), days, values, judge=judged) == []


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-3, 3), min_size=70, max_size=90), st.floats(0.5, 6), st.floats(0.5, 6),
       st.sampled_from(["up", "down", "both"]))
def test_higher_sensitivity_never_gives_fewer_alerts(noise: list[float], z1: float, z2: float, way: str) -> None:
    days = _days(MON, len(noise))
    values = [100 * WEEKLY[d.weekday()] * (1 + 0.1 * e) for d, e in zip(days, noise, strict=True)]
    lo, hi = sorted((z1, z2))
    strict = {a.id for a in detect(_seasonal(sensitivity=hi, direction=way), days, values)}
    loose = {a.id for a in detect(_seasonal(sensitivity=lo, direction=way), days, values)}
    assert strict <= loose


def test_alert_ids_are_a_stable_hash_and_reruns_repeat_them() -> None:
    want = hashlib.sha256(b"r\x1fm\x1fg\x1f2026-01-05").hexdigest()[:32]
    assert alert_id("r", "m", "g", MON) == want
    assert len({alert_id(*k) for k in [("r", "m", "g", MON), ("r2", "m", "g", MON), ("r", "m2", "g", MON),
                                       ("r", "m", "g2", MON), ("r", "m", "g", MON + timedelta(days=1))]}) == 5
    days, values = _seasonal_series(weeks=10, seed=7, noise=0.03)
    values[-3] *= 0.5
    assert detect(_seasonal(), days, values) == detect(_seasonal(), days, values) != []


# --- rule files --------------------------------------------------------------------------------------------

RULES_YAML = """\
rules:
  - name: community_wow_drop
    metric: community_daily_interaction_rate
    kind: threshold
    baseline: last_week
    drop: 0.3
    min_volume: 50
    severity: critical
  - name: gmv_seasonal
    metric: gmv
    by: channel
    kind: seasonal
    weeks: 6
    sensitivity: high
    direction: down
    webhook: false
"""


def test_rule_file_loads_and_its_schema_is_valid(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(RULES_YAML, encoding="utf-8")
    rules = load_rules(tmp_path, catalogue=load_catalogue())
    assert [(r.name, r.kind) for r in rules] == [("community_wow_drop", "threshold"), ("gmv_seasonal", "seasonal")]
    seasonal = rules[1]
    assert isinstance(seasonal, SeasonalRule) and seasonal.z == 2.5 and not seasonal.webhook
    assert _seasonal(sensitivity=3.5).z == 3.5 and _seasonal().z == 3.0
    Draft202012Validator.check_schema(alert_rules_json_schema())


@pytest.mark.parametrize(("text", "where", "says"), [
    ("rules:\n  - name: x\n    metric: gmv\n    kind: spike\n", ":4:", "'spike' is not one of"),
    ("rules:\n  - name: x\n    metric: gmv\n    kind: threshold\n    drop: 1.5\n", ":5:", "drop"),
    ("rules:\n  - name: x\n    metric: gmv\n    kind: threshold\n", ":2:", "at least one of drop, rise"),
    ("rules:\n  - name: x\n    metric: no_such_metric\n    kind: threshold\n    drop: 0.3\n", ":3:", "unknown metric"),
    ("rules:\n  - name: x\n    metric: community_daily_interaction_rate\n    by: channel\n    kind: seasonal\n",
     ":4:", "cannot be broken down by 'channel'"),
    ("rules:\n  - name: x\n    metric: gmv\n    kind: seasonal\n    weeks: 3\n    min_history: 4\n", ":2:",
     "min_history (4) is more than weeks (3)"),
    ("rules:\n  - name: x\n    metric: gmv\n    kind: seasonal\n    sensitivity: extreme\n", ":5:", "sensitivity"),
    ("rules:\n  - {name: x, metric: gmv, kind: threshold, drop: 0.3}\n  - {name: x, metric: gmv, kind: threshold, "
     "rise: 1}\n", ":3:", "defined twice"),
])
def test_bad_rule_files_name_the_file_line_and_field(tmp_path: Path, text: str, where: str, says: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DefinitionError) as err:
        load_rules(path, catalogue=load_catalogue())
    assert f"bad.yaml{where}" in str(err.value) and says in str(err.value)


def test_rule_names_are_unique_across_files(tmp_path: Path) -> None:
    for name in ("a.yaml", "b.yaml"):
        (tmp_path / name).write_text("rules:\n  - {name: same, metric: gmv, kind: threshold, drop: 0.3}\n")
    with pytest.raises(DefinitionError, match="also defined in"):
        load_rules(tmp_path)
    assert len(parse_rules({"rules": [{"name": "a", "metric": "gmv", "kind": "threshold", "upper": 1}]})) == 1


# --- storage (SQLite and PostgreSQL) --------------------------------------------------------------------------


def _some_alerts() -> list[Any]:
    days, values = _seasonal_series(weeks=10, seed=7, noise=0.03)
    values[-5] *= 0.6
    values[-2] *= 1.6
    return detect(_seasonal(metric="community_daily_interaction_rate"), days, values,
                  metric_zh="社群日互动率", metric_en="Community daily interaction rate")


def test_saving_is_idempotent_and_alerts_read_back(store: Store) -> None:
    alerts = _some_alerts()
    assert len(alerts) == 2
    at = datetime(2026, 3, 16, 1, 0, tzinfo=UTC)
    saved = save_alerts(store, alerts, now=at)
    assert [a.id for a in saved] == [a.id for a in alerts]
    assert save_alerts(store, alerts) == [] and save_alerts(store, alerts + alerts) == []
    back = get_alert(store, alerts[0].id)
    assert back.message_zh == alerts[0].message_zh and "社群日互动率" in back.message_zh
    assert back.created_at == at and back.sent_at is None and back.zscore == pytest.approx(alerts[0].zscore)
    assert {a.id for a in list_alerts(store)} == {a.id for a in alerts}
    assert [a.day for a in list_alerts(store)] == sorted((a.day for a in alerts), reverse=True)
    assert [a.id for a in list_alerts(store, since=alerts[1].day)] == [alerts[1].id]
    assert list_alerts(store, rule="other") == [] and len(list_alerts(store, severity="warning")) == 2


def test_acknowledge_keeps_the_first_and_filters(store: Store) -> None:
    alerts = _some_alerts()
    save_alerts(store, alerts)
    first = acknowledge_alert(store, alerts[0].id, "ops_wang", at=datetime(2026, 3, 17, tzinfo=UTC))
    again = acknowledge_alert(store, alerts[0].id, "ops_li")
    assert first.acknowledged_by == again.acknowledged_by == "ops_wang"
    assert again.acknowledged_at == datetime(2026, 3, 17, tzinfo=UTC)
    assert [a.id for a in list_alerts(store, acknowledged=False)] == [alerts[1].id]
    assert [a.id for a in list_alerts(store, acknowledged=True)] == [alerts[0].id]
    with pytest.raises(NotFound):
        acknowledge_alert(store, "0" * 32, "ops_wang")
    with pytest.raises(SiyuError, match="who acknowledges"):
        acknowledge_alert(store, alerts[0].id, " ")


# --- one run over a hand-built lake ---------------------------------------------------------------------------

RATE = (0.10, 0.20, 0.20, 0.20, 0.20, 0.15, 0.12)  # share of members speaking in groups, Monday … Sunday
REGIONS = {"north": 600, "south": 400}
AS_OF = date(2026, 2, 25)  # a Wednesday: north's speakers fall from 120 to 78 (-35%)


def _community_lake(eng: Engine) -> None:
    """Members join on 2025-12-20; each day the first RATE × members of each region speak."""
    people = [(f"{r[0]}{i:03d}", r) for r, n in REGIONS.items() for i in range(n)]
    events: dict[str, list[Any]] = {"one_id": [], "event": [], "dt": []}
    for one_id, _ in people:
        events["one_id"].append(one_id)
        events["event"].append("group_joined")
        events["dt"].append(date(2025, 12, 20))
    for day in _days(date(2025, 12, 22), (AS_OF - date(2025, 12, 22)).days + 1):
        for region, n in REGIONS.items():
            k = round(n * RATE[day.weekday()] * (0.65 if (day, region) == (AS_OF, "north") else 1))
            for i in range(k):
                events["one_id"].append(f"{region[0]}{i:03d}")
                events["event"].append("group_message_sent")
                events["dt"].append(day)
    eng.register_arrow("kpi_events", pa.table({"one_id": pa.array(events["one_id"]),
                                               "event": pa.array(events["event"]),
                                               "dt": pa.array(events["dt"], pa.date32())}))
    eng.register_arrow("person_dims", pa.table({"one_id": [p for p, _ in people], "region": [r for _, r in people]}))
    eng.register_arrow("kpi_user_daily", pa.table({"one_id": ["n000"], "active": [True],
                                                   "dt": pa.array([AS_OF], pa.date32())}))


COMMUNITY_RULES = {"rules": [
    {"name": "community_seasonal", "metric": "community_daily_interaction_rate", "by": "region", "kind": "seasonal",
     "sensitivity": "high", "min_volume": 100},
    {"name": "community_wow", "metric": "community_daily_interaction_rate", "by": "region", "kind": "threshold",
     "baseline": "last_week", "drop": 0.3, "severity": "critical"},
    {"name": "community_wow_all", "metric": "community_daily_interaction_rate", "kind": "threshold",
     "baseline": "last_week", "drop": 0.3},
]}


def test_alerts_over_a_hand_built_lake(engine: Engine) -> None:
    _community_lake(engine)
    catalogue = load_catalogue()
    found = detect_alerts(engine, catalogue, parse_rules(COMMUNITY_RULES, catalogue=catalogue), AS_OF)
    got = {(a.rule, a.grp): a for a in found}
    assert set(got) == {("community_seasonal", "north"), ("community_wow", "north")}  # overall fell 21% only
    seasonal = got[("community_seasonal", "north")]
    # 78/600 against 120/600; the history is exact, so σ̂ is the 5% floor: z = -0.07 / 0.01
    assert (seasonal.observed, seasonal.expected) == pytest.approx((0.13, 0.2))
    assert seasonal.deviation == pytest.approx(-0.35) and seasonal.zscore == pytest.approx(-7.0)
    assert seasonal.message_zh == "社群日互动率（region：north） 较近 4 周同期（周三）中位数下降 35%（z = -7.0）"
    assert got[("community_wow", "north")].message_zh == "社群日互动率（region：north） 较上周同期下降 35%"
    assert got[("community_wow", "north")].severity == "critical"


def test_run_alerts_stores_once(tmp_path: Path) -> None:
    eng = open_engine("duckdb")
    _community_lake(eng)
    catalogue = load_catalogue()
    rules = parse_rules(COMMUNITY_RULES, catalogue=catalogue)
    with open_store(f"sqlite:///{tmp_path / 'siyu.db'}") as st_:
        new = run_alerts(eng, catalogue, rules, AS_OF, st_)
        assert sorted(a.rule for a in new) == ["community_seasonal", "community_wow"]
        assert {a.id for a in new} == {a.id for a in detect_alerts(eng, catalogue, rules, AS_OF)}
        assert run_alerts(eng, catalogue, rules, AS_OF, st_) == []  # the same data again: nothing new
        assert run_alerts(eng, catalogue, rules, AS_OF, st_, days=14) == []  # and no other day is odd
        assert {a.id for a in list_alerts(st_)} == {a.id for a in new}


def test_run_alerts_refuses_duplicate_rule_names_and_weekly_metrics() -> None:
    eng = open_engine("duckdb")
    _community_lake(eng)
    catalogue = load_catalogue()
    rule = _threshold(metric="gmv", drop=0.3)
    with open_store("sqlite://") as st_, pytest.raises(SiyuError, match="unique"):
        run_alerts(eng, catalogue, [rule, rule], AS_OF, st_)


# --- webhook over real loopback HTTP ------------------------------------------------------------------------


class Hook:
    """A webhook receiver on 127.0.0.1: answers the ``plan`` in turn (a status, "slow" or "drop"), then 200; keeps every
    body and checks every signature with the stdlib's hmac."""

    def __init__(self, secret: str | None = None) -> None:
        self.plan: list[int | str] = []
        self.bodies: list[bytes] = []
        self.signed: list[bool] = []
        self.delivery_ids: list[str | None] = []
        self.gets = 0
        self._lock = threading.Lock()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                header = self.headers.get(SIGNATURE_HEADER, "")
                with hook._lock:
                    hook.bodies.append(body)
                    hook.delivery_ids.append(self.headers.get("X-Siyu-Delivery"))
                    if secret is not None:
                        want = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
                        hook.signed.append(hmac.compare_digest(header, f"sha256={want}"))
                    step = hook.plan.pop(0) if hook.plan else 200
                if step == "drop":  # hang up without an answer
                    self.close_connection = True
                    return
                if step == "slow":
                    time.sleep(1.0)
                    step = 200
                self.send_response(int(step))
                if step == 302:
                    self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:
                hook.gets += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            def handle_error(self, *args: Any) -> None:  # the client gave up on a slow answer: not our concern
                pass

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook?key=abc"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def alert_ids(self, n: int = -1) -> list[str]:
        return [a["id"] for a in json.loads(self.bodies[n])["alerts"]]


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook(secret="s3cret")
    h.thread.start()
    try:
        yield h
    finally:
        h.server.shutdown()
        h.server.server_close()


@pytest.fixture
def pending(tmp_path: Path) -> Iterator[tuple[Store, list[str]]]:
    with open_store(f"sqlite:///{tmp_path / 'siyu.db'}") as st_:
        yield st_, [a.id for a in save_alerts(st_, _some_alerts())]


def _config(url: str, **kw: Any) -> WebhookConfig:
    return WebhookConfig(url=url, secret=kw.pop("secret", "s3cret"), backoff=kw.pop("backoff", 0.5), **kw)


def test_webhook_retries_with_backoff_then_records_sent(hook: Hook, pending: tuple[Store, list[str]]) -> None:
    st_, ids = pending
    hook.plan = [503, 503]
    waits: list[float] = []
    report = deliver_pending(st_, _config(hook.url), sleep=waits.append)
    assert (report.sent, report.failed, report.requests) == (2, 0, 1)
    assert waits == [0.5, 1.0] and len(hook.bodies) == 3 and hook.signed == [True, True, True]
    assert len(set(hook.bodies)) == 1 and len(set(hook.delivery_ids)) == 1  # the same batch each time
    assert sorted(hook.alert_ids()) == sorted(ids)
    doc = json.loads(hook.bodies[-1])
    assert doc["count"] == 2 and "社群日互动率" in doc["alerts"][0]["message_zh"]
    assert verify_signature(hook.bodies[-1], "sha256=" + hmac.new(b"s3cret", hook.bodies[-1], hashlib.sha256)
                            .hexdigest(), "s3cret")
    assert all(get_alert(st_, i).sent_at is not None for i in ids) and pending_count(st_) == 0
    assert deliver_pending(st_, _config(hook.url)).requests == 0  # nothing left to send


def test_a_failing_webhook_loses_nothing(hook: Hook, pending: tuple[Store, list[str]]) -> None:
    st_, ids = pending
    hook.plan = [500, 500, 500]
    report = deliver_pending(st_, _config(hook.url, attempts=3), sleep=lambda s: None)
    assert (report.sent, report.failed, report.error) == (0, 2, "HTTP 500") and len(hook.bodies) == 3
    assert pending_count(st_) == 2 and all(get_alert(st_, i).sent_at is None for i in ids)
    report = deliver_pending(st_, _config(hook.url), sleep=lambda s: None)  # the next run
    assert report.sent == 2 and sorted(hook.alert_ids()) == sorted(ids) and pending_count(st_) == 0


@pytest.mark.parametrize(("plan", "tries"), [([400], 1), ([302], 1), ([429, 429], 2)])
def test_client_errors_and_redirects_are_not_delivered(hook: Hook, pending: tuple[Store, list[str]],
                                                       plan: list[int | str], tries: int) -> None:
    st_, _ = pending
    hook.plan = list(plan) * 3
    report = deliver_pending(st_, _config(hook.url, attempts=2), sleep=lambda s: None)
    assert report.sent == 0 and len(hook.bodies) == tries and pending_count(st_) == 2
    assert hook.gets == 0  # a redirect is not followed as a GET


def test_timeouts_and_refused_connections_are_retried(hook: Hook, pending: tuple[Store, list[str]]) -> None:
    st_, _ = pending
    hook.plan = ["slow", "drop"]
    report = deliver_pending(st_, _config(hook.url, timeout=0.3), sleep=lambda s: None)
    assert report.sent == 2 and len(hook.bodies) == 3
    with open_store("sqlite://") as other:
        save_alerts(other, _some_alerts())
        closed = f"http://127.0.0.1:{hook.server.server_address[1]}/hook"
        hook.server.shutdown()
        hook.server.server_close()
        waits: list[float] = []
        report = deliver_pending(other, _config(closed, attempts=3), sleep=waits.append)
        assert report.sent == 0 and report.failed == 2 and len(waits) == 2 and pending_count(other) == 2


def test_run_alerts_sends_only_webhook_rules(hook: Hook, tmp_path: Path) -> None:
    eng = open_engine("duckdb")
    _community_lake(eng)
    catalogue = load_catalogue()
    data = {"rules": [dict(COMMUNITY_RULES["rules"][0]), dict(COMMUNITY_RULES["rules"][1], webhook=False)]}
    rules = parse_rules(data, catalogue=catalogue)
    with open_store(f"sqlite:///{tmp_path / 'siyu.db'}") as st_:
        new = run_alerts(eng, catalogue, rules, AS_OF, st_, webhook=_config(hook.url), sleep=lambda s: None)
        sent = {a.rule: a.sent_at is not None for a in new}
        assert sent == {"community_seasonal": True, "community_wow": False}
        assert hook.alert_ids() == [a.id for a in new if a.rule == "community_seasonal"]
        assert pending_count(st_) == 0


def test_webhook_config_is_checked() -> None:
    assert WebhookConfig("https://example.invalid/x", attempts=6, backoff=1, max_backoff=5).waits() == [1, 2, 4, 5, 5]
    for bad in ({"url": "file:///etc/passwd"}, {"url": "http:///nohost"}, {"url": "https://h/x", "attempts": 0},
                {"url": "https://h/x", "attempts": 11}, {"url": "https://h/x", "timeout": 0},
                {"url": "https://h/x", "backoff": 10, "max_backoff": 5}, {"url": "https://h/x", "secret": ""}):
        with pytest.raises(SiyuError):
            WebhookConfig(**bad)  # type: ignore[arg-type]
