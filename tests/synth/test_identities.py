"""Identity ground truth: complete, canonical, and exactly as connected as a perfect resolver needs."""

from __future__ import annotations

from collections import defaultdict

import pyarrow.compute as pc

from siyu.core.identifiers import IdentifierType, canonical_value, stored_value
from tests.synth.conftest import World

Key = tuple[str, str]


class _DSU:
    def __init__(self) -> None:
        self.parent: dict[Key, Key] = {}

    def find(self, x: Key) -> Key:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: Key, b: Key) -> None:
        self.parent[self.find(a)] = self.find(b)


def _owners(world: World) -> dict[Key, str | None]:
    rows = world.truth("identities").to_pylist()
    owners = {(r["identifier_type"], stored_value(r["identifier_type"], r["identifier_value"])): r["person_id"]
              for r in rows}
    assert len(owners) == len(rows)  # one row per distinct (type, value)
    return owners


def _link(world: World, owners: dict[Key, str | None], with_shared: bool = False) -> _DSU:
    dsu = _DSU()

    def join(keys: list[Key]) -> None:
        keys = [k for k in keys if with_shared or owners.get(k) is not None]
        for k in keys[1:]:
            dsu.union(keys[0], k)

    for a in world.accepted:
        join([(t.value, v) for t, v in a.identifiers.items()])
    for o in world.entity("orders").to_pylist():
        join([("phone", stored_value("phone", o["phone"]))]
             + ([("openid", o["openid"])] if o["openid"] else [])
             + ([("member_no", o["member_no"])] if o["member_no"] else []))
    for c in world.entity("customer_staff").to_pylist():
        if c["state"].startswith("bind:"):
            join([("wecom_external_userid", c["wecom_external_userid"]), ("user_id", c["state"][5:])])
    return dsu


def test_truth_covers_every_identifier_in_events_and_entities(world: World) -> None:
    owners = _owners(world)
    seen = {(t.value, v) for a in world.accepted for t, v in a.identifiers.items()}
    for o in world.entity("orders").to_pylist():
        seen.add(("phone", stored_value("phone", o["phone"])))
        if o["openid"]:
            seen.add(("openid", o["openid"]))
    seen |= {("wecom_external_userid", x) for x in world.entity("customer_staff")["wecom_external_userid"].to_pylist()}
    assert seen - set(owners) == set()
    assert set(owners) - seen == set()  # and truth lists nothing that was never emitted
    assert not any(a.id_problems for a in world.accepted)


def test_truth_values_are_canonical(world: World) -> None:
    for row in world.truth("identities").to_pylist()[::7]:
        assert canonical_value(row["identifier_type"], row["identifier_value"]) == row["identifier_value"]
    phones = world.truth("identities").filter(pc.equal(world.truth("identities")["identifier_type"], "phone"))
    assert all(v.startswith("+861") and len(v) == 14 for v in phones["identifier_value"].to_pylist())


def test_each_person_is_exactly_one_component(world: World) -> None:
    owners = _owners(world)
    dsu = _link(world, owners)
    persons: dict[str, set[Key]] = defaultdict(set)
    members: dict[Key, set[str]] = defaultdict(set)
    for key, person in owners.items():
        if person is not None:
            root = dsu.find(key)
            persons[person].add(root)
            members[root].add(person)
    assert len(persons) == world.summary.persons
    assert [p for p, roots in persons.items() if len(roots) > 1] == []
    assert [r for r, ps in members.items() if len(ps) > 1] == []


def test_some_links_exist_only_in_entity_files(world: World) -> None:
    persons = world.truth("persons")
    links = persons["entity_link"].value_counts().to_pylist()
    kinds = {d["values"]: d["counts"] for d in links if d["values"] is not None}
    assert kinds.get("orders", 0) > 0 and kinds.get("customer_staff", 0) > 0
    assert sum(kinds.values()) < 0.3 * persons.num_rows


def test_shared_tablets_are_a_trap_for_naive_merging(world: World) -> None:
    owners = _owners(world)
    tablets = [k for k, p in owners.items() if p is None]
    assert len(tablets) == world.defects["shared_devices"] and all(k[0] == "device_id" for k in tablets)
    naive = _link(world, owners, with_shared=True)
    per_tablet: dict[Key, set[str]] = defaultdict(set)
    for key, person in owners.items():
        if person is not None:
            per_tablet[naive.find(key)].add(person)
    users = defaultdict(set)
    for a in world.accepted:
        device = a.identifiers.get(IdentifierType.DEVICE_ID)
        if device and device.startswith("store-tablet-"):
            assert IdentifierType.USER_ID in a.identifiers  # each visit also carries the person's strong id
            users[device].add(a.identifiers[IdentifierType.USER_ID])
    assert sum(len(u) for u in users.values()) == world.defects["shared_device_persons"]
    assert all(len(u) >= 30 for u in users.values())
    assert max(len(ps) for ps in per_tablet.values()) >= 30


def test_people_have_realistic_identifier_mixes(world: World) -> None:
    truth = world.truth("identities").to_pandas().dropna()
    persons = world.truth("persons").to_pandas()
    anon = set(persons.loc[persons.anonymous_only, "person_id"])
    assert 0.05 < len(anon) / len(persons) < 0.15
    kinds = truth.groupby("person_id").identifier_type.agg(set)
    assert all(k <= {"anonymous_id", "device_id"} for p, k in kinds.items() if p in anon)
    assert truth.identifier_type.nunique() == 9
