"""Rule-based models: hand-worked credit, and credit that sums to each journey's conversion and value."""

from __future__ import annotations

from fractions import Fraction as F

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from siyu.measure.attribution import (
    AttributionModel,
    BadAttributionConfig,
    Composite,
    FirstTouch,
    LastTouch,
    Linear,
    TimeDecay,
    UShape,
    WShape,
)
from tests.measure.attribution.support import touches_table

# j0: A(day 0) B(day 1) C(day 2), converts on day 3 for 90; j1: B(0) A(1), converts on day 2 for 30;
# j2: C, no conversion.
HAND = [("ABC", True, 90.0), ("BA", True, 30.0), ("C", False)]


def _credit(model: AttributionModel, table: pa.Table) -> dict[str, tuple[float, float]]:
    result = model.fit(table)
    return {c: (float(a), float(v)) for c, a, v in zip(result.channels, result.conversions, result.value, strict=True)}


def _close(got: dict[str, tuple[float, float]], want: dict[str, tuple[F, F]]) -> None:
    assert set(got) == set(want)
    for c, (conv, value) in want.items():
        assert got[c] == pytest.approx((float(conv), float(value)), abs=1e-12), c


def test_first_and_last_touch() -> None:
    table = touches_table(HAND)
    _close(_credit(FirstTouch(), table), {"A": (F(1), F(90)), "B": (F(1), F(30)), "C": (F(0), F(0))})
    _close(_credit(LastTouch(), table), {"A": (F(1), F(30)), "B": (F(0), F(0)), "C": (F(1), F(90))})


def test_linear() -> None:
    # j0 splits 1/3 each (30 of value each); j1 splits 1/2 each (15 each)
    _close(_credit(Linear(), touches_table(HAND)),
           {"A": (F(1, 3) + F(1, 2), F(45)), "B": (F(1, 3) + F(1, 2), F(45)), "C": (F(1, 3), F(30))})


def test_time_decay_half_life_one_day() -> None:
    # j0 ages 3, 2, 1 days → 1/8, 1/4, 1/2 (sum 7/8) → A 1/7, B 2/7, C 4/7
    # j1 ages 2 (B), 1 (A) → 1/4, 1/2 → B 1/3, A 2/3
    want = {"A": F(1, 7) + F(2, 3), "B": F(2, 7) + F(1, 3), "C": F(4, 7)}
    vals = {"A": 90 * F(1, 7) + 30 * F(2, 3), "B": 90 * F(2, 7) + 30 * F(1, 3), "C": 90 * F(4, 7)}
    _close(_credit(TimeDecay(half_life_days=1), touches_table(HAND)), {c: (want[c], vals[c]) for c in want})


def test_time_decay_default_half_life_is_seven_days() -> None:
    # touches on days 0 and 7, conversion on day 14: ages 14 and 7 days → 1/4, 1/2 → 1/3, 2/3
    table = touches_table([("AB", True)], gap_days=7.0)
    got = TimeDecay().fit(table).credits()
    assert got == pytest.approx({"A": 1 / 3, "B": 2 / 3})
    assert TimeDecay().config.half_life_days == 7.0


def test_u_shape() -> None:
    # j0 (3 touches): .4 / .2 / .4; j1 (2 touches): the end roles only, .4/.4 renormalised → .5 / .5
    _close(_credit(UShape(), touches_table(HAND)),
           {"A": (F(4, 10) + F(1, 2), 90 * F(4, 10) + 15), "B": (F(2, 10) + F(1, 2), 90 * F(2, 10) + 15),
            "C": (F(4, 10), 90 * F(4, 10))})
    # five touches: the middle 20% split over three
    five = UShape().fit(touches_table([("ABCDE", True)])).credits()
    assert five == pytest.approx({"A": 0.4, "B": 0.2 / 3, "C": 0.2 / 3, "D": 0.2 / 3, "E": 0.4})
    single = UShape().fit(touches_table([("A", True)])).credits()
    assert single == pytest.approx({"A": 1.0})


def test_w_shape_key_touch_rules() -> None:
    # key touch = the first group_join strictly between first and last: D here
    types = [[None, None, "content", "group_join", None]]
    got = WShape().fit(touches_table([("ABCDE", True)], touch_types=types)).credits()
    assert got == pytest.approx({"A": 0.3, "B": 0.05, "C": 0.05, "D": 0.3, "E": 0.3})
    # a group_join only at the first touch does not count: the middle touch (index (5-1)//2 = 2, C) is key
    types = [["group_join", None, None, None, None]]
    got = WShape().fit(touches_table([("ABCDE", True)], touch_types=types)).credits()
    assert got == pytest.approx({"A": 0.3, "B": 0.05, "C": 0.3, "D": 0.05, "E": 0.3})
    # four touches, no touch_type column: the earlier middle (index 1) is key
    got = WShape().fit(touches_table([("ABCD", True)])).credits()
    assert got == pytest.approx({"A": 0.3, "B": 0.3, "C": 0.1, "D": 0.3})
    # three touches: first, key, last → a third each; a configurable key type
    got = WShape(key_touch_type="qr_code").fit(
        touches_table([("ABC", True)], touch_types=[["qr_code", "qr_code", None]])).credits()
    assert got == pytest.approx({"A": 1 / 3, "B": 1 / 3, "C": 1 / 3})


def test_repeated_channel_collects_each_touch() -> None:
    got = Linear().fit(touches_table([("AAB", True, 30.0)])).to_table().to_pydict()
    assert got["conversions"] == pytest.approx([2 / 3, 1 / 3]) and got["value"] == pytest.approx([20.0, 10.0])
    assert got["conversion_share"] == pytest.approx([2 / 3, 1 / 3])


@pytest.mark.parametrize(("model", "config", "field"), [
    (UShape, {"first": 0.5}, "U-shape weights must sum to 1"),
    (WShape, {"rest": 0.2}, "W-shape weights must sum to 1"),
    (UShape, {"middle": -0.1, "first": 0.5, "last": 0.6}, "middle"),
    (TimeDecay, {"half_life_days": 0}, "half_life_days"),
    (TimeDecay, {"half_life": 3}, "half_life"),
])
def test_bad_config_names_the_field(model: type, config: dict[str, float], field: str) -> None:
    with pytest.raises(BadAttributionConfig, match=field) as err:
        model(config)
    assert err.value.code == "bad_attribution_config"


journeys = st.lists(
    st.tuples(st.text(alphabet="ABCD", min_size=1, max_size=6), st.booleans(),
              st.floats(min_value=0, max_value=1000, allow_nan=False)),
    min_size=1, max_size=8)


@settings(max_examples=40, deadline=None)
@given(journeys, st.integers(0, 5))
def test_credit_sums_to_each_journeys_conversion_and_value(spec: list[tuple[str, bool, float]], pick: int) -> None:
    model = [FirstTouch(), LastTouch(), Linear(), TimeDecay(half_life_days=0.5), UShape(), Composite()][pick]
    whole = model.fit(touches_table(spec))
    total_conv = np.zeros(len(whole.channels))
    total_value = np.zeros(len(whole.channels))
    for path, converted, value in spec:
        one = model.fit(touches_table([(path, converted, value)]))
        assert one.conversions.sum() == pytest.approx(float(converted))
        assert one.value.sum() == pytest.approx(value if converted else 0.0, rel=1e-9, abs=1e-9)
        idx = [whole.channels.index(c) for c in one.channels]
        total_conv[idx] += one.conversions
        total_value[idx] += one.value
    np.testing.assert_allclose(whole.conversions, total_conv, atol=1e-9)
    np.testing.assert_allclose(whole.value, total_value, atol=1e-6)
