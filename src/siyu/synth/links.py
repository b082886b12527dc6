"""Make every person's identifiers connected, and write down how (the OneID ground truth).

A person's identifiers fall into clusters that always travel together in events: the app (anonymous
ids, device), the mini program (its anonymous id and openid), the official account (openid), WeCom
(external_userid) and the member account (user id, phone, member number, email). Clusters are joined
by the identify call on the registration surface, by logged-in events (user id next to a channel id),
by unionid, and — only in entity files — by orders (phone + openid) and by customer_staff (a
personalised member-binding QR ``state`` = ``bind:<userId>``). Half of the buyers who never register
authorise their phone in the mini program (an identify with ``traits.phone``); for the other half the
phone is known only from their orders. :func:`plan_links` adds joins until each
person is one component and records in ``entity_link`` when a join exists only in entity files.
"""

from __future__ import annotations

import numpy as np

from siyu.synth.config import APP, MP, OA, WC
from siyu.synth.purchases import Orders
from siyu.synth.world import People

MEM, UNION, PHONE = 4, 5, 6


class _DSU:
    def __init__(self) -> None:
        self.parent = list(range(7))

    def find(self, x: int) -> int:
        while self.parent[x] != x:
            x = self.parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        self.parent[self.find(a)] = self.find(b)


def give_mp_to_early_buyers(rng: np.random.Generator, pe: People, orders: Orders) -> None:
    """Orders placed before registration are paid in the mini program, so those buyers need one."""
    pre = orders.t < pe.reg_t[orders.person]
    first = np.full(pe.n, np.inf)
    np.minimum.at(first, orders.person[pre], orders.t[pre])
    need = np.isfinite(first) & (pe.start[:, MP] > first)
    acq = pe.acq[need]
    pe.start[need, MP] = acq + rng.random(int(need.sum())) * (first[need] - acq)
    pe.has[need, MP] = True
    pe.buyer = np.bincount(orders.person, minlength=pe.n) > 0


def _edges(pe: People, i: int, mp_orders: bool) -> tuple[list[tuple[int, int]], list[tuple[int, int]],
                                                           list[tuple[int, int]]]:
    """(event edges, order edges, customer_staff edges) between the clusters of person ``i``."""
    ev: list[tuple[int, int]] = []
    if pe.registered[i]:
        rs = int(pe.reg_surface[i])
        if rs in (APP, MP):
            ev.append((MEM, rs))
        if pe.mp_login[i]:
            ev.append((MEM, MP))
        if pe.oa_login[i]:
            ev.append((MEM, OA))
        if pe.reg_wc[i]:
            ev.append((MEM, WC))
    if pe.has_union[i]:
        for s, flag in ((MP, pe.has[i, MP]), (OA, pe.has[i, OA]), (WC, pe.wc_union[i]), (APP, pe.app_wx[i])):
            if flag:
                ev.append((UNION, s))
    if pe.mp_phone[i]:
        ev.append((PHONE, MP))
    od = [(MEM if pe.registered[i] else PHONE, MP)] if mp_orders else []
    cs = [(MEM, WC)] if pe.wc_bind[i] else []
    return ev, od, cs


def _nodes(pe: People, i: int) -> list[int]:
    nodes = [s for s in (APP, MP, OA, WC) if pe.has[i, s]]
    if pe.registered[i]:
        nodes.append(MEM)
    if pe.has_union[i]:
        nodes.append(UNION)
    if pe.buyer[i] and not pe.registered[i]:
        nodes.append(PHONE)
    return nodes


def _connected(nodes: list[int], *edge_lists: list[tuple[int, int]]) -> bool:
    dsu = _DSU()
    for edges in edge_lists:
        for a, b in edges:
            dsu.union(a, b)
    return len({dsu.find(x) for x in nodes}) <= 1


def plan_links(rng: np.random.Generator, pe: People, orders: Orders, mp_order_person: np.ndarray) -> None:
    """Repair link flags until each person is connected; fill ``pe.entity_link``.

    ``mp_order_person`` marks persons with at least one mini-program order (phone + openid in orders).
    """
    coin = rng.random(pe.n)
    pe.mp_phone = pe.buyer & ~pe.registered & (rng.random(pe.n) < 0.5)
    labels: list[str | None] = []
    for i in range(pe.n):
        mp_orders = bool(mp_order_person[i])
        for _ in range(6):
            nodes = _nodes(pe, i)
            ev, od, cs = _edges(pe, i, mp_orders)
            dsu = _DSU()
            for a, b in ev + od + cs:
                dsu.union(a, b)
            roots = {dsu.find(x) for x in nodes}
            if len(roots) <= 1:
                break
            main = dsu.find(MEM if pe.registered[i] else nodes[0])
            loose = [x for x in nodes if dsu.find(x) != main]
            _repair(pe, i, loose, coin[i])
        else:  # pragma: no cover - the repair rules always converge
            raise AssertionError(f"could not connect the identifiers of {pe.pid[i]}")
        nodes = _nodes(pe, i)
        ev, od, cs = _edges(pe, i, mp_orders)
        if _connected(nodes, ev):
            labels.append(None)
        elif _connected(nodes, ev, od):
            labels.append("orders")
        elif _connected(nodes, ev, cs):
            labels.append("customer_staff")
        else:
            labels.append("orders+customer_staff")
    pe.entity_link = labels


def _repair(pe: People, i: int, loose: list[int], coin: float) -> None:
    if pe.registered[i]:
        for x in loose:
            if x == MP:
                pe.mp_login[i] = True
            elif x == OA:
                pe.oa_login[i] = True
            elif x == WC:
                if coin < 0.85 and (pe.has[i, MP] or pe.has[i, OA]):
                    pe.has_union[i] = pe.wc_union[i] = True
                    pe.mp_login[i] |= pe.has[i, MP]
                    pe.oa_login[i] |= pe.has[i, OA] and not pe.has[i, MP]
                else:
                    pe.wc_bind[i] = True
            elif x == UNION:  # unionid seen only on WeCom events that lack it, or on a lone surface
                if pe.has[i, MP]:
                    pe.mp_login[i] = True
                elif pe.has[i, OA]:
                    pe.oa_login[i] = True
                else:
                    pe.wc_union[i] = pe.has[i, WC]
                    pe.wc_bind[i] = pe.has[i, WC]
        return
    pe.has_union[i] = True
    for x in [*loose, APP, WC]:
        if x == APP and pe.has[i, APP]:
            pe.app_wx[i] = True
        elif x == WC and pe.has[i, WC]:
            pe.wc_union[i] = True


def truth_rows(pe: People) -> tuple[list[str], list[str], list[str]]:
    """(identifier_type, canonical value, person_id) for every identifier the persons own."""
    types: list[str] = []
    values: list[str] = []
    owners: list[str] = []

    def add(kind: str, mask: np.ndarray, vals: list[str], fmt: str = "{}") -> None:
        for i in np.flatnonzero(mask).tolist():
            types.append(kind)
            values.append(fmt.format(vals[i]))
            owners.append(pe.pid[i])

    add("user_id", pe.registered, pe.uid)
    add("anonymous_id", pe.has[:, APP], pe.anon_app)
    add("anonymous_id", pe.has_anon2, pe.anon2)
    add("anonymous_id", pe.has[:, MP], pe.anon_mp)
    add("anonymous_id", pe.has[:, OA], pe.openid_oa)
    add("anonymous_id", pe.has[:, WC], pe.ext)
    add("device_id", pe.has_device, pe.device)
    add("unionid", pe.has_union, pe.unionid)
    add("openid", pe.has[:, MP], pe.openid_mp, "wx_mp_app:{}")
    add("openid", pe.has[:, OA], pe.openid_oa, "wx_oa_app:{}")
    add("wecom_external_userid", pe.has[:, WC], pe.ext)
    add("phone", pe.registered | pe.buyer, pe.phone, "+86{}")
    add("member_no", pe.has_member, pe.member_no)
    add("email", pe.has_email, [e.lower() for e in pe.email])
    return types, values, owners
