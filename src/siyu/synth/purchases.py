"""Campaign touches and the purchase process (BG/NBD + Gamma-Gamma) with planted causal effects.

BG/NBD as a point process: after a first purchase (at a trial rate independent of ``lambda``),
purchases arrive as a Poisson process with rate ``lambda``; after each repeat purchase the person
drops out with probability ``p`` (never right after the first, which is what separates BG/NBD from
MBG/NBD), so the number of purchases before dropout is ``K = 1 + Geometric(p)`` and the process is
the first ``K`` points.
A campaign touch multiplies the rate by ``1 + effect`` for ``effect_days`` (implemented as an extra
Poisson stream of rate ``lambda * effect`` over the touch window; overlapping windows add). The
A/B test adds, for treated persons who did not convert within its window, one incremental order
with probability ``min(1, lift / (1 - P0))`` where ``P0`` is their true baseline conversion
probability, so the per-person absolute lift is exactly ``min(lift, 1 - P0)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from siyu.synth.catalog import Catalog
from siyu.synth.config import APP, MP, OA, WC, TrueParams
from siyu.synth.world import INF, People, reshape_hours


@dataclass
class Touches:
    """Campaign messages actually delivered (treatment only for the A/B test)."""

    person: np.ndarray
    t: np.ndarray
    campaign: np.ndarray
    ab_group: np.ndarray  # per person: 0 not in test, 1 control, 2 treatment


@dataclass
class Orders:
    """In-window orders sorted by (person, time), plus per-person truth of the process."""

    person: np.ndarray
    t: np.ndarray
    amount: np.ndarray
    incremental: np.ndarray
    n_before: np.ndarray
    drop_t: np.ndarray
    boost_days: np.ndarray
    ab_p0: np.ndarray  # baseline 14-day conversion probability of A/B persons (nan elsewhere)
    channel: np.ndarray = field(default_factory=lambda: np.empty(0, np.int8))  # 0 store, 1 app, 2 mini program


def campaign_touches(rng: np.random.Generator, pe: People, cat: Catalog, tp: TrueParams) -> Touches:
    """Choose each campaign's audience among persons reachable on its channel at send time."""
    ab = cat.ab_campaign
    ab_group = np.zeros(pe.n, dtype=np.int8)
    segment = rng.random(pe.n) < 0.5
    persons, times, camps = [], [], []
    for k, c in enumerate(cat.campaigns):
        d = float(c.send_day)
        if c.channel == "wecom":
            eligible = pe.has[:, WC] & (pe.start[:, WC] <= d)
        elif c.channel == "sms":
            eligible = pe.registered & (pe.reg_t <= d)
        else:
            eligible = pe.has[:, OA] & (pe.start[:, OA] <= d)
        eligible &= ~pe.anon_only
        if c.is_ab_test:
            eligible = ab_eligible_of(pe, ab.send_day, segment)
            treat = rng.random(pe.n) < 0.5
            ab_group[eligible] = np.where(treat[eligible], 2, 1)
            chosen = eligible & treat
            hours = 10.0 + rng.random(pe.n)
        else:
            if abs(c.send_day - ab.send_day) < tp.effect_days:
                eligible &= ~ab_eligible_of(pe, ab.send_day, segment)
            chosen = eligible & (rng.random(pe.n) < c.audience_frac)
            hours = 10.0 + 10.0 * rng.random(pe.n)
        idx = np.flatnonzero(chosen)
        persons.append(idx)
        times.append(d + hours[idx] / 24.0)  # day 0 starts at 00:00 China time
        camps.append(np.full(len(idx), k))
    return Touches(np.concatenate(persons), np.concatenate(times), np.concatenate(camps), ab_group)


def ab_eligible_of(pe: People, send_day: int, segment: np.ndarray) -> np.ndarray:
    """The A/B test's eligible audience: identified WeCom contacts at its send day in the test segment
    (a random half of all persons, so campaigns near the test still have an audience)."""
    return pe.has[:, WC] & (pe.start[:, WC] <= float(send_day)) & ~pe.anon_only & segment


def simulate_orders(rng: np.random.Generator, pe: People, touches: Touches, cat: Catalog,
                    tp: TrueParams) -> Orders:
    """Run BG/NBD from each person's first purchase to the window end; keep the in-window orders.

    The first purchase comes after acquisition at a *trial* rate ``mu`` drawn like ``lambda`` but
    independently of it, so the people who become customers are not selected on their repeat rate and
    the customers' ``lambda`` follows the planted Gamma(r, alpha) — the population BG/NBD describes.
    A campaign boost multiplies whichever rate applies at the time (``mu`` before the first purchase,
    ``lambda`` after it).
    """
    days = float(pe.days)
    ident = ~pe.anon_only
    lam = np.where(ident, pe.lam, 0.0)
    mu = np.where(ident, rng.gamma(tp.r, 1.0 / tp.alpha, pe.n), 0.0)
    with np.errstate(divide="ignore"):
        t1 = pe.acq + rng.exponential(1.0, pe.n) / mu

    effects = np.asarray([c.effect for c in cat.campaigns])[touches.campaign]
    boosted = effects > 0
    bp, bt, be = touches.person[boosted], touches.t[boosted], effects[boosted]
    blen = np.clip(np.minimum(float(tp.effect_days), days - bt), 0.0, None)
    boost_days = np.bincount(bp, weights=be * blen, minlength=pe.n)
    # a boost before the first purchase adds a trial stream of rate mu·effect: its first point may come sooner
    with np.errstate(divide="ignore"):
        early = bt + rng.exponential(1.0, len(bp)) / (mu[bp] * be)
    sooner = early < np.minimum(bt + blen, t1[bp])
    np.minimum.at(t1, bp[sooner], early[sooner])

    buyer = ident & (t1 < days)
    rep_span = np.where(buyer, days - t1, 0.0)
    m = rng.poisson(lam * rep_span)
    rwho = np.repeat(np.arange(pe.n), m)
    rtime = t1[rwho] + rng.random(len(rwho)) * rep_span[rwho]
    # boosted repeat purchases: rate lambda·effect over the part of the boost window after the first purchase
    bstart = np.maximum(bt, t1[bp])
    bspan = np.clip(bt + blen - bstart, 0.0, None)
    bm = rng.poisson(lam[bp] * be * bspan)
    bwho = np.repeat(bp, bm)
    btime = np.repeat(bstart, bm) + rng.random(int(bm.sum())) * np.repeat(bspan, bm)

    fwho = np.flatnonzero(buyer)
    who = np.concatenate([fwho, rwho, bwho])
    t = np.concatenate([t1[fwho], rtime, btime])
    shaped = reshape_hours(rng, t)
    t = np.where(shaped >= pe.acq[who], shaped, t)
    order = np.lexsort((t, who))
    who, t = who[order], t[order]
    counts = np.bincount(who, minlength=pe.n)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.arange(len(who)) - first[who]
    k = np.where(ident, 1 + rng.geometric(np.where(ident, pe.p, 0.5)), 0)
    keep = rank < k[who]
    drop_t = np.full(pe.n, INF)
    dead = ident & (counts >= k) & (k > 0)
    drop_t[dead] = t[first[dead] + k[dead] - 1]
    in_window = keep & (t >= 0.0)
    n_before = np.bincount(who[keep & (t < 0.0)], minlength=pe.n)
    who, t = who[in_window], t[in_window]
    incremental = np.zeros(len(who), bool)

    ab = cat.ab_campaign
    ab_p0 = np.full(pe.n, np.nan)
    in_test = touches.ab_group > 0
    if in_test.any():
        ws = float(ab.send_day)
        we = min(ws + tp.effect_days, days)
        converted = np.zeros(pe.n, bool)
        converted[who[(t >= ws) & (t < we)]] = True
        alive = (pe.acq <= ws) & (drop_t > ws)
        ab_p0[in_test] = np.where(alive, 1.0 - np.exp(-lam * (we - ws)), 0.0)[in_test]
        treated = np.flatnonzero(touches.ab_group == 2)
        send = np.full(pe.n, ws)
        tt = touches.campaign == cat.campaigns.index(ab)
        send[touches.person[tt]] = touches.t[tt]
        prob = np.minimum(1.0, tp.ab_lift / np.maximum(1e-12, 1.0 - ab_p0[treated]))
        extra = treated[~converted[treated] & (rng.random(len(treated)) < prob)]
        ext_t = send[extra] + rng.random(len(extra)) * (we - send[extra])
        who = np.concatenate([who, extra])
        t = np.concatenate([t, ext_t])
        incremental = np.concatenate([incremental, np.ones(len(extra), bool)])
        order = np.lexsort((t, who))
        who, t, incremental = who[order], t[order], incremental[order]

    amount = rng.gamma(tp.p_gg, 1.0 / np.where(ident, pe.nu, 1.0)[who])
    amount = np.maximum(0.01, np.round(amount, 2))
    return Orders(who, t, amount, incremental, n_before, drop_t, boost_days, ab_p0)


def choose_order_channels(rng: np.random.Generator, pe: People, orders: Orders) -> None:
    """Where each order was paid: orders before registration in the mini program, later ones in the
    store, the app or (twice as likely) the mini program when the person has them."""
    who, t = orders.person, orders.t
    w = np.stack([np.ones(len(who)), pe.has[who, APP].astype(float),
                  2.0 * (pe.has[who, MP] & (pe.start[who, MP] <= t))], axis=1)
    cum = np.cumsum(w, axis=1)
    pick = (rng.random(len(who)) * cum[:, -1])[:, None] < cum
    channel = np.argmax(pick, axis=1)
    orders.channel = np.where(t < pe.reg_t[who], 2, channel).astype(np.int8)
