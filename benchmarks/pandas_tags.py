"""The baseline: the same tags as ``siyu tags build``, written plainly in pandas.

It reads the lake's parquet with only the columns the tags need — ``dwd/events`` (plus the JSON
``properties`` of the few events whose rules read a JSON property), ``dwd/orders``, ``dwd/order_items``,
products and content — and follows OneID merge redirects as ``siyu.profile.views`` does. The profile
facts (``ads/profiles`` with RFM class, lifecycle stage and tier) are read from the DuckDB run's lake:
the engines compute them, the baseline only has to do the tags. People become integer positions so
that every per-person step is a vectorised filter + count/sum/groupby: rules in
:mod:`benchmarks.pandas_rules`, statistics and composites in :mod:`benchmarks.pandas_stats`. The
result is written to ``ads/tag_values`` and compared with DuckDB's by :mod:`benchmarks.tag_check`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from benchmarks.frames import decimal_to_cents, write_table
from benchmarks.pandas_rules import RuleMasks
from benchmarks.pandas_stats import composite, statistic
from siyu.profile.rules import check_rule, parse_rule
from siyu.profile.rules.ast import EventRule, FieldRule, OrderRule, Rule, SequenceRule, walk
from siyu.profile.rules.schema import DEFAULT_SCHEMA
from siyu.profile.tags.build import TAG_VALUES_SCHEMA
from siyu.profile.tags.model import CompositeTag, RuleTag, StatisticalTag, TagDefinition, load_tag_definitions
from siyu.profile.tags.plan import dependency_levels, tag_inputs
from siyu.warehouse.lake import Lake

#: Columns the ``profile`` view takes from the fact tables (the rest come from ``ads/profiles``).
FACT_COLUMNS = {"rfm": ("rfm_r", "rfm_f", "rfm_m", "rfm_class", "rfm_class_en"),
                "lifecycle": ("lifecycle", "activity_class", "idle_days"),
                "tiers": ("tier", "tier_zh", "spend_to_next_tier", "orders_to_next_tier")}
MONEY_COLUMNS = ("amount", "discount_amount", "monetary", "spend_to_next_tier", "price")
#: Event columns the statistics read, whatever the rules need.
STAT_EVENT_COLUMNS = {"event", "dt", "event_hour", "content_id", "read_seconds"}


@dataclass
class Inputs:
    """What the tags read; people are ``pid`` positions in ``ids`` and the first ``n`` are the profile."""

    as_of: date
    ids: pd.Index
    n: int
    profile: pd.DataFrame
    events: pd.DataFrame
    orders: pd.DataFrame
    items: pd.DataFrame
    products: pd.DataFrame
    content: pd.DataFrame
    json_events: dict[str, pd.DataFrame] = field(default_factory=dict)


@dataclass
class Needs:
    """Which fields, event columns and JSON properties (by event) the rules read."""

    fields: set[str] = field(default_factory=set)
    event_columns: set[str] = field(default_factory=lambda: set(STAT_EVENT_COLUMNS))
    json: dict[str, set[str]] = field(default_factory=dict)

    def add(self, rule: Rule) -> None:
        typed = DEFAULT_SCHEMA.event_properties
        for node in walk(rule):
            if isinstance(node, FieldRule):
                self.fields.add(node.field)
            elif isinstance(node, SequenceRule):
                self.event_columns.add("event_time")
            elif isinstance(node, EventRule):
                for name in [c.property for c in node.where] + ([node.property] if node.property else []):
                    if name in typed:
                        self.event_columns.add(name)
                    else:
                        self.json.setdefault(node.event, set()).add(name)
            elif isinstance(node, OrderRule):
                pass  # orders are read whole: a handful of columns


class People:
    """one_id ⇄ position; redirects (OneID merges) applied as the views apply them."""

    def __init__(self, profile_ids: pd.Series, redirects: pd.Series) -> None:
        self.index = pd.Index(profile_ids)
        self.n = len(self.index)
        self.redirects = redirects

    def pids(self, one_ids: pa.ChunkedArray) -> np.ndarray:
        parts = []
        for chunk in one_ids.chunks:  # dictionary-encode per chunk: look each distinct one_id up once
            enc = chunk.dictionary_encode()
            values = pd.Series(enc.dictionary.to_numpy(zero_copy_only=False), dtype=object)
            current = values.map(self.redirects).fillna(values)
            pos = self.index.get_indexer(current)
            if (pos < 0).any():
                self.index = self.index.append(pd.Index(pd.unique(current[pos < 0])))
                pos = self.index.get_indexer(current)
            lut = np.append(pos, -1)
            parts.append(lut[pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False)])
        return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)


def _frame(table: pa.Table, people: People) -> pd.DataFrame:
    """Arrow → pandas: one_id → pid, decimals → cents, text → categoricals, days → datetime64."""
    pids = people.pids(table.column("one_id")) if "one_id" in table.column_names else None
    table = table.drop_columns([c for c in ("one_id",) if c in table.column_names])
    for name in MONEY_COLUMNS:
        if name in table.column_names:
            table = table.set_column(table.schema.get_field_index(name), name, decimal_to_cents(table[name]))
    df = table.to_pandas(strings_to_categorical=True, date_as_object=False)
    if pids is not None:
        df.insert(0, "pid", pids)
    return df


def _dataset(lake: Lake, layer: str, table: str) -> ds.Dataset:
    return ds.dataset(str(lake.table_dir(layer, table)), format="parquet",
                      partitioning=ds.partitioning(pa.schema([("dt", pa.date32())]), flavor="hive"))


def _json_text(value: Any) -> str | None:
    """What ``json_extract_string`` gives for a JSON value."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _read(files: list[str], columns: list[str]) -> pd.DataFrame:
    """Parquet files → pandas with decimal columns as cents and days as datetime64."""
    table = pq.read_table(files, columns=columns)
    for name in MONEY_COLUMNS:
        if name in table.column_names:
            table = table.set_column(table.schema.get_field_index(name), name, decimal_to_cents(table[name]))
    return table.to_pandas(date_as_object=False)


def _profile(facts: Lake, fields: set[str]) -> pd.DataFrame:
    """The ``profile`` view's columns the rules read: ads/profiles left-joined with RFM, lifecycle and tiers."""
    from_facts = {c for cols in FACT_COLUMNS.values() for c in cols}
    df = _read(facts.files("ads", "profiles"), ["one_id", *sorted(fields - from_facts)])
    df = df[df["one_id"].notna()].drop_duplicates("one_id")
    for table, columns in FACT_COLUMNS.items():
        cols = sorted(fields & set(columns))
        if cols:
            df = df.merge(_read(facts.files("ads", table), ["one_id", *cols]), on="one_id", how="left")
    return df.reset_index(drop=True)


def load_inputs(lake: Lake, facts: Lake, needs: Needs) -> Inputs:
    """Read everything the tags need (only the needed columns) into person-keyed frames."""
    as_of = pq.read_table(facts.files("ads", "lifecycle"), columns=["as_of"])["as_of"].to_pylist()
    red = pq.read_table(lake.files("identity", "redirects"), columns=["from_one_id", "to_one_id"]).to_pandas() \
        if lake.exists("identity", "redirects") else pd.DataFrame({"from_one_id": [], "to_one_id": []})
    profile = _profile(facts, needs.fields)
    people = People(profile["one_id"], red.set_index("from_one_id")["to_one_id"])
    events_ds = _dataset(lake, "dwd", "events")
    columns = ["one_id", *sorted(needs.event_columns)]
    valid = pc.field("one_id").is_valid()
    events = _frame(events_ds.to_table(columns=columns, filter=valid), people)
    json_events = {}
    for event, props in sorted(needs.json.items()):  # parse JSON only for the events whose rules read it
        t = events_ds.to_table(columns=[*columns, "properties"], filter=valid & (pc.field("event") == event))
        frame = _frame(t.drop_columns(["properties"]), people)
        parsed = [json.loads(s) if s else {} for s in t.column("properties").to_pylist()]
        for prop in sorted(props):
            frame[f"json.{prop}"] = pd.Series([_json_text(p.get(prop)) if isinstance(p, dict) else None
                                               for p in parsed], index=frame.index, dtype=object)
        json_events[event] = frame
    orders = _frame(pq.read_table(lake.files("dwd", "orders"), columns=[
        "one_id", "order_id", "amount", "discount_amount", "coupon_id", "channel", "store_id", "dt"]), people)
    orders["order_id"] = orders["order_id"].astype(object)
    items = _read(lake.files("dwd", "order_items"), ["order_id", "sku", "quantity", "price"])
    products = _read(lake.files("ods", "entities_products"), ["sku", "category"])
    content = _read(lake.files("ods", "entities_content"), ["content_id", "content_type"])
    return Inputs(as_of=max(d for d in as_of if d is not None), ids=people.index, n=people.n,
                  profile=profile.drop(columns=["one_id"]), events=events, orders=orders, items=items,
                  products=products, content=content, json_events=json_events)


def build_tags_pandas(lake: Lake, defs: Path, facts: Lake) -> dict[str, Any]:
    """Build every tag of ``defs`` into ``lake``'s ``ads/tag_values``; seconds per phase and counts."""
    t0 = time.perf_counter()
    tags = load_tag_definitions(defs)
    rules = {n: check_rule(parse_rule(t.rule), DEFAULT_SCHEMA) for n, t in tags.items() if isinstance(t, RuleTag)}
    needs = Needs()
    for rule in rules.values():
        needs.add(rule)
    x = load_inputs(lake, facts, needs)
    t1 = time.perf_counter()
    built: dict[str, pd.DataFrame] = {}
    masks = RuleMasks(x, built)
    skipped = []
    for level in dependency_levels({n: tag_inputs(t, DEFAULT_SCHEMA) for n, t in tags.items()}):
        for name in level:
            tag: TagDefinition = tags[name]
            if isinstance(tag, RuleTag):
                pids = np.flatnonzero(masks.mask(rules[name]))
                built[name] = pd.DataFrame({"pid": pids, "value": "true", "score": 1.0})
            elif isinstance(tag, StatisticalTag):
                built[name] = statistic(x, tag.statistic, tag.params)
            elif isinstance(tag, CompositeTag):
                built[name] = composite(x, tag, built)
            else:
                skipped.append(name)  # predictive: needs a model's table
    t2 = time.perf_counter()
    out = pd.concat([f.assign(tag=name) for name, f in built.items()], ignore_index=True)
    ids = x.ids.to_numpy(dtype=object)
    table = pa.table({"one_id": pa.array(ids[out["pid"].to_numpy()], pa.string()),
                      "tag": pa.array(out["tag"], pa.string()), "value": pa.array(out["value"], pa.string()),
                      "score": pa.array(out["score"], pa.float64())}, schema=TAG_VALUES_SCHEMA)
    write_table(lake.table_dir("ads", "tag_values"), table)
    t3 = time.perf_counter()
    return {"as_of": x.as_of.isoformat(), "built": len(built), "skipped": skipped, "rows": table.num_rows,
            "people": x.n, "events_rows": len(x.events),
            "seconds": {"load": round(t1 - t0, 3), "evaluate": round(t2 - t1, 3), "write": round(t3 - t2, 3)}}
