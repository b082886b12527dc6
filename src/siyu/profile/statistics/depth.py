"""Interaction depth (互动深度): how often a person shares, talks in groups and comments."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import ClassVar

from pydantic import field_validator, model_validator

from siyu.profile.statistics.base import (
    Binder,
    Statistic,
    WindowParams,
    check_bands,
    check_interaction_events,
    check_label,
    output,
    register_statistic,
)


class InteractionDepthParams(WindowParams):
    window_days: int = 28
    events: tuple[str, ...] = ("content_shared", "group_message_sent", "comment_posted")
    #: Events per week, ascending: ``medium`` from 1/week, ``deep`` from 3/week (``>=``); any > 0 is ``shallow``.
    thresholds: tuple[float, ...] = (1.0, 3.0)
    labels: tuple[str, ...] = ("shallow", "medium", "deep")

    @field_validator("events")
    @classmethod
    def _events_ok(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return check_interaction_events(v)

    @field_validator("thresholds")
    @classmethod
    def _thresholds_positive(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0.0 < t < 1e9 for t in v):
            raise ValueError("thresholds must be positive events-per-week rates")
        return v

    @field_validator("labels")
    @classmethod
    def _labels_ok(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(check_label(x) for x in v)

    @model_validator(mode="after")
    def _bands_ok(self) -> InteractionDepthParams:
        check_bands(self.thresholds, self.labels)
        return self


@register_statistic
class InteractionDepth(Statistic):
    """Active, outward-facing interactions per week: shares, group messages, comments.

    Why: people who share and talk are the seeds of referral (裂变) and community (社群) campaigns;
    reading is shallow, spreading is deep.

    rate = (number of ``events`` in the window) / (window_days / 7); score = rate. Bands: the number
    of ``thresholds`` the rate reaches (``>=``), the lowest band for any rate above 0. People with no
    such event in the window get no row.
    """

    lookup_name = "interaction_depth"
    name_zh = "互动深度"
    params_model = InteractionDepthParams
    labels_zh: ClassVar[Mapping[str, str]] = {"shallow": "浅", "medium": "中", "deep": "深"}

    @classmethod
    def build(cls, params: InteractionDepthParams, binder: Binder, as_of: date) -> str:
        window = binder.window("dt", as_of, params.window_days)
        events = binder.in_list("event", "event", params.events)
        weeks = binder.double("weeks", params.window_days / 7)
        band = binder.bands("rate", params.thresholds, params.labels)
        return f"""
WITH n AS (
    SELECT one_id, count(*) AS n
    FROM events
    WHERE one_id IS NOT NULL AND {events} AND {window}
    GROUP BY one_id
), r AS (
    SELECT one_id, CAST(n AS DOUBLE) / {weeks} AS rate FROM n
)
SELECT {output("one_id", band, "rate")}
FROM r
WHERE rate > 0
"""
