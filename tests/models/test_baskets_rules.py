"""Basket rules on planted baskets: every number against a direct pure-Python count, the planted pairs on
top, the planted evening item in the evening slots (statsmodels' proportions_ztest as the z reference)."""

from __future__ import annotations

import json
from collections import Counter
from itertools import combinations
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from statsmodels.stats.proportion import proportions_ztest

from siyu.core.errors import SiyuError
from siyu.models.baskets import BasketConfig, BasketModel, Baskets, SlotConfig, basket_config, bought_together

BACKGROUND = [f"S{j:02d}" for j in range(20)]


def planted(n: int = 6000, seed: int = 0) -> tuple[list[set[str]], list[int], list[int]]:
    """Baskets of independent background items (5% each) plus two planted pairs: A in 15% of baskets and
    B in 80% of those (3% otherwise): lift(A→B) = 0.8 / 0.1455 ≈ 5.5; C in 8%, D in 60% of those (4%
    otherwise): lift ≈ 7.1. EVE is in 25% of evening baskets (18–24 h) and 2% of the others."""
    rng = np.random.default_rng(seed)
    baskets, weekdays, hours = [], [], []
    for _ in range(n):
        items = {s for s in BACKGROUND if rng.random() < 0.05}
        a, c = rng.random() < 0.15, rng.random() < 0.08
        items |= {"A"} if a else set()
        items |= {"B"} if rng.random() < (0.8 if a else 0.03) else set()
        items |= {"C"} if c else set()
        items |= {"D"} if rng.random() < (0.6 if c else 0.04) else set()
        hour, weekday = int(rng.integers(0, 24)), int(rng.integers(1, 8))
        items |= {"EVE"} if rng.random() < (0.25 if hour >= 18 else 0.02) else set()
        if items:  # a basket is an order's lines: there are no empty ones
            baskets.append(items)
            weekdays.append(weekday)
            hours.append(hour)
    return baskets, weekdays, hours


def as_table(baskets: list[set[str]], weekdays: list[int], hours: list[int]) -> pa.Table:
    rows = [(f"b{i:06d}", item, w, h) for i, (items, w, h) in enumerate(zip(baskets, weekdays, hours, strict=True))
            for item in sorted(items)]
    return pa.table({"basket_id": [r[0] for r in rows], "item": [r[1] for r in rows],
                     "weekday": pa.array([r[2] for r in rows], pa.int32()),
                     "hour": pa.array([r[3] for r in rows], pa.int32())})


def reference_rules(baskets: list[set[str]], config: BasketConfig) -> dict[tuple[tuple[str, ...], tuple[str, ...]],
                                                                           dict[str, float]]:
    """Brute force: count every itemset up to max_len, then every split of every frequent one."""
    n = len(baskets)
    counts: Counter[frozenset[str]] = Counter()
    for items in baskets:
        for size in range(1, config.max_len + 1):
            counts.update(frozenset(c) for c in combinations(sorted(items), size))
    frequent = {s: c for s, c in counts.items() if c / n >= config.min_support}
    out = {}
    for itemset, c_ac in frequent.items():
        for size in range(1, len(itemset)):
            for ante in map(frozenset, combinations(sorted(itemset), size)):
                cons = itemset - ante
                c_a, c_c = counts[ante], counts[cons]
                conf, lift = c_ac / c_a, c_ac * n / (c_a * c_c)
                if conf >= config.min_confidence and lift >= config.min_lift:
                    out[(tuple(sorted(ante)), tuple(sorted(cons)))] = {
                        "support": c_ac / n, "confidence": conf, "lift": lift, "antecedent_support": c_a / n,
                        "consequent_support": c_c / n, "leverage": c_ac / n - (c_a / n) * (c_c / n),
                        "conviction": None if c_ac == c_a else (1 - c_c / n) / (1 - conf), "baskets": c_ac}
    return out


CONFIG = BasketConfig(min_support=0.004, min_confidence=0.02, min_lift=0.0, max_len=3, min_slot_baskets=0)


@pytest.fixture(scope="module")
def world() -> tuple[list[set[str]], list[int], list[int], BasketModel]:
    baskets, weekdays, hours = planted()
    return baskets, weekdays, hours, BasketModel.fit(Baskets.from_table(as_table(baskets, weekdays, hours)), CONFIG)


def test_every_rule_equals_a_direct_count(world: tuple) -> None:
    baskets, _, _, model = world
    want = reference_rules(baskets, CONFIG)
    got = {(tuple(r["antecedents"]), tuple(r["consequents"])): r for r in model.rules.to_pylist()}
    assert set(got) == set(want) and len(want) > 100  # the same rules: none missing, none extra
    for key, ref in want.items():
        for name, value in ref.items():
            if value is None:
                assert got[key][name] is None, (key, name)
            else:
                assert got[key][name] == pytest.approx(value, rel=1e-12, abs=1e-12), (key, name)


def test_thresholds_filter_rules(world: tuple) -> None:
    baskets, weekdays, hours, _ = world
    strict = CONFIG.model_copy(update={"min_confidence": 0.3, "min_lift": 2.0, "max_len": 2})
    model = BasketModel.fit(Baskets.from_table(as_table(baskets, weekdays, hours)), strict)
    got = {(tuple(r["antecedents"]), tuple(r["consequents"])) for r in model.rules.to_pylist()}
    assert got == set(reference_rules(baskets, strict))
    assert all(len(a) + len(c) <= 2 for a, c in got)


def test_planted_pairs_are_the_top_rules(world: tuple) -> None:
    baskets, weekdays, hours, _ = world
    pairs = BasketModel.fit(Baskets.from_table(as_table(baskets, weekdays, hours)),
                            CONFIG.model_copy(update={"max_len": 2}))
    top = [(r["antecedents"], r["consequents"]) for r in pairs.rules.slice(0, 4).to_pylist()]
    assert sorted(top) == [(["A"], ["B"]), (["B"], ["A"]), (["C"], ["D"]), (["D"], ["C"])]
    lifts = pairs.rules.column("lift").to_pylist()
    assert lifts == sorted(lifts, reverse=True) and lifts[0] > 5 and lifts[4] < 2
    together = {r["item"]: r["suggestions"] for r in pairs.bought_together().to_pylist()}
    assert together["A"][0] == "B" and together["C"][0] == "D" and together["D"][0] == "C"


def test_bought_together_ranks_by_lift_then_confidence() -> None:
    rules = pa.Table.from_pylist([
        {"antecedents": ["x"], "consequents": ["b"], "lift": 2.0, "confidence": 0.5, "support": 0.1},
        {"antecedents": ["x"], "consequents": ["a"], "lift": 2.0, "confidence": 0.5, "support": 0.1},
        {"antecedents": ["x"], "consequents": ["c"], "lift": 2.0, "confidence": 0.6, "support": 0.1},
        {"antecedents": ["x"], "consequents": ["d"], "lift": 3.0, "confidence": 0.1, "support": 0.1},
        {"antecedents": ["x", "y"], "consequents": ["e"], "lift": 9.0, "confidence": 0.9, "support": 0.1},
        {"antecedents": ["y"], "consequents": ["e", "f"], "lift": 9.0, "confidence": 0.9, "support": 0.1},
    ])
    got = bought_together(rules, top_n=3).to_pylist()
    assert [(r["item"], r["suggestions"]) for r in got] == [("x", ["d", "c", "a"])]


# --- time slots ----------------------------------------------------------------------------------------


def test_evening_item_over_indexes_in_the_evening(world: tuple) -> None:
    model = world[3]
    slot_names = CONFIG.slots.names()
    assert slot_names == ["weekday_night", "weekday_morning", "weekday_afternoon", "weekday_evening",
                          "weekend_night", "weekend_morning", "weekend_afternoon", "weekend_evening"]
    eve = {r["slot"]: r for r in model.slot_items.to_pylist() if r["item"] == "EVE"}
    for slot, row in eve.items():
        if slot.endswith("evening"):
            assert row["index"] > 2 and row["z"] > 5
        else:
            assert row["index"] < 0.5 and row["z"] < -3
    others = [r for r in model.slot_items.to_pylist() if r["item"] in BACKGROUND]
    assert max(abs(r["z"]) for r in others) < 4.5  # no planted slot effect: |z| stays at chance levels


def test_slot_item_numbers_equal_direct_counts(world: tuple) -> None:
    baskets, weekdays, hours, model = world
    n = len(baskets)

    def slot_of(w: int, h: int) -> str:
        part = "night" if h < 6 else "morning" if h < 12 else "afternoon" if h < 18 else "evening"
        return f"{'weekend' if w >= 6 else 'weekday'}_{part}"

    slots = [slot_of(w, h) for w, h in zip(weekdays, hours, strict=True)]
    per_slot = Counter(slots)
    for r in model.slot_items.to_pylist():
        holders = [s for items, s in zip(baskets, slots, strict=True) if r["item"] in items]
        count, overall = sum(1 for s in holders if s == r["slot"]), len(holders) / n
        assert (r["slot_baskets"], r["item_baskets"]) == (per_slot[r["slot"]], count)
        assert r["slot_support"] == pytest.approx(count / per_slot[r["slot"]], rel=1e-12)
        assert r["index"] == pytest.approx(count / per_slot[r["slot"]] / overall, rel=1e-12)
        z_ref, _ = proportions_ztest(count, per_slot[r["slot"]], value=overall, prop_var=overall)
        assert r["z"] == pytest.approx(z_ref, rel=1e-9, abs=1e-12)
    for r in model.slot_rules.to_pylist():
        ante, cons = set(r["antecedents"]), set(r["consequents"])
        in_slot = [items for items, s in zip(baskets, slots, strict=True) if s == r["slot"]]
        n_a = sum(1 for b in in_slot if ante <= b)
        n_c = sum(1 for b in in_slot if cons <= b)
        n_ac = sum(1 for b in in_slot if ante | cons <= b)
        assert (r["antecedent_baskets"], r["rule_baskets"]) == (n_a, n_ac)
        if n_a and n_c:
            assert r["lift"] == pytest.approx(n_ac * len(in_slot) / (n_a * n_c), rel=1e-12)
            assert r["lift_ratio"] == pytest.approx(r["lift"] / r["overall_lift"], rel=1e-12)


def test_small_slots_are_flagged() -> None:
    baskets, weekdays, hours = planted(n=3000, seed=2)
    config = CONFIG.model_copy(update={"min_slot_baskets": 200})
    model = BasketModel.fit(Baskets.from_table(as_table(baskets, weekdays, hours)), config)
    counts = Counter()
    for w, h in zip(weekdays, hours, strict=True):
        counts[("weekend" if w >= 6 else "weekday", h // 6)] += 1
    flags = {r["slot"]: (r["slot_baskets"], r["small_slot"]) for r in model.slot_items.to_pylist()}
    assert {n < 200 for n, _ in flags.values()} == {True, False}  # the planted world has both kinds
    assert all(small == (n < 200) for n, small in flags.values())


def test_slots_are_configurable() -> None:
    slots = SlotConfig(weekend_days=(5, 6, 7), dayparts={"am": (0, 12), "pm": (12, 24)})
    assert slots.names() == ["weekday_am", "weekday_pm", "weekend_am", "weekend_pm"]
    got = slots.slot_of(np.array([1, 5, 7, 4]), np.array([0, 12, 11, 23]))
    assert got.tolist() == [0, 3, 2, 1]
    with pytest.raises(ValueError, match="cover"):
        SlotConfig(dayparts={"am": (0, 12), "pm": (13, 24)})


# --- persistence and errors ------------------------------------------------------------------------------


def test_save_and_load_round_trip(world: tuple, tmp_path: Path) -> None:
    model = world[3]
    model.save(tmp_path / "b")
    assert json.loads((tmp_path / "b" / "basket_model.json").read_text(encoding="utf-8"))["format"] == \
        "siyu.basket_model"
    back = BasketModel.load(tmp_path / "b")
    for name in ("rules", "slot_items", "slot_rules"):
        assert getattr(back, name).equals(getattr(model, name)), name
    assert back.metrics == model.metrics and back.params == model.params
    assert back.bought_together().equals(model.bought_together())
    assert model.metrics["baskets"] == len(world[0]) and model.metrics["rules"] == model.rules.num_rows
    assert model.rules_for_slot("weekend_evening").num_rows == min(CONFIG.slot_rules_top, model.rules.num_rows)


def test_no_frequent_itemsets_give_no_rules() -> None:
    table = as_table([{"a"}, {"b"}, {"c", "d"}], [1, 2, 3], [1, 2, 3])
    model = BasketModel.fit(Baskets.from_table(table), BasketConfig(min_support=0.9))
    assert model.rules.num_rows == 0 and model.bought_together().num_rows == 0 and model.slot_items.num_rows == 0


def test_bad_config_and_empty_input() -> None:
    with pytest.raises(SiyuError) as err:
        basket_config(min_support=0)
    assert err.value.code == "bad_basket_config"
    with pytest.raises(SiyuError) as err:
        BasketModel.fit(Baskets.from_table(as_table([], [], [])))
    assert err.value.code == "no_baskets"
    with pytest.raises(SiyuError) as err:
        BasketModel.fit(Baskets.from_table(as_table([{"a", "b"}] * 5, [1] * 5, [1] * 5))).rules_for_slot("noon")
    assert err.value.code == "unknown_slot"
