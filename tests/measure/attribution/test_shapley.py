"""Shapley attribution against brute force over all permutations, sampling error, and the axioms."""

from __future__ import annotations

import itertools
import string

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from siyu.core.errors import SiyuError
from siyu.measure.attribution import Shapley
from tests.measure.attribution.support import random_paths, touches_table


def _brute_force(spec: list[tuple[str, bool, float]]) -> dict[str, tuple[float, float]]:
    """Average marginal contribution over every ordering, v(S) from Python sets."""
    players = sorted({c for path, converted, _ in spec if converted for c in path})

    def v(coalition: frozenset[str]) -> tuple[float, float]:
        won = [(1.0, value) for path, converted, value in spec if converted and set(path) <= coalition]
        return (sum(w[0] for w in won), sum(w[1] for w in won))

    total = {c: [0.0, 0.0] for c in players}
    orderings = list(itertools.permutations(players))
    for ordering in orderings:
        before: frozenset[str] = frozenset()
        v_before = v(before)
        for c in ordering:
            after = before | {c}
            v_after = v(after)
            total[c][0] += v_after[0] - v_before[0]
            total[c][1] += v_after[1] - v_before[1]
            before, v_before = after, v_after
    return {c: (t[0] / len(orderings), t[1] / len(orderings)) for c, t in total.items()}


def _fit(spec: list[tuple[str, bool, float]], **config: object) -> dict[str, tuple[float, float]]:
    result = Shapley(config).fit(touches_table(spec))
    return {c: (float(a), float(b)) for c, a, b in zip(result.channels, result.conversions, result.value, strict=True)}


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("method", ["exact", "simplified"])
def test_exact_equals_brute_force_over_permutations(seed: int, method: str) -> None:
    rng = np.random.default_rng(seed)
    channels = "ABCDEF"[: 3 + seed % 4]
    spec = random_paths(rng, 40, channels, 4)
    want = _brute_force(spec)
    got = _fit(spec, method=method)
    for c in got:
        assert got[c] == pytest.approx(want.get(c, (0.0, 0.0)), abs=1e-9), c


def test_auto_is_exact_up_to_the_limit() -> None:
    spec = random_paths(np.random.default_rng(11), 80, "ABCDE", 4)
    result = Shapley().fit(touches_table(spec))
    assert "conversions_se" not in result.details
    want = _brute_force(spec)
    np.testing.assert_allclose(result.conversions, [want[c][0] for c in result.channels], atol=1e-9)


def test_sampled_is_within_a_few_standard_errors_of_exact() -> None:
    spec = random_paths(np.random.default_rng(5), 300, "ABCDEFGH", 5)
    exact = Shapley(method="exact").fit(touches_table(spec))
    sampled = Shapley(method="sampled", n_permutations=3000, seed=7).fit(touches_table(spec))
    se_c, se_v = sampled.details["conversions_se"], sampled.details["value_se"]
    assert (se_c > 0).all() and (se_v > 0).all()
    assert np.all(np.abs(sampled.conversions - exact.conversions) <= 4 * se_c)
    assert np.all(np.abs(sampled.value - exact.value) <= 4 * se_v)
    # every permutation gives out exactly v(all), so the mean does too
    assert sampled.conversions.sum() == pytest.approx(exact.conversions.sum())


def test_beyond_twelve_channels_auto_samples_and_agrees_with_the_closed_form() -> None:
    letters = string.ascii_uppercase[:15]
    spec = random_paths(np.random.default_rng(8), 600, letters, 4, p_convert=0.5)
    auto = Shapley(n_permutations=1500, seed=3).fit(touches_table(spec))
    closed = Shapley(method="simplified").fit(touches_table(spec))
    se = auto.details["conversions_se"]
    assert np.all(np.abs(auto.conversions - closed.conversions) <= 4 * se + 1e-12)
    # the standard error shrinks like 1/sqrt(M)
    more = Shapley(n_permutations=6000, seed=3).fit(touches_table(spec)).details["conversions_se"]
    ratio = float(np.median(se / more))
    assert ratio == pytest.approx(2.0, rel=0.15)
    # a different seed gives a different estimate, the same seed the same one
    same = Shapley(n_permutations=1500, seed=3).fit(touches_table(spec))
    other = Shapley(n_permutations=1500, seed=4).fit(touches_table(spec))
    np.testing.assert_array_equal(auto.conversions, same.conversions)
    assert not np.array_equal(auto.conversions, other.conversions)


def test_exact_refuses_huge_games() -> None:
    letters = [f"c{i}" for i in range(21)]
    spec = [([c], True, 1.0) for c in letters]
    with pytest.raises(SiyuError, match="2\\^21") as err:
        Shapley(method="exact").fit(touches_table(spec))
    assert err.value.code == "too_many_channels"


def test_channels_only_in_unconverted_journeys_are_null_players() -> None:
    got = _fit([("AB", True, 10.0), ("C", False, 0.0), ("CA", False, 0.0)])
    assert got["C"] == (0.0, 0.0)
    assert got["A"] == pytest.approx((0.5, 5.0)) and got["B"] == pytest.approx((0.5, 5.0))


path_specs = st.lists(st.tuples(st.text(alphabet="ABCDE", min_size=1, max_size=5), st.booleans(),
                                st.integers(0, 500).map(float)), min_size=1, max_size=12)


@settings(max_examples=50, deadline=None)
@given(path_specs, st.sampled_from(["exact", "simplified", "sampled"]))
def test_efficiency(spec: list[tuple[str, bool, float]], method: str) -> None:
    result = Shapley(method=method, n_permutations=50).fit(touches_table(spec))
    assert result.conversions.sum() == pytest.approx(sum(1.0 for _, c, _ in spec if c), abs=1e-9)
    assert result.value.sum() == pytest.approx(sum(v for _, c, v in spec if c), abs=1e-6)


def _mirror(path: str) -> str:
    return path.translate(str.maketrans("XY", "YX"))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.text(alphabet="ABXY", min_size=1, max_size=5), st.booleans(),
                          st.integers(0, 500).map(float)), min_size=1, max_size=8))
def test_symmetry(spec: list[tuple[str, bool, float]]) -> None:
    # with every journey and its X↔Y mirror image, X and Y are interchangeable players: equal credit
    symmetric = spec + [(_mirror(p), c, v) for p, c, v in spec]
    got = _fit(symmetric, method="exact")
    assert got.get("X", (0.0, 0.0)) == pytest.approx(got.get("Y", (0.0, 0.0)), abs=1e-9)

