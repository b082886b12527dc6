"""Labels (what happened in (D, D+N]) on both engines, and the time-based split rule: no training label
window overlaps the validation period, no validation window the test period, for any data range."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from siyu.core.errors import SiyuError
from siyu.models.churn.dataset import calibration_half, plan_splits
from siyu.models.churn.labels import attach_labels, data_range, future_outcomes, label_values
from siyu.models.churn.spec import churn_outcome, purchase_intent_outcome
from siyu.warehouse.engine import Engine
from tests.models.churn.reference import daily_row, register

D = date(2026, 4, 1)
N = 7
# a: interacts on D+7 (the window's last day); b: interacts on D+8 (just outside) and orders on D+3 without
# an interaction row; c: orders on D+7; d: interacts on D itself only; e: a brand-side row on D+2 only.
DAILY = [
    daily_row("a", D, interactions=1), daily_row("a", D + timedelta(days=7), interactions=2),
    daily_row("b", D, interactions=1), daily_row("b", D + timedelta(days=8), interactions=1),
    daily_row("b", D + timedelta(days=3), orders=1, active=False),
    daily_row("c", D - timedelta(days=3), interactions=1), daily_row("c", D + timedelta(days=7), interactions=1,
                                                                     orders=1),
    daily_row("d", D, interactions=4),
    daily_row("e", D - timedelta(days=1), interactions=1), daily_row("e", D + timedelta(days=2), messages_delivered=1),
    daily_row("z", date(2026, 4, 20), interactions=1),  # the data end
]


def test_future_outcomes_and_labels(engine: Engine) -> None:
    register(engine, DAILY, [])
    assert data_range(engine) == (date(2026, 3, 29), date(2026, 4, 20))
    fut = future_outcomes(engine, [D], N, data_range(engine)[1]).set_index("one_id")
    assert fut.to_dict("index") == {"a": {"as_of": D, "interacted": 1, "ordered": 0},
                                    "b": {"as_of": D, "interacted": 0, "ordered": 1},
                                    "c": {"as_of": D, "interacted": 1, "ordered": 1},
                                    "e": {"as_of": D, "interacted": 0, "ordered": 0}}
    feats = pd.DataFrame({"one_id": list("abcde"), "as_of": [D] * 5})
    want = {  # churn on no interaction / no order / neither; intent
        "interaction": [0, 1, 0, 1, 1], "order": [1, 0, 0, 1, 1], "both": [0, 0, 0, 1, 1]}
    for silence, labels in want.items():
        got = attach_labels(engine, churn_outcome(N, silence), feats, date(2026, 4, 20))  # type: ignore[arg-type]
        assert got["label"].tolist() == labels, silence
    intent = attach_labels(engine, purchase_intent_outcome(N), feats, date(2026, 4, 20))
    assert intent["label"].tolist() == [0, 1, 1, 0, 0]


def test_an_open_label_window_is_refused(engine: Engine) -> None:
    register(engine, DAILY, [])
    end = date(2026, 4, 20)
    future_outcomes(engine, [end - timedelta(days=N)], N, end)  # ends exactly on the data end: fine
    with pytest.raises(SiyuError) as err:
        future_outcomes(engine, [end - timedelta(days=N - 1)], N, end)
    assert err.value.code == "label_window_open"


def test_label_values_truth_table() -> None:
    i = np.array([0, 0, 1, 1])
    o = np.array([0, 1, 0, 1])
    assert label_values(churn_outcome(30), i, o).tolist() == [1, 1, 0, 0]
    assert label_values(churn_outcome(30, "order"), i, o).tolist() == [1, 0, 1, 0]
    assert label_values(churn_outcome(30, "both"), i, o).tolist() == [1, 0, 0, 0]
    assert label_values(purchase_intent_outcome(), i, o).tolist() == [0, 1, 0, 1]


def test_the_demo_plan_for_30_days() -> None:
    plan = plan_splits(date(2026, 1, 1), date(2026, 6, 29), 30)
    assert plan.test == date(2026, 5, 30)
    assert plan.validation == (date(2026, 4, 25),)
    assert plan.train[-1] == date(2026, 3, 21) and plan.train[0] == date(2026, 1, 31)
    assert all((b - a).days == 7 for a, b in zip(plan.train, plan.train[1:], strict=False))


@settings(max_examples=300, deadline=None)
@given(days=st.integers(20, 800), horizon=st.integers(1, 90), step=st.integers(1, 30), warmup=st.integers(0, 60),
       n_val=st.integers(1, 4))
def test_no_label_window_crosses_into_a_later_split(days: int, horizon: int, step: int, warmup: int,
                                                    n_val: int) -> None:
    start = date(2025, 1, 1)
    end = start + timedelta(days=days)
    try:
        plan = plan_splits(start, end, horizon, step, warmup, n_val)
    except SiyuError as exc:
        assert exc.code == "too_little_history"
        return
    n = timedelta(days=horizon)
    assert plan.test + n <= end  # the test window is observed
    assert all(d >= start + timedelta(days=warmup) for d in plan.dates)
    first_val = min(plan.validation)
    # every training label window (D, D+N] ends on or before the first validation date …
    assert all(d + n <= first_val for d in plan.train)
    # … and every validation label window ends on or before the test date
    assert all(v + n <= plan.test for v in plan.validation)
    assert max(plan.train) < first_val <= max(plan.validation) < plan.test
    assert len(set(plan.dates)) == len(plan.dates) and len(plan.validation) <= n_val


def test_too_short_data_is_an_error_naming_the_horizon() -> None:
    with pytest.raises(SiyuError) as err:
        plan_splits(date(2026, 1, 1), date(2026, 3, 1), 30)
    assert err.value.code == "too_little_history" and err.value.input_name == "horizon_days"


def test_calibration_half_is_stable_and_about_half() -> None:
    ids = pd.Series([f"o_{k:06d}" for k in range(4000)])
    half = calibration_half(ids)
    assert 0.46 < half.mean() < 0.54
    assert (calibration_half(ids.iloc[::-1]) == half[::-1]).all()  # a property of the id, not of the position


def test_bad_outcomes_name_the_field() -> None:
    with pytest.raises(SiyuError) as err:
        churn_outcome(0)
    assert err.value.input_name == "horizon_days"
    with pytest.raises(SiyuError) as err:
        churn_outcome(30, "nothing")  # type: ignore[arg-type]
    assert err.value.input_name == "silence"
