"""The baseline: the same ODS → DWD → DWS → ADS build as ``siyu build``, written plainly in pandas.

It reads the lake that ``siyu import`` wrote and writes the same tables with the same columns as the
SQL of :mod:`siyu.warehouse.layers` (DuckDB dialect), so that the benchmark compares equal work:

* ``identity_extract`` — per ODS day: nodes (identifier, first seen) and anchor → other edges, as
  :mod:`siyu.warehouse.identity.extract` defines them, plus member-binding QR code (活码 ``state``)
  edges; the order system's phone/openid/member_no and ``customer_staff`` binding states too.
* ``identity_resolve`` — reads those files back and runs the *same* engine-independent resolver
  (:func:`siyu.warehouse.identity.resolver.resolve`), writing ``identity/nodes`` and the rest of the
  identity state (nodes, one_ids, redirects, decisions) in the schemas of the SQL build.
* ``dwd_events`` — day by day (a day plus its neighbours, for messageId dedupe); typed properties by
  ``json.loads`` per row; one_id looked up on the anchor identifier.
* ``dwd_orders`` — order_paid events full-outer-joined with the order system's latest rows.
* ``dws`` — per person and day, a groupby per day; ``ads`` — profiles, kpi_daily, id_map by groupby.

Nothing here is tuned: it is what a competent analyst would write first. Compare the result with
:func:`check_same_as_duckdb`.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from rich.console import Console

from benchmarks.frames import (
    factor_min,
    partition_files,
    read_files,
    read_partitioned,
    row_count,
    to_arrow,
    write_table,
)
from siyu.core.config import get_settings
from siyu.core.identifiers import ID_COLUMNS, IdentifierType
from siyu.warehouse.build import BUILT_TABLES, BuildReport
from siyu.warehouse.identity import store
from siyu.warehouse.identity.extract import BY_PRIORITY, EVENT_ID_COLUMNS, ORDER_ID_COLUMNS
from siyu.warehouse.identity.resolver import Edge, Resolution, resolve
from siyu.warehouse.lake import Lake
from siyu.warehouse.layers.dws import BRAND_SIDE_EVENTS

TS = pa.timestamp("us", tz="UTC")
MONEY = pa.decimal128(18, 2)
ID_COLS = list(ID_COLUMNS.values())

# --- typed properties: json_extract_string + TRY_CAST, per row -------------------------------------


def _text(v: Any) -> str | None:
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False)


def _number(v: Any) -> float | None:
    if v is None or isinstance(v, bool | dict | list):
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _cents(v: Any) -> int | None:
    x = _number(v)
    return None if x is None else round(x * 100)


def _int(v: Any) -> int | None:
    x = _number(v)
    return None if x is None else int(math.copysign(math.floor(abs(x) + 0.5), x))  # half away from zero


def _bool(v: Any) -> bool | None:
    if isinstance(v, bool):
        return v
    text = str(v).strip().lower() if v is not None else ""
    return {"true": True, "t": True, "1": True, "false": False, "f": False, "0": False}.get(text)


#: (name, converter, pandas dtype, arrow type) — the list and types of ``dwd.TYPED_PROPERTIES``.
TYPED: list[tuple[str, Callable[[Any], Any], str, pa.DataType]] = [
    ("order_id", _text, "object", pa.string()), ("amount", _cents, "Int64", MONEY),
    ("currency", _text, "object", pa.string()), ("discount_amount", _cents, "Int64", MONEY),
    ("coupon_id", _text, "object", pa.string()), ("content_id", _text, "object", pa.string()),
    ("read_seconds", _number, "Float64", pa.float64()), ("completion", _number, "Float64", pa.float64()),
    ("group_id", _text, "object", pa.string()), ("staff_id", _text, "object", pa.string()),
    ("store_id", _text, "object", pa.string()), ("sku", _text, "object", pa.string()),
    ("category", _text, "object", pa.string()), ("campaign_id", _text, "object", pa.string()),
    ("channel", _text, "object", pa.string()), ("send_id", _text, "object", pa.string()),
    ("state", _text, "object", pa.string()), ("satisfaction", _int, "Int64", pa.int32()),
    ("response_seconds", _number, "Float64", pa.float64()), ("purpose", _text, "object", pa.string()),
    ("granted", _bool, "boolean", pa.bool_()),
]

# --- output schemas (the columns and types the SQL build writes) ----------------------------------

DWD_EVENTS = pa.schema([
    ("message_id", pa.string()), ("one_id", pa.string()), ("type", pa.string()), ("event", pa.string()),
    ("event_time", TS), ("ts_client", TS), ("sent_at", TS), ("received_at", TS),
    ("skew_ms", pa.int64()), ("arrival_lag_ms", pa.int64()), ("event_hour", pa.int64()),
    ("anchor_type", pa.string()), ("anchor_value", pa.string()),
    *[(c, pa.string()) for c in ID_COLS],
    *[(name, typ) for name, _f, _d, typ in TYPED],
    ("properties", pa.string()), ("traits", pa.string()), ("context", pa.string()),
    ("source", pa.string()), ("batch_id", pa.string()),
])
DWD_ORDERS = pa.schema([
    ("order_id", pa.string()), ("one_id", pa.string()), ("paid_at", TS), ("amount", MONEY),
    ("currency", pa.string()), ("channel", pa.string()), ("store_id", pa.string()), ("staff_id", pa.string()),
    ("coupon_id", pa.string()), ("discount_amount", MONEY), ("source", pa.string()), ("dt", pa.date32()),
])
DWD_ORDER_ITEMS = pa.schema([("order_id", pa.string()), ("line_no", pa.int32()), ("sku", pa.string()),
                             ("quantity", pa.int32()), ("price", MONEY)])
_COUNTS = ["events", "interactions"]
_FLAGS = ["page_views", "product_views", "cart_adds"]
_LATER = ["refunds", "content_reads"]
_SOCIAL = ["shares", "group_messages", "cs_contacts", "messages_delivered", "messages_clicked", "store_visits"]
USER_DAILY = pa.schema([
    ("one_id", pa.string()), *[(c, pa.int64()) for c in _COUNTS], ("active", pa.bool_()),
    *[(c, pa.int64()) for c in _FLAGS], ("orders", pa.int64()), ("gmv", MONEY),
    *[(c, pa.int64()) for c in _LATER], ("read_seconds", pa.float64()),
    *[(c, pa.int64()) for c in _SOCIAL], ("first_event_at", TS), ("last_event_at", TS),
])
PROFILES = pa.schema([
    ("one_id", pa.string()), ("user_id", pa.string()), ("member_no", pa.string()), ("unionid", pa.string()),
    ("phone_token", pa.string()), ("identifiers", pa.int64()), ("first_seen_at", TS), ("last_seen_at", TS),
    ("channels", pa.string()), ("owner_staff_id", pa.string()), ("orders", pa.int64()), ("monetary", MONEY),
    ("first_order_date", pa.date32()), ("last_order_date", pa.date32()), ("recency_days", pa.int64()),
    ("frequency", pa.int64()), ("active_days", pa.int64()), ("interactions", pa.int64()),
    ("interactions_30d", pa.int64()), ("last_interaction_date", pa.date32()),
    ("days_since_last_interaction", pa.int64()), ("as_of", pa.date32()),
])
KPI_DAILY = pa.schema([("dt", pa.date32()), ("new_users", pa.int64()), ("dau", pa.int64()), ("orders", pa.int64()),
                       ("gmv", MONEY), ("buyers", pa.int64()), ("repeat_buyers", pa.int64())])
ID_MAP = pa.schema([("identifier_type", pa.string()), ("identifier_value", pa.string()), ("one_id", pa.string())])

#: ODS columns the event layer reads (``extra``/``id_problems`` and the raw user ids are not carried).
ODS_READ = ["message_id", "type", "event", "event_time", "ts_client", "sent_at", "received_at", *ID_COLS,
            "properties", "traits", "context", "source", "batch_id", "loaded_at"]
DEDUPE_ORDER = ["event_time", "received_at", "loaded_at", "batch_id", "source"]


# --- small shared pieces ----------------------------------------------------------------------------


def anchor(df: pd.DataFrame, columns: dict[IdentifierType, str]) -> tuple[pd.Series, pd.Series]:
    """``(anchor_type, anchor_value)``: the highest-priority identifier present on each row."""
    a_type = pd.Series(None, index=df.index, dtype=object)
    a_value = pd.Series(None, index=df.index, dtype=object)
    for kind in reversed([t for t in BY_PRIORITY if t in columns]):  # the strongest is written last
        present = df[columns[kind]].notna()
        a_type = a_type.mask(present, kind.value)
        a_value = a_value.mask(present, df[columns[kind]])
    return a_type, a_value


def node_keys(kind: pd.Series, value: pd.Series) -> pd.Series:
    return kind.str.cat(value, sep=":")


def redirect(one_id: pd.Series, redirects: pd.Series) -> pd.Series:
    """Read one_ids through the merge redirects (retired → surviving)."""
    if redirects.empty:
        return one_id
    return one_id.map(redirects).where(lambda s: s.notna(), one_id)


def local_day(ts: pd.Series, tz: str) -> pd.Series:
    """The business day of a UTC timestamp column (``CAST(ts AS DATE)`` under the session time zone)."""
    return ts.dt.tz_convert(tz).dt.tz_localize(None).dt.normalize()


def _days(lake: Lake) -> list[str]:
    return lake.partitions("ods", "events")


def _ods_day(lake: Lake, day: str, columns: list[str]) -> pd.DataFrame:
    df = read_files(partition_files(lake, "ods", "events", day), columns)
    df["dt"] = day
    return df


def _write_partition(lake: Lake, layer: str, table: str, day: str, df: pd.DataFrame, schema: pa.Schema) -> None:
    write_table(lake.partition_dir(layer, table, day), to_arrow(df, schema))


def _write_whole(lake: Lake, layer: str, table: str, df: pd.DataFrame, schema: pa.Schema) -> None:
    write_table(lake.table_dir(layer, table), to_arrow(df, schema))


# --- identity -------------------------------------------------------------------------------------


def graph_frames(df: pd.DataFrame, columns: dict[IdentifierType, str], time_col: str, evidence_col: str,
                 rule: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Nodes ``(identifier_type, identifier_value, first_seen)`` and anchor → other edges of ``df``."""
    nodes = []
    for kind, col in columns.items():
        part = df.loc[df[col].notna(), [col, time_col]]
        first = part.groupby(col, sort=False)[time_col].min().reset_index()
        first.columns = ["identifier_value", "first_seen"]
        first.insert(0, "identifier_type", kind.value)
        nodes.append(first)
    a_type, a_value = anchor(df, columns)
    parts = []
    for kind, col in columns.items():
        m = df[col].notna() & a_type.notna() & (a_type != kind.value)
        parts.append(pd.DataFrame({"a_type": a_type[m], "a_value": a_value[m], "b_type": kind.value,
                                   "b_value": df.loc[m, col], "ts": df.loc[m, time_col],
                                   "ev": df.loc[m, evidence_col]}))
    edges = pd.concat(parts, ignore_index=True)
    keys = [edges["a_type"], edges["a_value"], edges["b_type"], edges["b_value"]]
    out = edges.groupby(keys, sort=False)["ts"].min().rename("first_seen").to_frame()
    out["evidence"] = factor_min(keys, edges["ev"])
    out = out.reset_index()
    out.columns = ["a_type", "a_value", "b_type", "b_value", "first_seen", "evidence"]
    out["rule"] = rule
    return pd.concat(nodes, ignore_index=True), out


def _bind_user(state: Any, prefix: str) -> str | None:
    """The member id a channel QR code (活码) ``state`` binds to, e.g. ``bind:u123`` → ``u123``."""
    text = _text(state)
    return text[len(prefix):] if text is not None and text.startswith(prefix) and len(text) > len(prefix) else None


def _bind_edges(wecom: pd.Series, user: pd.Series, ts: pd.Series, evidence: pd.Series) -> pd.DataFrame:
    """WeCom contact → member edges (rule ``qr_state_bind``), first seen and smallest evidence per pair."""
    m = wecom.notna() & user.notna()
    df = pd.DataFrame({"a_value": wecom[m], "b_value": user[m], "ts": ts[m], "ev": evidence[m]})
    keys = [df["a_value"], df["b_value"]]
    out = df.groupby(keys, sort=False)["ts"].min().rename("first_seen").to_frame()
    out["evidence"] = factor_min(keys, df["ev"])
    out = out.reset_index()
    out.columns = ["a_value", "b_value", "first_seen", "evidence"]
    out["a_type"], out["b_type"], out["rule"] = IdentifierType.WECOM_EXTERNAL_USERID.value, "user_id", "qr_state_bind"
    return out


def extract_identity(lake: Lake, days: list[str]) -> None:
    prefix = get_settings().wecom_bind_state_prefix
    cols = ["message_id", "event", "event_time", "properties", *ID_COLS]
    wecom_col = ID_COLUMNS[IdentifierType.WECOM_EXTERNAL_USERID]
    for day in days:
        df = _ods_day(lake, day, cols)
        nodes, edges = graph_frames(df, EVENT_ID_COLUMNS, "event_time", "message_id", "same_event")
        added = df[(df["event"] == "wecom_friend_added") & df[wecom_col].notna()]
        users = pd.Series([_bind_user(json.loads(p).get("state") if isinstance(p, str) else None, prefix)
                           for p in added["properties"]], index=added.index, dtype=object)
        bind = _bind_edges(added[wecom_col], users, added["event_time"], added["message_id"])
        _write_partition(lake, "identity", "nodes_raw", day, nodes, store.NODES_RAW)
        _write_partition(lake, "identity", "edges_raw", day, pd.concat([edges, bind], ignore_index=True),
                         store.EDGES_RAW)
    orders = read_files(lake.files("ods", "entities_orders"), ["order_id", "paid_at", *ORDER_ID_COLUMNS.values()])
    nodes, edges = graph_frames(orders, ORDER_ID_COLUMNS, "paid_at", "order_id", "same_order")
    cs = read_files(lake.files("ods", "entities_customer_staff"), ["wecom_external_userid", "staff_id", "added_at",
                                                                   "state"])
    users = pd.Series([_bind_user(v, prefix) for v in cs["state"]], index=cs.index, dtype=object)
    evidence = "customer_staff:" + cs["wecom_external_userid"].fillna("") + ":" + cs["staff_id"].fillna("")
    bind = _bind_edges(cs["wecom_external_userid"], users, cs["added_at"], evidence)
    _write_whole(lake, "identity", "nodes_entities", nodes, store.NODES_RAW)
    _write_whole(lake, "identity", "edges_entities", pd.concat([edges, bind], ignore_index=True), store.EDGES_RAW)


def read_graph(lake: Lake) -> tuple[dict[str, datetime], list[Edge]]:
    """The extracted graph files as the resolver's input: node key → first seen, and canonical edges."""
    nodes = pd.concat([read_partitioned(lake, "identity", "nodes_raw").drop(columns="dt"),
                       read_files(lake.files("identity", "nodes_entities"))], ignore_index=True)
    nodes = nodes.groupby(["identifier_type", "identifier_value"], sort=False)["first_seen"].min().reset_index()
    node_ts = pa.array(nodes["first_seen"], TS).to_pylist()
    graph = dict(zip(node_keys(nodes["identifier_type"], nodes["identifier_value"]), node_ts, strict=True))
    del nodes, node_ts
    raw = pd.concat([read_partitioned(lake, "identity", "edges_raw").drop(columns="dt"),
                     read_files(lake.files("identity", "edges_entities"))], ignore_index=True)
    a, b = node_keys(raw["a_type"], raw["a_value"]), node_keys(raw["b_type"], raw["b_value"])
    lo, hi = a.where(a < b, b), b.where(a < b, a)
    keys = [lo.rename("a"), hi.rename("b")]
    edges = raw.groupby(keys, sort=False)["first_seen"].min().to_frame()
    edges["evidence"] = factor_min(keys, raw["evidence"])
    edges["rule"] = factor_min(keys, raw["rule"])
    del raw, a, b, lo, hi, keys
    edges = edges.reset_index()
    edge_list = [Edge(x, y, ts, ev, rule) for x, y, ts, ev, rule in zip(
        edges["a"], edges["b"], pa.array(edges["first_seen"], TS).to_pylist(), edges["evidence"], edges["rule"],
        strict=True)]
    return graph, edge_list


def resolve_identity(lake: Lake, shared_limit: int = 2) -> store.ResolveSummary:
    """Union of the extracted graph files → the shared resolver → ``identity/nodes`` and friends."""
    graph, edge_list = read_graph(lake)
    res = resolve(graph, edge_list, blocks=store.load_blocks(lake), shared_limit=shared_limit)
    write_identity_state(lake, res)
    rejected: dict[str, int] = {}
    for _e, status, reason in res.decisions:
        if status == "rejected":
            key = reason.split(":")[0] if reason.startswith("value_limit") else reason
            rejected[key] = rejected.get(key, 0) + 1
    return store.ResolveSummary(
        identifiers=len(res.one_id), one_ids=len(res.seed), edges=len(edge_list),
        accepted=sum(1 for _e, s, _r in res.decisions if s == "accepted"), rejected_by_reason=rejected,
        shared_identifiers=sorted(res.shared), new_redirects=len(res.redirects), reassigned=res.reassigned)


def write_identity_state(lake: Lake, res: Resolution) -> None:
    """``identity/nodes``, ``one_ids``, ``redirects``, ``decisions`` of a first (full) resolution."""
    keys = pd.Series(list(res.one_id), dtype=object)
    parts = keys.str.split(":", n=1, expand=True)
    nodes = pd.DataFrame({"identifier_type": parts[0], "identifier_value": parts[1],
                          "one_id": list(res.one_id.values()),
                          "first_seen": pa.array([res.first_seen.get(k) for k in res.one_id], TS).to_pandas()})
    nodes = nodes.sort_values("one_id", kind="mergesort")
    ids = pd.DataFrame({"one_id": list(res.seed), "seed": list(res.seed.values()),
                        "created_at": pa.array([res.created_at[o] for o in res.seed], TS).to_pandas()})
    now = pd.Timestamp.now(tz="UTC")
    redirects = pd.DataFrame({"from_one_id": list(res.redirects), "to_one_id": list(res.redirects.values()),
                              "at": now})
    edges = [e for e, _s, _r in res.decisions]
    decisions = pd.DataFrame({
        "a": [e.a for e in edges], "b": [e.b for e in edges],
        "first_seen": pa.array([e.first_seen for e in edges], TS).to_pandas(),
        "evidence": [e.evidence for e in edges], "rule": [e.rule for e in edges],
        "status": [s for _e, s, _r in res.decisions], "reason": [r for _e, _s, r in res.decisions]})
    for name, df, schema in (("nodes", nodes, store.NODES), ("one_ids", ids, store.ONE_IDS),
                             ("redirects", redirects, store.REDIRECTS), ("decisions", decisions, store.DECISIONS)):
        _write_whole(lake, "identity", name, df.reindex(columns=schema.names), schema)


def _id_lookup(lake: Lake) -> pd.Series:
    """``"type:value"`` → one_id, as a Series whose index is hashed once and reused for every day."""
    nodes = read_files(lake.files("identity", "nodes"), ["identifier_type", "identifier_value", "one_id"])
    return pd.Series(nodes["one_id"].to_numpy(), index=node_keys(nodes["identifier_type"],
                                                                 nodes["identifier_value"]))


def _redirects(lake: Lake) -> pd.Series:
    r = read_files(lake.files("identity", "redirects"), ["from_one_id", "to_one_id"])
    return pd.Series(r["to_one_id"].to_numpy(), index=r["from_one_id"].to_numpy(), dtype=object)


# --- DWD ------------------------------------------------------------------------------------------


def typed_properties(df: pd.DataFrame) -> None:
    """Promote the standard properties to typed columns: one ``json.loads`` per row."""
    parsed = [json.loads(s) if isinstance(s, str) else None for s in df["properties"]]
    props = [p if isinstance(p, dict) else {} for p in parsed]
    for name, conv, dtype, _t in TYPED:
        df[name] = pd.array([conv(p.get(name)) for p in props], dtype=dtype)


def _dedupe(window: pd.DataFrame) -> pd.DataFrame:
    """Keep the first copy of each messageId (earliest corrected time, then earliest arrival)."""
    dup = window["message_id"].duplicated(keep=False)
    if not dup.any():
        return window
    copies = window[dup].sort_values(DEDUPE_ORDER, kind="mergesort", na_position="last")
    return window.drop(index=copies.index[copies["message_id"].duplicated(keep="first")])


def build_events(lake: Lake, days: list[str], tz: str) -> None:
    ids = _id_lookup(lake)
    cache: dict[str, pd.DataFrame] = {}
    for day in days:
        d = date.fromisoformat(day)
        near = [str(d + timedelta(n)) for n in (-1, 0, 1)]
        for k in [k for k in cache if k not in near]:
            del cache[k]
        for k in near:
            if k not in cache and lake.partition_dir("ods", "events", k).exists():
                cache[k] = _ods_day(lake, k, ODS_READ)
        window = _dedupe(pd.concat([cache[k] for k in near if k in cache], ignore_index=True))
        df = window[window["dt"] == day].copy()
        df["anchor_type"], df["anchor_value"] = anchor(df, EVENT_ID_COLUMNS)
        df["one_id"] = node_keys(df["anchor_type"], df["anchor_value"]).map(ids)
        df["skew_ms"] = ((df["sent_at"] - df["received_at"]) / pd.Timedelta(milliseconds=1)).round().astype("Int64")
        df["arrival_lag_ms"] = ((df["received_at"] - df["event_time"]) / pd.Timedelta(milliseconds=1)
                                ).round().astype("Int64")
        df["event_hour"] = df["event_time"].dt.tz_convert(tz).dt.hour
        typed_properties(df)
        _write_partition(lake, "dwd", "events", day, df, DWD_EVENTS)


def build_orders(lake: Lake, tz: str) -> None:
    ids = _id_lookup(lake)
    ev = read_files(lake.files("dwd", "events"), ["order_id", "one_id", "event_time", "amount", "currency",
                                                 "channel", "store_id", "staff_id", "coupon_id",
                                                 "discount_amount", "message_id", "event"],
                    money=("amount", "discount_amount"), filters=[("event", "=", "order_paid")])
    ev = ev[ev["order_id"].notna()].sort_values(["event_time", "message_id"], kind="mergesort")
    ev = ev.drop_duplicates("order_id").rename(columns={"event_time": "paid_at"}).drop(columns=["message_id",
                                                                                                  "event"])
    os_ = read_files(lake.files("ods", "entities_orders"))
    os_ = os_.sort_values("batch_id", ascending=False, kind="mergesort").drop_duplicates("order_id")
    for col in ("amount", "discount_amount"):
        os_[col] = (os_[col] * 100).round().astype("Int64")
    a_type, a_value = anchor(os_, ORDER_ID_COLUMNS)
    os_["one_id"] = node_keys(a_type, a_value).map(ids)
    m = ev.merge(os_, on="order_id", how="outer", suffixes=("_ev", "_os"), indicator=True)
    out = pd.DataFrame({"order_id": m["order_id"],
                        "one_id": m["one_id_ev"].where(m["one_id_ev"].notna(), m["one_id_os"])})
    for col in ("paid_at", "amount", "currency", "channel", "store_id", "staff_id", "coupon_id",
                "discount_amount"):
        out[col] = m[f"{col}_os"].where(m[f"{col}_os"].notna(), m[f"{col}_ev"])
    out["source"] = np.select([m["_merge"] == "left_only", m["_merge"] == "right_only"], ["event", "order_system"],
                              "both")
    out["paid_at"] = pd.to_datetime(out["paid_at"], utc=True)
    out["dt"] = local_day(out["paid_at"], tz)
    _write_whole(lake, "dwd", "orders", out, DWD_ORDERS)

    items = read_files(lake.files("ods", "entities_order_items"))
    items = items.sort_values("batch_id", ascending=False, kind="mergesort").drop_duplicates(["order_id", "line_no"])
    items["price"] = (items["price"] * 100).round().astype("Int64")
    _write_whole(lake, "dwd", "order_items", items, DWD_ORDER_ITEMS)


# --- DWS ------------------------------------------------------------------------------------------


def _daily(ev: pd.DataFrame) -> pd.DataFrame:
    e = ev["event"]
    flags = pd.DataFrame({
        "one_id": ev["one_id"], "events": 1, "interactions": (~e.isin(BRAND_SIDE_EVENTS)).astype(int),
        "page_views": (ev["type"].isin(["page", "screen"]) | (e == "mp_page_viewed")).astype(int),
        "product_views": (e == "product_viewed").astype(int), "cart_adds": (e == "cart_added").astype(int),
        "refunds": (e == "order_refunded").astype(int), "content_reads": (e == "article_read").astype(int),
        # summed in milliseconds like the SQL's DECIMAL(18,3) sum, so the total does not depend on row order
        "read_ms": (ev["read_seconds"].where(e == "article_read").astype(float) * 1000).round(),
        "shares": (e == "content_shared").astype(int), "group_messages": (e == "group_message_sent").astype(int),
        "cs_contacts": (e == "cs_consulted").astype(int),
        "messages_delivered": (e == "message_delivered").astype(int),
        "messages_clicked": (e == "message_clicked").astype(int),
        "store_visits": (e == "store_visited").astype(int),
    })
    g = flags.groupby("one_id", sort=False)
    daily = g.sum()
    daily["read_seconds"] = daily.pop("read_ms") / 1000
    times = ev.groupby("one_id", sort=False)["event_time"]
    daily["first_event_at"], daily["last_event_at"] = times.min(), times.max()
    return daily


def build_dws(lake: Lake) -> None:
    redirects = _redirects(lake)
    orders = read_files(lake.files("dwd", "orders"), ["one_id", "amount", "dt"], money=("amount",))
    orders = orders[orders["one_id"].notna()]
    orders["one_id"] = redirect(orders["one_id"], redirects)
    orders["day"] = pd.to_datetime(orders["dt"]).dt.strftime("%Y-%m-%d")
    days = sorted(set(lake.partitions("dwd", "events")) | set(orders["day"]))
    for day in days:
        ev = read_files(partition_files(lake, "dwd", "events", day),
                        ["one_id", "type", "event", "read_seconds", "event_time"])
        if not ev.empty:
            ev["one_id"] = redirect(ev["one_id"], redirects)
            ev = ev[ev["one_id"].notna()]
        daily = _daily(ev) if not ev.empty else pd.DataFrame()
        od = orders[orders["day"] == day].groupby("one_id", sort=False).agg(orders=("amount", "size"),
                                                                           gmv=("amount", "sum"))
        out = daily.join(od, how="outer") if not daily.empty else od
        for col in USER_DAILY.names[1:]:
            if col not in out.columns:
                out[col] = None
        for col in ["events", "interactions", *_FLAGS, "orders", "gmv", *_LATER, *_SOCIAL]:
            out[col] = out[col].fillna(0).astype("int64")
        out["read_seconds"] = out["read_seconds"].astype(float).fillna(0.0)
        out["active"] = out["interactions"] > 0
        _write_partition(lake, "dws", "user_daily", day, out.reset_index(names="one_id"), USER_DAILY)


# --- ADS ------------------------------------------------------------------------------------------


def _ids(nodes: pd.DataFrame) -> pd.DataFrame:
    g = nodes.groupby("one_id", sort=False)
    ids = pd.DataFrame({"identifiers": g.size(), "first_seen_at": g["first_seen"].min()})
    for kind, name in ((IdentifierType.USER_ID, "user_id"), (IdentifierType.MEMBER_NO, "member_no"),
                       (IdentifierType.UNIONID, "unionid"), (IdentifierType.PHONE, "phone_token")):
        sub = nodes[nodes["identifier_type"] == kind.value]
        ids[name] = factor_min([sub["one_id"]], sub["identifier_value"])
    for kind in (IdentifierType.WECOM_EXTERNAL_USERID, IdentifierType.OPENID):
        ids[f"has_{kind.value}"] = ids.index.isin(nodes.loc[nodes["identifier_type"] == kind.value, "one_id"])
    return ids


def _activity(udc: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    g = udc.groupby("one_id", sort=False)
    act = g.agg(last_seen_at=("last_event_at", "max"), interactions=("interactions", "sum"),
                content_reads=("content_reads", "sum"), page_views=("page_views", "sum"),
                store_visits=("store_visits", "sum"), group_messages=("group_messages", "sum"),
                cs_contacts=("cs_contacts", "sum"))
    active = udc[udc["active"]].groupby("one_id", sort=False)["dt"]
    act["last_interaction_date"], act["active_days"] = active.max(), active.nunique()
    recent = udc[udc["dt"] > as_of - pd.Timedelta(days=30)]
    act["interactions_30d"] = recent.groupby("one_id", sort=False)["interactions"].sum()
    return act


def _owner(lake: Lake, nodes: pd.DataFrame) -> pd.Series:
    cs = read_files(lake.files("ods", "entities_customer_staff"), ["wecom_external_userid", "staff_id", "added_at"])
    wecom = nodes[nodes["identifier_type"] == IdentifierType.WECOM_EXTERNAL_USERID.value]
    cs["one_id"] = cs["wecom_external_userid"].map(pd.Series(wecom["one_id"].to_numpy(),
                                                             index=wecom["identifier_value"].to_numpy()))
    cs = cs[cs["one_id"].notna()].sort_values(["one_id", "added_at", "staff_id"], ascending=[True, False, True],
                                              na_position="last", kind="mergesort")
    return cs.drop_duplicates("one_id").set_index("one_id")["staff_id"]


def _channels(p: pd.DataFrame) -> pd.Series:
    """``concat_ws(',', …)`` of the channels a person is reachable on, in the SQL's order."""
    out = pd.Series("", index=p.index, dtype=object)
    for cond, label in ((p["has_wecom_external_userid"], "wecom"), (p["content_reads"] > 0, "official_account"),
                        (p["has_openid"] | (p["page_views"] > 0), "mini_program"),
                        (p["group_messages"] > 0, "community"), (p["store_visits"] > 0, "store"),
                        (p["cs_contacts"] > 0, "customer_service")):
        out = out.where(~cond.astype(bool), np.where(out == "", label, out + "," + label))
    return out


def build_ads(lake: Lake, tz: str) -> None:
    redirects = _redirects(lake)
    udc = read_partitioned(lake, "dws", "user_daily", ["one_id", "active", "interactions", "content_reads",
                                                       "page_views", "store_visits", "group_messages",
                                                       "cs_contacts", "last_event_at", "orders", "gmv"],
                           money=("gmv",))
    udc["one_id"] = redirect(udc["one_id"], redirects)
    as_of = udc["dt"].max() if not udc.empty else pd.Timestamp("1970-01-01")
    nodes = read_files(lake.files("identity", "nodes"))

    orders = read_files(lake.files("dwd", "orders"), ["one_id", "amount", "dt"], money=("amount",))
    orders = orders[orders["one_id"].notna()]
    orders["one_id"] = redirect(orders["one_id"], redirects)
    orders["dt"] = pd.to_datetime(orders["dt"])
    ord_ = orders.groupby("one_id", sort=False).agg(orders=("amount", "size"), monetary=("amount", "sum"),
                                                    first_order_date=("dt", "min"), last_order_date=("dt", "max"))
    p = _ids(nodes).join(_activity(udc, as_of)).join(ord_).join(_owner(lake, nodes).rename("owner_staff_id"))
    for col in ("content_reads", "page_views", "group_messages", "store_visits", "cs_contacts", "orders",
                "monetary", "active_days", "interactions", "interactions_30d"):
        p[col] = p[col].fillna(0).astype("int64")
    p["channels"] = _channels(p)
    p["frequency"] = p["orders"]
    p["recency_days"] = (as_of - p["last_order_date"]).dt.days.astype("Int64")
    p["days_since_last_interaction"] = (as_of - p["last_interaction_date"]).dt.days.astype("Int64")
    p["as_of"] = as_of
    _write_whole(lake, "ads", "profiles", p.reset_index(names="one_id"), PROFILES)

    firsts = udc[udc["active"]].groupby("one_id")["dt"].min()
    first_orders = udc[udc["orders"] > 0].groupby("one_id")["dt"].min()
    ppd = udc.groupby(["one_id", "dt"], sort=False).agg(active=("active", "max"), orders=("orders", "sum"),
                                                        gmv=("gmv", "sum")).reset_index()
    ppd["new"] = ppd["one_id"].map(firsts) == ppd["dt"]
    ppd["buyer"] = ppd["orders"] > 0
    ppd["repeat"] = (ppd["orders"] > 1) | (ppd["buyer"] & (ppd["one_id"].map(first_orders) < ppd["dt"]))
    kpi = ppd.groupby("dt").agg(new_users=("new", "sum"), dau=("active", "sum"), orders=("orders", "sum"),
                                gmv=("gmv", "sum"), buyers=("buyer", "sum"), repeat_buyers=("repeat", "sum"))
    _write_whole(lake, "ads", "kpi_daily", kpi.reset_index(), KPI_DAILY)
    _write_whole(lake, "ads", "id_map", nodes, ID_MAP)


# --- the build ------------------------------------------------------------------------------------


def build_pandas(lake: Lake | str | Path, *, shared_limit: int = 2) -> BuildReport:
    """Full build of ``lake`` in pandas; ``.seconds`` uses the step names of :class:`BuildReport`."""
    lk = lake if isinstance(lake, Lake) else Lake(lake)
    tz = get_settings().business_timezone
    report = BuildReport(engine="pandas")
    t = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal t
        now = time.perf_counter()
        report.seconds[name] = round(now - t, 3)
        t = now

    days = _days(lk)
    extract_identity(lk, days)
    lap("identity_extract")
    report.identity = resolve_identity(lk, shared_limit)
    lap("identity_resolve")
    report.days_built = days
    build_events(lk, days, tz)
    lap("dwd_events")
    build_orders(lk, tz)
    lap("dwd_orders")
    build_dws(lk)
    lap("dws")
    build_ads(lk, tz)
    lap("ads")
    for layer, table in BUILT_TABLES:
        report.rows[f"{layer}.{table}"] = row_count(lk, layer, table)
    return report


# --- self-check -----------------------------------------------------------------------------------

KPI_COLUMNS = ["new_users", "dau", "orders", "gmv", "buyers", "repeat_buyers"]
PROFILE_COLUMNS = ["orders", "monetary", "active_days", "interactions"]


def _read_whole(lake: Lake, table: str, columns: list[str], money: tuple[str, ...]) -> pd.DataFrame:
    return read_files(lake.files("ads", table), columns, money=money)


def _ne(df: pd.DataFrame, col: str) -> np.ndarray:
    """Rows where ``col_a`` and ``col_b`` differ (a missing value on one side counts as different)."""
    a, b = df[f"{col}_a"].astype("Float64"), df[f"{col}_b"].astype("Float64")
    return np.asarray((a != b).to_numpy(dtype=bool, na_value=True) & ~(a.isna() & b.isna()).to_numpy(bool))


def check_same_as_duckdb(lake_pandas: Lake | str | Path, lake_duckdb: Lake | str | Path, *, show: int = 10,
                         console: Console | None = None) -> dict[str, Any]:
    """Compare ``ads.kpi_daily`` and ``ads.profiles`` of two built lakes; print the differences.

    KPI totals must match exactly (money in cents); per-day and per-person differences are counted
    and the first ``show`` of each printed. Works for any two lakes (e.g. spark vs duckdb).
    """
    out = console or Console()
    a = lake_pandas if isinstance(lake_pandas, Lake) else Lake(lake_pandas)
    b = lake_duckdb if isinstance(lake_duckdb, Lake) else Lake(lake_duckdb)
    ka = _read_whole(a, "kpi_daily", ["dt", *KPI_COLUMNS], ("gmv",)).set_index("dt")
    kb = _read_whole(b, "kpi_daily", ["dt", *KPI_COLUMNS], ("gmv",)).set_index("dt")
    totals: dict[str, list[int | float]] = {c: [int(ka[c].sum()), int(kb[c].sum())] for c in KPI_COLUMNS}
    totals["gmv"] = [round(x / 100, 2) for x in totals["gmv"]]
    kpi = ka.join(kb, how="outer", lsuffix="_a", rsuffix="_b").fillna(0)
    kpi_diff = kpi[np.logical_or.reduce([_ne(kpi, c) for c in KPI_COLUMNS])]

    pa_ = _read_whole(a, "profiles", ["one_id", *PROFILE_COLUMNS], ("monetary",)).set_index("one_id")
    pb = _read_whole(b, "profiles", ["one_id", *PROFILE_COLUMNS], ("monetary",)).set_index("one_id")
    prof = pa_.join(pb, how="inner", lsuffix="_a", rsuffix="_b")
    per_col = {c: int(_ne(prof, c).sum()) for c in PROFILE_COLUMNS}
    prof_diff = prof[np.logical_or.reduce([_ne(prof, c) for c in PROFILE_COLUMNS])]
    result = {
        "kpi_days": [len(ka), len(kb)], "kpi_days_differing": len(kpi_diff), "kpi_totals": totals,
        "kpi_totals_match": all(x == y for x, y in totals.values()),
        "profiles": [len(pa_), len(pb)], "profiles_only_in_a": int((~pa_.index.isin(pb.index)).sum()),
        "profiles_only_in_b": int((~pb.index.isin(pa_.index)).sum()),
        "profiles_differing": len(prof_diff), "profile_differences_by_column": per_col,
    }
    result["identical"] = bool(result["kpi_totals_match"] and not len(kpi_diff) and not len(prof_diff)
                               and not result["profiles_only_in_a"] and not result["profiles_only_in_b"])
    if len(kpi_diff):
        out.print(f"[yellow]kpi_daily: {len(kpi_diff)} day(s) differ[/]")
        out.print(kpi_diff.head(show).to_string())
    if len(prof_diff):
        out.print(f"[yellow]profiles: {len(prof_diff)} person(s) differ {per_col}[/]")
        out.print(prof_diff.head(show).to_string())
    if result["profiles_only_in_a"] or result["profiles_only_in_b"]:
        out.print(f"[yellow]profiles only in one lake: {result['profiles_only_in_a']} / "
                  f"{result['profiles_only_in_b']}[/]")
    return result
