"""The reports' composite weighting, checked by hand on one journey."""

from __future__ import annotations

from datetime import datetime, timedelta

import pyarrow as pa
import pytest
import yaml

from siyu.measure.attribution import DEFAULT_TOUCH_TYPE_WEIGHTS, BadAttributionConfig, Composite, model_from_dict

T0 = datetime(2024, 5, 1)


def _journey(*, vip: bool, silent: bool, types: list[str | None], days: list[float], conv_day: float) -> pa.Table:
    n = len(days)
    return pa.table({
        "journey_id": ["j"] * n,
        "channel": list("ABCDEFG"[:n]),
        "touch_time": pa.array([T0 + timedelta(days=d) for d in days], pa.timestamp("us")),
        "touch_type": pa.array(types, pa.string()),
        "converted": [True] * n,
        "conversion_value": [200.0] * n,
        "conversion_time": pa.array([T0 + timedelta(days=conv_day)] * n, pa.timestamp("us")),
        "is_vip": [vip] * n,
        "is_silent": [silent] * n,
    })


def _shares(weights: list[float]) -> list[float]:
    return [w / sum(weights) for w in weights]


def test_hand_worked_vip_and_silent() -> None:
    # touches on days 0, 7, 10, 13 and the conversion on day 14: ages 14, 7, 4, 1 days
    table = _journey(vip=True, silent=True, types=["group_join", "content", "cs_chat", "payment_page"],
                     days=[0, 7, 10, 13], conv_day=14)
    # time decay 2^(-age/7) × position (.4, .2/2, .2/2, .4) × type (.3, .2, .4, .6)
    # × VIP early (positions 0, 1 of 4: ×1.2) × silent recent (age ≤ 7: positions 1, 2, 3: ×1.3)
    w = [2 ** -2 * 0.4 * 0.3 * 1.2,
         2 ** -1 * 0.1 * 0.2 * 1.2 * 1.3,
         2 ** (-4 / 7) * 0.1 * 0.4 * 1.3,
         2 ** (-1 / 7) * 0.4 * 0.6 * 1.3]
    result = Composite().fit(table)
    assert result.conversions.tolist() == pytest.approx(_shares(w))
    assert result.value.tolist() == pytest.approx([200 * s for s in _shares(w)])


def test_plain_member_and_unknown_types() -> None:
    # no VIP / silent corrections; "campaign" is not listed and None has no type: both weigh 0.1
    table = _journey(vip=False, silent=False, types=["campaign", None, "interaction"], days=[0, 1, 2], conv_day=2)
    w = [2 ** (-2 / 7) * 0.4 * 0.1, 2 ** (-1 / 7) * 0.2 * 0.1, 1.0 * 0.4 * 0.1]
    assert Composite().fit(table).conversions.tolist() == pytest.approx(_shares(w))


def test_configured_weights() -> None:
    table = _journey(vip=True, silent=False, types=["group_join", "content"], days=[0, 1], conv_day=1)
    config = {"half_life_days": 1.0, "position": {"first": 1.0, "middle": 0.0, "last": 1.0},
              "touch_type_weights": {"group_join": 2.0, "content": 1.0}, "vip_early_boost": 1.0}
    # ages 1 and 0 → decay 1/2, 1; types 2, 1; VIP early doubles the first touch → 2, 1
    assert Composite(config).fit(table).conversions.tolist() == pytest.approx([2 / 3, 1 / 3])


def test_defaults_are_the_reports() -> None:
    c = Composite().config
    assert c.half_life_days == 7 and c.silent_recent_days == 7
    assert (c.vip_early_boost, c.silent_recent_boost, c.other_type_weight) == (0.2, 0.3, 0.1)
    assert (c.position.first, c.position.middle, c.position.last) == (0.4, 0.2, 0.4)
    assert c.touch_type_weights == DEFAULT_TOUCH_TYPE_WEIGHTS
    assert DEFAULT_TOUCH_TYPE_WEIGHTS["group_join"] == 0.3 and DEFAULT_TOUCH_TYPE_WEIGHTS["cs_chat"] == 0.4


def test_config_round_trips_through_yaml() -> None:
    model = Composite({"touch_type_weights": {"group_join": 0.5, "staff_chat": 0.25}, "silent_recent_days": 3})
    again = model_from_dict(yaml.safe_load(yaml.safe_dump(model.to_dict(), allow_unicode=True)))
    assert isinstance(again, Composite) and again.config == model.config


@pytest.mark.parametrize(("config", "field"), [
    ({"touch_type_weights": {"content": -1}}, "content"),
    ({"position": {"first": -0.1}}, "position.first"),
    ({"vip_boost": 0.1}, "vip_boost"),
])
def test_bad_config_names_the_field(config: dict[str, object], field: str) -> None:
    with pytest.raises(BadAttributionConfig, match=field):
        Composite(config)
