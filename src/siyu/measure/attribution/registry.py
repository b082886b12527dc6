"""Attribution models registered by ``lookup_name``, built from a name and a plain-dict config.

>>> model = build_model("time_decay", {"half_life_days": 3})
>>> model_from_dict(model.to_dict()).config.half_life_days
3.0
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from siyu.core.errors import SiyuError
from siyu.measure.attribution.base import AttributionModel, BadAttributionConfig

#: lookup_name → model class; filled by :func:`register_model` as the model modules are imported.
MODELS: dict[str, type[AttributionModel]] = {}

M = TypeVar("M", bound=type[AttributionModel])


def register_model(cls: M) -> M:
    """Class decorator: add a model to :data:`MODELS` under its ``lookup_name``."""
    name = cls.lookup_name
    if name in MODELS and MODELS[name] is not cls:
        raise ValueError(f"attribution model {name!r} is already registered")
    MODELS[name] = cls
    return cls


def get_model(name: str) -> type[AttributionModel]:
    """The model class registered as ``name``, e.g. ``get_model("markov")``."""
    try:
        return MODELS[name]
    except KeyError:
        raise SiyuError(f"unknown attribution model {name!r}; known: {', '.join(sorted(MODELS))}",
                        code="unknown_attribution_model", input_name="model") from None


def build_model(name: str, config: Mapping[str, Any] | None = None) -> AttributionModel:
    """An instance of model ``name`` with ``config`` (unknown keys are errors)."""
    return get_model(name)(config)


def model_from_dict(data: Mapping[str, Any]) -> AttributionModel:
    """Rebuild a model from :meth:`AttributionModel.to_dict` output: ``{"model": name, "config": {...}}``."""
    if not isinstance(data, Mapping) or "model" not in data:
        raise BadAttributionConfig("a saved model needs a 'model' key naming the attribution model",
                                   input_name="model")
    extra = sorted(set(data) - {"model", "config"})
    if extra:
        raise BadAttributionConfig(f"unknown key {extra[0]!r} in a saved model (expected 'model', 'config')",
                                   input_name=extra[0])
    return build_model(str(data["model"]), data.get("config"))
