"""The identity graph's storage in ``lake/identity`` and the resolve step of a build.

Tables: ``nodes_raw`` / ``edges_raw`` (per source day, extracted incrementally), ``nodes_entities`` /
``edges_entities`` (from orders and member-binding QR codes), ``nodes`` (identifier → one_id: the id map), ``one_ids``
(seed identifier and creation time per id), ``redirects`` (retired → surviving id), ``decisions``
(every edge, accepted or rejected, with the rule or guard), ``blocks`` (links refused by a split).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from siyu.core.config import get_settings
from siyu.warehouse.engine import Engine
from siyu.warehouse.identity.components import TableResolution, resolve_tables
from siyu.warehouse.identity.extract import EVENT_ID_COLUMNS, ORDER_ID_COLUMNS, edges_sql, nodes_sql
from siyu.warehouse.identity.resolver import STRONG
from siyu.warehouse.lake import Lake

TS = pa.timestamp("us", tz="UTC")
NODES_RAW = pa.schema([("identifier_type", pa.string()), ("identifier_value", pa.string()), ("first_seen", TS)])
EDGES_RAW = pa.schema([
    ("a_type", pa.string()), ("a_value", pa.string()), ("b_type", pa.string()), ("b_value", pa.string()),
    ("first_seen", TS), ("evidence", pa.string()), ("rule", pa.string()),
])
NODES = pa.schema([("identifier_type", pa.string()), ("identifier_value", pa.string()), ("one_id", pa.string()),
                   ("first_seen", TS)])
ONE_IDS = pa.schema([("one_id", pa.string()), ("seed", pa.string()), ("created_at", TS)])
REDIRECTS = pa.schema([("from_one_id", pa.string()), ("to_one_id", pa.string()), ("at", TS)])
DECISIONS = pa.schema([
    ("a", pa.string()), ("b", pa.string()), ("first_seen", TS), ("evidence", pa.string()), ("rule", pa.string()),
    ("status", pa.string()), ("reason", pa.string()),
])
BLOCKS = pa.schema([("a", pa.string()), ("b", pa.string()), ("created_at", TS), ("note", pa.string())])


@dataclass
class ResolveSummary:
    identifiers: int
    one_ids: int
    edges: int
    accepted: int
    rejected_by_reason: dict[str, int]
    shared_identifiers: list[str]
    new_redirects: int
    reassigned: set[str]
    #: True when the new days brought no new identifier, link or block: nothing was rewritten.
    unchanged: bool = False


def register_identity(engine: Engine, lake: Lake) -> None:
    """Views of the current identity state (empty before the first build)."""
    engine.register("id_nodes", lake.files("identity", "nodes"), NODES)
    engine.register("id_map", lake.files("identity", "nodes"), NODES)
    engine.register("redirects", lake.files("identity", "redirects"), REDIRECTS)


def extract_event_graph(engine: Engine, lake: Lake, days: list[str]) -> None:
    """Write ``nodes_raw``/``edges_raw`` partitions for ``days`` from the registered ``ods_events``."""
    src = "(SELECT e.* FROM ods_events AS e JOIN build_days AS d ON e.dt = d.dt)"
    edges = (f"SELECT * FROM ({edges_sql(src, EVENT_ID_COLUMNS, 'event_time', 'message_id', 'same_event', 'dt')})"
             f" AS s UNION ALL SELECT * FROM ({EVENT_STATE_BIND_EDGES.format(src=src)}) AS b")
    prefix = {"prefix": get_settings().wecom_bind_state_prefix}
    for table, sql, params in (
        ("nodes_raw", nodes_sql(src, EVENT_ID_COLUMNS, "event_time", "dt"), None),
        ("edges_raw", edges, prefix),
    ):
        with lake.staging("identity", table) as tmp:
            engine.write(sql, tmp / "out", params=params, partition_by="dt")
            lake.commit_partitions("identity", table, tmp / "out", days)


#: A WeCom contact added through a personalised member-binding channel QR code (活码) whose ``state``
#: is ``<prefix><user_id>`` belongs to that member: the mini program or app generated the code for them.
STATE_BIND_EDGES = """
SELECT 'wecom_external_userid' AS a_type, wecom_external_userid AS a_value, 'user_id' AS b_type,
       substr(state, length($prefix) + 1) AS b_value, min(added_at) AS first_seen,
       min(concat('customer_staff:', wecom_external_userid, ':', staff_id)) AS evidence,
       'qr_state_bind' AS rule, CAST('1970-01-01' AS DATE) AS dt
FROM ods_customer_staff
WHERE wecom_external_userid IS NOT NULL AND starts_with(state, $prefix) AND length(state) > length($prefix)
GROUP BY 1, 2, 3, 4
"""


#: The same binding read from a ``wecom_friend_added`` event's ``state`` property.
EVENT_STATE_BIND_EDGES = """
SELECT 'wecom_external_userid' AS a_type, id_wecom_external_userid AS a_value, 'user_id' AS b_type,
       substr(state, length($prefix) + 1) AS b_value, min(event_time) AS first_seen, min(message_id) AS evidence,
       'qr_state_bind' AS rule, dt
FROM (SELECT *, json_extract_string(properties, '$.state') AS state FROM {src} AS x
      WHERE event = 'wecom_friend_added') AS w
WHERE id_wecom_external_userid IS NOT NULL AND starts_with(state, $prefix) AND length(state) > length($prefix)
GROUP BY 1, 2, 3, 4, dt
"""


def extract_entity_graph(engine: Engine, lake: Lake) -> None:
    """Rewrite ``nodes_entities``/``edges_entities`` from entity exports.

    Orders link their phone, openid and member_no; WeCom contacts added through a member-binding
    channel QR code link the contact to the member (``SIYU_WECOM_BIND_STATE_PREFIX``, default ``bind:``).
    """
    src = "(SELECT *, CAST('1970-01-01' AS DATE) AS dt FROM ods_orders)"
    prefix = {"prefix": get_settings().wecom_bind_state_prefix}
    edges = (f"SELECT * FROM ({edges_sql(src, ORDER_ID_COLUMNS, 'paid_at', 'order_id', 'same_order', 'dt')}) AS o "
             f"UNION ALL SELECT * FROM ({STATE_BIND_EDGES}) AS b")
    for table, sql, params in (
        ("nodes_entities", nodes_sql(src, ORDER_ID_COLUMNS, "paid_at", "dt"), None),
        ("edges_entities", edges, prefix),
    ):
        with lake.staging("identity", table) as tmp:
            engine.write(sql, tmp / "out", params=params)
            lake.replace_table("identity", table, tmp / "out")


def load_blocks(lake: Lake) -> set[frozenset[str]]:
    if not lake.exists("identity", "blocks"):
        return set()
    t = pq.read_table(lake.files("identity", "blocks"))
    return {frozenset((a, b)) for a, b in zip(t["a"].to_pylist(), t["b"].to_pylist(), strict=True)}


def add_block(lake: Lake, a: str, b: str, note: str) -> None:
    """Record that identifiers ``a`` and ``b`` (``type:value``) must never be linked again."""
    row = pa.Table.from_pylist([{"a": a, "b": b, "created_at": datetime.now(UTC), "note": note}], schema=BLOCKS)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    lake.write_file("identity", "blocks", f"block-{stamp}.parquet", row)


def _register_raw(engine: Engine, lake: Lake) -> None:
    for name, schema in (("nodes_raw", NODES_RAW), ("nodes_entities", NODES_RAW), ("edges_raw", EDGES_RAW),
                         ("edges_entities", EDGES_RAW)):
        engine.register(f"id_{name}", lake.files("identity", name), schema.append(pa.field("dt", pa.date32())))


def _canonical_edges_sql(where_raw: str, with_entities: bool) -> str:
    """Raw edges as ``(a, b)`` node keys with ``a < b``, one row per pair."""
    key = "concat(a_type, ':', a_value) AS a, concat(b_type, ':', b_value) AS b, first_seen, evidence, rule"
    parts = [f"SELECT {key} FROM id_edges_raw AS r {where_raw}"]
    if with_entities:
        parts.append(f"SELECT {key} FROM id_edges_entities")
    return (
        "SELECT a, b, min(first_seen) AS first_seen, min(evidence) AS evidence, min(rule) AS rule FROM ("
        "SELECT CASE WHEN a < b THEN a ELSE b END AS a, CASE WHEN a < b THEN b ELSE a END AS b, "
        "first_seen, evidence, rule FROM (" + " UNION ALL ".join(parts) + ") AS u) AS c GROUP BY a, b"
    )


def _nodes_sql(where_raw: str, with_entities: bool) -> str:
    cols = "identifier_type, identifier_value, first_seen"
    parts = [f"SELECT {cols} FROM id_nodes_raw AS r {where_raw}"]
    if with_entities:
        parts.append(f"SELECT {cols} FROM id_nodes_entities")
    return ("SELECT concat(identifier_type, ':', identifier_value) AS k, min(first_seen) AS first_seen FROM ("
            + " UNION ALL ".join(parts) + ") AS n GROUP BY 1")


def _shared_sql(limit: int) -> str:
    """Identifiers seen with more than ``limit`` distinct values of one strong type, over all edges."""
    strong = ", ".join(f"'{t}'" for t in sorted(STRONG))
    both = []
    for src in ("id_edges_raw", "id_edges_entities"):
        both.append(f"SELECT concat(a_type, ':', a_value) AS x, b_type AS t, b_value AS y FROM {src}")
        both.append(f"SELECT concat(b_type, ':', b_value) AS x, a_type AS t, a_value AS y FROM {src}")
    return (
        "SELECT DISTINCT x FROM (SELECT x, t, count(DISTINCT y) AS n FROM (" + " UNION ALL ".join(both)
        + f") AS e WHERE t IN ({strong}) GROUP BY x, t) AS c WHERE n > {int(limit)}"
    )


def _node_keys(nodes: pa.Table) -> pa.Array:
    return pc.binary_join_element_wise(nodes["identifier_type"], nodes["identifier_value"], ":")


def _read(lake: Lake, table: str, schema: pa.Schema) -> pa.Table:
    return pq.read_table(lake.files("identity", table)) if lake.exists("identity", table) else schema.empty_table()


def resolve_graph(engine: Engine, lake: Lake, *, days: list[str] | None = None, entities_changed: bool = True,
                  full: bool = False, limits: dict[str, int] | None = None, shared_limit: int = 2) -> ResolveSummary:
    """Fold the new days' edges into the identity graph; ``full`` re-decides every edge from scratch.

    Incrementally, only the profiles a new edge, a newly shared identifier or a new block touches
    are re-resolved (with every edge decided inside them before); every other profile is left as is.
    """
    _register_raw(engine, lake)
    first_build = not lake.exists("identity", "nodes")
    state = lake.read_state("identity")
    if not (full or first_build) and (quiet := _nothing_new(engine, lake, state, days, entities_changed,
                                                           shared_limit)) is not None:
        return quiet
    shared = {r["x"] for r in engine.query(_shared_sql(shared_limit)).to_pylist()}
    old_nodes = _read(lake, "nodes", NODES)
    old_decisions = _read(lake, "decisions", DECISIONS)
    old_ids = _read(lake, "one_ids", ONE_IDS)
    blocks = load_blocks(lake)
    if full or first_build:
        scope_days = None
        new_pairs = engine.query(_canonical_edges_sql("", True))
        new_nodes = engine.query(_nodes_sql("", True))
        touched: set[str] = set(old_ids["one_id"].to_pylist())
    else:
        engine.register_arrow("id_scope_days", pa.table({"dt": pa.array(
            sorted(date.fromisoformat(d) for d in days or []), pa.date32())}))
        scope_days = "JOIN id_scope_days AS s ON r.dt = s.dt"
        engine.register("id_decisions", lake.files("identity", "decisions"), DECISIONS)
        new_pairs = engine.query(
            f"SELECT c.* FROM ({_canonical_edges_sql(scope_days, entities_changed)}) AS c "
            "LEFT JOIN id_decisions AS d ON d.a = c.a AND d.b = c.b WHERE d.a IS NULL")
        new_nodes = engine.query(_nodes_sql(scope_days, entities_changed))
        old_shared = set(state.get("shared", []))
        new_blocks = {k for pair in blocks if pair not in {frozenset(p) for p in state.get("blocks", [])}
                      for k in pair}
        keys = set(new_pairs["a"].to_pylist()) | set(new_pairs["b"].to_pylist()) | (shared - old_shared) | new_blocks
        hit = old_nodes.filter(pc.is_in(_node_keys(old_nodes), pa.array(sorted(keys), pa.string())))
        touched = set(hit["one_id"].to_pylist())

    # The subgraph: every node of a touched profile, plus new nodes; every edge decided inside it.
    touched_ids = pa.array(sorted(touched), pa.string())
    in_scope = old_nodes.filter(pc.is_in(old_nodes["one_id"], touched_ids))
    scope_nodes = pa.table({"k": _node_keys(in_scope), "first_seen": in_scope["first_seen"]})
    if scope_days is not None:  # a known identifier seen again adds nothing unless an edge touched it
        new_nodes = new_nodes.filter(pc.invert(pc.is_in(new_nodes["k"], _node_keys(old_nodes))))
    nodes = pa.concat_tables([scope_nodes.cast(SCOPE_NODES), new_nodes.select(["k", "first_seen"]).cast(SCOPE_NODES)])
    key_set = pc.unique(pa.concat_arrays([nodes["k"].combine_chunks(), new_pairs["a"].combine_chunks(),
                                          new_pairs["b"].combine_chunks()]))
    inside = pc.and_(pc.is_in(old_decisions["a"], key_set), pc.is_in(old_decisions["b"], key_set))
    if scope_days is None:  # from scratch: every raw pair is in new_pairs; old decisions are all replaced
        kept_decisions, redecide = DECISIONS.empty_table(), DECISIONS.empty_table()
    else:
        kept_decisions, redecide = old_decisions.filter(pc.invert(inside)), old_decisions.filter(inside)
    edges = pa.concat_tables([redecide.select(list(EDGE_COLUMNS.names)).cast(EDGE_COLUMNS),
                              new_pairs.select(list(EDGE_COLUMNS.names)).cast(EDGE_COLUMNS)])
    res = resolve_tables(
        nodes, edges,
        previous=pa.table({"k": scope_nodes["k"], "one_id": in_scope["one_id"]}),
        previous_ids=old_ids.filter(pc.is_in(old_ids["one_id"], touched_ids)),
        blocks=blocks, limits=limits, shared=shared,
    )
    rest_nodes = old_nodes.filter(pc.invert(pc.is_in(_node_keys(old_nodes), res.nodes["k"])))
    rest_ids = old_ids.filter(pc.invert(pc.is_in(old_ids["one_id"], touched_ids)))
    _write_state(lake, res, rest_nodes, rest_ids, kept_decisions)
    summary = _summary(lake, res)
    lake.write_state("identity", {
        "shared": sorted(shared), "blocks": sorted(sorted(p) for p in blocks), "shared_limit": shared_limit,
        "totals": {"identifiers": summary.identifiers, "one_ids": summary.one_ids, "edges": summary.edges,
                   "accepted": summary.accepted, "rejected_by_reason": summary.rejected_by_reason}})
    return summary


def _nothing_new(engine: Engine, lake: Lake, state: dict[str, Any], days: list[str] | None,
                 entities_changed: bool, shared_limit: int) -> ResolveSummary | None:
    """The summary of the graph as it stands when the new days hold no new identifier, no undecided
    link and no new block (the usual micro-batch: known people doing things); else None.

    The full pass reads and rewrites the whole graph (at 1M people, 6M identifiers: ~40 s); this one
    reads only the new days' edges and identifiers and looks them up.
    """
    totals = state.get("totals")
    if entities_changed or not isinstance(totals, dict) or state.get("shared_limit") != shared_limit:
        return None  # entity exports re-derive edges wholesale; an older lake has no totals to report
    if {frozenset(p) for p in state.get("blocks", [])} != load_blocks(lake):
        return None
    engine.register_arrow("id_scope_days", pa.table({"dt": pa.array(
        sorted(date.fromisoformat(d) for d in days or []), pa.date32())}))
    engine.register("id_decisions", lake.files("identity", "decisions"), DECISIONS)
    engine.register("id_nodes", lake.files("identity", "nodes"), NODES)
    scope = "JOIN id_scope_days AS s ON r.dt = s.dt"
    pairs = engine.query(f"SELECT count(*) AS n FROM ({_canonical_edges_sql(scope, False)}) AS c "
                         "LEFT JOIN id_decisions AS d ON d.a = c.a AND d.b = c.b WHERE d.a IS NULL")
    if pairs["n"][0].as_py():
        return None
    nodes = engine.query(f"SELECT count(*) AS n FROM ({_nodes_sql(scope, False)}) AS x "
                         "LEFT JOIN (SELECT concat(identifier_type, ':', identifier_value) AS k FROM id_nodes) AS m "
                         "ON m.k = x.k WHERE m.k IS NULL")
    if nodes["n"][0].as_py():
        return None
    return ResolveSummary(**totals, shared_identifiers=[], new_redirects=0, reassigned=set(), unchanged=True)


SCOPE_NODES = pa.schema([("k", pa.string()), ("first_seen", TS)])
EDGE_COLUMNS = pa.schema([("a", pa.string()), ("b", pa.string()), ("first_seen", TS), ("evidence", pa.string()),
                          ("rule", pa.string())])


def _summary(lake: Lake, res: TableResolution) -> ResolveSummary:
    dec = pq.read_table(lake.files("identity", "decisions"), columns=["status", "reason"])
    rejected: dict[str, int] = {}
    for row in dec.filter(pc.equal(dec["status"], "rejected")).group_by("reason").aggregate(
            [([], "count_all")]).to_pylist():
        key = row["reason"].split(":")[0] if row["reason"].startswith("value_limit") else row["reason"]
        rejected[key] = rejected.get(key, 0) + row["count_all"]
    nodes = pq.read_metadata(lake.files("identity", "nodes")[0]).num_rows
    ids = pq.read_metadata(lake.files("identity", "one_ids")[0]).num_rows
    return ResolveSummary(
        identifiers=nodes, one_ids=ids, edges=dec.num_rows,
        accepted=dec.num_rows - sum(rejected.values()), rejected_by_reason=rejected,
        shared_identifiers=sorted(res.shared), new_redirects=len(res.redirects), reassigned=res.reassigned,
    )


def _write_state(lake: Lake, res: TableResolution, rest_nodes: pa.Table, rest_ids: pa.Table,
                 kept_decisions: pa.Table) -> None:
    now = datetime.now(UTC)
    parts = pc.extract_regex(res.nodes["k"], r"^(?P<t>[a-z_]+):(?P<v>.*)$")
    changed_nodes = pa.table({"identifier_type": pc.struct_field(parts, "t"),
                              "identifier_value": pc.struct_field(parts, "v"),
                              "one_id": res.nodes["one_id"], "first_seen": res.nodes["first_seen"]}).cast(NODES)
    old_red = _read(lake, "redirects", REDIRECTS)
    redirects = dict(zip(old_red["from_one_id"].to_pylist(), old_red["to_one_id"].to_pylist(), strict=True))
    redirects.update(res.redirects)
    live = set(rest_ids["one_id"].to_pylist()) | set(res.one_ids["one_id"].to_pylist())
    flat = {}
    for src in redirects:  # collapse chains a→b→c into a→c, dropping any that end where they began
        dst, hops = redirects[src], 0
        while dst in redirects and hops < 64:
            dst, hops = redirects[dst], hops + 1
        if dst != src and dst in live:
            flat[src] = dst
    write = [
        ("nodes", pa.concat_tables([rest_nodes.cast(NODES), changed_nodes]).sort_by("one_id")),
        ("one_ids", pa.concat_tables([rest_ids.cast(ONE_IDS), res.one_ids.cast(ONE_IDS)])),
        ("redirects", pa.table({"from_one_id": list(flat), "to_one_id": list(flat.values()),
                                "at": [now] * len(flat)}, schema=REDIRECTS)),
        ("decisions", pa.concat_tables([kept_decisions.cast(DECISIONS),
                                        res.decisions.select(DECISIONS.names).cast(DECISIONS)])),
    ]
    for name, table in write:
        with lake.staging("identity", name) as tmp:
            out = tmp / "t"
            out.mkdir()
            pq.write_table(table, out / "part-0.parquet", compression="zstd")
            lake.replace_table("identity", name, out)
