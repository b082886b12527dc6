"""Rule-based attribution (规则归因): first touch, last touch, linear, time decay, U shape and W shape.

Each rule gives every touch of a journey a weight; weights are normalised within the journey and a
converted journey's conversion and value are split by them (:func:`credit_touch_weights`), so credit
sums to each journey's conversion and value. Position weights for short journeys: the roles a journey
has keep their configured weights, renormalised (a 2-touch journey under 40/20/40 is 50/50).

References: Google Analytics' attribution model definitions (first/last interaction, linear, time
decay with a 7-day half-life, position based 40/20/40); W shape as in Salesforce/Bizible's
"first touch / lead creation / opportunity" model, here with the last touch in the third role.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field, model_validator

from siyu.measure.attribution.base import Attribution, AttributionModel, ModelConfig, credit_touch_weights
from siyu.measure.attribution.paths import FloatArray, Journeys
from siyu.measure.attribution.registry import register_model


class NoConfig(ModelConfig):
    """A model without parameters."""


def _sum_to_one(values: list[float], what: str) -> None:
    if abs(sum(values) - 1.0) > 1e-9:
        raise ValueError(f"{what} weights must sum to 1, got {sum(values):g}")


@register_model
class FirstTouch(AttributionModel):
    """All credit to the journey's first touch (首次触点归因)."""

    lookup_name = "first_touch"
    name_zh = "首次触点归因"
    config_model = NoConfig

    def _fit(self, journeys: Journeys) -> Attribution:
        return credit_touch_weights(journeys, (journeys.position == 0).astype(np.float64), self.lookup_name)


@register_model
class LastTouch(AttributionModel):
    """All credit to the last touch before the conversion (末次触点归因)."""

    lookup_name = "last_touch"
    name_zh = "末次触点归因"
    config_model = NoConfig

    def _fit(self, journeys: Journeys) -> Attribution:
        last = journeys.position == journeys.length[journeys.journey_of_touch] - 1
        return credit_touch_weights(journeys, last.astype(np.float64), self.lookup_name)


@register_model
class Linear(AttributionModel):
    """Equal credit to every touch of the journey (线性归因); repeated touches of a channel count each."""

    lookup_name = "linear"
    name_zh = "线性归因"
    config_model = NoConfig

    def _fit(self, journeys: Journeys) -> Attribution:
        return credit_touch_weights(journeys, np.ones(journeys.n_touches), self.lookup_name)


class TimeDecayConfig(ModelConfig):
    #: A touch ``half_life_days`` before the conversion gets half the weight of one at the conversion.
    half_life_days: float = Field(default=7.0, gt=0)


@register_model
class TimeDecay(AttributionModel):
    """Weight ``2^(-age / half_life)``, age = days from the touch to the conversion (时间衰减归因).

    Journeys without a conversion time age their touches from the journey's last touch; a touch after
    the conversion time (which the touches query should have cut) counts as age 0.
    """

    lookup_name = "time_decay"
    name_zh = "时间衰减归因"
    config_model = TimeDecayConfig

    def _fit(self, journeys: Journeys) -> Attribution:
        weights = np.exp2(-journeys.age_days / self.config.half_life_days)
        return credit_touch_weights(journeys, weights, self.lookup_name)


class UShapeConfig(ModelConfig):
    first: float = Field(default=0.4, ge=0)
    middle: float = Field(default=0.2, ge=0)
    last: float = Field(default=0.4, ge=0)

    @model_validator(mode="after")
    def _total(self) -> UShapeConfig:
        _sum_to_one([self.first, self.middle, self.last], "U-shape")
        return self


def u_shape_weights(journeys: Journeys, first: float, middle: float, last: float) -> FloatArray:
    """Position weights: ``first`` / ``last`` to the end touches, ``middle`` split evenly over the rest."""
    pos, n = journeys.position, journeys.length[journeys.journey_of_touch]
    inner = (pos > 0) & (pos < n - 1)
    return (np.where(pos == 0, first, 0.0) + np.where(pos == n - 1, last, 0.0)
            + np.where(inner, middle / np.maximum(n - 2, 1), 0.0))


@register_model
class UShape(AttributionModel):
    """Position based, U shape (U 型归因): 40% first, 40% last, 20% split over the touches between."""

    lookup_name = "u_shape"
    name_zh = "U 型（位置）归因"
    config_model = UShapeConfig

    def _fit(self, journeys: Journeys) -> Attribution:
        c = self.config
        return credit_touch_weights(journeys, u_shape_weights(journeys, c.first, c.middle, c.last), self.lookup_name)


class WShapeConfig(ModelConfig):
    first: float = Field(default=0.3, ge=0)
    key: float = Field(default=0.3, ge=0)
    last: float = Field(default=0.3, ge=0)
    rest: float = Field(default=0.1, ge=0)
    #: The middle key touch (lead creation, 留资/入群) is the first touch of this type between the first
    #: and last touch; None, or no such touch, → the middle touch.
    key_touch_type: str | None = "group_join"

    @model_validator(mode="after")
    def _total(self) -> WShapeConfig:
        _sum_to_one([self.first, self.key, self.last, self.rest], "W-shape")
        return self


def key_touch_position(journeys: Journeys, key_touch_type: str | None) -> np.ndarray:
    """Per journey, the position of the middle key touch (-1 for journeys of fewer than 3 touches).

    The first touch of ``key_touch_type`` strictly between the first and last touch; else the middle
    touch ``(n - 1) // 2`` (the earlier of the two middles for an even count).
    """
    n = journeys.length
    key = np.where(n >= 3, (n - 1) // 2, -1)
    if key_touch_type is not None and key_touch_type in journeys.touch_types:
        code = journeys.touch_types.index(key_touch_type)
        jot, pos = journeys.journey_of_touch, journeys.position
        candidate = (journeys.touch_type == code) & (pos >= 1) & (pos <= n[jot] - 2)
        found_journey, first_index = np.unique(jot[candidate], return_index=True)
        key[found_journey] = pos[candidate][first_index]
    return key


@register_model
class WShape(AttributionModel):
    """W shape (W 型归因): 30% first, 30% middle key touch, 30% last, 10% split over the others."""

    lookup_name = "w_shape"
    name_zh = "W 型归因"
    config_model = WShapeConfig

    def _fit(self, journeys: Journeys) -> Attribution:
        c = self.config
        pos, jot = journeys.position, journeys.journey_of_touch
        n = journeys.length[jot]
        is_key = pos == key_touch_position(journeys, c.key_touch_type)[jot]
        others = (pos > 0) & (pos < n - 1) & ~is_key
        weights = (np.where(pos == 0, c.first, 0.0) + np.where(pos == n - 1, c.last, 0.0)
                   + np.where(is_key, c.key, 0.0) + np.where(others, c.rest / np.maximum(n - 3, 1), 0.0))
        return credit_touch_weights(journeys, weights, self.lookup_name)
