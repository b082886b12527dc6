"""Lead time on a hand-worked world, on both engines: who counts as a churner (last activity followed by
N silent days), and the two readings — first flag before churn start, and the final unbroken warning
before churn is confirmed — from a model whose flags are planted day by day."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from siyu.models.churn.dataset import SplitPlan
from siyu.models.churn.lead_time import churn_starts_sql, lead_times, summarise
from siyu.models.churn.spec import churn_outcome
from siyu.warehouse.engine import Engine
from tests.models.churn.reference import daily_row, register

D0 = date(2026, 3, 1)
N = 10
END = D0 + timedelta(days=40)


def day(k: int) -> date:
    return D0 + timedelta(days=k)


DAILY = [
    *[daily_row("a", day(k), interactions=1) for k in (-5, 5, 20, 40)],  # gaps 15 and 20: churn starts on day 5
    *[daily_row("b", day(k), interactions=1) for k in (3, 13, 22)],  # gaps of 10 and 9 are not silences; 22 is
    *[daily_row("c", day(k), interactions=1) for k in (-20, 25, 36)],  # day −20 is before the range; 25 then 11
    daily_row("d", day(31), interactions=1),  # after the last day whose silence fits in the data
    *[daily_row("e", day(k), interactions=1) for k in (0, 35)],  # day 0 is not after the first validation date
    daily_row("f", day(2), orders=1, active=False),  # an order with no interaction
    daily_row("z", END, messages_delivered=1),
]


def _starts(engine: Engine, silence: str) -> dict[str, date]:
    sql, params = churn_starts_sql(churn_outcome(N, silence), D0, END - timedelta(days=N))  # type: ignore[arg-type]
    return dict(engine.query(sql, params).to_pandas().itertuples(index=False, name=None))


def test_churn_starts(engine: Engine) -> None:
    register(engine, DAILY, [])
    assert _starts(engine, "interaction") == {"a": day(5), "b": day(22), "c": day(25)}
    assert _starts(engine, "order") == {"f": day(2)}
    assert _starts(engine, "both") == {"a": day(5), "b": day(22), "c": day(25), "f": day(2)}


class PlantedFlags:
    """Stands in for a WarningModel: probability 1 on the planted (person, day) pairs, else 0."""

    def __init__(self, flags: dict[str, set[date]]) -> None:
        self.flags = flags
        self.threshold = 0.5
        self.outcome = churn_outcome(N)
        self.plan = SplitPlan(N, (day(-60),), (D0,), day(30), day(-30), END)

    def predict_proba(self, feats: pd.DataFrame) -> np.ndarray:
        return np.array([float(d in self.flags.get(i, set())) for i, d in zip(feats["one_id"], feats["as_of"],
                                                                               strict=True)])


def test_both_lead_time_readings(engine: Engine) -> None:
    register(engine, DAILY, [])
    flags = {
        # a (start day 5, confirmed day 15): flagged days −3..1 (first flag 8 days before start) and 9..15
        "a": {day(k) for k in (*range(-3, 2), *range(9, 16))},
        # b (start 22, confirmed 32): flagged on its start day only, not when confirmed
        "b": {day(22)},
        # c (start 25, confirmed 35): flagged on every scored day, so both readings hit the scan's edge
        "c": {day(k) for k in range(-30, 60)},
    }
    model: Any = PlantedFlags(flags)
    got = lead_times(engine, model, max_lead_days=20)
    assert (got["churners"], got["scored"]) == (3, 3)
    start, confirmed = got["before_churn_start"], got["before_churn_confirmed"]
    assert start["histogram"][8] == 1 and start["histogram"][0] == 1 and start["histogram"][20] == 1
    assert (start["warned"], start["median_days"], start["share_flagged_from_start"]) == (3, 8.0, 1 / 3)
    assert confirmed["warned"] == 2 and confirmed["histogram"][6] == 1 and confirmed["histogram"][30] == 1
    assert confirmed["share_warned"] == 2 / 3


def test_summarise_shares() -> None:
    got = summarise([0, 7, 10, 15, 16, 30], n_scored=8, cap=30)
    assert got["share_warned"] == 6 / 8 and got["share_7_15_days"] == 3 / 6 and got["share_at_least_7_days"] == 5 / 6
    assert got["median_days"] == 12.5 and got["share_flagged_from_start"] == 1 / 6
    assert np.isnan(summarise([], 0, 30)["median_days"])
