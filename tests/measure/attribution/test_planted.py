"""Planted effects: Markov and Shapley credit rank channels by their true incremental conversions.

Each journey reaches channel c with probability ``reach[c]`` (then 1 + Poisson(0.5) touches) and
converts with probability ``1 - exp(-(0.005 + Σ_touches effect[c]))``. A channel's true incremental
conversions are the expected conversions lost without its touches, from the planted probabilities.
Reach runs opposite to effect, so ranking by touch counts would get the order exactly backwards.

These models are not causal: a channel with no effect still earns credit from the conversions of the
journeys it happens to be on (D below). They rank correctly here because effect gaps are larger than
reach gaps; docs/attribution.md says so.
"""

from __future__ import annotations

import pytest

from siyu.measure.attribution import Markov, Shapley, holdout_validation
from tests.measure.attribution.support import Planted, planted_world

EFFECTS = {"A": 0.25, "B": 0.10, "C": 0.04, "D": 0.0}
REACH = {"A": 0.15, "B": 0.18, "C": 0.21, "D": 0.24}


@pytest.fixture(scope="module")
def world() -> Planted:
    return planted_world(60_000, EFFECTS, REACH, base_hazard=0.005, seed=0)


def _ranked(scores: dict[str, float]) -> list[str]:
    return sorted(scores, key=lambda c: -scores[c])


def test_the_world_is_not_trivial(world: Planted) -> None:
    assert _ranked(world.incremental) == ["A", "B", "C", "D"]
    # separated: each channel's true incremental conversions at least 1.8× the next (D has none)
    inc = [world.incremental[c] for c in "ABC"]
    assert inc[0] > 1.8 * inc[1] and inc[1] > 1.8 * inc[2] and world.incremental["D"] == 0
    assert _ranked({c: float(n) for c, n in world.touches.items()}) == ["D", "C", "B", "A"]


@pytest.mark.parametrize("order", [1, 2, 3])
@pytest.mark.parametrize("loops", ["keep", "collapse"])
def test_markov_ranks_by_incremental_effect(world: Planted, order: int, loops: str) -> None:
    for normalisation in ("share", "raw"):
        credit = Markov(order=order, loops=loops, normalisation=normalisation).fit(world.table).credits()
        assert _ranked(credit) == ["A", "B", "C", "D"], (order, loops, normalisation, credit)


@pytest.mark.parametrize("method", ["exact", "simplified", "sampled"])
def test_shapley_ranks_by_incremental_effect(world: Planted, method: str) -> None:
    credit = Shapley(method=method, n_permutations=500).fit(world.table).credits()
    assert _ranked(credit) == ["A", "B", "C", "D"], credit


def test_credit_predicts_held_out_conversions(world: Planted) -> None:
    table = holdout_validation(world.table, [Markov(), Shapley()], holdout_fraction=0.3, seed=1).to_pydict()
    auc = dict(zip(table["model"], table["auc"], strict=True))
    assert set(auc) == {"markov", "shapley", "linear"}
    # the channels' planted effects make journeys with more A and B touches convert more often
    assert all(a > 0.6 for a in auc.values()), auc
