"""What a rule may read: profile fields and their types, and the typed columns of events and orders.

The compiler emits column names only from this schema (never from the rule's text), so a field the
schema does not list cannot reach SQL.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from siyu.profile.rules.errors import RuleError


class FieldType(StrEnum):
    """Type of a profile field or a typed property column."""

    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATE = "date"
    TIMESTAMP = "timestamp"


S, INT, N, D, T = FieldType.STRING, FieldType.INTEGER, FieldType.NUMBER, FieldType.DATE, FieldType.TIMESTAMP

#: Columns of the ``profile`` view a rule may compare (kept in sync with ``siyu.profile.views``).
DEFAULT_PROFILE_FIELDS: Mapping[str, FieldType] = MappingProxyType({
    "one_id": S, "user_id": S, "member_no": S, "owner_staff_id": S, "channels": S,
    "orders": INT, "monetary": N, "frequency": INT, "recency_days": INT, "active_days": INT,
    "interactions": INT, "interactions_30d": INT, "days_since_last_interaction": INT,
    "first_seen_at": T, "last_seen_at": T,
    "first_order_date": D, "last_order_date": D, "last_interaction_date": D,
    "rfm_r": INT, "rfm_f": INT, "rfm_m": INT, "rfm_class": S, "rfm_class_en": S,
    "lifecycle": S, "tier": S, "spend_to_next_tier": N,
    "activity_class": S, "idle_days": INT, "lifecycle_since": D, "tier_zh": S, "orders_to_next_tier": INT,
    "identifiers": INT,
})

#: Fields only the nightly batch computes: rules reading them cannot be kept up to date in real time.
BATCH_ONLY_FIELDS: frozenset[str] = frozenset({
    "rfm_r", "rfm_f", "rfm_m", "rfm_class", "rfm_class_en", "lifecycle", "tier", "spend_to_next_tier",
    "activity_class", "idle_days", "lifecycle_since", "tier_zh", "orders_to_next_tier",
})

#: Typed property columns of the ``events`` view; any other property is read from the ``properties`` JSON.
EVENT_PROPERTY_COLUMNS: Mapping[str, FieldType] = MappingProxyType({
    **{name: S for name in ("order_id", "currency", "coupon_id", "content_id", "group_id", "staff_id", "store_id",
                            "sku", "category", "campaign_id", "channel", "state")},
    "amount": N, "discount_amount": N, "read_seconds": N, "completion": N, "response_seconds": N,
    "satisfaction": INT,
})

#: Columns of the ``orders`` view a rule may filter on (``order_count(where channel = "mini_program")``).
ORDER_COLUMNS: Mapping[str, FieldType] = MappingProxyType({
    "order_id": S, "channel": S, "store_id": S, "coupon_id": S, "amount": N, "discount_amount": N,
})

#: A name that may become a quoted SQL identifier (schema columns) or a JSON path (``$.name``).
COLUMN_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
PROPERTY_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: check results are cached per schema
class RuleSchema:
    """The fields rules may read. ``events``: known event names (``None`` accepts any event)."""

    fields: Mapping[str, FieldType] = field(default_factory=lambda: DEFAULT_PROFILE_FIELDS)
    batch_only: frozenset[str] = BATCH_ONLY_FIELDS
    event_properties: Mapping[str, FieldType] = field(default_factory=lambda: EVENT_PROPERTY_COLUMNS)
    order_columns: Mapping[str, FieldType] = field(default_factory=lambda: ORDER_COLUMNS)
    events: frozenset[str] | None = None

    def __post_init__(self) -> None:
        for group in (self.fields, self.event_properties, self.order_columns):
            for name, type_ in group.items():
                if not COLUMN_NAME.match(name) or not isinstance(type_, FieldType):
                    raise RuleError(f"schema column {name!r} is not a plain lower-case name with a FieldType",
                                    code="bad_schema")
        if "one_id" not in self.fields:
            raise RuleError("the profile schema must have one_id", code="bad_schema")


DEFAULT_SCHEMA = RuleSchema()
