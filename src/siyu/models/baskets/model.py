"""The basket-rules model (购物篮关联规则): its config, the mined tables, evidence, and JSON persistence."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any, Self

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from siyu.core.errors import SiyuError
from siyu.models.baskets.rules import (
    RULES_SCHEMA,
    association_table,
    bought_together,
    frequent_items,
    frequent_itemsets,
)
from siyu.models.baskets.slots import (
    SLOT_ITEMS_SCHEMA,
    SLOT_RULES_SCHEMA,
    SlotConfig,
    slot_item_effects,
    slot_rule_effects,
)
from siyu.models.baskets.source import BasketKind, Baskets, Level

FORMAT, VERSION = "siyu.basket_model", 1
MODEL_FILE = "basket_model.json"


class BasketConfig(BaseModel):
    """What a basket and an item are, the mining thresholds and the slot analysis; defaults in the docs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    level: Level = "sku"
    basket: BasketKind = "order"
    start: date | None = None
    end: date | None = None
    #: An itemset must be in at least this share of baskets (0.001 = 1 in 1,000).
    min_support: float = 0.001
    min_confidence: float = 0.05
    min_lift: float = 1.0
    #: Largest itemset (antecedent + consequent) mined.
    max_len: int = 3
    #: Suggestions per item in the bought-together table.
    top_n: int = 5
    slots: SlotConfig = Field(default_factory=SlotConfig)
    #: Slots with fewer baskets are flagged ``small_slot``.
    min_slot_baskets: int = 200
    #: The slot rule table covers this many of the strongest rules.
    slot_rules_top: int = 50

    @model_validator(mode="after")
    def _consistent(self) -> BasketConfig:
        if not 0 < self.min_support <= 1 or not 0 <= self.min_confidence <= 1 or self.min_lift < 0:
            raise ValueError("need 0 < min_support <= 1, 0 <= min_confidence <= 1 and min_lift >= 0")
        if not 2 <= self.max_len <= 10 or self.top_n < 1 or self.min_slot_baskets < 0 or self.slot_rules_top < 0:
            raise ValueError("need 2 <= max_len <= 10, top_n >= 1, min_slot_baskets >= 0, slot_rules_top >= 0")
        if self.start and self.end and self.end < self.start:
            raise ValueError("end is before start")
        return self


def basket_config(**fields: Any) -> BasketConfig:
    """A :class:`BasketConfig`, with a bad field reported as a ``bad_basket_config`` error."""
    try:
        return BasketConfig(**fields)
    except ValidationError as exc:
        raise SiyuError(f"bad basket config: {exc.errors()[0]['msg']}", code="bad_basket_config") from None


class BasketModel:
    """Mined rules with the bought-together and time-slot tables, ``params`` and ``metrics``."""

    def __init__(self, config: BasketConfig, rules: pa.Table, slot_items: pa.Table, slot_rules: pa.Table,
                 metrics: dict[str, float], as_of: date | None = None) -> None:
        self.config = config
        self.rules, self.slot_items, self.slot_rules = rules, slot_items, slot_rules
        self.metrics, self.as_of = metrics, as_of

    @property
    def params(self) -> dict[str, Any]:
        """The hyper-parameters the registry records (and ``as_of``, the last day of data read, when known)."""
        return {**self.config.model_dump(mode="json"), "as_of": self.as_of.isoformat() if self.as_of else None}

    @classmethod
    def fit(cls, baskets: Baskets, config: BasketConfig | None = None, as_of: date | None = None) -> BasketModel:
        """Mine ``baskets``: frequent itemsets, rules, slot effects of frequent items and the top rules."""
        config = config or BasketConfig()
        if baskets.n == 0:
            raise SiyuError("there are no baskets to mine (no paid orders with lines in the chosen days)",
                            code="no_baskets")
        itemsets = frequent_itemsets(baskets, config.min_support, config.max_len)
        rules = association_table(itemsets, baskets.n, config.min_confidence, config.min_lift)
        items = [baskets.items[j] for j in frequent_items(baskets, config.min_support)]
        slot_items = slot_item_effects(baskets, config.slots, items, config.min_slot_baskets)
        slot_rules = slot_rule_effects(baskets, rules.slice(0, config.slot_rules_top), config.slots,
                                       config.min_slot_baskets)
        sizes = np.diff(baskets.matrix.indptr)
        metrics = {
            "baskets": float(baskets.n), "items": float(len(baskets.items)), "frequent_items": float(len(items)),
            "frequent_itemsets": float(len(itemsets)), "rules": float(rules.num_rows),
            "mean_basket_size": float(sizes.mean()), "multi_item_basket_share": float((sizes >= 2).mean()),
            "min_support": config.min_support, "max_lift": float(max(rules.column("lift").to_pylist(), default=0.0)),
        }
        return cls(config, rules, slot_items, slot_rules, metrics, as_of)

    def bought_together(self, top_n: int | None = None) -> pa.Table:
        """经常一起购买: ``item → suggestions`` (see :func:`siyu.models.baskets.rules.bought_together`)."""
        return bought_together(self.rules, top_n or self.config.top_n)

    def rules_for_slot(self, slot: str) -> pa.Table:
        """The slot rule rows of one slot (e.g. ``weekend_evening``), strongest overall rules first."""
        if slot not in self.config.slots.names():
            raise SiyuError(f"unknown slot {slot!r}; slots are {', '.join(self.config.slots.names())}",
                            code="unknown_slot")
        mask = [s == slot for s in self.slot_rules.column("slot").to_pylist()]
        return self.slot_rules.filter(pa.array(mask, pa.bool_()))

    def save(self, folder: Path) -> None:
        """Write ``basket_model.json`` (config, tables as rows, metrics) into ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        doc = {"format": FORMAT, "version": VERSION, "config": self.config.model_dump(mode="json"),
               "as_of": self.as_of.isoformat() if self.as_of else None,
               "rules": self.rules.to_pylist(), "slot_items": self.slot_items.to_pylist(),
               "slot_rules": self.slot_rules.to_pylist(), "metrics": self.metrics}
        tmp = folder / f".{MODEL_FILE}.tmp"
        tmp.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
        tmp.replace(folder / MODEL_FILE)

    @classmethod
    def load(cls, folder: Path) -> Self:
        """Read a model written by :meth:`save`."""
        path = folder / MODEL_FILE
        if not path.exists():
            raise SiyuError(f"no {MODEL_FILE} in {folder}", code="model_not_found")
        doc = json.loads(path.read_text(encoding="utf-8"))
        if doc.get("format") != FORMAT or doc.get("version") != VERSION:
            raise SiyuError(f"{path} is not a version-{VERSION} basket model", code="bad_model_file")
        return cls(BasketConfig(**doc["config"]), pa.Table.from_pylist(doc["rules"], schema=RULES_SCHEMA),
                   pa.Table.from_pylist(doc["slot_items"], schema=SLOT_ITEMS_SCHEMA),
                   pa.Table.from_pylist(doc["slot_rules"], schema=SLOT_RULES_SCHEMA),
                   {k: float(v) for k, v in doc["metrics"].items()},
                   date.fromisoformat(doc["as_of"]) if doc.get("as_of") else None)
