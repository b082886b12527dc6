"""Labels (标签/目标值): what happened in the N days after each as-of date, from ``user_daily``.

For as-of date D the label window is ``(D, D+N]``. The query returns, per person with any row in that
window, whether they interacted and whether they ordered; :func:`label_values` turns that into the
outcome's label (people with no row in the window did neither). A date whose window runs past the data
end is not labelled: asking for one is an error, never a silent "churned".
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from siyu.core.errors import SiyuError
from siyu.measure.event_sql import Params
from siyu.models.churn.features import snapshots_cte
from siyu.models.churn.spec import Outcome
from siyu.warehouse.engine import Engine


def data_range(engine: Engine) -> tuple[date, date]:
    """The first and last business day in ``user_daily`` (the data end is the last one)."""
    got = engine.query("SELECT min(dt) AS lo, max(dt) AS hi FROM user_daily").to_pylist()[0]
    if got["lo"] is None:
        raise SiyuError("user_daily is empty: build the lake first (siyu build)", code="no_data",
                        input_name="user_daily")
    return got["lo"], got["hi"]


def outcomes_sql(dates: Sequence[date], horizon_days: int) -> tuple[str, dict[str, Any]]:
    """Per (one_id, as_of) with a row in ``(as_of, as_of + horizon]``: ``interacted`` and ``ordered`` (0/1)."""
    p = Params()
    snap = snapshots_cte(dates, p)
    sql = f"""WITH {snap}
SELECT u.one_id, t.as_of,
    max(CASE WHEN u.active THEN 1 ELSE 0 END) AS interacted,
    max(CASE WHEN u.orders > 0 THEN 1 ELSE 0 END) AS ordered
FROM user_daily AS u JOIN snap AS t
  ON u.dt > t.as_of AND date_diff('day', t.as_of, u.dt) <= {p.bigint(horizon_days)}
WHERE u.one_id IS NOT NULL
GROUP BY u.one_id, t.as_of
ORDER BY t.as_of, u.one_id"""
    return sql, p.values


def future_outcomes(engine: Engine, dates: Sequence[date], horizon_days: int, data_end: date) -> pd.DataFrame:
    """What each person did in each label window; every window must end on or before ``data_end``."""
    late = [d for d in dates if d + timedelta(days=horizon_days) > data_end]
    if late:
        raise SiyuError(f"as-of {min(late)} + {horizon_days} days runs past the data end {data_end}: "
                        "that window is not observed yet", code="label_window_open", input_name="as_of")
    sql, params = outcomes_sql(dates, horizon_days)
    return engine.query(sql, params).to_pandas()


def label_values(outcome: Outcome, interacted: np.ndarray, ordered: np.ndarray) -> np.ndarray:
    """The 0/1 label from the window's flags: churn is the absence of ``silence``, intent is an order."""
    i, o = interacted.astype(bool), ordered.astype(bool)
    if outcome.kind == "purchase_intent":
        y = o
    elif outcome.silence == "interaction":
        y = ~i
    elif outcome.silence == "order":
        y = ~o
    else:
        y = ~(i | o)
    return y.astype(np.int8)


def attach_labels(engine: Engine, outcome: Outcome, features: pd.DataFrame, data_end: date) -> pd.DataFrame:
    """``features`` (one row per one_id, as_of) with the outcome's ``label`` column added."""
    dates = sorted(set(features["as_of"]))
    fut = future_outcomes(engine, dates, outcome.horizon_days, data_end)
    out = features.merge(fut, on=["one_id", "as_of"], how="left")
    flags = out[["interacted", "ordered"]].fillna(0).to_numpy()
    out["label"] = label_values(outcome, flags[:, 0], flags[:, 1])
    return out.drop(columns=["interacted", "ordered"])
