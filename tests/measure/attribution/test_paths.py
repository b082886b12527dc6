"""The touches table at the door: validation, ordering, and identical paths aggregated."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pytest

from siyu.core.errors import SiyuError
from siyu.measure.attribution import REQUIRED_COLUMNS, BadTouches, Journeys, Linear
from tests.measure.attribution.support import random_paths, touches_table


def test_missing_column_is_named() -> None:
    table = touches_table([("AB", True)])
    for column in REQUIRED_COLUMNS:
        with pytest.raises(SiyuError, match=column) as err:
            Journeys.from_table(table.drop_columns([column]))
        assert err.value.code == "missing_column"
        assert err.value.input_name == column


def test_not_a_table() -> None:
    with pytest.raises(BadTouches, match="pyarrow Table"):
        Journeys.from_table([{"journey_id": "j"}])


def test_wrong_types_and_nulls_are_named() -> None:
    table = touches_table([("AB", True)])
    as_text = table.set_column(2, "touch_time", pa.array(["2024-01-01", "2024-01-02"]))
    with pytest.raises(BadTouches, match="touch_time") as err:
        Journeys.from_table(as_text)
    assert err.value.code == "bad_column_type"
    null_channel = table.set_column(1, "channel", pa.array(["A", None], pa.string()))
    with pytest.raises(BadTouches, match="channel") as err:
        Journeys.from_table(null_channel)
    assert err.value.code == "null_values"
    null_converted = table.set_column(3, "converted", pa.array([True, None], pa.bool_()))
    with pytest.raises(BadTouches, match="converted"):
        Journeys.from_table(null_converted)


def test_per_journey_columns_must_agree_across_touches() -> None:
    table = touches_table([("AB", True, 10.0)])
    mixed = table.set_column(4, "conversion_value", pa.array([10.0, 11.0]))
    with pytest.raises(BadTouches, match="conversion_value") as err:
        Journeys.from_table(mixed)
    assert err.value.code == "inconsistent_journey"


def test_touches_sorted_by_time_then_channel_name() -> None:
    t = datetime(2024, 1, 1)
    later = datetime(2024, 1, 2)
    table = pa.table({
        "journey_id": ["x", "x", "x", "y"],
        "channel": ["C", "B", "A", "A"],
        "touch_time": pa.array([later, t, t, t], pa.timestamp("ms")),
        "converted": [True, True, True, False],
        "conversion_value": [5.0, 5.0, 5.0, None],
        "conversion_time": pa.array([None, None, None, None], pa.null()),
    })
    j = Journeys.from_table(table)
    assert j.channels == ("A", "B", "C")
    paths = {j.journey_ids[i].as_py(): [j.channels[c] for c in j.channel[j.offsets[i]:j.offsets[i + 1]]]
             for i in range(j.n_journeys)}
    assert paths == {"x": ["A", "B", "C"], "y": ["A"]}
    x = j.journey_ids.to_pylist().index("x")
    assert j.value[x] == 5.0 and j.converted[x]
    # no conversion time: the reference is the last touch, so ages are 1, 1, 0 days
    np.testing.assert_allclose(j.age_days[j.offsets[x]:j.offsets[x + 1]], [1.0, 1.0, 0.0])


def test_time_zones_and_units_are_read_as_instants() -> None:
    utc = pa.timestamp("us", tz="UTC")
    shanghai = pa.timestamp("s", tz="Asia/Shanghai")
    t = datetime(2024, 1, 1, tzinfo=UTC)
    table = pa.table({
        "journey_id": ["x"], "channel": ["A"], "touch_time": pa.array([t], utc), "converted": [True],
        "conversion_value": [1.0],
        "conversion_time": pa.array([datetime(2024, 1, 3, tzinfo=UTC)], utc).cast(shanghai),
    })
    np.testing.assert_allclose(Journeys.from_table(table).age_days, [2.0])


def test_value_of_unconverted_journeys_is_ignored() -> None:
    table = touches_table([("A", False)]).set_column(4, "conversion_value", pa.array([7.0]))
    assert Journeys.from_table(table).value.tolist() == [0.0]


def test_paths_aggregate_like_a_counter() -> None:
    rng = np.random.default_rng(3)
    spec = random_paths(rng, 400, "ABCD", 4)
    table = touches_table(spec)
    paths = Journeys.from_table(table).paths
    expected: Counter[str] = Counter(p for p, _, _ in spec)
    conv: Counter[str] = Counter(p for p, c, _ in spec if c)
    value: dict[str, float] = defaultdict(float)
    for p, _, v in spec:
        value[p] += v
    got = {"".join(paths.path(i)): (paths.journeys[i], paths.conversions[i], paths.value[i])
           for i in range(paths.n_paths)}
    assert got == {p: (expected[p], conv[p], value[p]) for p in expected}
    # every journey maps to its own path
    j = Journeys.from_table(table)
    for i in range(j.n_journeys):
        jid = int(j.journey_ids[i].as_py()[1:])
        assert "".join(paths.path(int(paths.path_of_journey[i]))) == spec[jid][0]


def test_shuffled_rows_give_the_same_journeys() -> None:
    table = touches_table(random_paths(np.random.default_rng(5), 60, "ABC", 5))
    shuffled = table.take(pa.array(np.random.default_rng(1).permutation(table.num_rows)))
    a, b = Linear().fit(table), Linear().fit(shuffled)
    np.testing.assert_allclose(a.conversions, b.conversions)
    np.testing.assert_allclose(a.value, b.value)


def test_subset_keeps_codes() -> None:
    j = Journeys.from_table(touches_table([("AB", True), ("C", False), ("BA", True)]))
    keep = np.array([True, False, True])
    sub = j.subset(keep)
    assert sub.channels == j.channels and sub.n_journeys == 2 and sub.n_touches == 4
    assert sub.journey_ids.to_pylist() == [j.journey_ids[0].as_py(), j.journey_ids[2].as_py()]
    assert [sub.channels[c] for c in sub.channel] == ["A", "B", "B", "A"]


def test_empty_table_gives_empty_credit() -> None:
    table = touches_table([("A", True)]).slice(0, 0)
    result = Linear().fit(table)
    assert result.channels == () and result.total_conversions == 0
    assert Journeys.from_table(table).paths.n_paths == 0


@pytest.mark.parametrize(("ids", "channels", "hours", "want"), [
    (["x", "x", "y"], ["B", "A", "A"], [0, 0, 0], {"x": "AB", "y": "A"}),      # a tie out of name order
    (["x", "y", "x"], ["A", "A", "B"], [0, 0, 1], {"x": "AB", "y": "A"}),      # a journey split in two
    (["x", "x", "y"], ["A", "B", "A"], [0, 0, 0], {"x": "AB", "y": "A"}),      # already in order
])
def test_order_with_and_without_sorting(ids: list[str], channels: list[str], hours: list[int],
                                        want: dict[str, str]) -> None:
    table = pa.table({
        "journey_id": ids, "channel": channels,
        "touch_time": pa.array([datetime(2024, 1, 1, h) for h in hours], pa.timestamp("us")),
        "converted": [False] * 3, "conversion_value": [0.0] * 3,
        "conversion_time": pa.array([None] * 3, pa.timestamp("us")),
    })
    j = Journeys.from_table(table)
    got = {j.journey_ids[i].as_py(): "".join(j.channels[c] for c in j.channel[j.offsets[i]:j.offsets[i + 1]])
           for i in range(j.n_journeys)}
    assert got == want
