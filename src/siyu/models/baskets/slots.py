"""Time-slot effects (时段效应): which items and rules over-index in a slot of the week.

A **slot** is a day type (weekday 工作日 / weekend 周末, by the ISO weekday of the basket's business
day) × a day part (by the hour its first payment was made, business time zone); the default day parts
are night 0–6, morning 6–12, afternoon 12–18, evening 18–24. Both are configurable.

- **Item effects** (per slot, per frequent item): ``slot_support`` = baskets of the slot holding the item
  / baskets of the slot; ``index`` = slot_support / overall support (1.0 = as usual, 1.5 = 50% more
  often in this slot); ``z`` = (slot_support − overall) / sqrt(overall × (1 − overall) / slot baskets),
  the one-sample test of a proportion against the overall rate taken as known (normal approximation:
  trust it when ``expected`` = overall × slot baskets is at least 5). ``small_slot`` flags slots
  with fewer than ``min_slot_baskets`` baskets.
- **Rule effects** (per slot, for the strongest overall rules): support, confidence and lift of the
  rule among the slot's baskets only, and ``lift_ratio`` = slot lift / overall lift.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, model_validator
from scipy import sparse

from siyu.models.baskets.source import Baskets

DAY_TYPES = ("weekday", "weekend")


class SlotConfig(BaseModel):
    """Which ISO weekdays are the weekend, and the day parts as ``name: [start hour, end hour)``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    weekend_days: tuple[int, ...] = (6, 7)
    dayparts: dict[str, tuple[int, int]] = {"night": (0, 6), "morning": (6, 12), "afternoon": (12, 18),
                                           "evening": (18, 24)}

    @model_validator(mode="after")
    def _cover_the_day(self) -> SlotConfig:
        if not set(self.weekend_days) <= set(range(1, 8)):
            raise ValueError(f"weekend_days must be ISO weekdays 1..7, got {list(self.weekend_days)}")
        hours = sorted(h for a, b in self.dayparts.values() for h in range(a, b))
        if hours != list(range(24)) or any(not 0 <= a < b <= 24 for a, b in self.dayparts.values()):
            raise ValueError("dayparts must cover the hours 0..23 exactly once, each as [start, end)")
        return self

    def names(self) -> list[str]:
        """Slot names in order: day type, then day part by its start hour, e.g. ``weekend_evening``."""
        parts = sorted(self.dayparts, key=lambda p: self.dayparts[p][0])
        return [f"{d}_{p}" for d in DAY_TYPES for p in parts]

    def slot_of(self, weekday: np.ndarray, hour: np.ndarray) -> np.ndarray:
        """The position in :meth:`names` of each basket's slot."""
        parts = sorted(self.dayparts, key=lambda p: self.dayparts[p][0])
        part_of_hour = np.empty(24, dtype=np.int64)
        for i, p in enumerate(parts):
            a, b = self.dayparts[p]
            part_of_hour[a:b] = i
        weekend = np.isin(weekday, np.asarray(self.weekend_days)).astype(np.int64)
        return weekend * len(parts) + part_of_hour[np.clip(hour, 0, 23)]


SLOT_ITEMS_SCHEMA = pa.schema([
    ("slot", pa.string()), ("item", pa.string()), ("slot_baskets", pa.int64()), ("item_baskets", pa.int64()),
    ("slot_support", pa.float64()), ("overall_support", pa.float64()), ("index", pa.float64()),
    ("expected", pa.float64()), ("z", pa.float64()), ("small_slot", pa.bool_()),
])

SLOT_RULES_SCHEMA = pa.schema([
    ("slot", pa.string()), ("antecedents", pa.list_(pa.string())), ("consequents", pa.list_(pa.string())),
    ("slot_baskets", pa.int64()), ("antecedent_baskets", pa.int64()), ("rule_baskets", pa.int64()),
    ("support", pa.float64()), ("confidence", pa.float64()), ("lift", pa.float64()),
    ("overall_lift", pa.float64()), ("lift_ratio", pa.float64()), ("small_slot", pa.bool_()),
])


def slot_item_effects(baskets: Baskets, slots: SlotConfig, items: list[str], min_slot_baskets: int) -> pa.Table:
    """Item effects for ``items`` in every slot (rows: slots in order, then items in the given order)."""
    names = slots.names()
    slot = slots.slot_of(baskets.weekday, baskets.hour)
    per_slot = np.bincount(slot, minlength=len(names)).astype(np.int64)
    col = {name: i for i, name in enumerate(baskets.items)}
    csc = baskets.matrix.tocsc()
    counts = np.array([np.bincount(slot[holders_of(csc, col, [item], baskets.n)], minlength=len(names))
                       for item in items], dtype=np.int64).reshape(len(items), len(names))
    rows: dict[str, list[object]] = {f.name: [] for f in SLOT_ITEMS_SCHEMA}
    for s, name in enumerate(names):
        n_s = int(per_slot[s])
        for i, item in enumerate(items):
            overall = float(counts[i].sum() / baskets.n)
            sup = counts[i, s] / n_s if n_s else None
            se = np.sqrt(overall * (1.0 - overall) / n_s) if n_s else 0.0
            rows["slot"].append(name)
            rows["item"].append(item)
            rows["slot_baskets"].append(n_s)
            rows["item_baskets"].append(int(counts[i, s]))
            rows["slot_support"].append(sup)
            rows["overall_support"].append(overall)
            rows["index"].append(None if sup is None or overall == 0 else sup / overall)
            rows["expected"].append(overall * n_s)
            rows["z"].append(None if sup is None or se == 0 else float((sup - overall) / se))
            rows["small_slot"].append(n_s < min_slot_baskets)
    return pa.table(rows, schema=SLOT_ITEMS_SCHEMA)


def holders_of(csc: sparse.csc_matrix, col: dict[str, int], itemset: list[str], n: int) -> np.ndarray:
    """Rows (sorted) of the baskets holding every item of ``itemset``; all ``n`` rows for an empty one."""
    got: np.ndarray | None = None
    for item in itemset:
        j = col[item]
        rows = np.sort(csc.indices[csc.indptr[j]:csc.indptr[j + 1]])
        got = rows if got is None else np.intersect1d(got, rows, assume_unique=True)
    return np.arange(n) if got is None else got


def slot_rule_effects(baskets: Baskets, rules: pa.Table, slots: SlotConfig, min_slot_baskets: int) -> pa.Table:
    """Rule effects of every rule in ``rules`` (columns ``antecedents, consequents, lift``) in every slot."""
    names = slots.names()
    slot = slots.slot_of(baskets.weekday, baskets.hour)
    per_slot = np.bincount(slot, minlength=len(names)).astype(np.int64)
    col = {name: i for i, name in enumerate(baskets.items)}
    csc = baskets.matrix.tocsc()
    out: dict[str, list[object]] = {f.name: [] for f in SLOT_RULES_SCHEMA}
    for ante, cons, lift in zip(rules.column("antecedents").to_pylist(), rules.column("consequents").to_pylist(),
                                rules.column("lift").to_pylist(), strict=True):
        n_a = np.bincount(slot[holders_of(csc, col, ante, baskets.n)], minlength=len(names))
        n_c = np.bincount(slot[holders_of(csc, col, cons, baskets.n)], minlength=len(names))
        n_ac = np.bincount(slot[holders_of(csc, col, ante + cons, baskets.n)], minlength=len(names))
        for s, name in enumerate(names):
            n_s = int(per_slot[s])
            conf = n_ac[s] / n_a[s] if n_a[s] else None
            s_lift = conf / (n_c[s] / n_s) if conf is not None and n_c[s] else None
            out["slot"].append(name)
            out["antecedents"].append(ante)
            out["consequents"].append(cons)
            out["slot_baskets"].append(n_s)
            out["antecedent_baskets"].append(int(n_a[s]))
            out["rule_baskets"].append(int(n_ac[s]))
            out["support"].append(n_ac[s] / n_s if n_s else None)
            out["confidence"].append(conf)
            out["lift"].append(s_lift)
            out["overall_lift"].append(lift)
            out["lift_ratio"].append(None if s_lift is None or not lift else s_lift / lift)
            out["small_slot"].append(n_s < min_slot_baskets)
    return pa.table(out, schema=SLOT_RULES_SCHEMA)
