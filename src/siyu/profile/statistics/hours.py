"""When a person interacts (活跃时段): the time-of-day slot and the single peak hour."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from siyu.profile.statistics.base import (
    BRAND_SIDE_SQL,
    Binder,
    FieldProblem,
    Statistic,
    WindowParams,
    check_label,
    output,
    register_statistic,
)


class Slot(BaseModel):
    """Hours ``start``..``end`` inclusive (0–23); ``start > end`` wraps midnight, e.g. 22..5."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    start: int
    end: int

    @field_validator("name")
    @classmethod
    def _name_ok(cls, v: str) -> str:
        return check_label(v)

    @field_validator("start", "end")
    @classmethod
    def _hour_ok(cls, v: int) -> int:
        if not 0 <= v <= 23:
            raise ValueError("hours are 0-23")
        return v

    def hours(self) -> set[int]:
        if self.start <= self.end:
            return set(range(self.start, self.end + 1))
        return set(range(self.start, 24)) | set(range(0, self.end + 1))


DEFAULT_SLOTS = (
    Slot(name="night", start=0, end=5),
    Slot(name="morning", start=6, end=10),
    Slot(name="noon", start=11, end=13),
    Slot(name="afternoon", start=14, end=17),
    Slot(name="evening", start=18, end=21),
    Slot(name="late_night", start=22, end=23),
)


class HourParams(WindowParams):
    window_days: int = 90
    #: People with fewer interactions than this in the window get no row.
    min_interactions: int = 1

    @field_validator("min_interactions")
    @classmethod
    def _min_ok(cls, v: int) -> int:
        if not 1 <= v <= 1_000_000:
            raise ValueError("min_interactions must be between 1 and 1000000")
        return v


class ActiveHoursParams(HourParams):
    #: Slots in order; a tie between slots goes to the one listed first. Hours may be left uncovered.
    slots: tuple[Slot, ...] = DEFAULT_SLOTS

    @model_validator(mode="after")
    def _slots_ok(self) -> ActiveHoursParams:
        if not self.slots:
            raise FieldProblem("slots", "at least one slot is needed")
        names = [s.name for s in self.slots]
        if len(set(names)) != len(names):
            raise FieldProblem("slots", "slot names must be distinct")
        seen: set[int] = set()
        for s in self.slots:
            overlap = seen & s.hours()
            if overlap:
                raise FieldProblem("slots", f"slot {s.name!r} overlaps another slot at hour {min(overlap)}")
            seen |= s.hours()
        return self


def _interactions(binder: Binder, as_of: date, days: int) -> str:
    """Interactions (every event but the brand-side ones) with a valid hour, in the window."""
    window = binder.window("dt", as_of, days)
    return f"""
    SELECT one_id, event_hour FROM events
    WHERE one_id IS NOT NULL AND event NOT IN ({BRAND_SIDE_SQL})
      AND event_hour BETWEEN 0 AND 23 AND {window}"""


@register_statistic
class ActiveHours(Statistic):
    """The time-of-day slot in which a person interacts most (凌晨/上午/中午/下午/晚上/深夜).

    Why: a message lands best when the person is usually on their phone; ops schedule pushes and
    staff follow-ups by slot.

    Interactions are all events but the brand-side ones (message_delivered, coupon_issued,
    points_changed, member_tier_changed), bucketed by ``event_hour`` (business time zone) into
    ``slots``. value = the slot with most interactions, ties to the slot listed first; score = that
    slot's share of all the person's interactions in the window (hours in no slot count in the total).
    """

    lookup_name = "active_hours"
    name_zh = "活跃时段"
    params_model = ActiveHoursParams
    labels_zh: ClassVar[Mapping[str, str]] = {
        "night": "凌晨", "morning": "上午", "noon": "中午",
        "afternoon": "下午", "evening": "晚上", "late_night": "深夜",
    }

    @classmethod
    def build(cls, params: ActiveHoursParams, binder: Binder, as_of: date) -> str:
        ev = _interactions(binder, as_of, params.window_days)
        min_n = binder.bigint("min_interactions", params.min_interactions)
        members, names = [], []
        for i, s in enumerate(params.slots):
            start, end = binder.bigint(f"slot{i}_start", s.start), binder.bigint(f"slot{i}_end", s.end)
            # Both forms (plain and wrapping midnight) are always in the SQL: its text must not depend on the hours.
            members.append(f"WHEN ({start} <= {end} AND event_hour BETWEEN {start} AND {end}) "
                           f"OR ({start} > {end} AND (event_hour >= {start} OR event_hour <= {end})) THEN {i}")
            names.append(f"WHEN {i} THEN {binder.text(f'slot{i}_name', s.name)}")
        return f"""
WITH ev AS ({ev}
), s AS (
    SELECT one_id, CASE {' '.join(members)} END AS slot FROM ev
), per AS (
    SELECT one_id, slot, count(*) AS n,
        row_number() OVER (PARTITION BY one_id ORDER BY count(*) DESC, slot ASC) AS rn
    FROM s WHERE slot IS NOT NULL GROUP BY one_id, slot
), tot AS (
    SELECT one_id, count(*) AS n FROM ev GROUP BY one_id HAVING count(*) >= {min_n}
)
SELECT {output("per.one_id", f"CASE per.slot {' '.join(names)} END",
               "CAST(per.n AS DOUBLE) / CAST(tot.n AS DOUBLE)")}
FROM per JOIN tot ON tot.one_id = per.one_id
WHERE per.rn = 1
"""


@register_statistic
class PeakHour(Statistic):
    """The single hour of day (``"0"``–``"23"``) in which a person interacts most.

    Why: finer than :class:`ActiveHours` for timing a one-to-one push from the person's staff owner.

    Same interactions as ``active_hours``; value = the hour with most interactions, ties to the
    earliest hour; score = that hour's share of the person's interactions in the window.
    """

    lookup_name = "peak_hour"
    name_zh = "活跃高峰小时"
    params_model = HourParams
    labels_zh: ClassVar[Mapping[str, str]] = {str(h): f"{h}点" for h in range(24)}

    @classmethod
    def build(cls, params: HourParams, binder: Binder, as_of: date) -> str:
        ev = _interactions(binder, as_of, params.window_days)
        min_n = binder.bigint("min_interactions", params.min_interactions)
        return f"""
WITH ev AS ({ev}
), per AS (
    SELECT one_id, event_hour, count(*) AS n,
        row_number() OVER (PARTITION BY one_id ORDER BY count(*) DESC, event_hour ASC) AS rn,
        sum(count(*)) OVER (PARTITION BY one_id) AS total
    FROM ev GROUP BY one_id, event_hour
)
SELECT {output("one_id", "CAST(event_hour AS BIGINT)", "CAST(n AS DOUBLE) / CAST(total AS DOUBLE)")}
FROM per
WHERE rn = 1 AND total >= {min_n}
"""
