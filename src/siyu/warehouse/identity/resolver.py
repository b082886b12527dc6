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

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from siyu.core.identifiers import IDENTIFIER_PRIORITY, STRONG_TYPES, IdentifierType

DEFAULT_VALUE_LIMITS: dict[str, int] = {
    "user_id": 1, "member_no": 1, "unionid": 1, "phone": 2, "wecom_external_userid": 2,
    "email": 3, "openid": 6, "anonymous_id": 50, "device_id": 10,
}
TYPE_INDEX = {t.value: i for i, t in enumerate(IdentifierType)}
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


def split_key(key: str) -> tuple[str, str]:
    kind, _, value = key.partition(":")
    return kind, value


def mint_one_id(seed_key: str) -> str:
    """Deterministic id from the seed identifier, so every engine and every re-run agrees."""
    return "o_" + hashlib.sha256(seed_key.encode()).hexdigest()[:20]


def shared_nodes(edges: Iterable[Edge], limit: int) -> set[str]:
    """Nodes seen with more than ``limit`` distinct values of one strong identifier type."""
    seen: dict[tuple[str, str], set[str]] = defaultdict(set)
    for e in edges:
        for x, y in ((e.a, e.b), (e.b, e.a)):
            ytype = y.split(":", 1)[0]
            if ytype in STRONG:
                seen[(x, ytype)].add(y)
    return {x for (x, _t), ys in seen.items() if len(ys) > limit}


class _UnionFind:
    def __init__(self, limits: dict[str, int]) -> None:
        self.parent: dict[str, str] = {}
        self.counts: dict[str, list[int]] = {}
        self.limit_vec = [limits.get(t.value, 10**9) for t in IdentifierType]

    def add(self, key: str) -> None:
        if key not in self.parent:
            self.parent[key] = key
            vec = [0] * len(TYPE_INDEX)
            vec[TYPE_INDEX[key.split(":", 1)[0]]] = 1
            self.counts[key] = vec

    def find(self, key: str) -> str:
        root = key
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[key] != root:  # path compression
            self.parent[key], key = root, self.parent[key]
        return root

    def union(self, a: str, b: str) -> str | None:
        """Merge; returns ``None`` on success or the name of the value limit that refused it."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return None
        ca, cb = self.counts[ra], self.counts[rb]
        for i, (x, y) in enumerate(zip(ca, cb, strict=True)):
            if x + y > self.limit_vec[i]:
                return f"value_limit:{list(IdentifierType)[i].value}"
        if sum(ca) < sum(cb):  # union by size keeps the trees shallow
            ra, rb, ca, cb = rb, ra, cb, ca
        self.parent[rb] = ra
        self.counts[ra] = [x + y for x, y in zip(ca, cb, strict=True)]
        del self.counts[rb]
        return None


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
    """Resolve ``nodes`` (key → first seen) and ``edges`` into one_ids, keeping earlier ids stable.

    ``shared`` is the set of shared identifiers when the caller computed it over more edges than it
    passes (an incremental resolution of part of the graph); otherwise it is computed from ``edges``.
    """
    previous = previous or {}
    previous_created = previous_created or {}
    previous_seed = previous_seed or {}
    blocks = blocks or set()
    uf = _UnionFind(limits or DEFAULT_VALUE_LIMITS)
    nodes = dict(nodes)
    for e in edges:  # an edge's ends are nodes even if the caller did not list them
        for k in (e.a, e.b):
            if k not in nodes or e.first_seen < nodes[k]:
                nodes[k] = e.first_seen
    for key in nodes:
        uf.add(key)
    if shared is None:
        shared = shared_nodes(edges, shared_limit)
    decisions: list[tuple[Edge, str, str]] = []
    for e in sorted(edges, key=lambda e: (e.first_seen, e.evidence, e.a, e.b)):
        if frozenset((e.a, e.b)) in blocks:
            decisions.append((e, "rejected", "blocked"))
            continue
        if e.a in shared or e.b in shared:
            decisions.append((e, "rejected", "shared_identifier"))
            continue
        refused = uf.union(e.a, e.b)
        decisions.append((e, "rejected", refused) if refused else (e, "accepted", e.rule))

    members: dict[str, list[str]] = defaultdict(list)
    for key in uf.parent:
        members[uf.find(key)].append(key)
    seed_owner = {seed: oid for oid, seed in previous_seed.items()}
    result = Resolution(one_id={}, created_at={}, seed={}, decisions=decisions, shared=shared, first_seen=nodes)
    for keys in members.values():
        first = {k: nodes[k] for k in keys}
        owned = [seed_owner[k] for k in keys if k in seed_owner]
        if owned:
            owned.sort(key=lambda oid: (previous_created[oid], oid))
            oid, seed = owned[0], previous_seed[owned[0]]
            created = previous_created[oid]
            for other in owned[1:]:
                result.redirects[other] = oid
        else:
            seed = min(keys, key=lambda k: (first[k], -IDENTIFIER_PRIORITY[IdentifierType(k.split(":", 1)[0])], k))
            oid, created = mint_one_id(seed), first[seed]
        result.seed[oid] = seed
        result.created_at[oid] = created
        for k in keys:
            result.one_id[k] = oid
    for k, old in previous.items():
        new = result.one_id.get(k)
        if new is not None and old != new and result.redirects.get(old) != new:
            result.reassigned.add(old)  # moved by a split: rows stamped with ``old`` need rewriting
    return result
