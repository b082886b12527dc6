"""Association rules (关联规则) on baskets: FP-growth frequent itemsets, then rules A → C with

- **support** (支持度) = P(A ∪ C): the share of baskets holding every item of A and C;
- **confidence** (置信度) = P(C | A) = support(A ∪ C) / support(A);
- **lift** (提升度) = confidence / support(C): how many times more often C is bought with A than at random
  (1 = independent);
- **leverage** = support(A ∪ C) − support(A) × support(C); **conviction** = (1 − support(C)) / (1 − confidence),
  null when confidence is 1 (infinite).

Agrawal, Imieliński & Swami (1993), "Mining association rules between sets of items in large databases";
Han, Pei & Yin (2000), "Mining frequent patterns without candidate generation" (FP-growth), as implemented
by ``mlxtend.frequent_patterns`` (fpgrowth, association_rules).

Memory: the basket matrix is sparse (about 5 bytes per basket line). mlxtend sums item columns through
``DataFrame.values``, which is dense, so only the items that can be frequent (support ≥ min_support) are
passed to it: its peak is about baskets × frequent items bytes — 200 MB for 1M baskets × 200 items
(docs/clusters-and-baskets.md has the measurement).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from mlxtend.frequent_patterns import association_rules, fpgrowth

from siyu.models.baskets.source import Baskets

RULES_SCHEMA = pa.schema([
    ("antecedents", pa.list_(pa.string())), ("consequents", pa.list_(pa.string())),
    ("antecedent_support", pa.float64()), ("consequent_support", pa.float64()), ("support", pa.float64()),
    ("confidence", pa.float64()), ("lift", pa.float64()), ("leverage", pa.float64()),
    ("conviction", pa.float64()), ("baskets", pa.int64()),
])

_METRICS = ["antecedent support", "consequent support", "support", "confidence", "lift", "leverage", "conviction"]


def frequent_items(baskets: Baskets, min_support: float) -> list[int]:
    """Columns of the items held by at least ``min_support`` of the baskets (only they can be in a frequent set)."""
    counts = baskets.item_counts()
    return [j for j in range(len(baskets.items)) if baskets.n and counts[j] / baskets.n >= min_support]


def _sparse_column(rows: np.ndarray, n: int) -> pd.arrays.SparseArray:
    """A boolean sparse column (fill False) true at ``rows``; built from a dense column one at a time."""
    dense = np.zeros(n, dtype=bool)
    dense[rows] = True
    return pd.arrays.SparseArray(dense, fill_value=False)


def frequent_itemsets(baskets: Baskets, min_support: float, max_len: int | None) -> pd.DataFrame:
    """mlxtend's FP-growth: columns ``support`` and ``itemsets`` (frozensets of item names)."""
    keep = frequent_items(baskets, min_support)
    if not keep:
        return pd.DataFrame({"support": pd.Series(dtype=float), "itemsets": pd.Series(dtype=object)})
    csc = baskets.matrix.tocsc()
    onehot = pd.DataFrame({baskets.items[j]: _sparse_column(csc.indices[csc.indptr[j]:csc.indptr[j + 1]], baskets.n)
                           for j in keep})
    return fpgrowth(onehot, min_support=min_support, use_colnames=True, max_len=max_len)


def association_table(itemsets: pd.DataFrame, n_baskets: int, min_confidence: float, min_lift: float) -> pa.Table:
    """Rules from frequent itemsets with confidence ≥ ``min_confidence`` and lift ≥ ``min_lift``, as
    :data:`RULES_SCHEMA`, strongest first: lift, then confidence, then support, descending; then items."""
    if not len(itemsets) or itemsets["itemsets"].map(len).max() < 2:
        return RULES_SCHEMA.empty_table()
    rules = association_rules(itemsets, num_itemsets=n_baskets, metric="confidence", min_threshold=min_confidence,
                              return_metrics=_METRICS)
    rules = rules[rules["lift"] >= min_lift]
    rows: list[dict[str, Any]] = []
    for r in rules.to_dict("records"):
        conf = float(r["confidence"])
        rows.append({
            "antecedents": sorted(r["antecedents"]), "consequents": sorted(r["consequents"]),
            "antecedent_support": float(r["antecedent support"]), "consequent_support": float(r["consequent support"]),
            "support": float(r["support"]), "confidence": conf, "lift": float(r["lift"]),
            "leverage": float(r["leverage"]), "conviction": None if conf >= 1.0 else float(r["conviction"]),
            "baskets": round(float(r["support"]) * n_baskets),
        })
    rows.sort(key=lambda r: (-r["lift"], -r["confidence"], -r["support"], r["antecedents"], r["consequents"]))
    return pa.Table.from_pylist(rows, schema=RULES_SCHEMA)


def bought_together(rules: pa.Table, top_n: int) -> pa.Table:
    """经常一起购买: for each item, the ``top_n`` single items it leads to (rules with one item on each side),
    ranked by lift, then confidence, then name. Columns ``item, suggestions, lift, confidence, support``
    (aligned lists), one row per item, sorted by item."""
    best: dict[str, list[tuple[float, float, float, str]]] = {}
    for ante, cons, lift, conf, sup in zip(*(rules.column(c).to_pylist() for c in
                                             ("antecedents", "consequents", "lift", "confidence", "support")),
                                           strict=True):
        if len(ante) == 1 and len(cons) == 1:
            best.setdefault(ante[0], []).append((lift, conf, sup, cons[0]))
    out: dict[str, list[object]] = {"item": [], "suggestions": [], "lift": [], "confidence": [], "support": []}
    for item in sorted(best):
        picks = sorted(best[item], key=lambda t: (-t[0], -t[1], t[3]))[:top_n]
        out["item"].append(item)
        out["suggestions"].append([p[3] for p in picks])
        out["lift"].append([p[0] for p in picks])
        out["confidence"].append([p[1] for p in picks])
        out["support"].append([p[2] for p in picks])
    return pa.table(out, schema=BOUGHT_TOGETHER_SCHEMA)


BOUGHT_TOGETHER_SCHEMA = pa.schema([
    ("item", pa.string()), ("suggestions", pa.list_(pa.string())), ("lift", pa.list_(pa.float64())),
    ("confidence", pa.list_(pa.float64())), ("support", pa.list_(pa.float64())),
])
