"""The identity graph's storage in ``lake/identity`` and the resolve step of a build.

Tables: ``nodes_raw`` / ``edges_raw`` (per source day, extracted incrementally), ``nodes_orders`` /
``edges_orders`` (from the order system), ``nodes`` (identifier → one_id: the id map), ``one_ids``
(seed identifier and creation time per id), ``redirects`` (retired → surviving id), ``decisions``
(every edge, accepted or rejected, with the rule or guard), ``blocks`` (links refused by a split).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq

from siyu.warehouse.engine import Engine
from siyu.warehouse.identity.extract import EVENT_ID_COLUMNS, ORDER_ID_COLUMNS, edges_sql, nodes_sql
from siyu.warehouse.identity.resolver import Edge, Resolution, node_key, resolve, split_key
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
    ("a", pa.string()), ("b", pa.string()), ("first_seen", TS), ("evidence", pa.string()),
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


def register_identity(engine: Engine, lake: Lake) -> None:
    """Views of the current identity state (empty before the first build)."""
    engine.register("id_nodes", lake.files("identity", "nodes"), NODES)
    engine.register("id_map", lake.files("identity", "nodes"), NODES)
    engine.register("redirects", lake.files("identity", "redirects"), REDIRECTS)


def extract_event_graph(engine: Engine, lake: Lake, days: list[str]) -> None:
    """Write ``nodes_raw``/``edges_raw`` partitions for ``days`` from the registered ``ods_events``."""
    src = "(SELECT e.* FROM ods_events AS e JOIN build_days AS d ON e.dt = d.dt)"
    for table, sql in (
        ("nodes_raw", nodes_sql(src, EVENT_ID_COLUMNS, "event_time", "dt")),
        ("edges_raw", edges_sql(src, EVENT_ID_COLUMNS, "event_time", "message_id", "same_event", "dt")),
    ):
        with lake.staging("identity", table) as tmp:
            engine.write(sql, tmp / "out", partition_by="dt")
            lake.commit_partitions("identity", table, tmp / "out", days)


def extract_order_graph(engine: Engine, lake: Lake) -> None:
    """Rewrite ``nodes_orders``/``edges_orders`` from the order system's rows (phone + openid + member_no)."""
    src = "(SELECT *, CAST('1970-01-01' AS DATE) AS dt FROM ods_orders)"
    for table, sql in (
        ("nodes_orders", nodes_sql(src, ORDER_ID_COLUMNS, "paid_at", "dt")),
        ("edges_orders", edges_sql(src, ORDER_ID_COLUMNS, "paid_at", "order_id", "same_order", "dt")),
    ):
        with lake.staging("identity", table) as tmp:
            engine.write(sql, tmp / "out")
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


def _previous(lake: Lake) -> tuple[dict[str, str], dict[str, datetime], dict[str, str], dict[str, str]]:
    previous: dict[str, str] = {}
    created: dict[str, datetime] = {}
    seed: dict[str, str] = {}
    redirects: dict[str, str] = {}
    if lake.exists("identity", "nodes"):
        t = pq.read_table(lake.files("identity", "nodes"), columns=["identifier_type", "identifier_value", "one_id"])
        for kind, value, oid in zip(*(t[c].to_pylist() for c in t.column_names), strict=True):
            previous[node_key(kind, value)] = oid
    if lake.exists("identity", "one_ids"):
        t = pq.read_table(lake.files("identity", "one_ids"))
        for oid, s, c in zip(t["one_id"].to_pylist(), t["seed"].to_pylist(), t["created_at"].to_pylist(), strict=True):
            seed[oid], created[oid] = s, c
    if lake.exists("identity", "redirects"):
        t = pq.read_table(lake.files("identity", "redirects"))
        redirects = dict(zip(t["from_one_id"].to_pylist(), t["to_one_id"].to_pylist(), strict=True))
    return previous, created, seed, redirects


def _graph(engine: Engine, lake: Lake) -> tuple[dict[str, datetime], list[Edge]]:
    for name, schema in (("nodes_raw", NODES_RAW), ("nodes_orders", NODES_RAW), ("edges_raw", EDGES_RAW),
                         ("edges_orders", EDGES_RAW)):
        engine.register(f"id_{name}", lake.files("identity", name), schema)
    nodes_t = engine.query(
        "SELECT identifier_type, identifier_value, min(first_seen) AS first_seen FROM ("
        "SELECT identifier_type, identifier_value, first_seen FROM id_nodes_raw UNION ALL "
        "SELECT identifier_type, identifier_value, first_seen FROM id_nodes_orders) AS n "
        "GROUP BY identifier_type, identifier_value"
    )
    edges_t = engine.query(
        "SELECT a, b, min(first_seen) AS first_seen, min(evidence) AS evidence, min(rule) AS rule FROM ("
        "SELECT CASE WHEN a < b THEN a ELSE b END AS a, CASE WHEN a < b THEN b ELSE a END AS b, "
        "first_seen, evidence, rule FROM ("
        "SELECT concat(a_type, ':', a_value) AS a, concat(b_type, ':', b_value) AS b, first_seen, evidence, rule "
        "FROM id_edges_raw UNION ALL "
        "SELECT concat(a_type, ':', a_value) AS a, concat(b_type, ':', b_value) AS b, first_seen, evidence, rule "
        "FROM id_edges_orders) AS u) AS c GROUP BY a, b"
    )
    nodes = {
        node_key(k, v): ts
        for k, v, ts in zip(nodes_t["identifier_type"].to_pylist(), nodes_t["identifier_value"].to_pylist(),
                            nodes_t["first_seen"].to_pylist(), strict=True)
    }
    edges = [
        Edge(a, b, ts, ev, rule)
        for a, b, ts, ev, rule in zip(*(edges_t[c].to_pylist() for c in ("a", "b", "first_seen", "evidence", "rule")),
                                      strict=True)
    ]
    return nodes, edges


def resolve_graph(engine: Engine, lake: Lake, *, limits: dict[str, int] | None = None,
                  shared_limit: int = 2) -> ResolveSummary:
    """Re-resolve the whole (compact) identity graph, keeping earlier one_ids stable."""
    nodes, edges = _graph(engine, lake)
    previous, created, seed, old_redirects = _previous(lake)
    res = resolve(nodes, edges, previous=previous, previous_created=created, previous_seed=seed,
                  blocks=load_blocks(lake), limits=limits, shared_limit=shared_limit)
    _write_state(lake, res, nodes, old_redirects)
    rejected: dict[str, int] = {}
    for _e, status, reason in res.decisions:
        if status == "rejected":
            key = reason.split(":")[0] if reason.startswith("value_limit") else reason
            rejected[key] = rejected.get(key, 0) + 1
    return ResolveSummary(
        identifiers=len(res.one_id), one_ids=len(res.seed), edges=len(edges),
        accepted=sum(1 for _e, s, _r in res.decisions if s == "accepted"), rejected_by_reason=rejected,
        shared_identifiers=sorted(res.shared), new_redirects=len(res.redirects), reassigned=res.reassigned,
    )


def _write_state(lake: Lake, res: Resolution, nodes: dict[str, datetime], old_redirects: dict[str, str]) -> None:
    now = datetime.now(UTC)
    kinds, values, oids, firsts = [], [], [], []
    for key, oid in sorted(res.one_id.items()):
        kind, value = split_key(key)
        kinds.append(kind)
        values.append(value)
        oids.append(oid)
        firsts.append(nodes.get(key))
    write = [
        ("nodes", pa.table({"identifier_type": kinds, "identifier_value": values, "one_id": oids,
                            "first_seen": firsts}, schema=NODES)),
        ("one_ids", pa.table({"one_id": list(res.seed), "seed": list(res.seed.values()),
                              "created_at": [res.created_at[o] for o in res.seed]}, schema=ONE_IDS)),
    ]
    redirects = {**old_redirects, **res.redirects}
    flat = {}
    for src in redirects:  # collapse chains a→b→c into a→c, dropping any that end where they began
        dst, hops = redirects[src], 0
        while dst in redirects and hops < 64:
            dst, hops = redirects[dst], hops + 1
        if dst != src and dst in res.seed:
            flat[src] = dst
    write.append(("redirects", pa.table({"from_one_id": list(flat), "to_one_id": list(flat.values()),
                                         "at": [now] * len(flat)}, schema=REDIRECTS)))
    write.append(("decisions", pa.table({
        "a": [e.a for e, _s, _r in res.decisions], "b": [e.b for e, _s, _r in res.decisions],
        "first_seen": [e.first_seen for e, _s, _r in res.decisions],
        "evidence": [e.evidence for e, _s, _r in res.decisions],
        "status": [s for _e, s, _r in res.decisions], "reason": [r for _e, _s, r in res.decisions],
    }, schema=DECISIONS)))
    for name, table in write:
        with lake.staging("identity", name) as tmp:
            out = tmp / "t"
            out.mkdir()
            pq.write_table(table, out / "part-0.parquet", compression="zstd")
            lake.replace_table("identity", name, out)
