"""Attribution (归因): credit for conversions (转化) and their value across touchpoints (触点).

Take a *touches* table (one row per touch; see :mod:`siyu.measure.attribution.paths` for the columns),
pick a model by name and fit it::

    model = build_model("markov", {"order": 2, "loops": "collapse"})
    model.fit(touches).to_table()       # channel, conversions, value, conversion_share, value_share, …
    compare_models(touches)             # every model side by side
    holdout_validation(touches)         # predictive accuracy on held-out journeys, against linear

Models (``lookup_name``): ``first_touch``, ``last_touch``, ``linear``, ``time_decay``, ``u_shape``,
``w_shape``, ``markov``, ``shapley``, ``composite``. Each config dumps to a plain dict and rebuilds
with :func:`model_from_dict`. The user page is docs/attribution.md.
"""

from __future__ import annotations

from siyu.measure.attribution.base import (
    Attribution,
    AttributionModel,
    BadAttributionConfig,
    ModelConfig,
    credit_touch_weights,
)
from siyu.measure.attribution.compare import (
    DEFAULT_MODELS,
    compare_models,
    holdout_validation,
    journey_scores,
    log_loss,
    per_touch_credit,
    roc_auc,
    split_journeys,
)
from siyu.measure.attribution.composite import DEFAULT_TOUCH_TYPE_WEIGHTS, Composite, CompositeConfig
from siyu.measure.attribution.markov import Markov, MarkovChain, MarkovConfig, build_chain
from siyu.measure.attribution.paths import (
    OPTIONAL_COLUMNS,
    REQUIRED_COLUMNS,
    BadTouches,
    Journeys,
    PathCounts,
)
from siyu.measure.attribution.registry import MODELS, build_model, get_model, model_from_dict, register_model
from siyu.measure.attribution.rules import (
    FirstTouch,
    LastTouch,
    Linear,
    TimeDecay,
    TimeDecayConfig,
    UShape,
    UShapeConfig,
    WShape,
    WShapeConfig,
)
from siyu.measure.attribution.shapley import Shapley, ShapleyConfig

__all__ = [
    "DEFAULT_MODELS",
    "DEFAULT_TOUCH_TYPE_WEIGHTS",
    "MODELS",
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "Attribution",
    "AttributionModel",
    "BadAttributionConfig",
    "BadTouches",
    "Composite",
    "CompositeConfig",
    "FirstTouch",
    "Journeys",
    "LastTouch",
    "Linear",
    "Markov",
    "MarkovChain",
    "MarkovConfig",
    "ModelConfig",
    "PathCounts",
    "Shapley",
    "ShapleyConfig",
    "TimeDecay",
    "TimeDecayConfig",
    "UShape",
    "UShapeConfig",
    "WShape",
    "WShapeConfig",
    "build_chain",
    "build_model",
    "compare_models",
    "credit_touch_weights",
    "get_model",
    "holdout_validation",
    "journey_scores",
    "log_loss",
    "model_from_dict",
    "per_touch_credit",
    "register_model",
    "roc_auc",
    "split_journeys",
]
