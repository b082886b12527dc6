"""Markov-chain attribution (马尔可夫链归因) with removal effects (移除效应) solved exactly.

Anderl, Becker, von Wangenheim & Schumann (2016), "Mapping the customer journey: Lessons learned from
graph-based online attribution modeling", International Journal of Research in Marketing 33(3).

Journeys become walks on a chain: ``START → s_1 → … → s_n → CONVERSION | NULL``. With order ``k`` a
state is the tuple of the last ``k`` channels (shorter at the start of a journey: after the first touch
``A`` the state is ``(A,)``). Transition probabilities are observed counts over all journeys divided by
each state's outgoing count. ``p`` = the probability of absorbing in CONVERSION from START, found by
solving ``(I - Q) x = r`` (``Q`` transient-to-transient, ``r`` transient-to-CONVERSION) with a sparse LU.

The removal effect of channel ``c`` is ``RE_c = 1 - p_{-c} / p``, where ``p_{-c}`` is the same
probability after every state that contains ``c`` is sent to NULL (Anderl et al. 2016, sec. 3.2).

Two switches, because published implementations differ:

* ``loops``: ``"keep"`` — consecutive repeats of a channel stay as self-transitions (``(A,) → (A,)``
  at order 1, state ``(A, A)`` at order 2); ``"collapse"`` — ``A A B`` is read as ``A B``. At order 1
  the two give the same removal effects (a self-loop only rescales a state's other exits); from order 2
  on they differ.
* ``normalisation``: ``"share"`` — ``credit_c = RE_c / Σ RE × total conversions`` (the common choice,
  credits sum to the total); ``"raw"`` — ``credit_c = RE_c × total conversions`` (each channel's own
  counterfactual loss; credits do not sum to the total).

Conversion value is credited with the same factors: ``RE_c / Σ RE × total value`` (share) or
``RE_c × total value`` (raw); the chain itself is built from conversion counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from pydantic import Field

from siyu.core.errors import SiyuError
from siyu.measure.attribution.base import Attribution, AttributionModel, ModelConfig
from siyu.measure.attribution.paths import FloatArray, IntArray, Journeys, PathCounts, weighted_count
from siyu.measure.attribution.registry import register_model

START = ("(start)",)


class MarkovConfig(ModelConfig):
    #: States are the last ``order`` channels (1 to 3).
    order: int = Field(default=1, ge=1, le=3)
    loops: Literal["keep", "collapse"] = "keep"
    normalisation: Literal["share", "raw"] = "share"


@dataclass(frozen=True, eq=False)
class MarkovChain:
    """The observed absorbing chain. State 0 is START; row ``i ≥ 1`` of ``state_channels`` holds state
    ``i``'s channel codes, oldest first, padded with -1 (START's row is all -1).

    ``counts`` are transient-to-transient transition counts (sparse, states × states); ``conversions``
    and ``nulls`` the counts of each state's exits to CONVERSION and NULL.
    """

    channels: tuple[str, ...]
    order: int
    state_channels: IntArray
    counts: sp.csr_matrix
    conversions: FloatArray
    nulls: FloatArray

    @property
    def n_states(self) -> int:
        return len(self.state_channels)

    def state_names(self) -> list[tuple[str, ...]]:
        """States as channel-name tuples; START is ``("(start)",)``."""
        return [START] + [tuple(self.channels[c] for c in row if c >= 0) for row in self.state_channels[1:].tolist()]

    def probabilities(self) -> tuple[sp.csr_matrix, FloatArray, FloatArray]:
        """``Q`` (transient → transient), ``r`` (→ CONVERSION) and ``n`` (→ NULL); each row of ``[Q r n]`` sums to 1."""
        out = np.asarray(self.counts.sum(axis=1)).ravel() + self.conversions + self.nulls
        inv = np.divide(1.0, out, out=np.zeros_like(out), where=out > 0)
        q = sp.diags(inv) @ self.counts
        return sp.csr_matrix(q), self.conversions * inv, self.nulls * inv

    def conversion_probability(self, removed: int | None = None) -> float:
        """P(reach CONVERSION from START); with ``removed`` (a channel code), states holding it go to NULL."""
        q, r, _ = self.probabilities()
        return _absorption(q, r, self._keep(removed))

    def removal_effects(self) -> FloatArray:
        """``RE_c = 1 - p_{-c} / p`` for every channel (0 for all when nothing converts)."""
        q, r, _ = self.probabilities()
        effects = np.zeros(len(self.channels))
        p = _absorption(q, r, self._keep(None))
        if p <= 0:
            return effects
        for c in np.unique(self.state_channels[self.state_channels >= 0]).tolist():
            effects[c] = 1.0 - _absorption(q, r, self._keep(c)) / p
        return np.clip(effects, 0.0, 1.0)  # solver round-off only: p_{-c} ≤ p holds exactly

    def _keep(self, removed: int | None) -> np.ndarray:
        if removed is None:
            return np.ones(self.n_states, dtype=bool)
        return ~(self.state_channels == removed).any(axis=1)


def _absorption(q: sp.csr_matrix, r: FloatArray, keep: np.ndarray) -> float:
    """Solve ``(I - Q_KK) x = r_K`` over the kept states K (the rest absorb in NULL); ``x[START]``."""
    if not r[keep].any():
        return 0.0
    idx = np.flatnonzero(keep)
    system = (sp.identity(len(idx), format="csr") - q[idx][:, idx]).tocsc()
    return float(np.atleast_1d(spla.spsolve(system, r[idx]))[0])


def collapse_repeats(paths: PathCounts) -> tuple[IntArray, IntArray]:
    """Flat codes and offsets with consecutive repeats of a channel merged (``A A B`` → ``A B``)."""
    pot = paths.path_of_touch
    keep = np.ones(len(paths.flat), dtype=bool)
    keep[1:] = (paths.flat[1:] != paths.flat[:-1]) | (pot[1:] != pot[:-1])
    offsets = np.zeros(paths.n_paths + 1, dtype=np.int64)
    np.cumsum(np.bincount(pot[keep], minlength=paths.n_paths), out=offsets[1:])
    return paths.flat[keep], offsets


def build_chain(paths: PathCounts, order: int = 1, loops: str = "keep") -> MarkovChain:
    """The order-``order`` chain of the aggregated ``paths`` (vectorised over touches of distinct paths)."""
    if loops not in ("keep", "collapse"):
        raise SiyuError(f"loops must be 'keep' or 'collapse', got {loops!r}", code="bad_attribution_config",
                        input_name="loops")
    flat, offsets = (paths.flat, paths.offsets) if loops == "keep" else collapse_repeats(paths)
    n_paths = len(offsets) - 1
    lengths = np.diff(offsets)
    path_of_touch = np.repeat(np.arange(n_paths), lengths)
    pos = np.arange(len(flat)) - offsets[:-1][path_of_touch]
    base = len(paths.channels) + 1
    if base ** order >= 2**62:
        raise SiyuError(f"too many channels ({base - 1}) for an order-{order} chain", code="too_many_channels",
                        input_name="channel")
    # A state is the base-(C+1) number whose digit j is 1 + the channel j touches back (0: before the start).
    digits = flat + 1
    code = digits.copy()
    for j in range(1, order):
        back = np.zeros_like(digits)
        back[j:] = digits[:-j]
        code += np.where(pos >= j, back, 0) * base**j
    uniq, state_of_touch = np.unique(code, return_inverse=True)
    state_of_touch = state_of_touch.ravel() + 1  # 0 is START
    n_states = len(uniq) + 1
    prev = np.zeros_like(state_of_touch)
    prev[1:] = state_of_touch[:-1]
    source = np.where(pos == 0, 0, prev)
    weight = paths.journeys[path_of_touch]
    counts = sp.csr_matrix(sp.coo_matrix((weight, (source, state_of_touch)), shape=(n_states, n_states)))
    counts.sum_duplicates()
    last = state_of_touch[offsets[1:] - 1] if n_paths else np.zeros(0, dtype=np.int64)
    conversions = weighted_count(last, paths.conversions, n_states)
    nulls = weighted_count(last, paths.nulls, n_states)
    powers = base ** np.arange(order - 1, -1, -1)
    state_channels = np.full((n_states, order), -1, dtype=np.int64)
    state_channels[1:] = (uniq[:, None] // powers) % base - 1  # oldest first; -1 before the journey's start
    return MarkovChain(channels=paths.channels, order=order, state_channels=state_channels, counts=counts,
                       conversions=conversions, nulls=nulls)


@register_model
class Markov(AttributionModel):
    """Markov-chain attribution by removal effects (Anderl et al. 2016); see the module doc for the switches."""

    lookup_name = "markov"
    name_zh = "马尔可夫链归因"
    config_model = MarkovConfig

    def chain(self, journeys: Journeys) -> MarkovChain:
        """The fitted chain, for inspecting states and transition probabilities."""
        return build_chain(journeys.paths, self.config.order, self.config.loops)

    def _fit(self, journeys: Journeys) -> Attribution:
        effects = self.chain(journeys).removal_effects()
        total_conv, total_value = float(journeys.converted.sum()), float(journeys.value.sum())
        if self.config.normalisation == "share":
            total = effects.sum()
            factor = effects / total if total > 0 else np.zeros_like(effects)
        else:
            factor = effects
        return Attribution(model=self.lookup_name, channels=journeys.channels, conversions=factor * total_conv,
                           value=factor * total_value, total_conversions=total_conv, total_value=total_value,
                           details={"removal_effect": effects})
