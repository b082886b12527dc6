"""Markov-chain removal effects: hand-worked examples, and an independent reference on random paths.

The reference below builds the chain from Python tuples and dicts (not siyu's encoding) and finds the
absorption probability by summing the series ``Σ_n e_START Q^n r`` on the dense matrix until the
mass still in transient states is below 1e-13 — a different method from the sparse LU solve.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pyarrow as pa
import pytest

from siyu.measure.attribution import Journeys, Markov, build_chain
from tests.measure.attribution.support import random_paths, touches_table

# ---- hand-worked, order 1 -------------------------------------------------------------------------
# paths: A A B → conv (value 100) · A C → null · B → conv (value 60) · B C → null
# counts (loops keep): START→A 2, START→B 2 · A→A 1, A→B 1, A→C 1 · B→CONV 2, B→C 1 · C→NULL 2
# P:  START: A 1/2, B 1/2 · A: A 1/3, B 1/3, C 1/3 · B: CONV 2/3, C 1/3 · C: NULL 1
# x_C = 0, x_B = 2/3, x_A = 1/3 x_A + 1/3 · 2/3 → x_A = 1/3;  p = 1/2 · 1/3 + 1/2 · 2/3 = 1/2
# remove A: p = 1/2 · 2/3 = 1/3 → RE_A = 1 - (1/3)/(1/2) = 1/3
# remove B: x_B = 0 so x_A = 0 → p = 0 → RE_B = 1 ;  remove C: p unchanged → RE_C = 0
# share: Σ RE = 4/3 → A 1/4, B 3/4 of 2 conversions and 160 of value; raw: RE × 2 and RE × 160
# loops collapse drops A→A: A: B 1/2, C 1/2 → x_A = 1/3 again (a self-loop only rescales at order 1).
ORDER1 = [("AAB", True, 100.0), ("AC", False), ("B", True, 60.0), ("BC", False)]

# ---- hand-worked, order 2, where the loop switch matters -----------------------------------------
# paths: B A A C → conv · C A A → null
# keep: START→(B) 1, START→(C) 1 · (B)→(B,A) 1 · (B,A)→(A,A) 1 · (C)→(C,A) 1 · (C,A)→(A,A) 1 ·
#       (A,A)→(A,C) 1, (A,A)→NULL 1 · (A,C)→CONV 1
# x(A,C) = 1, x(A,A) = 1/2, and so x(B,A) = x(B) = x(C,A) = x(C) = 1/2;  p = 1/2
# remove A: every state but (B), (C) goes → p = 0 → RE_A = 1
# remove B: p = 1/2 · x(C) = 1/4 → RE_B = 1/2 ;  remove C: x(A,A) = 0 → p = 0 → RE_C = 1
# share: Σ RE = 5/2 → A 2/5, B 1/5, C 2/5
# collapse: B A C → conv · C A → null: (B)→(B,A)→(A,C)→CONV, (C)→(C,A)→NULL; p = 1/2 and removing any
# channel breaks the only converting path → RE = 1, 1, 1 → a third each.
ORDER2 = [("BAAC", True), ("CAA", False)]


def _effects(table: pa.Table, **config: object) -> dict[str, float]:
    result = Markov(config).fit(table)
    return dict(zip(result.channels, result.details["removal_effect"].tolist(), strict=True))


@pytest.mark.parametrize("loops", ["keep", "collapse"])
def test_hand_worked_order_1(loops: str) -> None:
    table = touches_table(ORDER1)
    assert _effects(table, loops=loops) == pytest.approx({"A": 1 / 3, "B": 1.0, "C": 0.0})
    share = Markov(loops=loops).fit(table)
    np.testing.assert_allclose(share.conversions, [1 / 2, 3 / 2, 0.0])
    np.testing.assert_allclose(share.value, [40.0, 120.0, 0.0])
    raw = Markov(loops=loops, normalisation="raw").fit(table)
    np.testing.assert_allclose(raw.conversions, [2 / 3, 2.0, 0.0])
    np.testing.assert_allclose(raw.value, [160 / 3, 160.0, 0.0])


def test_hand_worked_order_1_transition_matrix() -> None:
    chain = build_chain(Journeys.from_table(touches_table(ORDER1)).paths, order=1, loops="keep")
    names = chain.state_names()
    assert names == [("(start)",), ("A",), ("B",), ("C",)]
    q, r, n = chain.probabilities()
    want = np.array([[0, 1 / 2, 1 / 2, 0], [0, 1 / 3, 1 / 3, 1 / 3], [0, 0, 0, 1 / 3], [0, 0, 0, 0]])
    np.testing.assert_allclose(q.toarray(), want)
    np.testing.assert_allclose(r, [0, 0, 2 / 3, 0])
    np.testing.assert_allclose(n, [0, 0, 0, 1])
    assert chain.conversion_probability() == pytest.approx(1 / 2)
    assert chain.conversion_probability(removed=0) == pytest.approx(1 / 3)


def test_hand_worked_order_2_loops_differ() -> None:
    table = touches_table(ORDER2)
    assert _effects(table, order=2, loops="keep") == pytest.approx({"A": 1.0, "B": 0.5, "C": 1.0})
    assert Markov(order=2).fit(table).credits() == pytest.approx({"A": 0.4, "B": 0.2, "C": 0.4})
    assert _effects(table, order=2, loops="collapse") == pytest.approx({"A": 1.0, "B": 1.0, "C": 1.0})
    assert Markov(order=2, loops="collapse").fit(table).credits() == pytest.approx({"A": 1 / 3, "B": 1 / 3,
                                                                                    "C": 1 / 3})
    keep = build_chain(Journeys.from_table(table).paths, order=2, loops="keep").state_names()
    assert ("A", "A") in keep and ("A", "A") not in build_chain(
        Journeys.from_table(table).paths, order=2, loops="collapse").state_names()


# ---- the independent reference ---------------------------------------------------------------------
def _reference_effects(spec: list[tuple[str, bool, float]], order: int, loops: str) -> dict[str, float]:
    counts: dict[tuple[str, ...], dict[object, float]] = defaultdict(lambda: defaultdict(float))
    for path, converted, _ in spec:
        seq = list(path)
        if loops == "collapse":
            seq = [c for i, c in enumerate(seq) if i == 0 or seq[i - 1] != c]
        state: tuple[str, ...] = ("START",)
        for i in range(len(seq)):
            nxt = tuple(seq[max(0, i - order + 1):i + 1])
            counts[state][nxt] += 1
            state = nxt
        counts[state]["CONV" if converted else "NULL"] += 1
    states = sorted(counts, key=lambda s: (s != ("START",), s))
    index = {s: i for i, s in enumerate(states)}
    q = np.zeros((len(states), len(states)))
    r = np.zeros(len(states))
    for s, row in counts.items():
        total = sum(row.values())
        for t, c in row.items():
            if t == "CONV":
                r[index[s]] = c / total
            elif t != "NULL":
                q[index[s], index[t]] = c / total  # type: ignore[index]

    def p_conv(removed: str | None) -> float:
        dead = np.array([removed is not None and removed in s for s in states])
        qq, rr = q.copy(), r.copy()
        qq[dead], rr[dead] = 0.0, 0.0
        mass = np.zeros(len(states))
        mass[index[("START",)]] = 1.0
        absorbed = 0.0
        while mass.sum() > 1e-13:
            absorbed += float(mass @ rr)
            mass = mass @ qq
        return absorbed

    p = p_conv(None)
    channels = sorted({c for path, _, _ in spec for c in path})
    return {c: (1 - p_conv(c) / p) if p > 0 else 0.0 for c in channels}


@pytest.mark.parametrize("order", [1, 2, 3])
@pytest.mark.parametrize("loops", ["keep", "collapse"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_removal_effects_match_the_series_reference(order: int, loops: str, seed: int) -> None:
    rng = np.random.default_rng(100 * order + seed)
    spec = random_paths(rng, 60, "ABCD", 5, p_convert=0.35)
    want = _reference_effects(spec, order, loops)
    table = touches_table(spec)
    assert _effects(table, order=order, loops=loops) == pytest.approx(want, abs=1e-9)
    share = Markov(order=order, loops=loops).fit(table)
    raw = Markov(order=order, loops=loops, normalisation="raw").fit(table)
    effects = np.array([want[c] for c in share.channels])
    n_conv = sum(1 for _, c, _ in spec if c)
    value = sum(v for _, c, v in spec if c)
    np.testing.assert_allclose(share.conversions, effects / effects.sum() * n_conv, atol=1e-9)
    np.testing.assert_allclose(share.value, effects / effects.sum() * value, atol=1e-7)
    np.testing.assert_allclose(raw.conversions, effects * n_conv, atol=1e-9)
    np.testing.assert_allclose(raw.value, effects * value, atol=1e-7)
    assert share.conversions.sum() == pytest.approx(n_conv)


def test_order_1_loops_switch_is_invariant_on_random_paths() -> None:
    table = touches_table(random_paths(np.random.default_rng(9), 80, "ABC", 6))
    assert _effects(table, loops="keep") == pytest.approx(_effects(table, loops="collapse"), abs=1e-12)


def test_transition_rows_are_distributions() -> None:
    table = touches_table(random_paths(np.random.default_rng(4), 50, "ABCDE", 6))
    for order in (1, 2, 3):
        chain = Markov(order=order).chain(Journeys.from_table(table))
        q, r, n = chain.probabilities()
        np.testing.assert_allclose(np.asarray(q.sum(axis=1)).ravel() + r + n, 1.0)
        assert all(1 <= len(s) <= order for s in chain.state_names()[1:])


def test_nothing_converts_gives_zero_credit() -> None:
    result = Markov().fit(touches_table([("AB", False), ("B", False)]))
    assert result.conversions.tolist() == [0.0, 0.0] and result.details["removal_effect"].tolist() == [0.0, 0.0]


def test_channel_only_on_null_paths_gets_nothing() -> None:
    got = _effects(touches_table([("AB", True), ("C", False), ("B", False)]))
    assert got["C"] == 0.0 and got["B"] == pytest.approx(1.0) and got["A"] > 0
