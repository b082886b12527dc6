"""Basket rules (购物篮关联规则): FP-growth on order baskets, support / confidence / lift, "bought together"
suggestions per product and time-slot effects. See docs/clusters-and-baskets.md.

Mine a built lake::

    from siyu.models.baskets import BasketConfig, train_baskets
    model = train_baskets(lake, BasketConfig(min_support=0.002))
    model.rules                      # antecedents → consequents with support, confidence, lift, …
    model.bought_together()          # item → [suggestions]
    model.slot_items                 # which items over-index in which slot (weekday/weekend × day part)
    model.save(folder)               # JSON; BasketModel.load(folder) reads it back
"""

from __future__ import annotations

from datetime import date

from siyu.models.baskets.model import BasketConfig, BasketModel, basket_config
from siyu.models.baskets.rules import (
    BOUGHT_TOGETHER_SCHEMA,
    RULES_SCHEMA,
    association_table,
    bought_together,
    frequent_itemsets,
)
from siyu.models.baskets.slots import SLOT_ITEMS_SCHEMA, SLOT_RULES_SCHEMA, SlotConfig
from siyu.models.baskets.source import Baskets, basket_items, basket_sql
from siyu.profile.views import register_profile_sources
from siyu.warehouse.engine import Engine, open_engine
from siyu.warehouse.lake import Lake

#: The lake tables the baskets read (for the registry's data fingerprint); products only for categories.
TABLES = ("dwd/orders", "dwd/order_items", "ods/entities_products")

__all__ = [
    "BOUGHT_TOGETHER_SCHEMA", "RULES_SCHEMA", "SLOT_ITEMS_SCHEMA", "SLOT_RULES_SCHEMA", "TABLES", "BasketConfig",
    "BasketModel",
    "Baskets", "SlotConfig", "association_table", "basket_config", "basket_items", "basket_sql", "bought_together",
    "fit_baskets", "frequent_itemsets", "train_baskets",
]


def fit_baskets(engine: Engine, as_of: date, config: BasketConfig | None = None) -> BasketModel:
    """Mine the baskets of the engine's views paid up to ``as_of`` (and within ``config.start``/``end``)."""
    config = config or BasketConfig()
    end = min(config.end, as_of) if config.end else as_of
    table = basket_items(engine, config.level, config.basket, config.start, end)
    return BasketModel.fit(Baskets.from_table(table), config, as_of=end)


def train_baskets(lake: Lake, config: BasketConfig | None = None, *, as_of: date | None = None,
                  engine_name: str = "duckdb") -> BasketModel:
    """Read the baskets of a built lake (``siyu build``) on the engine, up to ``as_of`` when given, and mine them."""
    config = config or BasketConfig()
    engine = open_engine(engine_name)
    try:
        with lake.lock(shared=True):
            register_profile_sources(engine, lake)
            end = min(config.end, as_of) if config.end and as_of else config.end or as_of
            table = basket_items(engine, config.level, config.basket, config.start, end)
    finally:
        engine.close()
    return BasketModel.fit(Baskets.from_table(table), config, as_of=end)
