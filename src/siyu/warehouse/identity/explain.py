"""Why a profile is what it is (``siyu identity explain``) and how to undo a wrong link (``split``)."""

from __future__ import annotations

from collections import defaultdict, deque
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq

from siyu.core.errors import IdentityError
from siyu.core.identifiers import BadIdentifier, IdentifierType, stored_value
from siyu.warehouse.identity.resolver import node_key
from siyu.warehouse.identity.store import add_block
from siyu.warehouse.lake import Lake


def parse_identifier(text: str) -> str:
    """``type:value`` as a user types it (plaintext phone allowed) → the stored node key."""
    kind, sep, value = text.partition(":")
    if not sep or not value:
        raise IdentityError(f"expected TYPE:VALUE, got {text!r}", input_name="identifier")
    try:
        itype = IdentifierType(kind)
    except ValueError:
        raise IdentityError(f"unknown identifier type {kind!r}; one of {[t.value for t in IdentifierType]}",
                            input_name="identifier") from None
    if itype in (IdentifierType.PHONE, IdentifierType.EMAIL) and not value.startswith(("ph_", "em_")):
        try:
            value = stored_value(itype, value)
        except BadIdentifier as exc:
            raise IdentityError(str(exc), input_name="identifier") from None
    return node_key(itype.value, value)


def _one_id_of(lake: Lake, key: str) -> str:
    kind, _, value = key.partition(":")
    t = pq.read_table(lake.files("identity", "nodes"),
                      filters=[("identifier_type", "=", kind), ("identifier_value", "=", value)])
    if t.num_rows == 0:
        raise IdentityError(f"identifier {key} is not in the identity graph", input_name="identifier")
    return str(t["one_id"][0].as_py())


def explain(lake: Lake, identifier: str) -> dict[str, Any]:
    """The profile an identifier belongs to, its members, and the evidence for every link."""
    key = parse_identifier(identifier)
    oid = _one_id_of(lake, key)
    nodes = pq.read_table(lake.files("identity", "nodes"), filters=[("one_id", "=", oid)])
    members = sorted(f"{k}:{v}" for k, v in zip(nodes["identifier_type"].to_pylist(),
                                                   nodes["identifier_value"].to_pylist(), strict=True))
    member_set = set(members)
    dec = pq.read_table(lake.files("identity", "decisions"))
    mask = pc.or_(pc.is_in(dec["a"], value_set=_arr(members)), pc.is_in(dec["b"], value_set=_arr(members)))
    links, refused = [], []
    for row in dec.filter(mask).to_pylist():
        item = {"a": row["a"], "b": row["b"], "first_seen": str(row["first_seen"]), "evidence": row["evidence"],
                "rule": row["reason"]}
        if row["status"] == "accepted" and row["a"] in member_set and row["b"] in member_set:
            links.append(item)
        elif row["status"] == "rejected":
            refused.append(item)
    merged_from: list[str] = []
    if lake.exists("identity", "redirects"):
        red = pq.read_table(lake.files("identity", "redirects"), filters=[("to_one_id", "=", oid)])
        merged_from = sorted(red["from_one_id"].to_pylist())
    seed = pq.read_table(lake.files("identity", "one_ids"), filters=[("one_id", "=", oid)]).to_pylist()
    return {
        "identifier": key, "one_id": oid, "seed": seed[0]["seed"] if seed else None,
        "created_at": str(seed[0]["created_at"]) if seed else None,
        "members": members, "links": sorted(links, key=lambda x: x["first_seen"]),
        "refused_links": sorted(refused, key=lambda x: x["first_seen"]), "merged_from": merged_from,
        "path": None,
    }


def link_path(info: dict[str, Any], a: str, b: str) -> list[dict[str, Any]] | None:
    """The chain of accepted links joining ``a`` to ``b`` inside one profile (shortest first)."""
    adj: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for link in info["links"]:
        adj[link["a"]].append(link)
        adj[link["b"]].append(link)
    prev: dict[str, tuple[str, dict[str, Any]] | None] = {a: None}
    queue = deque([a])
    while queue:
        cur = queue.popleft()
        if cur == b:
            path = []
            while prev[cur] is not None:
                parent, link = prev[cur]  # type: ignore[misc]
                path.append(link)
                cur = parent
            return list(reversed(path))
        for link in adj[cur]:
            nxt = link["b"] if link["a"] == cur else link["a"]
            if nxt not in prev:
                prev[nxt] = (cur, link)
                queue.append(nxt)
    return None


def request_split(lake: Lake, a_text: str, b_text: str, note: str = "") -> list[tuple[str, str]]:
    """Block links until two identifiers of one profile are no longer connected.

    Cuts the link that reaches ``b`` on the shortest remaining path, repeatedly, and records each
    cut as a block with ``note``; the next build re-resolves the profile. Returns the blocked pairs.
    """
    a, b = parse_identifier(a_text), parse_identifier(b_text)
    if a == b:
        raise IdentityError("cannot split an identifier from itself", input_name="identifier")
    if _one_id_of(lake, a) != _one_id_of(lake, b):
        raise IdentityError(f"{a} and {b} are already in different profiles", input_name="identifier")
    info = explain(lake, a_text)
    blocked: list[tuple[str, str]] = []
    while (path := link_path(info, a, b)) is not None:
        cut = path[-1]
        info["links"] = [x for x in info["links"] if x is not cut]
        add_block(lake, cut["a"], cut["b"], note or f"split {a} from {b}")
        blocked.append((cut["a"], cut["b"]))
    return blocked


def _arr(values: list[str]) -> Any:
    import pyarrow as pa

    return pa.array(values, pa.string())
