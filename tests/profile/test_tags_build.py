"""Tags on the demo world: every kind, checked against independent calculations; carry-over and history."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from siyu.cli.profile_cmds import default_tag_defs
from siyu.profile.tags.build import build_tags
from siyu.profile.tags.query import tag_changes_in_week, tag_holders_on
from siyu.warehouse.lake import Lake


@pytest.fixture(scope="module")
def tagged(demo: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("tags")
    shutil.copytree(demo["lake"].root, root / "lake")
    lake = Lake(root / "lake")
    report = build_tags(lake, default_tag_defs())
    values = pq.read_table(lake.files("ads", "tag_values")).to_pandas()
    return {"lake": lake, "report": report, "values": values, "root": root}


def _holders(values: pd.DataFrame, tag: str) -> set[str]:
    return set(values.loc[values["tag"] == tag, "one_id"])


def _orders(lake: Lake) -> pd.DataFrame:
    orders = pq.read_table(lake.files("dwd", "orders"), columns=["one_id", "amount", "dt"]).to_pandas()
    redirects = pq.read_table(lake.files("identity", "redirects")).to_pandas()
    moved = dict(zip(redirects["from_one_id"], redirects["to_one_id"], strict=True))
    orders["one_id"] = orders["one_id"].map(lambda x: moved.get(x, x))
    return orders[orders["one_id"].notna()]


def test_every_kind_is_built_and_predictive_tags_wait_for_their_models(tagged: dict[str, Any]) -> None:
    report = tagged["report"]
    assert sorted(report.pending) == ["churn_risk", "clv_band", "purchase_intent"]
    assert len(report.built) == 20 and report.carried == []
    assert report.rows == len(tagged["values"]) > 0
    catalogue = pq.read_table(tagged["lake"].files("ads", "tag_catalogue")).to_pandas().set_index("tag")
    assert catalogue.loc["churn_risk", "status"] == "pending" and catalogue.loc["churn_risk", "holders"] == 0
    assert catalogue.loc["high_value", "holders"] == len(_holders(tagged["values"], "high_value"))
    assert 0 < catalogue.loc["wecom_contact", "coverage"] < 1


def test_rule_tag_equals_an_independent_calculation(tagged: dict[str, Any]) -> None:
    """high_value = spent ≥ 3,000 CNY in ≥ 4 orders over the last 365 days, recomputed in pandas."""
    as_of = tagged["report"].as_of
    orders = _orders(tagged["lake"])
    window = orders[(orders["dt"] > as_of - timedelta(days=365)) & (orders["dt"] <= as_of)]
    g = window.groupby("one_id").agg(spend=("amount", "sum"), n=("amount", "size"))
    expected = set(g[(g["spend"] >= 3000) & (g["n"] >= 4)].index)
    assert expected and _holders(tagged["values"], "high_value") == expected


def test_tags_read_other_tags_and_facts(tagged: dict[str, Any]) -> None:
    values, lake = tagged["values"], tagged["lake"]
    profiles = pq.read_table(lake.files("ads", "profiles"),
                             columns=["one_id", "days_since_last_interaction"]).to_pandas().set_index("one_id")
    at_risk = {o for o in _holders(values, "high_value")
               if profiles.loc[o, "days_since_last_interaction"] >= 30}
    assert _holders(values, "vip_at_risk") == at_risk
    rfm = pq.read_table(lake.files("ads", "rfm")).to_pandas().set_index("one_id")["rfm_class"]
    stage = pq.read_table(lake.files("ads", "lifecycle")).to_pandas().set_index("one_id")["lifecycle"]
    expected = {o for o, s in stage.items() if s == "silent" and rfm.get(o) in ("重要保持", "重要挽留")}
    assert _holders(values, "silent_important") == expected


def test_composite_score_equals_its_formula(tagged: dict[str, Any]) -> None:
    values = tagged["values"]
    weights = {"spending_capacity": 0.4, "price_sensitivity": 0.2, "content_preference": 0.2,
               "interaction_depth": 0.2}
    total = pd.Series(0.0, index=sorted(set(values["one_id"])))
    for tag, w in weights.items():
        held = values[values["tag"] == tag].set_index("one_id")["score"]
        standing = held.rank(method="max") / len(held)  # cume_dist: share of holders scoring no higher
        total = total.add(standing * w, fill_value=0.0)
    expected = (total / sum(weights.values())).round(6)
    expected = expected[expected > 0]
    got = values[values["tag"] == "campaign_fit"].set_index("one_id")
    assert set(got.index) == set(expected.index)
    assert (got["score"] - expected[got.index]).abs().max() < 1e-6
    band = got["score"].map(lambda s: "high" if s >= 0.6 else "medium" if s >= 0.3 else "low")
    assert (band == got["value"]).all()


def test_next_day_carries_weekly_tags_and_records_history(tagged: dict[str, Any]) -> None:
    lake, first = tagged["lake"], tagged["report"]
    day0 = first.as_of
    next_day = build_tags(lake, default_tag_defs(), as_of=day0 + timedelta(days=1))
    assert next_day.carried == ["coupon_user"]  # weekly: not due one day later, values kept
    values1 = pq.read_table(lake.files("ads", "tag_values")).to_pandas()
    assert _holders(values1, "coupon_user") == _holders(tagged["values"], "coupon_user")
    # one more day without new data: people drift out of windowed tags; the change log says who
    on_day0 = tag_holders_on(lake, "cart_abandoner", day0, limit=10**6)
    assert {p["one_id"] for p in on_day0["people"]} == _holders(tagged["values"], "cart_abandoner")
    changes = pq.read_table(lake.files("ads", "tag_values_changes"), filters=[("tag", "=", "cart_abandoner")])
    day1 = changes.to_pandas()
    day1 = day1[day1["dt"].astype(str) == str(day0 + timedelta(days=1))]
    left = set(day1.loc[day1["to_value"].isna(), "one_id"])
    assert left and left == _holders(tagged["values"], "cart_abandoner") - _holders(values1, "cart_abandoner")
    # the week of day0 holds both days; net of the week, nobody who entered on day 0 and left on day 1 shows
    week = tag_changes_in_week(lake, "cart_abandoner", day0, limit=10**6)
    assert {p["one_id"] for p in week["people"]} == _holders(values1, "cart_abandoner")
    assert week["counts"]["left"] == 0


def test_predictive_tag_bands_a_model_output(tagged: dict[str, Any], tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    shutil.copytree(tagged["lake"].root, lake.root)
    people = sorted(set(tagged["values"]["one_id"]))[:5]
    probs = [0.95, 0.5, 0.3, 0.1, None]
    out = lake.table_dir("models", "churn_predictions")
    out.mkdir(parents=True)
    pq.write_table(pa.table({"one_id": people, "churn_probability": probs}), out / "part-0.parquet")
    report = build_tags(lake, default_tag_defs(), as_of=tagged["report"].as_of + timedelta(days=1), full=True)
    assert "churn_risk" in report.built
    got = pq.read_table(lake.files("ads", "tag_values"), filters=[("tag", "=", "churn_risk")]).to_pylist()
    assert {(r["one_id"], r["value"]) for r in got} == {
        (people[0], "high"), (people[1], "high"), (people[2], "medium"), (people[3], "low")}


def test_changed_definition_without_version_bump_is_reported(tagged: dict[str, Any], tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    shutil.copytree(tagged["lake"].root, lake.root)
    defs = tmp_path / "defs"
    shutil.copytree(default_tag_defs(), defs)
    path = defs / "behaviour.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace(">= 3'", ">= 4'"), encoding="utf-8")
    report = build_tags(lake, defs, as_of=date.fromisoformat(str(tagged["report"].as_of)) + timedelta(days=2))
    assert any("sunscreen_fan" in w and "bump" in w for w in report.warnings)
