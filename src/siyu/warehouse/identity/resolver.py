"""OneID resolution: connected components of the identity graph, with guards.

The graph's nodes are typed identifiers and its edges are co-occurrences (same event, same order).
Edges are replayed in chronological order into a union-find, and an edge is refused when:

* either end is *blocked* together with the other (``siyu identity split`` wrote a block);
* either end is a *shared identifier*: seen with more than ``shared_limit`` distinct values of one
  strong type (a store tablet used by many customers) — such a node stays on its own;
* the merge would give one person more values of a type than that type's *value limit* allows
  (Segment's "value limits": one user_id, one unionid, …).

Ids are stable: a component keeps an existing one_id when it holds that id's seed identifier
(the oldest wins when several do; the others become redirects to it), otherwise a new one_id is
minted from the component's earliest identifier. Every decision is kept as evidence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import pyarrow as pa

from siyu.core.identifiers import STRONG_TYPES
from siyu.warehouse.identity.components import DEFAULT_VALUE_LIMITS, mint_one_id, resolve_tables

__all__ = ["DEFAULT_VALUE_LIMITS", "Edge", "Resolution", "mint_one_id", "node_key", "resolve"]
STRONG = {t.value for t in STRONG_TYPES}


@dataclass(frozen=True, slots=True)
class Edge:
    a: str  # node key "type:value"
    b: str
    first_seen: datetime
    evidence: str
    rule: str


@dataclass
class Resolution:
    """Outcome of one resolution: node → one_id, the decisions, and id lineage."""

    one_id: dict[str, str]
    created_at: dict[str, datetime]
    seed: dict[str, str]
    decisions: list[tuple[Edge, str, str]] = field(default_factory=list)  # (edge, status, reason)
    redirects: dict[str, str] = field(default_factory=dict)  # retired one_id → surviving one_id
    shared: set[str] = field(default_factory=set)
    reassigned: set[str] = field(default_factory=set)  # old one_ids whose identifiers moved by a split
    first_seen: dict[str, datetime] = field(default_factory=dict)  # every node, edge ends included


def node_key(kind: str, value: str) -> str:
    return f"{kind}:{value}"


def resolve(
    nodes: dict[str, datetime],
    edges: list[Edge],
    *,
    previous: dict[str, str] | None = None,
    previous_created: dict[str, datetime] | None = None,
    previous_seed: dict[str, str] | None = None,
    blocks: set[frozenset[str]] | None = None,
    limits: dict[str, int] | None = None,
    shared_limit: int = 2,
    shared: set[str] | None = None,
) -> Resolution:
    """Resolve small graphs given as Python objects (the tables version does the work).

    ``shared`` is the set of shared identifiers when the caller computed it over more edges than it
    passes; otherwise it is computed from ``edges``.
    """
    ts = pa.timestamp("us", tz="UTC")
    nodes_t = pa.table({"k": pa.array(list(nodes), pa.string()), "first_seen": pa.array(list(nodes.values()), ts)})
    edges_t = pa.table({
        "a": pa.array([e.a for e in edges], pa.string()), "b": pa.array([e.b for e in edges], pa.string()),
        "first_seen": pa.array([e.first_seen for e in edges], ts),
        "evidence": pa.array([e.evidence for e in edges], pa.string()),
        "rule": pa.array([e.rule for e in edges], pa.string()),
    })
    prev_t = prev_ids = None
    if previous:
        prev_t = pa.table({"k": list(previous), "one_id": list(previous.values())})
    if previous_seed:
        created = previous_created or {}
        prev_ids = pa.table({"one_id": list(previous_seed), "seed": list(previous_seed.values()),
                             "created_at": pa.array([created[o] for o in previous_seed], ts)})
    tr = resolve_tables(nodes_t, edges_t, previous=prev_t, previous_ids=prev_ids, blocks=blocks, limits=limits,
                        shared=shared, shared_limit=shared_limit)
    ids = tr.one_ids.to_pylist()
    decisions = [
        (Edge(d["a"], d["b"], d["first_seen"], d["evidence"], d["rule"]), d["status"], d["reason"])
        for d in tr.decisions.to_pylist()
    ]
    return Resolution(
        one_id=dict(zip(tr.nodes["k"].to_pylist(), tr.nodes["one_id"].to_pylist(), strict=True)),
        created_at={r["one_id"]: r["created_at"] for r in ids},
        seed={r["one_id"]: r["seed"] for r in ids},
        decisions=decisions, redirects=tr.redirects, shared=tr.shared, reassigned=tr.reassigned,
        first_seen=dict(zip(tr.nodes["k"].to_pylist(), tr.nodes["first_seen"].to_pylist(), strict=True)),
    )
