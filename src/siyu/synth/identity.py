"""Put a person's identifiers into a message the way each touchpoint really does.

The placement follows the table in :mod:`siyu.core.identifiers`: brand account in ``userId``, SDK
ids in ``anonymousId``, device in ``context.device.id``, WeChat ids in ``context.externalIds``
(openid with ``collection`` = app id), phone in ``context.traits.phone``. Server-side connectors
for the official account and WeCom have no SDK id, so they use the channel id as ``anonymousId``
(as Chinese CDPs do with ``distinct_id = openid``).
"""

from __future__ import annotations

from typing import Any

import orjson

from siyu.synth.catalog import Catalog
from siyu.synth.config import APP, MP, MP_APP_ID, OA, OA_APP_ID, SERVER, WC
from siyu.synth.world import People

LIBS = (
    {"name": "siyu-app-sdk", "version": "2.3.1"},
    {"name": "siyu-miniprogram-sdk", "version": "1.8.0"},
    {"name": "wechat-oa-connector", "version": "1.2.0"},
    {"name": "wecom-connector", "version": "1.5.2"},
    {"name": "siyu-server", "version": "0.9.4"},
    {"name": "siyu-kiosk", "version": "1.0.3"},
)


def phone_format(digits: str, style: int) -> str:
    """A phone as people and systems write it: plain, +86 spaced, dashed, or 86-prefixed."""
    if style == 1:
        return f"+86 {digits[:3]} {digits[3:7]} {digits[7:]}"
    if style == 2:
        return f"{digits[:3]}-{digits[3:7]}-{digits[7:]}"
    if style == 3:
        return f"+86{digits}"
    return digits


class Stamper:
    """Per-person identity fragments, built once per chunk and shared by all of that person's events."""

    def __init__(self, pe: People, cat: Catalog, phone_styles: list[int]) -> None:
        n = pe.n
        self.uid = pe.uid
        self.reg_t = pe.reg_t.tolist()
        self.anon2_t = pe.anon2_t.tolist()
        self.anon_app = pe.anon_app
        self.anon2 = pe.anon2
        self.anon_mp = pe.anon_mp
        self.openid_oa = pe.openid_oa
        self.ext = pe.ext
        self.mp_login = pe.mp_login.tolist()
        self.oa_login = pe.oa_login.tolist()
        self.app_wx = pe.app_wx.tolist()
        self.dev: list[dict[str, str] | None] = [
            {"id": pe.device[i]} if pe.has_device[i] else None for i in range(n)]
        self.phone = [phone_format(pe.phone[i], phone_styles[i] % 2 * 3) for i in range(n)]
        self.tablet_dev = [{"id": t.device_id, "type": "tablet"} for t in cat.tablets]
        union = [[{"id": pe.unionid[i], "type": "unionid", "collection": "wechat"}]
                 if pe.has_union[i] else [] for i in range(n)]
        self.x_union = union
        self.x_mp: list[list[dict[str, str]]] = []
        self.x_mp_u: list[list[dict[str, str]]] = []
        self.x_oa: list[list[dict[str, str]]] = []
        self.x_oa_u: list[list[dict[str, str]]] = []
        self.x_wc: list[list[dict[str, str]]] = []
        self.x_wc_u: list[list[dict[str, str]]] = []
        for i in range(n):
            mp = [{"id": pe.openid_mp[i], "type": "openid", "collection": MP_APP_ID}]
            oa = [{"id": pe.openid_oa[i], "type": "openid", "collection": OA_APP_ID}]
            wc = [{"id": pe.ext[i], "type": "wecom_external_userid", "collection": "wecom"}]
            self.x_mp.append(mp)
            self.x_mp_u.append(mp + union[i])
            self.x_oa.append(oa)
            self.x_oa_u.append(oa + union[i])
            self.x_wc.append(wc)
            self.x_wc_u.append(wc + union[i] if pe.wc_union[i] else wc)

    def stamp(self, msg: dict[str, Any], p: int, s: int, t: float, union: bool = False,
              phone: bool = False, tablet: int = -1) -> dict[str, Any]:
        """Add userId/anonymousId/context for person ``p`` on surface ``s`` at time ``t``."""
        if s == APP:
            ctx: dict[str, Any] = {"library": LIBS[APP]}
            if t >= self.anon2_t[p]:
                msg["anonymousId"] = self.anon2[p]
            else:
                msg["anonymousId"] = self.anon_app[p]
                dev = self.dev[p]
                if dev is not None:
                    ctx["device"] = dev
            if t >= self.reg_t[p]:
                msg["userId"] = self.uid[p]
            if union and self.app_wx[p]:
                ctx["externalIds"] = self.x_union[p]
        elif s == MP:
            msg["anonymousId"] = self.anon_mp[p]
            if self.mp_login[p] and t >= self.reg_t[p]:
                msg["userId"] = self.uid[p]
            ctx = {"library": LIBS[MP], "externalIds": self.x_mp_u[p] if union else self.x_mp[p]}
        elif s == OA:
            msg["anonymousId"] = self.openid_oa[p]
            if self.oa_login[p] and t >= self.reg_t[p]:
                msg["userId"] = self.uid[p]
            ctx = {"library": LIBS[OA], "externalIds": self.x_oa_u[p] if union else self.x_oa[p]}
        elif s == WC:
            msg["anonymousId"] = self.ext[p]
            ctx = {"library": LIBS[WC], "externalIds": self.x_wc_u[p] if union else self.x_wc[p]}
        elif s == SERVER:
            msg["userId"] = self.uid[p]
            ctx = {"library": LIBS[SERVER]}
            if phone:
                ctx["traits"] = {"phone": self.phone[p]}
        else:
            msg["userId"] = self.uid[p]
            ctx = {"library": LIBS[5], "device": self.tablet_dev[tablet]}
            if phone:
                ctx["traits"] = {"phone": self.phone[p]}
        msg["context"] = ctx
        return msg

    def serialise(self, mtype: str, names: list[str], props: list[dict[str, Any]], persons: list[int], s: int,
                  times: list[float], unions: list[bool]) -> list[bytes]:
        """Stamp and serialise a block of same-type messages from one surface (the bulk path).

        Equivalent to :meth:`stamp` + ``orjson.dumps`` per message (without the closing brace, as
        :class:`~siyu.synth.batch.EventBatch` keeps bodies), with the per-surface lookups hoisted out
        of the loop; ``names`` are event names (track) or page/screen names.
        """
        key = "event" if mtype == "track" else "name"
        uid, reg, lib = self.uid, self.reg_t, LIBS[s]
        out: list[bytes] = []
        put, dumps = out.append, orjson.dumps
        rows = zip(names, props, persons, times, unions, strict=True)
        if s == APP:
            a1, a2, t2, dev, wx, xu = self.anon_app, self.anon2, self.anon2_t, self.dev, self.app_wx, self.x_union
            for name, pr, p, t, u in rows:
                m: dict[str, Any] = {"type": mtype, key: name, "properties": pr}
                ctx: dict[str, Any] = {"library": lib}
                if t >= t2[p]:
                    m["anonymousId"] = a2[p]
                else:
                    m["anonymousId"] = a1[p]
                    d = dev[p]
                    if d is not None:
                        ctx["device"] = d
                if t >= reg[p]:
                    m["userId"] = uid[p]
                if u and wx[p]:
                    ctx["externalIds"] = xu[p]
                m["context"] = ctx
                put(dumps(m)[:-1])
            return out
        if s == MP:
            anon, login, plain, withu = self.anon_mp, self.mp_login, self.x_mp, self.x_mp_u
        elif s == OA:
            anon, login, plain, withu = self.openid_oa, self.oa_login, self.x_oa, self.x_oa_u
        elif s == WC:
            anon, login, plain, withu = self.ext, [False] * len(self.ext), self.x_wc, self.x_wc_u
        else:
            raise ValueError(f"no bulk path for surface {s}")
        for name, pr, p, t, u in rows:
            m = {"type": mtype, key: name, "properties": pr, "anonymousId": anon[p]}
            if login[p] and t >= reg[p]:
                m["userId"] = uid[p]
            m["context"] = {"library": lib, "externalIds": withu[p] if u else plain[p]}
            put(dumps(m)[:-1])
        return out
