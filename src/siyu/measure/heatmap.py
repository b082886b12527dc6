"""Activity heatmap (活跃热力图): when people act, by weekday × hour, and the best time to push.

Definitions (docs/analysis.md):

- Cells are ISO weekday (1 = Monday … 7 = Sunday) of the business day ``dt`` × ``event_hour``, both
  in the business time zone (the warehouse derives them from ``event_time`` in that zone).
- **events**: the person's own events in the cell (brand-side events — deliveries, coupons issued,
  points and tier changes — are not activity); **people**: distinct people with such an event in the
  cell (over the whole date range); the shares divide by all events / all active people of the range.
- **Click rate by send time** (按发送时段的点击率): deliveries (``message_delivered``) in the cell whose
  ``send_id`` the same person clicked (``message_clicked``, at any time), over deliveries in the cell.
- **Best time** (最佳推送时间): the cell with the highest click rate among cells with at least
  ``min_deliveries`` deliveries; when no cell has that many, the cell with the largest share of active
  people (basis ``activity_share``). Ties: more deliveries (or events), then the earlier weekday and hour.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from siyu.core.errors import SiyuError
from siyu.measure.event_sql import DEFAULT_IGNORED_EVENTS, Params, check_event_name, view_name, weekday_sql
from siyu.warehouse.engine import Engine
from siyu.warehouse.engine.base import check_identifier

WEEKDAYS_ZH = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
WEEKDAYS_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
DELIVERED, CLICKED = "message_delivered", "message_clicked"


class HeatmapSpec(BaseModel):
    """Which days (business ``dt``), and optionally which people: a view/table with a ``one_id`` column."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: date | None = None
    end: date | None = None
    segment: str | None = None
    ignore_events: tuple[str, ...] = DEFAULT_IGNORED_EVENTS

    @field_validator("segment")
    @classmethod
    def _segment_ok(cls, v: str | None) -> str | None:
        return None if v is None else view_name(v)

    @field_validator("ignore_events")
    @classmethod
    def _events_ok(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(check_event_name(e) for e in v)

    @model_validator(mode="after")
    def _range_ok(self) -> HeatmapSpec:
        if self.start and self.end and self.end < self.start:
            raise ValueError("end is before start")
        return self


def _where(spec: HeatmapSpec, p: Params, alias: str = "e") -> str:
    parts = [f"{alias}.one_id IS NOT NULL", f"{alias}.dt IS NOT NULL", f"{alias}.event_hour IS NOT NULL"]
    if spec.start:
        parts.append(f"{alias}.dt >= {p.day(spec.start)}")
    if spec.end:
        parts.append(f"{alias}.dt <= {p.day(spec.end)}")
    if spec.segment:
        parts.append(f"{alias}.one_id IN (SELECT one_id FROM {check_identifier(spec.segment)})")
    return " AND ".join(parts)


def _cells() -> list[tuple[int, int]]:
    return [(d, h) for d in range(1, 8) for h in range(24)]


def activity_heatmap(engine: Engine, spec: HeatmapSpec | None = None) -> pa.Table:
    """The 7 × 24 matrix: ``weekday, hour, events, people, event_share, people_share`` (168 rows, zeros kept)."""
    spec = spec or HeatmapSpec()
    p = Params()
    ignored = f" AND e.event NOT IN {p.text_list(spec.ignore_events)}" if spec.ignore_events else ""
    sql = f"""
WITH act AS (
    SELECT e.one_id, {weekday_sql("e.dt")} AS weekday, CAST(e.event_hour AS INTEGER) AS hour
    FROM events AS e WHERE {_where(spec, p)}{ignored}
)
SELECT weekday, hour, count(*) AS events, count(DISTINCT one_id) AS people FROM act GROUP BY weekday, hour
UNION ALL
SELECT 0, 0, count(*), count(DISTINCT one_id) FROM act
"""
    got = {(r["weekday"], r["hour"]): r for r in engine.query(sql, p.values).to_pylist()}
    total = got.pop((0, 0))
    n_events, n_people = int(total["events"]), int(total["people"])
    cells = _cells()
    events = [int(got.get(c, {}).get("events", 0)) for c in cells]
    people = [int(got.get(c, {}).get("people", 0)) for c in cells]
    return pa.table({
        "weekday": [d for d, _ in cells], "hour": [h for _, h in cells], "events": events, "people": people,
        "event_share": [e / n_events if n_events else None for e in events],
        "people_share": [x / n_people if n_people else None for x in people],
    }, schema=pa.schema([("weekday", pa.int32()), ("hour", pa.int32()), ("events", pa.int64()),
                         ("people", pa.int64()), ("event_share", pa.float64()), ("people_share", pa.float64())]))


def send_time_click_rates(engine: Engine, spec: HeatmapSpec | None = None) -> pa.Table:
    """Per delivery cell: ``weekday, hour, deliveries, clicked, click_rate`` (168 rows; rate null without sends)."""
    spec = spec or HeatmapSpec()
    p = Params()
    send_id = "json_extract_string(e.properties, '$.send_id')"
    sql = f"""
WITH sent AS (
    SELECT e.one_id, {send_id} AS send_id, {weekday_sql("e.dt")} AS weekday, CAST(e.event_hour AS INTEGER) AS hour
    FROM events AS e WHERE e.event = {p.text(DELIVERED)} AND {_where(spec, p)}
), clicks AS (
    SELECT DISTINCT e.one_id, {send_id} AS send_id FROM events AS e
    WHERE e.event = {p.text(CLICKED)} AND e.one_id IS NOT NULL
)
SELECT s.weekday, s.hour, count(*) AS deliveries, count(c.one_id) AS clicked
FROM sent AS s LEFT JOIN clicks AS c ON c.one_id = s.one_id AND c.send_id = s.send_id
WHERE s.send_id IS NOT NULL
GROUP BY s.weekday, s.hour
"""
    got = {(r["weekday"], r["hour"]): r for r in engine.query(sql, p.values).to_pylist()}
    cells = _cells()
    sent = [int(got.get(c, {}).get("deliveries", 0)) for c in cells]
    clicked = [int(got.get(c, {}).get("clicked", 0)) for c in cells]
    return pa.table({
        "weekday": [d for d, _ in cells], "hour": [h for _, h in cells], "deliveries": sent, "clicked": clicked,
        "click_rate": [c / s if s else None for c, s in zip(clicked, sent, strict=True)],
    }, schema=pa.schema([("weekday", pa.int32()), ("hour", pa.int32()), ("deliveries", pa.int64()),
                         ("clicked", pa.int64()), ("click_rate", pa.float64())]))


@dataclass(frozen=True)
class BestTime:
    """The recommended push time (最佳推送时间) and how it was chosen."""

    weekday: int
    hour: int
    basis: Literal["click_rate", "activity_share"]
    rate: float
    #: Deliveries in the cell (click-rate basis) or active people in it (activity basis).
    support: int
    hint_zh: str
    hint_en: str


def _hint(weekday: int, hour: int) -> tuple[str, str]:
    return (f"建议在{WEEKDAYS_ZH[weekday - 1]}{hour:02d}:00推送互动类内容",
            f"Push interactive content on {WEEKDAYS_EN[weekday - 1]} at {hour:02d}:00")


def best_time_hint(engine: Engine, spec: HeatmapSpec | None = None, min_deliveries: int = 30) -> BestTime | None:
    """The weekday and hour with the highest interaction rate, with a Chinese and an English hint.

    Returns None when there is neither a delivery nor any activity in the range.
    """
    if min_deliveries < 1:
        raise SiyuError("min_deliveries must be at least 1", code="bad_heatmap_spec", input_name="min_deliveries")
    spec = spec or HeatmapSpec()
    rates = [r for r in send_time_click_rates(engine, spec).to_pylist() if r["deliveries"] >= min_deliveries]
    pick: dict[str, Any]
    if rates:
        pick = min(rates, key=lambda r: (-r["click_rate"], -r["deliveries"], r["weekday"], r["hour"]))
        basis: Literal["click_rate", "activity_share"] = "click_rate"
        rate, support = float(pick["click_rate"]), int(pick["deliveries"])
    else:
        cells = [r for r in activity_heatmap(engine, spec).to_pylist() if r["people"] > 0]
        if not cells:
            return None
        pick = min(cells, key=lambda r: (-r["people"], -r["events"], r["weekday"], r["hour"]))
        basis, rate, support = "activity_share", float(pick["people_share"]), int(pick["people"])
    zh, en = _hint(int(pick["weekday"]), int(pick["hour"]))
    return BestTime(int(pick["weekday"]), int(pick["hour"]), basis, rate, support, zh, en)
