"""The source reports' composite attribution (综合加权归因): time × position × touch type × value correction.

Each touch of a journey gets the weight

    w = time_decay × position × touch_type × value_correction

normalised within the journey, and a converted journey's conversion and value are split by it:

* ``time_decay = 2^(-age / half_life_days)``, age = days from the touch to the conversion (as
  :class:`~siyu.measure.attribution.rules.TimeDecay`; default half-life 7 days).
* ``position`` = the U-shape weights (default first 0.4, last 0.4, 0.2 split over the touches between,
  as :class:`~siyu.measure.attribution.rules.UShape`), used here as a factor, so they need not sum to 1.
* ``touch_type`` = ``touch_type_weights[touch_type]`` (group join 入群 0.3, interaction 互动 0.1,
  purchase page 购买页 0.8, payment page 支付页 0.6, in-group customer service 群内客服 0.4, content
  内容 0.2); types not listed, and touches without a type, get ``other_type_weight`` (default 0.1).
* ``value_correction`` = ``1 + vip_early_boost`` (default +20%) for a VIP's early touches — the first
  half of the journey, positions ``i < n / 2`` (0-based) — times ``1 + silent_recent_boost`` (default
  +30%) for a silent user's (沉默用户) recent touches, within ``silent_recent_days`` (default 7) of the
  conversion.

Every weight is configurable; the config is a plain dict, so it can live in YAML.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field, field_validator

from siyu.measure.attribution.base import Attribution, AttributionModel, ModelConfig, credit_touch_weights
from siyu.measure.attribution.paths import FloatArray, Journeys
from siyu.measure.attribution.registry import register_model
from siyu.measure.attribution.rules import u_shape_weights

#: The reports' touch-type weights (触点类型权重).
DEFAULT_TOUCH_TYPE_WEIGHTS: dict[str, float] = {
    "group_join": 0.3,
    "interaction": 0.1,
    "purchase_page": 0.8,
    "payment_page": 0.6,
    "cs_chat": 0.4,
    "content": 0.2,
}


class PositionFactors(ModelConfig):
    first: float = Field(default=0.4, ge=0)
    middle: float = Field(default=0.2, ge=0)
    last: float = Field(default=0.4, ge=0)


class CompositeConfig(ModelConfig):
    half_life_days: float = Field(default=7.0, gt=0)
    position: PositionFactors = PositionFactors()
    touch_type_weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_TOUCH_TYPE_WEIGHTS))
    other_type_weight: float = Field(default=0.1, ge=0)
    vip_early_boost: float = Field(default=0.2, ge=0)
    silent_recent_boost: float = Field(default=0.3, ge=0)
    silent_recent_days: float = Field(default=7.0, ge=0)

    @field_validator("touch_type_weights")
    @classmethod
    def _non_negative(cls, weights: dict[str, float]) -> dict[str, float]:
        bad = [k for k, v in weights.items() if not 0 <= v < float("inf")]
        if bad:
            raise ValueError(f"the weight of touch type {bad[0]!r} must be finite and non-negative")
        return weights


def composite_weights(journeys: Journeys, config: CompositeConfig) -> FloatArray:
    """The un-normalised composite weight of every touch (see the module doc)."""
    jot, pos = journeys.journey_of_touch, journeys.position
    n = journeys.length[jot]
    decay = np.exp2(-journeys.age_days / config.half_life_days)
    p = config.position
    position = u_shape_weights(journeys, p.first, p.middle, p.last)
    by_code = np.array([config.touch_type_weights.get(t, config.other_type_weight) for t in journeys.touch_types]
                       + [config.other_type_weight])  # the last entry serves code -1 (no type)
    touch_type = by_code[journeys.touch_type]
    early = 2 * pos < n
    recent = journeys.age_days <= config.silent_recent_days
    correction = ((1.0 + config.vip_early_boost * (journeys.is_vip[jot] & early))
                  * (1.0 + config.silent_recent_boost * (journeys.is_silent[jot] & recent)))
    return decay * position * touch_type * correction


@register_model
class Composite(AttributionModel):
    """The reports' composite weighting: time decay × position × touch type × VIP/silent correction."""

    lookup_name = "composite"
    name_zh = "综合加权归因"
    config_model = CompositeConfig

    def _fit(self, journeys: Journeys) -> Attribution:
        return credit_touch_weights(journeys, composite_weights(journeys, self.config), self.lookup_name)
