"""Models registered by name, saved to plain dicts and rebuilt."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

import siyu.measure.attribution as attribution
from siyu.core.errors import SiyuError
from siyu.measure.attribution import (
    MODELS,
    AttributionModel,
    BadAttributionConfig,
    Markov,
    build_model,
    get_model,
    model_from_dict,
    register_model,
)
from tests.measure.attribution.support import random_paths, touches_table

NAMES = {"first_touch", "last_touch", "linear", "time_decay", "u_shape", "w_shape", "markov", "shapley", "composite"}


def test_every_model_is_registered() -> None:
    assert set(MODELS) == NAMES
    for name in NAMES:
        assert get_model(name).lookup_name == name
        assert get_model(name).name_zh


@pytest.mark.parametrize("name", sorted(NAMES))
def test_round_trip_gives_the_same_credit(name: str) -> None:
    model = build_model(name)
    saved = yaml.safe_dump(model.to_dict())
    again = model_from_dict(yaml.safe_load(saved))
    assert type(again) is type(model) and again.config == model.config
    table = touches_table(random_paths(np.random.default_rng(2), 40, "ABC", 4))
    np.testing.assert_allclose(model.fit(table).conversions, again.fit(table).conversions)


def test_round_trip_keeps_non_default_config() -> None:
    model = Markov(order=3, loops="collapse", normalisation="raw")
    assert model.to_dict() == {"model": "markov", "config": {"order": 3, "loops": "collapse", "normalisation": "raw"}}
    assert model_from_dict(model.to_dict()).config == model.config


def test_unknown_model_and_bad_saved_dicts() -> None:
    with pytest.raises(SiyuError, match="unknown attribution model 'magic'") as err:
        build_model("magic")
    assert err.value.code == "unknown_attribution_model"
    with pytest.raises(BadAttributionConfig, match="'model' key"):
        model_from_dict({"config": {}})
    with pytest.raises(BadAttributionConfig, match="'params'"):
        model_from_dict({"model": "linear", "params": {}})
    with pytest.raises(BadAttributionConfig, match="order") as bad:
        build_model("markov", {"order": 4})
    assert bad.value.input_name == "order"
    with pytest.raises(BadAttributionConfig, match="loops"):
        Markov(loops="merge")


def test_a_name_cannot_be_taken_twice() -> None:
    class Impostor(AttributionModel):
        lookup_name = "linear"
        name_zh = "冒名"
        config_model = attribution.ModelConfig

        def _fit(self, journeys: attribution.Journeys) -> attribution.Attribution:
            raise NotImplementedError

    with pytest.raises(ValueError, match="already registered"):
        register_model(Impostor)


def test_public_names() -> None:
    assert sorted(attribution.__all__) == sorted(set(attribution.__all__))
    for name in attribution.__all__:
        assert hasattr(attribution, name), name
