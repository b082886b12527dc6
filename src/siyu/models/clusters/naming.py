"""Human-readable cluster names (分群命名) from a cluster's strongest deviations from the average person.

The rules (docs/clusters-and-baskets.md, "How clusters are named"):

1. Features are grouped into dimensions (value, frequency, activity, …). A dimension's deviation for a
   cluster is the z-score (the cluster's mean of the standardised feature) of its feature with the
   largest absolute z; its direction is the sign.
2. A dimension is eligible when ``|z| ≥`` :data:`NAME_THRESHOLD` (half a standard deviation) and the
   dimension has a phrase for that direction (e.g. few shares is not worth a name; few orders is).
3. The name joins the phrases of the two strongest eligible dimensions, written in the fixed
   dimension order of :data:`DIMENSIONS` so names read naturally: 高价值低频 / "high value, low
   frequency", 活跃内容型 / "active, content readers", 沉默流失风险 / "silent, at risk".
4. No eligible dimension: 普通客户 / "typical customers".
5. Clusters with the same name each add one more phrase: their strongest remaining one that none of
   the others has (else simply their strongest remaining one), so 高价值内容型爱分享 and 低价值内容型爱分享
   tell two content clusters apart. If names still clash, the later ones (by cluster id) get a number:
   沉默流失风险2 / "silent, at risk 2". A name kept from a previous model is never given to another cluster.

A feature that belongs to no dimension (a brand's own) is its own dimension, phrased "高<name>" /
"high <name>" and "低<name>" / "low <name>".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Half a standard deviation from the average person is a deviation worth naming.
NAME_THRESHOLD = 0.5
PHRASES_PER_NAME = 2
TYPICAL = ("普通客户", "typical customers")

Phrase = tuple[str, str] | None


@dataclass(frozen=True)
class Dimension:
    key: str
    features: tuple[str, ...]
    high: Phrase
    low: Phrase


#: In name order. ``high``/``low``: the (zh, en) phrase for a cluster above/below the average.
DIMENSIONS = (
    Dimension("tenure", ("tenure_days",), ("老客", "long-standing"), ("新客", "new")),
    Dimension("value", ("gmv_365d", "gmv_90d", "aov_365d"), ("高价值", "high value"), ("低价值", "low value")),
    Dimension("frequency", ("orders_365d", "orders_90d"), ("高频", "high frequency"), ("低频", "low frequency")),
    # a long time since the last order is already said by low value and frequency (never-buyers have the cap)
    Dimension("purchase_recency", ("recency_days",), None, ("近期购买", "recent buyers")),
    Dimension("activity", ("active_days_30d", "active_days_90d", "interactions_90d"),
              ("活跃", "active"), ("沉默", "silent")),
    Dimension("content", ("content_reads_90d",), ("内容型", "content readers"), None),
    Dimension("sharing", ("shares_90d",), ("爱分享", "sharers"), None),
    Dimension("community", ("group_messages_90d",), ("社群活跃", "group chatters"), None),
    Dimension("service", ("cs_contacts_90d",), ("常咨询客服", "frequent service contacts"), None),
    Dimension("coupons", ("coupon_orders_365d",), ("爱用券", "coupon users"), None),
    Dimension("refunds", ("refunds_365d",), ("高退款", "many refunds"), None),
    Dimension("engagement_recency", ("days_since_interaction",), ("流失风险", "at risk"),
              ("近期活跃", "recently engaged")),
)


def dimensions_for(features: Sequence[str]) -> list[Dimension]:
    """The dimensions present among ``features`` (in name order), then one per unknown feature."""
    known = {f for d in DIMENSIONS for f in d.features}
    out = [Dimension(d.key, tuple(f for f in d.features if f in features), d.high, d.low)
           for d in DIMENSIONS if any(f in features for f in d.features)]
    out += [Dimension(f, (f,), (f"高{f}", f"high {f}"), (f"低{f}", f"low {f}")) for f in features if f not in known]
    return out


def ranked_phrases(z: dict[str, float], dims: list[Dimension]) -> list[tuple[int, float, tuple[str, str]]]:
    """Eligible (dimension position, |z|, phrase) of one cluster, strongest first (ties: name order)."""
    got = []
    for pos, dim in enumerate(dims):
        feature = max(dim.features, key=lambda f: (abs(z[f]), -dim.features.index(f)))
        value = z[feature]
        phrase = dim.high if value > 0 else dim.low
        if phrase is not None and abs(value) >= NAME_THRESHOLD:
            got.append((pos, abs(value), phrase))
    return sorted(got, key=lambda t: (-t[1], t[0]))


def _render(picked: list[tuple[int, float, tuple[str, str]]]) -> tuple[str, str]:
    if not picked:
        return TYPICAL
    ordered = sorted(picked, key=lambda t: t[0])
    return "".join(p[2][0] for p in ordered), ", ".join(p[2][1] for p in ordered)


def cluster_names(z_scores: np.ndarray, features: Sequence[str],
                  keep: dict[int, tuple[str, str]] | None = None) -> list[tuple[str, str]]:
    """(zh, en) names for clusters whose rows of ``z_scores`` (k × features) are their mean z-scores.

    ``keep`` maps a row to a name it must keep (a cluster matched to a previous model's); the other
    rows are named by the rules above and never take a kept name.
    """
    keep = keep or {}
    dims = dimensions_for(features)
    ranked = [ranked_phrases(dict(zip(features, map(float, row), strict=True)), dims) for row in z_scores]
    names = {i: keep[i] if i in keep else _render(ranked[i][:PHRASES_PER_NAME]) for i in range(len(ranked))}
    groups: dict[tuple[str, str], list[int]] = {}
    for i in names:
        if i not in keep:
            groups.setdefault(names[i], []).append(i)
    for name, members in groups.items():
        if len(members) == 1 and name not in keep.values():
            continue
        for i in members:
            rest = ranked[i][PHRASES_PER_NAME:]
            theirs = {p[2] for j in members if j != i for p in ranked[j]}
            pick = next((p for p in rest if p[2] not in theirs), rest[0] if rest else None)
            if pick is not None:
                names[i] = _render([*ranked[i][:PHRASES_PER_NAME], pick])
    seen: set[tuple[str, str]] = set(keep.values())
    for i in sorted(names):
        if i in keep:
            continue
        base, name, n = names[i], names[i], 1
        while name in seen:
            n += 1
            name = (f"{base[0]}{n}", f"{base[1]} {n}")
        names[i] = name
        seen.add(name)
    return [names[i] for i in range(len(ranked))]
