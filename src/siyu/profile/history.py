"""Change history: who entered, left or changed a state on which day, kept as change records.

Lifecycle stages, tiers, tags and segment memberships all keep history the same way: a partition per
day in ``ads/<name>_changes`` holding only what changed that day (``from_value`` → ``to_value``; an
exit has a null ``to_value``). The state on any day D is each key's latest change on or before D, so
"who had tag T on D" and "who entered/left T this week" are answered from stored data, while a day
with few changes costs few rows (a daily full snapshot of 300 tags × 1M people would be 300M rows).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pyarrow as pa

from siyu.core.errors import SiyuError
from siyu.warehouse.build import register_layer, write_layer
from siyu.warehouse.engine import Engine
from siyu.warehouse.lake import Lake


class HistoryError(SiyuError):
    code = "history_error"


def _latest(view: str, keys: tuple[str, ...], cmp: str, where: str = "") -> str:
    """Each key's latest change with dt ``cmp`` $day (and an optional extra filter)."""
    return f"""
SELECT {", ".join(keys)}, to_value AS value, dt AS since FROM (
    SELECT *, row_number() OVER (PARTITION BY {", ".join(keys)} ORDER BY dt DESC) AS rn
    FROM {view} WHERE dt {cmp} CAST($day AS DATE) {where}
) AS h WHERE rn = 1 AND to_value IS NOT NULL"""


def record_changes(eng: Engine, lake: Lake, name: str, current_view: str, keys: tuple[str, ...],
                   as_of: date) -> int:
    """Compare ``current_view`` (keys + ``value``) with the recorded state before ``as_of``; store the diff.

    Re-recording the same day replaces it; recording a day before the last recorded one is refused,
    because every later day's changes were computed against it.
    """
    table = f"{name}_changes"
    recorded = lake.partitions("ads", table)
    if recorded and recorded[-1] > as_of.isoformat():
        raise HistoryError(f"{table} is recorded up to {recorded[-1]}; recording {as_of} would rewrite history",
                           input_name=table)
    view = f"ads_{table}"
    if recorded:
        register_layer(eng, lake, "ads", table, view)
    else:
        eng.register_arrow(view, _empty(eng, current_view, keys))
    k = keys
    on = " AND ".join(f"c.{x} = p.{x}" for x in k)
    sql = f"""
WITH prev AS ({_latest(view, k, "<")}),
cur AS (SELECT {", ".join(k)}, value FROM {current_view} WHERE value IS NOT NULL)
SELECT {", ".join(f"coalesce(c.{x}, p.{x}) AS {x}" for x in k)},
       p.value AS from_value, c.value AS to_value, CAST($day AS DATE) AS dt
FROM cur AS c FULL OUTER JOIN prev AS p ON {on}
WHERE p.value IS NULL OR c.value IS NULL OR p.value <> c.value
"""
    params = {"day": as_of}
    write_layer(eng, lake, "ads", table, sql, days=[as_of.isoformat()], params=params)
    register_layer(eng, lake, "ads", table, view)
    count = eng.query(f"SELECT count(*) AS n FROM {view} WHERE dt = CAST($day AS DATE)", params)["n"][0].as_py()
    return int(count)


def _empty(eng: Engine, current_view: str, keys: tuple[str, ...]) -> pa.Table:
    schema = eng.schema(f"SELECT {', '.join(keys)}, value FROM {current_view}")
    fields = [schema.field(k) for k in keys] + [
        pa.field("from_value", pa.string()), pa.field("to_value", pa.string()), pa.field("dt", pa.date32())]
    return pa.schema(fields).empty_table()


def state_on(eng: Engine, view: str, keys: tuple[str, ...], day: date, *, where: str = "",
             params: dict[str, Any] | None = None) -> pa.Table:
    """Every key's value on ``day`` with the day it took that value (``since``)."""
    return eng.query(_latest(view, keys, "<=", where), {"day": day, **(params or {})})


def changes_between(eng: Engine, view: str, keys: tuple[str, ...], start: date, end: date, *, where: str = "",
                    params: dict[str, Any] | None = None) -> pa.Table:
    """Net change from the day before ``start`` to ``end``: ``entered`` / ``left`` / ``changed`` per key."""
    before = _latest(view, keys, "<", where).replace("$day", "$start")
    after = _latest(view, keys, "<=", where).replace("$day", "$end")
    on = " AND ".join(f"a.{x} = b.{x}" for x in keys)
    sql = f"""
WITH b AS ({before}), a AS ({after})
SELECT {", ".join(f"coalesce(a.{x}, b.{x}) AS {x}" for x in keys)}, b.value AS from_value, a.value AS to_value,
       CASE WHEN b.value IS NULL THEN 'entered' WHEN a.value IS NULL THEN 'left' ELSE 'changed' END AS change
FROM a FULL OUTER JOIN b ON {on}
WHERE b.value IS NULL OR a.value IS NULL OR a.value <> b.value
"""
    return eng.query(sql, {"start": start, "end": end, **(params or {})})


def week_of(day: date) -> tuple[date, date]:
    """Monday..Sunday of ``day``'s ISO week (本周)."""
    start = day - timedelta(days=day.weekday())
    return start, start + timedelta(days=6)
