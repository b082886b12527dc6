"""The 7 statistical tags and composite scores in plain pandas: filters, groupbys and ranks.

Each function returns ``(pid, value, score)`` like the SQL in :mod:`siyu.profile.statistics` (whose
docstrings define them); money is integer cents, summed exactly, and every ratio is computed in the
same order as the SQL so that the scores agree to the last bits. Params are validated by the same
pydantic models, so defaults are the same.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from siyu.profile.statistics import get_statistic
from siyu.profile.tags.model import CompositeTag
from siyu.warehouse.layers.dws import BRAND_SIDE_EVENTS

if TYPE_CHECKING:
    from benchmarks.pandas_tags import Inputs

COLUMNS = ["pid", "value", "score"]


def _window(dt: pd.Series, as_of: date, days: int) -> np.ndarray:
    start = np.datetime64(as_of - timedelta(days=days - 1))
    return ((dt >= start) & (dt <= np.datetime64(as_of))).to_numpy()


def _band(score: pd.Series, thresholds: tuple[float, ...], labels: tuple[str, ...], strict: bool = False) -> np.ndarray:
    """labels[i] where i = how many thresholds the score reaches (``>=``, or ``>`` when strict)."""
    arr = score.to_numpy(dtype=float)
    reached = sum(((arr > t) if strict else (arr >= t)).astype(int) for t in thresholds)
    return np.asarray(labels, dtype=object)[reached]


def _out(pid: Any, value: Any, score: Any) -> pd.DataFrame:
    return pd.DataFrame({"pid": np.asarray(pid, dtype=np.int64), "value": np.asarray(value, dtype=object),
                         "score": np.asarray(score, dtype=float)})


def _first_by_rank(frame: pd.DataFrame, measure: str, tie: str) -> pd.DataFrame:
    """Per pid, the row with the largest ``measure``, ties to the smallest ``tie``."""
    ordered = frame.sort_values(["pid", measure, tie], ascending=[True, False, True], kind="stable")
    return ordered.drop_duplicates("pid", keep="first")


def spending_capacity(x: Inputs, p: Any) -> pd.DataFrame:
    o = x.orders
    o = o[(o["pid"] >= 0) & o["amount"].notna() & _window(o["dt"], x.as_of, p.window_days)]
    m = o.groupby("pid")["amount"].sum()
    pct = m.rank(method="max") / float(len(m))  # share of buyers whose spend is ≤ this one's
    if p.method == "fixed":
        value = _band(m / 100.0, p.thresholds, p.labels)
    else:
        value = _band(pct, p.quantiles, p.labels, strict=True)
    return _out(m.index, value, pct)


def price_sensitivity(x: Inputs, p: Any) -> pd.DataFrame:
    o = x.orders
    o = o[(o["pid"] >= 0) & _window(o["dt"], x.as_of, p.window_days)]
    disc, amount = o["discount_amount"].fillna(0), o["amount"].fillna(0)
    couponed = ((o["coupon_id"].notna() & (o["coupon_id"].astype(object) != "")) | (disc > 0)).astype(int)
    ok = (disc > 0) & (amount + disc > 0)
    ratio = (disc / 100.0) / ((amount + disc) / 100.0)
    depth = np.where(ok, np.round(ratio.to_numpy() * 1e12), 0.0)  # DECIMAL(38,12), summed exactly
    g = pd.DataFrame({"pid": o["pid"], "c": couponed, "d": depth}).groupby("pid").agg(
        n=("c", "size"), c=("c", "sum"), d=("d", "sum"))
    g = g[g["n"] >= p.min_orders]
    total = p.w_coupon + p.w_depth
    score = (p.w_coupon / total) * (g["c"] / g["n"]) + (p.w_depth / total) * ((g["d"] / 1e12) / g["n"])
    return _out(g.index, _band(score, p.thresholds, p.labels), score)


def category_preference(x: Inputs, p: Any) -> pd.DataFrame:
    products = x.products[x.products["category"].notna()].groupby("sku", as_index=False)["category"].min()
    o = x.orders
    o = o.loc[(o["pid"] >= 0) & _window(o["dt"], x.as_of, p.window_days), ["pid", "order_id"]]
    j = o.merge(x.items, on="order_id").merge(products, on="sku")
    j["spend"] = j["quantity"] * j["price"]
    c = j.groupby(["pid", "category"])["spend"].sum(min_count=1).reset_index()
    c = c[c["spend"] > 0].sort_values(["pid", "spend", "category"], ascending=[True, False, True], kind="stable")
    c["rn"] = c.groupby("pid").cumcount() + 1
    total = c.groupby("pid")["spend"].sum()
    top = c[c["rn"] <= p.top_k]
    value = top.groupby("pid")["category"].agg(",".join)
    score = (top.groupby("pid")["spend"].sum() / 100.0) / (total.loc[value.index] / 100.0)
    keep = score >= p.min_share
    return _out(value.index[keep], value[keep], score[keep])


def content_preference(x: Inputs, p: Any) -> pd.DataFrame:
    content = x.content[x.content["content_type"].notna()].groupby("content_id", as_index=False)["content_type"].min()
    e = x.events
    e = e.loc[(e["pid"] >= 0) & e["event"].isin(p.events) & _window(e["dt"], x.as_of, p.window_days),
              ["pid", "content_id", "read_seconds"]]
    e = e.assign(content_id=e["content_id"].astype(object)).merge(content, on="content_id")
    secs = e["read_seconds"].to_numpy(dtype=float)
    e["ms"] = np.where(secs > 0, np.round(secs * 1000.0), 0.0)  # DECIMAL(18,3)
    t = e.groupby(["pid", "content_type"], as_index=False)["ms"].sum()
    total = t.groupby("pid")["ms"].sum()
    best = _first_by_rank(t, "ms", "content_type").set_index("pid")
    best["total"] = total
    best = best[(best["total"] > 0) & (best["total"] / 1000.0 >= p.min_seconds)]
    return _out(best.index, best["content_type"], (best["ms"] / 1000.0) / (best["total"] / 1000.0))


def _interactions(x: Inputs, days: int) -> pd.DataFrame:
    e = x.events
    hour = e["event_hour"]
    keep = ((e["pid"] >= 0) & e["event"].notna() & ~e["event"].isin(BRAND_SIDE_EVENTS) & (hour >= 0) & (hour <= 23)
            & _window(e["dt"], x.as_of, days))
    return e.loc[keep, ["pid", "event_hour"]]


def active_hours(x: Inputs, p: Any) -> pd.DataFrame:
    ev = _interactions(x, p.window_days)
    slot_of = np.full(24, -1)
    for i, s in enumerate(p.slots):
        slot_of[sorted(s.hours())] = i
    ev = ev.assign(slot=slot_of[ev["event_hour"].to_numpy(dtype=int)])
    tot = ev.groupby("pid").size()
    tot = tot[tot >= p.min_interactions]
    per = ev[ev["slot"] >= 0].groupby(["pid", "slot"], as_index=False).size()
    best = _first_by_rank(per, "size", "slot").set_index("pid")
    best = best.join(tot.rename("total"), how="inner")
    names = np.asarray([s.name for s in p.slots], dtype=object)
    return _out(best.index, names[best["slot"].to_numpy()], best["size"] / best["total"])


def peak_hour(x: Inputs, p: Any) -> pd.DataFrame:
    per = _interactions(x, p.window_days).groupby(["pid", "event_hour"], as_index=False).size()
    total = per.groupby("pid")["size"].sum()
    best = _first_by_rank(per, "size", "event_hour").set_index("pid")
    best["total"] = total
    best = best[best["total"] >= p.min_interactions]
    return _out(best.index, best["event_hour"].astype(int).astype(str), best["size"] / best["total"])


def interaction_depth(x: Inputs, p: Any) -> pd.DataFrame:
    e = x.events
    keep = (e["pid"] >= 0) & e["event"].isin(p.events) & _window(e["dt"], x.as_of, p.window_days)
    n = e.loc[keep].groupby("pid").size()
    rate = n / float(p.window_days / 7)
    rate = rate[rate > 0]
    return _out(rate.index, _band(rate, p.thresholds, p.labels), rate)


STATISTICS = {f.__name__: f for f in (spending_capacity, price_sensitivity, category_preference, content_preference,
                                      active_hours, peak_hour, interaction_depth)}


def statistic(x: Inputs, name: str, params: dict[str, Any]) -> pd.DataFrame:
    """One statistical tag: ``(pid, value, score)`` per person who has it."""
    return STATISTICS[name](x, get_statistic(name).parse_params(params))


def composite(x: Inputs, tag: CompositeTag, tags: dict[str, pd.DataFrame], goal: str = "default") -> pd.DataFrame:
    """score = Σ wᵢ·(standing among holders of input i) / Σ wᵢ, rounded to 6 places; banded."""
    weights = tag.weights.get(goal, tag.weights["default"])
    total = np.zeros(x.n)
    for name, w in sorted(weights.items()):
        tv = tags[name]
        standing = tv["score"].rank(method="max") / float(len(tv))  # cume_dist() over the holders
        s = np.zeros(x.n)
        inside = (tv["pid"] < x.n).to_numpy()
        s[tv["pid"].to_numpy()[inside]] = standing.to_numpy()[inside]
        total = total + s * float(w)
    score = np.round(total / float(sum(weights.values())), 6)
    value = np.full(x.n, None, dtype=object)
    for band in reversed(tag.bands):  # the highest band a score reaches wins
        value[score >= band.min] = band.value
    keep = (score > 0) & pd.notna(value)
    return _out(np.flatnonzero(keep), value[keep], score[keep])
