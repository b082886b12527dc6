"""The generative truth is what the data says: BG/NBD counts, campaign and A/B records."""

from __future__ import annotations

from datetime import datetime

import numpy as np

from tests.synth.conftest import DAYS, World


def _simulate_orders(lam: np.ndarray, p: np.ndarray, acq: np.ndarray, boost: np.ndarray, days: float,
                     reps: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Independent Monte Carlo of in-window BG/NBD purchase counts: (mean, variance) per person.

    Campaign boosts are approximated as extra rate spread evenly over the person's observed window.
    """
    rng = np.random.default_rng(seed)
    n = len(lam)
    total = np.zeros(n)
    total_sq = np.zeros(n)
    start = np.maximum(acq, 0.0)
    for _ in range(reps):
        k = rng.geometric(p)  # purchases before dropout
        m = rng.poisson(lam * (days - acq))
        extra = rng.poisson(lam * boost)
        counts = np.zeros(n)
        for i in np.flatnonzero(m + extra):
            times = np.sort(np.concatenate([rng.uniform(acq[i], days, m[i]), rng.uniform(start[i], days, extra[i])]))
            counts[i] = np.count_nonzero(times[:k[i]] >= 0.0)
        total += counts
        total_sq += counts**2
    mean = total / reps
    return mean, total_sq / reps - mean**2


def test_order_counts_are_consistent_with_the_recorded_lambda_and_p(world: World) -> None:
    persons = world.truth("persons").to_pandas()
    ident = persons[~persons.anonymous_only]
    origin = datetime.fromisoformat(world.params["time_origin"].replace("Z", "+00:00"))
    acq = (ident.acquired_at - origin).dt.total_seconds().to_numpy() / 86400
    mean, var = _simulate_orders(ident["lambda"].to_numpy(), ident["p"].to_numpy(), acq,
                                 ident.boost_days.to_numpy(), float(DAYS), reps=60, seed=1)
    observed = (ident.n_orders - ident.n_orders_incremental).to_numpy()
    se = np.sqrt(var.sum()) / len(ident)
    assert abs(observed.mean() - mean.mean()) < 4 * se + 0.02 * mean.mean(), (observed.mean(), mean.mean(), se)
    assert (persons.loc[persons.anonymous_only, "n_orders"] == 0).all()


def test_lambda_p_and_nu_follow_the_recorded_priors(world: World) -> None:
    bg, gg = world.params["bg_nbd"], world.params["gamma_gamma"]
    persons = world.truth("persons").to_pandas().dropna(subset=["lambda"])
    n = len(persons)
    lam_mean, lam_sd = bg["r"] / bg["alpha"], np.sqrt(bg["r"]) / bg["alpha"]
    assert abs(persons["lambda"].mean() - lam_mean) < 4 * lam_sd / np.sqrt(n)
    a, b = bg["a"], bg["b"]
    p_sd = np.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
    assert abs(persons["p"].mean() - a / (a + b)) < 4 * p_sd / np.sqrt(n)
    nu_mean, nu_sd = gg["q"] / gg["gamma"], np.sqrt(gg["q"]) / gg["gamma"]
    assert abs(persons["nu"].mean() - nu_mean) < 4 * nu_sd / np.sqrt(n)


def test_spend_follows_gamma_gamma(world: World) -> None:
    gg = world.params["gamma_gamma"]
    orders = world.entity("orders").to_pandas()
    aov = orders.amount.mean()
    expected = gg["p"] * gg["gamma"] / (gg["q"] - 1)  # E[p / nu]
    assert 0.75 * expected < aov < 1.25 * expected
    assert 120 < aov < 320


def test_ab_test_split_and_true_lift_are_recorded(world: World) -> None:
    ab = world.params["ab_test"]
    persons = world.truth("persons").to_pandas()
    groups = persons.ab_group.value_counts()
    assert groups["control"] == ab["control"] and groups["treatment"] == ab["treatment"]
    assert abs(ab["treatment"] - ab["control"]) < 4 * np.sqrt(ab["eligible"]) / 2 + 1
    assert 0 < ab["true_ate"] <= ab["lift"] == 0.03
    test = next(c for c in world.params["campaigns"] if c["is_ab_test"])
    delivered = [a for a in world.accepted
                 if a.event == "message_delivered" and a.msg["properties"].get("campaign_id") == test["campaign_id"]]
    assert len({a.message_id for a in delivered}) == ab["treatment"] == test["touched"]
    assert persons.n_orders_incremental.sum() > 0
    assert set(persons.loc[persons.n_orders_incremental > 0, "ab_group"]) == {"treatment"}


def test_campaign_effects_are_recorded(world: World) -> None:
    campaigns = world.params["campaigns"]
    assert len(campaigns) == 12 and sum(c["is_ab_test"] for c in campaigns) == 1
    assert any(c["effect"] == 0 and not c["is_ab_test"] for c in campaigns)  # a placebo
    assert all(c["touched"] > 0 for c in campaigns)
    assert {c["channel"] for c in campaigns} == {"wecom", "sms", "official_account"}
    cost = world.entity("campaigns").to_pandas()
    assert (cost.cost > 0).all()
