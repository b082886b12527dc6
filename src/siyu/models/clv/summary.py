"""The customer summary the CLV models read (frequency / recency / T / monetary), computed on the engine.

One row per person with at least one paid order up to ``calibration_end`` (business days, the unit of
time is the day, as in the source reports' examples):

- ``frequency`` (x): repeat purchase days — days with a paid order, less the first;
- ``recency`` (t_x): days from the first purchase day to the last;
- ``T``: days from the first purchase day to ``calibration_end``;
- ``monetary``: mean spend per repeat purchase day (the first day left out, as Gamma-Gamma expects);
  null when ``frequency`` is 0.

With ``holdout_end`` the summary also counts each person's purchase days in
``(calibration_end, holdout_end]`` (``holdout_frequency``) and their spend, for the calibration /
holdout check. Sums are taken as decimals, so DuckDB and Spark agree to the cent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from siyu.core.errors import SiyuError

if TYPE_CHECKING:
    from siyu.warehouse.engine import Engine

SUMMARY_COLUMNS = ("one_id", "first_purchase", "frequency", "recency", "T", "monetary")


@dataclass(frozen=True)
class CustomerSummary:
    """Arrays in one order (by ``one_id``); ``holdout_*`` are present only for a holdout summary."""

    one_id: np.ndarray
    frequency: np.ndarray
    recency: np.ndarray
    T: np.ndarray
    monetary: np.ndarray
    calibration_end: date
    holdout_end: date | None = None
    holdout_frequency: np.ndarray | None = None
    holdout_spend: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.one_id)

    @property
    def holdout_days(self) -> int:
        if self.holdout_end is None:
            raise SiyuError("this summary has no holdout period", code="no_holdout")
        return (self.holdout_end - self.calibration_end).days

    @classmethod
    def from_arrow(cls, table: pa.Table, calibration_end: date, holdout_end: date | None = None) -> CustomerSummary:
        def col(name: str) -> np.ndarray:
            return table.column(name).to_numpy(zero_copy_only=False)

        monetary = np.asarray(pa.compute.fill_null(table.column("monetary"), np.nan).to_numpy(zero_copy_only=False),
                              dtype=np.float64)
        holdout = holdout_end is not None
        return cls(one_id=col("one_id").astype(object), frequency=col("frequency").astype(np.float64),
                   recency=col("recency").astype(np.float64), T=col("T").astype(np.float64), monetary=monetary,
                   calibration_end=calibration_end, holdout_end=holdout_end,
                   holdout_frequency=col("holdout_frequency").astype(np.float64) if holdout else None,
                   holdout_spend=col("holdout_spend").astype(np.float64) if holdout else None)


def summary_sql(*, holdout: bool, first_purchase_from: bool) -> str:
    """The summary query; parameters ``$calibration_end`` (and ``$holdout_end``, ``$first_from``)."""
    since = "WHERE f.first_day >= CAST($first_from AS DATE)" if first_purchase_from else ""
    calibration = f"""
    unit AS (
        SELECT one_id, dt AS day, sum(amount) AS spend
        FROM orders
        WHERE one_id IS NOT NULL AND dt <= CAST($calibration_end AS DATE)
        GROUP BY one_id, dt
    ), firsts AS (
        SELECT one_id, min(day) AS first_day FROM unit GROUP BY one_id
    ), summary AS (
        SELECT u.one_id, f.first_day AS first_purchase,
               CAST(count(*) - 1 AS BIGINT) AS frequency,
               CAST(date_diff('day', f.first_day, max(u.day)) AS DOUBLE) AS recency,
               CAST(date_diff('day', f.first_day, CAST($calibration_end AS DATE)) AS DOUBLE) AS T,
               CASE WHEN count(*) > 1 THEN CAST(
                   (sum(u.spend) - sum(CASE WHEN u.day = f.first_day THEN u.spend ELSE 0 END)) / (count(*) - 1)
                   AS DOUBLE) END AS monetary
        FROM unit AS u JOIN firsts AS f ON f.one_id = u.one_id
        {since}
        GROUP BY u.one_id, f.first_day
    )"""
    if not holdout:
        return f"WITH {calibration}\nSELECT * FROM summary ORDER BY one_id"
    return f"""WITH {calibration}, later AS (
        SELECT one_id, CAST(count(DISTINCT dt) AS BIGINT) AS days, sum(amount) AS spend
        FROM orders
        WHERE one_id IS NOT NULL AND dt > CAST($calibration_end AS DATE) AND dt <= CAST($holdout_end AS DATE)
        GROUP BY one_id
    )
    SELECT s.*, coalesce(l.days, CAST(0 AS BIGINT)) AS holdout_frequency,
           CAST(coalesce(l.spend, 0) AS DOUBLE) AS holdout_spend
    FROM summary AS s LEFT JOIN later AS l ON l.one_id = s.one_id
    ORDER BY s.one_id"""


def customer_summary_table(engine: Engine, calibration_end: date, *, holdout_end: date | None = None,
                           first_purchase_from: date | None = None) -> pa.Table:
    """The summary as Arrow, from the engine's ``orders`` view (``register_profile_sources`` provides it).

    ``first_purchase_from`` keeps only people whose first paid order in the lake is on or after that day:
    when the lake starts mid-history, older customers' first orders are missing and their ``T`` would
    be wrong, so fitting on recent first-time buyers is the safer choice.
    """
    if holdout_end is not None and holdout_end <= calibration_end:
        raise SiyuError(f"holdout_end {holdout_end} must be after calibration_end {calibration_end}",
                        code="bad_period", input_name="holdout_end")
    params: dict[str, object] = {"calibration_end": calibration_end}
    if holdout_end is not None:
        params["holdout_end"] = holdout_end
    if first_purchase_from is not None:
        params["first_from"] = first_purchase_from
    sql = summary_sql(holdout=holdout_end is not None, first_purchase_from=first_purchase_from is not None)
    return engine.query(sql, params)


def customer_summary(engine: Engine, calibration_end: date, *, holdout_end: date | None = None,
                     first_purchase_from: date | None = None) -> CustomerSummary:
    """:func:`customer_summary_table` as numpy arrays for the fitters."""
    table = customer_summary_table(engine, calibration_end, holdout_end=holdout_end,
                                   first_purchase_from=first_purchase_from)
    if table.num_rows == 0:
        raise SiyuError(f"no paid orders on or before {calibration_end}", code="no_data", input_name="calibration_end")
    return CustomerSummary.from_arrow(table, calibration_end, holdout_end)
