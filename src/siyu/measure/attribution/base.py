"""The attribution seam: a model's config, its result (credit per channel) and the model base class.

Attribution (归因) splits the credit for conversions (转化) and their value among touchpoints (触点).
Every model is a class with a ``lookup_name`` and a pydantic config that can be dumped to a plain dict
(YAML-able) and rebuilt from it; :meth:`AttributionModel.fit` takes a touches table (see
:mod:`siyu.measure.attribution.paths`) and returns an :class:`Attribution`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, ValidationError

from siyu.core.errors import SiyuError
from siyu.measure.attribution.paths import FloatArray, Journeys, as_journeys, weighted_count


class BadAttributionConfig(SiyuError):
    """A model's config does not validate; ``input_name`` names the field at fault."""

    code = "bad_attribution_config"


class ModelConfig(BaseModel):
    """Base config: unknown keys are errors (a typo must not silently fall back to a default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True, eq=False)
class Attribution:
    """Credit per channel from one model.

    ``conversions`` and ``value`` are the conversions and value credited to each of ``channels``;
    ``total_conversions`` / ``total_value`` are what the data hold (models that satisfy efficiency
    credit exactly these totals). ``details`` holds extra per-channel arrays a model reports, e.g.
    ``removal_effect`` (Markov) or ``conversions_se`` (sampled Shapley).
    """

    model: str
    channels: tuple[str, ...]
    conversions: FloatArray
    value: FloatArray
    total_conversions: float
    total_value: float
    details: Mapping[str, FloatArray] = field(default_factory=dict)

    def share(self, of: Literal["conversions", "value"] = "conversions") -> FloatArray:
        """Each channel's share of the credit given out (sums to 1 unless nothing was credited)."""
        credit = self.conversions if of == "conversions" else self.value
        total = credit.sum()
        return credit / total if total else np.zeros_like(credit)

    def to_table(self) -> pa.Table:
        """One row per channel: ``channel, conversions, value, conversion_share, value_share`` and details."""
        cols: dict[str, Any] = {
            "channel": pa.array(self.channels, pa.string()),
            "conversions": pa.array(self.conversions, pa.float64()),
            "value": pa.array(self.value, pa.float64()),
            "conversion_share": pa.array(self.share("conversions"), pa.float64()),
            "value_share": pa.array(self.share("value"), pa.float64()),
        }
        for name, arr in self.details.items():
            cols[name] = pa.array(arr, pa.float64())
        return pa.table(cols)

    def credits(self) -> dict[str, float]:
        """``{channel: conversions credited}``, handy in tests and notebooks."""
        return dict(zip(self.channels, self.conversions.tolist(), strict=True))


class AttributionModel(ABC):
    """One attribution model. Subclasses set the class attributes and implement :meth:`_fit`."""

    lookup_name: ClassVar[str]
    name_zh: ClassVar[str]
    config_model: ClassVar[type[ModelConfig]]

    def __init__(self, config: Mapping[str, Any] | ModelConfig | None = None, **overrides: Any) -> None:
        self.config: Any = self.parse_config(config, **overrides)

    @classmethod
    def parse_config(cls, config: Mapping[str, Any] | ModelConfig | None = None, **overrides: Any) -> ModelConfig:
        """Validate a config (None → defaults); a bad one raises :class:`BadAttributionConfig` naming the field."""
        if isinstance(config, cls.config_model) and not overrides:
            return config
        if isinstance(config, ModelConfig):
            if not isinstance(config, cls.config_model):
                raise BadAttributionConfig(f"{cls.lookup_name} expects {cls.config_model.__name__}, "
                                           f"got {type(config).__name__}", input_name="config")
            config = config.model_dump()
        if config is not None and not isinstance(config, Mapping):
            raise BadAttributionConfig(f"{cls.lookup_name} config must be a mapping", input_name="config")
        try:
            return cls.config_model.model_validate({**dict(config or {}), **overrides})
        except ValidationError as exc:
            problems = [(".".join(str(p) for p in err["loc"]) or "config", err["msg"]) for err in exc.errors()]
            msg = "; ".join(f"{name}: {m}" for name, m in problems)
            raise BadAttributionConfig(f"{cls.lookup_name}: {msg}", input_name=problems[0][0]) from None

    def fit(self, touches: pa.Table | Journeys) -> Attribution:
        """Credit per channel for the journeys in ``touches`` (a touches table or prepared :class:`Journeys`)."""
        return self._fit(as_journeys(touches))

    @abstractmethod
    def _fit(self, journeys: Journeys) -> Attribution:
        """The model proper."""

    def to_dict(self) -> dict[str, Any]:
        """``{"model": lookup_name, "config": {...}}`` — plain data, rebuilt by ``model_from_dict``."""
        return {"model": self.lookup_name, "config": self.config.model_dump(mode="json")}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"


def credit_touch_weights(journeys: Journeys, weights: FloatArray, model: str) -> Attribution:
    """Normalise per-touch ``weights`` within each journey and credit conversions and value by them.

    A converted journey's one conversion and its value are split over its touches in proportion to the
    weights (a journey whose weights are all 0 splits evenly), so credit sums to each journey's
    conversion and value. Non-converted journeys credit nothing.
    """
    n_channels = len(journeys.channels)
    jot = journeys.journey_of_touch
    w = np.asarray(weights, dtype=np.float64)
    if len(w) and (not np.isfinite(w).all() or (w < 0).any()):
        raise SiyuError(f"{model}: touch weights must be finite and non-negative", code="bad_touch_weights",
                        input_name="weights")
    totals = weighted_count(jot, w, journeys.n_journeys)
    zero = totals[jot] == 0
    if zero.any():  # all-zero weights (e.g. every weight configured 0): split evenly
        w = np.where(zero, 1.0, w)
        totals = weighted_count(jot, w, journeys.n_journeys)
    share = w / totals[jot] if len(w) else w
    conv = weighted_count(journeys.channel, share * journeys.converted[jot], n_channels)
    value = weighted_count(journeys.channel, share * journeys.value[jot], n_channels)
    return Attribution(model=model, channels=journeys.channels, conversions=conv, value=value,
                       total_conversions=float(journeys.converted.sum()), total_value=float(journeys.value.sum()))
