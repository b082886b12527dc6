"""An A/B test read out of the demo lake: the assignment export resolves through OneID, the outcome
matches an independent pandas computation, both engines agree, and the interval covers the planted lift."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from siyu.core.errors import SiyuError
from siyu.measure.experiments.readout import experiment_units, read_experiment, register_experiment_sources
from siyu.warehouse.engine import Engine, open_engine


@pytest.fixture(scope="module")
def ab(demo: dict[str, Any]) -> dict[str, Any]:
    eng = open_engine("duckdb")
    register_experiment_sources(eng, demo["lake"])
    truth = json.loads((Path(demo["root"]) / "world" / "truth" / "params.json").read_text())["ab_test"]
    return {"eng": eng, "truth": truth}


def test_readout_counts_and_outcomes_match_an_independent_computation(ab: dict[str, Any],
                                                                      demo: dict[str, Any]) -> None:
    truth = ab["truth"]
    r = read_experiment(ab["eng"], truth["campaign_id"])
    assert r.units == {"control": truth["control"], "treatment": truth["treatment"]}
    assert r.unresolved == 0 and not r.srm.mismatch
    world = Path(demo["root"]) / "world"
    assigned = pq.read_table(world / "entities" / "experiment_assignments").to_pandas()
    nodes = ab["eng"].query("SELECT identifier_value, one_id FROM id_nodes "
                            "WHERE identifier_type = 'wecom_external_userid'").to_pandas()
    redirects = dict(ab["eng"].query("SELECT from_one_id, to_one_id FROM redirects").to_pandas().values)
    orders = ab["eng"].query("SELECT one_id, order_id, paid_at FROM orders").to_pandas()
    paid = orders.groupby("one_id")["paid_at"].apply(list).to_dict()
    one_id = {v: redirects.get(o, o) for v, o in nodes.values}
    start = pd.Timestamp(truth["window_start"]).tz_localize("Asia/Shanghai")  # "China time" in the truth
    conv = {"control": [0, 0], "treatment": [0, 0]}
    for _, row in assigned.iterrows():
        person = one_id[row["unit_value"]]
        hit = any(start <= t < start + timedelta(days=14) for t in paid.get(person, []))
        conv[row["variant"]][0] += hit
        conv[row["variant"]][1] += 1
    assert (r.conversion.conversions_a, r.conversion.n_a) == tuple(conv["control"])
    assert (r.conversion.conversions_b, r.conversion.n_b) == tuple(conv["treatment"])
    # The difference this assignment should show under the planted process: each person's baseline
    # 14-day conversion probability p0 = 1 - exp(-lambda * 14) (0 if not yet acquired or already gone),
    # plus min(lift, 1 - p0) for the treated. Random assignment makes the groups' mean p0 differ a little,
    # so this in-sample difference, not the population lift, is what one world's interval must cover
    # (the ~95% rate over many runs is simulated in tests/measure/experiments/test_coverage.py).
    persons = pq.read_table(world / "truth" / "persons.parquet").to_pandas()
    expected = {}
    for group in ("control", "treatment"):
        x = persons[persons["ab_group"] == group]
        alive = (x["acquired_at"] <= start) & (x["dropout_at"].isna() | (x["dropout_at"] > start))
        p0 = (1 - np.exp(-x["lambda"] * 14)).where(alive, 0.0)
        expected[group] = (p0 + np.minimum(truth["lift"], 1 - p0)).mean() if group == "treatment" else p0.mean()
    planted = expected["treatment"] - expected["control"]
    assert r.conversion.ci_low <= planted <= r.conversion.ci_high
    assert abs(planted - truth["true_ate"]) < 0.03  # the population lift, give or take the imbalance
    assert json.dumps(r.to_dict())  # strict JSON for the CLI and the report


def test_both_engines_give_the_same_units(ab: dict[str, Any], demo: dict[str, Any], engine: Engine) -> None:
    register_experiment_sources(engine, demo["lake"])
    key = ["variant", "one_id"]
    a = experiment_units(ab["eng"], ab["truth"]["campaign_id"]).to_pandas().sort_values(key, ignore_index=True)
    b = experiment_units(engine, ab["truth"]["campaign_id"]).to_pandas().sort_values(key, ignore_index=True)
    pd.testing.assert_frame_equal(a, b, check_dtype=False)


def test_unknown_experiment_and_bad_window(ab: dict[str, Any]) -> None:
    with pytest.raises(SiyuError, match="no assignments"):
        read_experiment(ab["eng"], "nope")
    with pytest.raises(SiyuError, match="1–366"):
        read_experiment(ab["eng"], ab["truth"]["campaign_id"], window_days=0)
