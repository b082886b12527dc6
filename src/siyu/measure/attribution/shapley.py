"""Shapley-value attribution (Shapley 值归因): each channel's average marginal contribution to conversions.

Zhao, Mahboobi & Bagheri (2018), "Shapley value methods for attribution modeling in online
advertising", arXiv:1804.05327; Dalessandro, Perlich, Stitelman & Provost (2012),
"Causally motivated attribution for online advertising", ADKDD '12.

Players are channels; the characteristic function ``v(S)`` is the conversions (or value) of the journeys
whose *set* of channels is a subset of ``S`` — what the channels in ``S`` would have won on their own.
The Shapley value ``φ_i = Σ_{S ∌ i} |S|! (n-|S|-1)! / n! · (v(S ∪ {i}) - v(S))`` satisfies efficiency:
``Σ φ_i = v(all)`` = total conversions (value).

* ``exact`` (≤ ``exact_max_channels`` players, default 12): ``R(T)`` = conversions of journeys whose
  channel set is exactly ``T`` (bitmask bincount), ``v = Σ_{T ⊆ S} R(T)`` by the subset-sum (zeta)
  transform in ``O(n 2^n)``, then the weighted sum above over all ``2^n`` subsets.
* ``sampled`` (beyond): the mean over ``n_permutations`` seeded uniform permutations of each channel's
  marginal contribution when it joins. With this ``v`` a journey's conversions go, in one permutation,
  to the channel of its set that arrives last, so one permutation costs one pass over the paths. The
  standard error is the sample standard deviation over permutations / √M (``conversions_se``,
  ``value_se`` in the details); each permutation satisfies efficiency exactly, so the mean does too.
* ``simplified``: with this ``v``, ``v = Σ_T R(T) · u_T`` is a sum of unanimity games, so the Shapley
  value has the closed form ``φ_i = Σ_{T ∋ i} R(T) / |T|`` (Zhao et al. 2018, "simplified Shapley
  value"): each conversion split equally over the *distinct* channels of its journey. Exact at any n.

Channels never seen in a converting journey are null players and get 0 (they are dropped before the
exact/sampled choice). Order and repeats within a journey do not matter to this ``v``; see
docs/attribution.md for the characteristic functions not taken (conversion rates, ordered Shapley).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from pydantic import Field

from siyu.core.errors import SiyuError
from siyu.measure.attribution.base import Attribution, AttributionModel, ModelConfig
from siyu.measure.attribution.paths import FloatArray, IntArray, Journeys, PathCounts
from siyu.measure.attribution.registry import register_model

EXACT_LIMIT = 20  # 2^20 subsets: the largest exact game we agree to enumerate


class ShapleyConfig(ModelConfig):
    #: ``auto``: exact up to ``exact_max_channels`` channels, sampled beyond.
    method: Literal["auto", "exact", "sampled", "simplified"] = "auto"
    exact_max_channels: int = Field(default=12, ge=1, le=EXACT_LIMIT)
    n_permutations: int = Field(default=2000, ge=2)
    seed: int = 0


def _players(paths: PathCounts) -> tuple[PathCounts, IntArray]:
    """Paths that won something, re-coded over the channels they use; and those channels' global codes."""
    won = (paths.conversions != 0) | (paths.value != 0)
    keep_touch = won[paths.path_of_touch]
    players, local = np.unique(paths.flat[keep_touch], return_inverse=True)
    offsets = np.zeros(int(won.sum()) + 1, dtype=np.int64)
    np.cumsum(paths.length[won], out=offsets[1:])
    sub = PathCounts(channels=paths.channels, offsets=offsets, flat=local.ravel().astype(np.int64),
                     journeys=paths.journeys[won], conversions=paths.conversions[won], value=paths.value[won],
                     path_of_journey=np.zeros(0, dtype=np.int64))
    return sub, players


def _payoffs(paths: PathCounts) -> FloatArray:
    """Per path, the two payoffs (conversions, value) as a (paths × 2) array."""
    return np.column_stack([paths.conversions, paths.value])


def exact_shapley(paths: PathCounts, n: int) -> FloatArray:
    """Exact Shapley values (n × 2: conversions, value) over ``n`` players by the subset-sum transform."""
    if n > EXACT_LIMIT:
        raise SiyuError(f"exact Shapley over {n} channels needs 2^{n} subsets; use method 'sampled' or "
                        "'simplified'", code="too_many_channels", input_name="method")
    size = 1 << n
    masks = np.bitwise_or.reduceat(np.left_shift(1, paths.flat), paths.offsets[:-1])
    pay = _payoffs(paths)
    v = np.column_stack([np.bincount(masks, weights=pay[:, k], minlength=size) for k in range(2)])
    popcount = np.zeros(size, dtype=np.int64)
    for i in range(n):  # zeta transform: v(S) = Σ_{T ⊆ S} R(T); and popcounts by doubling
        blocks = v.reshape(-1, 2, 1 << i, 2)
        blocks[:, 1] += blocks[:, 0]
        popcount[1 << i:2 << i] = popcount[:1 << i] + 1
    weight = np.array([1.0 / (n * math.comb(n - 1, s)) for s in range(n)])  # |S|!(n-|S|-1)!/n!
    phi = np.zeros((n, 2))
    for i in range(n):
        blocks = v.reshape(-1, 2, 1 << i, 2)
        sizes = popcount.reshape(-1, 2, 1 << i)[:, 0]
        phi[i] = np.einsum("ab,abk->k", weight[sizes], blocks[:, 1] - blocks[:, 0])
    return phi


def sampled_shapley(paths: PathCounts, n: int, n_permutations: int, seed: int) -> tuple[FloatArray, FloatArray]:
    """Monte Carlo Shapley values and their standard errors (each n × 2) from seeded permutations."""
    rng = np.random.default_rng(seed)
    pay = _payoffs(paths)
    total = np.zeros((n, 2))
    total_sq = np.zeros((n, 2))
    batch = max(1, min(n_permutations, 4_000_000 // max(len(paths.flat), 1)))
    done = 0
    while done < n_permutations:
        b = min(batch, n_permutations - done)
        perms = rng.permuted(np.tile(np.arange(n), (b, 1)), axis=1)
        arrival = np.argsort(perms, axis=1)  # arrival[m, c] = when channel c joins in permutation m
        last = np.maximum.reduceat(arrival[:, paths.flat], paths.offsets[:-1], axis=1)  # b × paths
        winner = np.take_along_axis(perms, last, axis=1) + n * np.arange(b)[:, None]
        for k in range(2):
            credit = np.bincount(winner.ravel(), weights=np.tile(pay[:, k], b), minlength=b * n).reshape(b, n)
            total[:, k] += credit.sum(axis=0)
            total_sq[:, k] += (credit**2).sum(axis=0)
        done += b
    mean = total / n_permutations
    var = np.maximum(total_sq / n_permutations - mean**2, 0.0) * n_permutations / (n_permutations - 1)
    return mean, np.sqrt(var / n_permutations)


def simplified_shapley(paths: PathCounts, n: int) -> FloatArray:
    """Closed form ``φ_i = Σ_{T ∋ i} R(T) / |T|`` (Zhao et al. 2018), over distinct channels per path."""
    pot = paths.path_of_touch
    first_in_path = np.ones(len(paths.flat), dtype=bool)
    if len(pot):  # mark each (path, channel) pair once
        order = np.lexsort((paths.flat, pot))
        dup = (pot[order][1:] == pot[order][:-1]) & (paths.flat[order][1:] == paths.flat[order][:-1])
        first_in_path[order[1:][dup]] = False
    distinct = np.bincount(pot[first_in_path], minlength=paths.n_paths)
    share = _payoffs(paths) / np.maximum(distinct, 1)[:, None]
    flat, owner = paths.flat[first_in_path], pot[first_in_path]
    return np.column_stack([np.bincount(flat, weights=share[owner, k], minlength=n) for k in range(2)])


@register_model
class Shapley(AttributionModel):
    """Shapley-value attribution over channel sets (Zhao et al. 2018); see the module doc for the methods."""

    lookup_name = "shapley"
    name_zh = "Shapley 值归因"
    config_model = ShapleyConfig

    def _fit(self, journeys: Journeys) -> Attribution:
        c = self.config
        paths, players = _players(journeys.paths)
        n = len(players)
        method = c.method
        if method == "auto":
            method = "exact" if n <= c.exact_max_channels else "sampled"
        details: dict[str, FloatArray] = {}
        n_channels = len(journeys.channels)
        if n == 0:
            phi = np.zeros((0, 2))
        elif method == "exact":
            phi = exact_shapley(paths, n)
        elif method == "simplified":
            phi = simplified_shapley(paths, n)
        else:
            phi, se = sampled_shapley(paths, n, c.n_permutations, c.seed)
            for k, name in enumerate(("conversions_se", "value_se")):
                details[name] = np.zeros(n_channels)
                details[name][players] = se[:, k]
        full = np.zeros((n_channels, 2))
        full[players] = phi
        return Attribution(model=self.lookup_name, channels=journeys.channels, conversions=full[:, 0],
                           value=full[:, 1], total_conversions=float(journeys.converted.sum()),
                           total_value=float(journeys.value.sum()), details=details)
