"""OneID resolution over Arrow tables: integer union-find with guards, linear in memory.

The same rules as :mod:`siyu.warehouse.identity.resolver` describes, on a representation that
fits a million people in a few GiB: identifiers become integer indices, the union-find is a list
of ints, per-profile type counts exist only for profiles of more than one identifier, and every
decision is a byte. Strings are touched again only to write the result.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from siyu.core.identifiers import IDENTIFIER_PRIORITY, STRONG_TYPES, IdentifierType

TYPES = list(IdentifierType)
TYPE_NAMES = pa.array([t.value for t in TYPES], pa.string())
PRIORITY = np.array([IDENTIFIER_PRIORITY[t] for t in TYPES], dtype=np.int64)
STRONG_CODES = np.array([t in STRONG_TYPES for t in TYPES])
ACCEPTED, BLOCKED, SHARED = 0, 1, 2  # decision codes; VALUE_LIMIT + type code for a refused merge
VALUE_LIMIT = 3
TS = pa.timestamp("us", tz="UTC")
#: At most this many values of a type per person (Segment's "value limits").
DEFAULT_VALUE_LIMITS: dict[str, int] = {
    "user_id": 1, "member_no": 1, "unionid": 1, "phone": 2, "wecom_external_userid": 2,
    "email": 3, "openid": 6, "anonymous_id": 50, "device_id": 10,
}


@dataclass
class TableResolution:
    """Result: ``nodes`` (key, one_id, first_seen), ``one_ids`` (one_id, seed, created_at) and the
    ``decisions`` (a, b, first_seen, evidence, rule, status, reason), plus id lineage."""

    nodes: pa.Table
    one_ids: pa.Table
    decisions: pa.Table
    redirects: dict[str, str] = field(default_factory=dict)
    reassigned: set[str] = field(default_factory=set)
    shared: set[str] = field(default_factory=set)


def mint_one_id(seed_key: str) -> str:
    """Deterministic id from the seed identifier, so every engine and every re-run agrees."""
    return "o_" + hashlib.sha256(seed_key.encode()).hexdigest()[:20]


def _type_codes(keys: pa.Array) -> np.ndarray:
    kinds = pc.struct_field(pc.extract_regex(keys, r"^(?P<t>[a-z_]+):"), "t")
    codes = pc.index_in(kinds, value_set=TYPE_NAMES)
    if codes.null_count:
        raise ValueError("identifier key without a known type prefix")
    return np.asarray(codes.to_numpy(zero_copy_only=False), dtype=np.int64)


def _shared_indices(a: np.ndarray, b: np.ndarray, types: np.ndarray, limit: int) -> np.ndarray:
    """Nodes seen with more than ``limit`` distinct values of one strong type."""
    x = np.concatenate([a, b])
    y = np.concatenate([b, a])
    ty = types[y]
    keep = STRONG_CODES[ty]
    t = pa.table({"x": x[keep], "t": ty[keep], "y": y[keep]})
    counts = t.group_by(["x", "t"]).aggregate([("y", "count_distinct")])
    hit = counts.filter(pc.greater(counts["y_count_distinct"], limit))["x"]
    return np.unique(np.asarray(hit.to_numpy(zero_copy_only=False), dtype=np.int64))


def resolve_tables(
    nodes: pa.Table,
    edges: pa.Table,
    *,
    previous: pa.Table | None = None,
    previous_ids: pa.Table | None = None,
    blocks: set[frozenset[str]] | None = None,
    limits: dict[str, int] | None = None,
    shared: set[str] | None = None,
    shared_limit: int = 2,
) -> TableResolution:
    """Resolve ``nodes`` (k, first_seen) and ``edges`` (a, b, first_seen, evidence, rule) into one_ids.

    ``previous`` (k, one_id) and ``previous_ids`` (one_id, seed, created_at) keep earlier ids
    stable: a profile keeps an old id whose seed it holds (the oldest wins; the others redirect).
    """
    # 1. Every identifier once, sorted, with its first sighting (edge ends included).
    seen = pa.concat_tables([
        nodes.select(["k", "first_seen"]).cast(pa.schema([("k", pa.string()), ("first_seen", TS)])),
        pa.table({"k": edges["a"], "first_seen": edges["first_seen"]}).cast(
            pa.schema([("k", pa.string()), ("first_seen", TS)])),
        pa.table({"k": edges["b"], "first_seen": edges["first_seen"]}).cast(
            pa.schema([("k", pa.string()), ("first_seen", TS)])),
    ])
    all_nodes = seen.group_by("k").aggregate([("first_seen", "min")]).sort_by("k")
    keys = all_nodes["k"].combine_chunks()
    first = all_nodes["first_seen_min"].combine_chunks()
    n = len(keys)
    types = _type_codes(keys)

    # 2. Edges as integer pairs, in the order they happened.
    edges = edges.sort_by([("first_seen", "ascending"), ("evidence", "ascending"), ("a", "ascending"),
                           ("b", "ascending")])
    ea = np.asarray(pc.index_in(edges["a"], value_set=keys).to_numpy(zero_copy_only=False), dtype=np.int64)
    eb = np.asarray(pc.index_in(edges["b"], value_set=keys).to_numpy(zero_copy_only=False), dtype=np.int64)
    if shared is None:
        shared_idx = _shared_indices(ea, eb, types, shared_limit)
    else:
        hit = pc.index_in(pa.array(sorted(shared), pa.string()), value_set=keys)
        shared_idx = np.asarray(pc.drop_null(hit).to_numpy(zero_copy_only=False), dtype=np.int64)
    is_shared = np.zeros(n, dtype=bool)
    is_shared[shared_idx] = True
    blocked: set[tuple[int, int]] = set()
    if blocks:
        for pair in blocks:
            x, y = sorted(pair)
            ix = pc.index_in(pa.array([x, y], pa.string()), value_set=keys).to_pylist()
            if None not in ix:
                blocked.add((min(ix), max(ix)))

    # 3. Union-find over ints; type counts only for profiles with more than one identifier.
    lim = limits or DEFAULT_VALUE_LIMITS
    limit_vec = [lim.get(t.value, 10**9) for t in TYPES]
    parent = list(range(n))
    size = [1] * n
    counts: dict[int, list[int]] = {}
    type_list = types.tolist()
    ntypes = len(TYPES)

    def find(i: int) -> int:
        root = i
        while parent[root] != root:
            root = parent[root]
        while parent[i] != root:
            parent[i], i = root, parent[i]
        return root

    def counts_of(r: int) -> list[int]:
        c = counts.get(r)
        if c is None:
            c = [0] * ntypes
            c[type_list[r]] = 1
        return c

    status = np.zeros(len(ea), dtype=np.int8)
    shared_list = is_shared.tolist()
    for pos, (i, j) in enumerate(zip(ea.tolist(), eb.tolist(), strict=True)):
        if blocked and (min(i, j), max(i, j)) in blocked:
            status[pos] = BLOCKED
            continue
        if shared_list[i] or shared_list[j]:
            status[pos] = SHARED
            continue
        ri, rj = find(i), find(j)
        if ri == rj:
            continue
        ci, cj = counts_of(ri), counts_of(rj)
        refused = -1
        for t in range(ntypes):
            if ci[t] + cj[t] > limit_vec[t]:
                refused = t
                break
        if refused >= 0:
            status[pos] = VALUE_LIMIT + refused
            continue
        if size[ri] < size[rj]:
            ri, rj, ci, cj = rj, ri, cj, ci
        parent[rj] = ri
        size[ri] += size[rj]
        counts[ri] = [x + y for x, y in zip(ci, cj, strict=True)]
        counts.pop(rj, None)
    roots = np.fromiter((find(i) for i in range(n)), dtype=np.int64, count=n)

    # 4. Seed of each profile: earliest identifier, then the strongest type, then the key.
    first_us = np.asarray(pc.cast(first, pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)
    order = np.lexsort((np.arange(n), -PRIORITY[types], first_us, roots))
    is_head = np.ones(n, dtype=bool)
    is_head[1:] = roots[order][1:] != roots[order][:-1]
    seed_of_root = dict(zip(roots[order][is_head].tolist(), order[is_head].tolist(), strict=True))

    # 5. Stable ids: a profile keeps the oldest old id whose seed it holds.
    survivor: dict[int, tuple[str, object]] = {}
    redirects: dict[str, str] = {}
    if previous_ids is not None and previous_ids.num_rows:
        seed_idx = pc.index_in(previous_ids["seed"], value_set=keys).to_pylist()
        cands = sorted(
            (created, oid, int(roots[si]))
            for oid, created, si in zip(previous_ids["one_id"].to_pylist(), previous_ids["created_at"].to_pylist(),
                                        seed_idx, strict=True)
            if si is not None
        )
        for created, oid, root in cands:
            if root in survivor:
                redirects[oid] = survivor[root][0]
            else:
                survivor[root] = (oid, created)
    key_list_cache: dict[int, str] = {}

    def key_at(i: int) -> str:
        if i not in key_list_cache:
            key_list_cache[i] = keys[i].as_py()
        return key_list_cache[i]

    ids_out, seeds_out, created_out = [], [], []
    oid_of_root: dict[int, str] = {}
    first_list = first.to_pylist()
    for root, seed in seed_of_root.items():
        if root in survivor:
            oid, created = survivor[root]
        else:
            oid, created = mint_one_id(key_at(seed)), first_list[seed]
        oid_of_root[root] = oid
        ids_out.append(oid)
        seeds_out.append(key_at(seed) if root not in survivor else None)
        created_out.append(created)
    if previous_ids is not None and previous_ids.num_rows:  # survivors keep their recorded seed
        old_seed = dict(zip(previous_ids["one_id"].to_pylist(), previous_ids["seed"].to_pylist(), strict=True))
        seeds_out = [s if s is not None else old_seed[o] for o, s in zip(ids_out, seeds_out, strict=True)]
    node_oids = [oid_of_root[r] for r in roots.tolist()]
    node_table = pa.table({"k": keys, "one_id": pa.array(node_oids, pa.string()), "first_seen": first})

    # 6. Identifiers that a split moved away from their old id: their rows must be rewritten.
    reassigned: set[str] = set()
    if previous is not None and previous.num_rows:
        prev = previous.select(["k", "one_id"]).rename_columns(["k", "old"])
        joined = node_table.join(prev, keys="k", join_type="inner")
        moved = joined.filter(pc.not_equal(joined["one_id"], joined["old"]))
        for new, old in zip(moved["one_id"].to_pylist(), moved["old"].to_pylist(), strict=True):
            if redirects.get(old) != new:
                reassigned.add(old)

    labels = ["accepted", "blocked", "shared_identifier"] + [f"value_limit:{t.value}" for t in TYPES]
    codes = pa.array(status)
    accepted = pc.equal(codes, ACCEPTED)
    decisions = pa.table({
        "a": edges["a"], "b": edges["b"], "first_seen": edges["first_seen"], "evidence": edges["evidence"],
        "rule": edges["rule"],
        "status": pc.if_else(accepted, "accepted", "rejected"),
        "reason": pc.if_else(accepted, edges["rule"].combine_chunks(),
                             pc.take(pa.array(labels, pa.string()), codes)),
    })
    one_ids = pa.table({"one_id": pa.array(ids_out, pa.string()), "seed": pa.array(seeds_out, pa.string()),
                        "created_at": pa.array(created_out, TS)})
    shared_keys = set(pc.take(keys, pa.array(shared_idx, pa.int64())).to_pylist()) if len(shared_idx) else set()
    return TableResolution(nodes=node_table, one_ids=one_ids, decisions=decisions, redirects=redirects,
                           reassigned=reassigned, shared=shared_keys)
