"""Per-person lifecycle events: registration and logins, WeCom adds, groups, orders and what follows
them (coupons, points, tiers, refunds), campaign touches, store and tablet visits, consent.

Each surface a person has gets one *anchor* event in the window that carries all of that surface's
identifiers and its links (unionid, or userId when the link is a login), so every identifier is
connected through valid events or, where :mod:`siyu.synth.links` says so, through entity files.
"""

from __future__ import annotations

import bisect
import math
import random
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from siyu.synth.batch import EventBatch
from siyu.synth.catalog import Catalog
from siyu.synth.config import (
    ACQ_CHANNELS,
    APP,
    MP,
    MP_APP_ID,
    NPS_SCORE_CUM,
    NPS_SURVEY_RATE,
    OA,
    SERVER,
    TABLET,
    TIERS,
    WC,
    TrueParams,
)
from siyu.synth.identity import LIBS, Stamper, phone_format
from siyu.synth.purchases import Orders, Touches
from siyu.synth.world import HOUR_CUM, INF, People

HOUR_CUM_LIST = HOUR_CUM.tolist()

ADD_WAY = {"douyin": "获客链接", "xiaohongshu": "名片分享", "store_qr": "扫描二维码", "package_card": "扫描二维码",
           "official_account_search": "扫描渠道活码"}
STATE_PREFIX = {"douyin": "dy_ad", "xiaohongshu": "xhs_note", "store_qr": "qr_store", "package_card": "card_pkg",
                "official_account_search": "oa_menu"}
JOIN_SCENES = ("扫码入群", "邀请入群", "链接入群")
REFUND_REASONS = ("不喜欢/不想要", "尺码/规格不合适", "质量问题", "收到商品破损", "其他")
ORDER_CHANNELS = ("store", "app", "mini_program")
#: Share of touches preceded by a failed attempt, per campaign channel (the reports saw WeCom above 15%).
PUSH_FAILURE = {"wecom": 0.16, "sms": 0.04, "official_account": 0.02}
UNSUBSCRIBE_RATE = 0.004
CHANNEL_SURFACE = {"wecom": WC, "sms": SERVER, "official_account": OA}
MINUTE = 1.0 / 1440.0


@dataclass
class EntityRows:
    """Rows for the chunk's scaling entity tables (times are float days, converted by the writer)."""

    orders: dict[str, list[Any]] = field(default_factory=lambda: {k: [] for k in (
        "order_id", "phone", "openid", "member_no", "paid_at", "amount", "currency", "channel", "store_id",
        "staff_id", "coupon_id", "discount_amount", "status")})
    items: dict[str, list[Any]] = field(default_factory=lambda: {k: [] for k in (
        "order_id", "line_no", "sku", "quantity", "price")})
    customer_staff: dict[str, list[Any]] = field(default_factory=lambda: {k: [] for k in (
        "wecom_external_userid", "staff_id", "added_at", "state")})


class Lifecycle:
    """Emits one chunk's lifecycle events into an :class:`EventBatch`."""

    def __init__(self, pe: People, cat: Catalog, tp: TrueParams, st: Stamper, py: random.Random,
                 batch: EventBatch, chunk: int, dates: list[str]) -> None:
        self.pe, self.cat, self.tp, self.st, self.py, self.b = pe, cat, tp, st, py, batch
        self.chunk, self.dates = chunk, dates
        self.D = float(pe.days)
        self.rows = EntityRows()
        self.n_orders = self.n_coupons = self.n_sends = 0
        self.cum = cat.product_cum.tolist()
        self.price = cat.product_price.tolist()
        # per-person state, reset by person()
        self.wallet: list[tuple[str, float, float]] = []
        self.points = 0
        self.spend = 0.0
        self.phone_shared = False

    # -- helpers ---------------------------------------------------------------------------------
    def soon(self, base: float, hi: float = 0.02) -> float:
        """A time shortly after ``base`` that stays inside the window."""
        return base + self.py.random() * min(hi, (self.D - base) * 0.5)

    def shaped(self, t: float, lo: float) -> float:
        """``t``'s day at a time of day from the hour profile (China time), not before ``lo``."""
        hour = bisect.bisect_right(HOUR_CUM_LIST, self.py.random())
        out = math.floor(t) + (hour + self.py.random()) / 24.0
        return out if lo <= out < self.D else t

    def anchor(self, since: float, A: float) -> float:
        """First in-window activity of a relation that began at ``since``: minutes later, or — for a
        relation older than the window — some time in the window's first weeks."""
        if since >= A:
            return self.soon(since)
        return self.shaped(A + self.py.random() * min(30.0, (self.D - A) * 0.5), A)

    def store_hours(self, t: float, lo: float) -> float:
        """``t``'s day between 10:00 and 21:30 China time (stores are closed at night), not before ``lo``."""
        out = math.floor(t) + self.py.uniform(10.0, 21.5) / 24.0
        return out if lo <= out < self.D else t

    def track(self, p: int, s: int, t: float, event: str, props: dict[str, Any], union: bool = False,
              phone: bool = False, tablet: int = -1, gb: bool = False) -> None:
        msg = self.st.stamp({"type": "track", "event": event, "properties": props}, p, s, t, union, phone, tablet)
        self.b.add(msg, t, s, gb)

    # -- per person ------------------------------------------------------------------------------
    def run(self, orders: Orders, touches: Touches) -> EntityRows:
        pe = self.pe
        ob = np.searchsorted(orders.person, np.arange(pe.n + 1))
        order = np.lexsort((touches.t, touches.person))
        tp_, tt_, tc_ = touches.person[order], touches.t[order], touches.campaign[order]
        tb = np.searchsorted(tp_, np.arange(pe.n + 1))
        for p in range(pe.n):
            self.person(p, orders, range(ob[p], ob[p + 1]), tt_[tb[p]:tb[p + 1]], tc_[tb[p]:tb[p + 1]])
        return self.rows

    def person(self, p: int, orders: Orders, order_ix: range, touch_t: np.ndarray, touch_c: np.ndarray) -> None:
        pe, py, D = self.pe, self.py, self.D
        A = max(float(pe.acq[p]), 0.0)
        reg_t = float(pe.reg_t[p])
        self.wallet = []
        self.phone_shared = False
        self.points = 0
        self.spend = 0.0
        if pe.registered[p]:
            self.registration(p, A, reg_t)
        if pe.has[p, APP] and not pe.registered[p]:
            t = self.anchor(float(pe.start[p, APP]), A)
            self.st_page(p, t, "首页", "/", union=True)
        if pe.has[p, MP]:
            t = self.anchor(max(float(pe.start[p, MP]), reg_t if pe.mp_login[p] else -INF), A)
            self.track(p, MP, t, "mp_page_viewed", {"page": "pages/index/index", "app_id": MP_APP_ID,
                                                    "duration_seconds": round(py.uniform(3, 90), 1)}, union=True)
        if pe.has[p, OA]:
            t = self.anchor(max(float(pe.start[p, OA]), reg_t if pe.oa_login[p] else -INF), A)
            c = self.content("article", t)
            secs = round(py.uniform(5, 240), 1)
            self.track(p, OA, t, "article_read", {"content_id": c, "read_seconds": secs,
                                                  "completion": round(min(1.0, secs / 180), 3)}, union=True)
        if pe.has[p, WC]:
            self.wecom(p, A)
        if pe.has_anon2[p]:
            t = float(pe.anon2_t[p])
            msg = {"type": "alias", "previousId": pe.anon2[p], "userId": pe.uid[p], "context": {"library": LIBS[APP]}}
            self.b.add(msg, t, APP)
        for t, k in zip(touch_t.tolist(), touch_c.tolist(), strict=True):
            self.touch(p, t, k)
        for j in order_ix:
            self.order(p, j, orders)
        if pe.tablet[p] >= 0:
            self.tablet_visits(p, A, reg_t)
        elif pe.has_member[p]:
            lo = max(reg_t, A)
            rate = 0.03 if pe.channel[p] == ACQ_CHANNELS.index("store_qr") else 0.01
            for _ in range(self.poisson(rate * (D - lo))):
                t = self.store_hours(py.uniform(lo, D), lo)
                self.track(p, SERVER, t, "store_visited", {"store_id": self.cat.store_ids[pe.home_store[p]],
                                                           "staff_id": self.guide(pe.home_store[p])})

    def poisson(self, mean: float) -> int:
        k, t = 0, self.py.expovariate(1.0) if mean > 0 else 1.0
        while t < mean:
            k += 1
            t += self.py.expovariate(1.0)
        return k

    def guide(self, store: int) -> str:
        g = self.cat.guides_by_store[store]
        return self.cat.staff_ids[g[int(self.py.random() * len(g))]]

    def content(self, kind: str, t: float) -> str:
        idx = self.cat.content_by_type[kind]
        pub = self.cat.content_published[idx]
        n = max(1, int(np.searchsorted(pub, t, side="right")))
        return self.cat.content_ids[idx[n - 1 - int(n * self.py.random() ** 2)]]

    def st_page(self, p: int, t: float, name: str, path: str, union: bool = False) -> None:
        msg = {"type": "page", "name": name, "properties": {"path": path, "title": name,
                                                           "url": f"https://m.brand.example{path}"}}
        self.b.add(self.st.stamp(msg, p, APP, t, union), t, APP)

    # -- events ----------------------------------------------------------------------------------
    def registration(self, p: int, A: float, reg_t: float) -> None:
        pe, py = self.pe, self.py
        rs = int(pe.reg_surface[p])
        since = max(reg_t, float(pe.start[p, rs]) if rs in (APP, MP) else -INF,
                    float(pe.start[p, WC]) if pe.reg_wc[p] else -INF)
        t = self.anchor(since, A)
        if rs == APP:  # log in with the first app id, before a second browser/device shows up
            t = min(t, float(pe.anon2_t[p]) - 0.01)
        traits: dict[str, Any] = {"phone": self.st.phone[p]}
        if pe.has_member[p]:
            traits["member_no"] = pe.member_no[p]
        if pe.has_email[p]:
            traits["email"] = pe.email[p]
        traits["source"] = "wecom_sidebar" if pe.reg_wc[p] else ("app", "mini_program", "", "", "store")[rs]
        msg = self.st.stamp({"type": "identify", "traits": traits}, p, rs, t, union=rs == MP)
        if pe.reg_wc[p]:  # a guide registered the member from the WeCom sidebar
            msg["context"]["externalIds"] = self.st.x_wc[p]
        self.b.add(msg, t, rs)
        if reg_t < A:
            return  # an existing member logging in: registration happened before the window
        granted = py.random() < 0.85
        for purpose, ok in (("marketing", granted), ("analytics", True)):
            self.track(p, rs, self.soon(t, 0.001), "consent_changed", {
                "purpose": purpose, "granted": ok, "notice_version": "2025-12",
                "double_confirmed": purpose == "marketing", "source": traits["source"]})
        if granted and py.random() < 0.05:
            self.track(p, rs, py.uniform(t, self.D), "consent_changed", {
                "purpose": "marketing", "granted": False, "notice_version": "2025-12", "source": "settings"})
        if pe.has_member[p]:
            self.points += 100
            self.track(p, SERVER, self.soon(t, 0.001), "points_changed",
                       {"delta": 100, "balance": self.points, "reason": "register"})
            self.issue_coupon(p, SERVER, self.soon(t, 0.001), 10.0, None)

    def wecom(self, p: int, A: float) -> None:
        pe, py, cat = self.pe, self.py, self.cat
        ch = ACQ_CHANNELS[pe.channel[p]]
        start = float(pe.start[p, WC])
        state = f"bind:{pe.uid[p]}" if pe.wc_bind[p] else f"{STATE_PREFIX[ch]}_{int(pe.home_store[p]) + 1:03d}"
        staff = [int(pe.owner[p])] + ([int(pe.second_staff[p])] if pe.second_staff[p] >= 0 else [])
        for k, s in enumerate(staff):
            added = start if k == 0 else py.uniform(start, max(start, self.D - 0.01))
            cs = self.rows.customer_staff
            cs["wecom_external_userid"].append(pe.ext[p])
            cs["staff_id"].append(cat.staff_ids[s])
            cs["added_at"].append(added)
            cs["state"].append(state if k == 0 else "cs_transfer")
            if added >= A:
                self.track(p, WC, added, "wecom_friend_added", {
                    "staff_id": cat.staff_ids[s], "state": state if k == 0 else "cs_transfer",
                    "channel": ch, "add_way": ADD_WAY[ch] if k == 0 else "客服转接"}, union=True, gb=True)
            elif k == 0:  # existing contact: the first WeCom activity in the window is the anchor
                t = self.anchor(added, A)
                self.track(p, WC, t, "cs_consulted", {
                    "session_id": f"cs{self.chunk:04d}{p:06d}", "satisfaction": py.randint(3, 5),
                    "response_seconds": round(py.expovariate(1 / 60), 1), "staff_id": cat.staff_ids[s]},
                    union=True)
        dis = float(pe.dis_t[p])
        g = int(pe.group[p])
        if g >= 0:
            gj = float(pe.g_join[p])
            if gj >= A:
                name = cat.group_names[g]
                self.track(p, WC, gj, "group_joined", {
                    "group_id": cat.group_ids[g], "join_scene": py.choice(JOIN_SCENES),
                    "inviter_id": cat.staff_ids[cat.group_owner[g]], "group_name": name}, gb=True)
                msg = {"type": "group", "groupId": cat.group_ids[g],
                       "traits": {"name": name, "owner_staff_id": cat.staff_ids[cat.group_owner[g]]}}
                self.b.add(self.st.stamp(msg, p, WC, gj + MINUTE / 60), gj + MINUTE / 60, WC, True)
            left = max(dis, gj) + py.expovariate(1 / 20)
            if py.random() < 0.3 and max(A, gj) <= left < self.D:
                self.track(p, WC, left, "group_left", {"group_id": cat.group_ids[g]})
        gone = max(dis, start) + py.expovariate(1 / 20)
        if py.random() < 0.12 and max(A, start) <= gone < self.D:
            self.track(p, WC, gone, "wecom_friend_deleted", {
                "staff_id": cat.staff_ids[staff[0]], "deleted_by": "customer" if py.random() < 0.8 else "staff"})

    def issue_coupon(self, p: int, s: int, t: float, value: float, campaign: str | None) -> None:
        self.n_coupons += 1
        cid = f"CP{self.chunk:04d}{self.n_coupons:07d}"
        props: dict[str, Any] = {"coupon_id": cid, "face_value": value}
        if campaign:
            props["campaign_id"] = campaign
        self.track(p, s, t, "coupon_issued", props)
        self.wallet.append((cid, value, t))

    def touch(self, p: int, t: float, k: int) -> None:
        c = self.cat.campaigns[k]
        s = CHANNEL_SURFACE[c.channel]
        self.n_sends += 1
        send = f"SND{self.chunk:04d}{self.n_sends:07d}"
        props = {"send_id": send, "channel": c.channel, "campaign_id": c.campaign_id}
        if self.py.random() < PUSH_FAILURE[c.channel] and t > 0.01:  # an earlier attempt that failed
            self.n_sends += 1
            failed = {"send_id": f"SND{self.chunk:04d}{self.n_sends:07d}", "channel": c.channel,
                      "campaign_id": c.campaign_id}
            self.track(p, s, t - 0.005, "message_sent", failed, phone=s == SERVER)
            self.track(p, s, t - 0.004, "message_failed", dict(failed, reason="channel_error"), phone=s == SERVER)
        self.track(p, s, max(t - 0.0001, 0.0), "message_sent", dict(props), phone=s == SERVER)
        self.track(p, s, t, "message_delivered", props, phone=s == SERVER)
        clicked = self.py.random() < 0.08 + 0.1 * c.effect
        if clicked or self.py.random() < 0.25:
            self.track(p, s, self.soon(t, 0.05), "message_opened", dict(props), phone=s == SERVER)
        if clicked:
            tc = self.soon(t, 0.1)
            self.track(p, s, tc, "message_clicked", dict(props), phone=s == SERVER)
        if self.py.random() < UNSUBSCRIBE_RATE:
            self.track(p, s, self.soon(t, 0.2), "unsubscribed", {"channel": c.channel, "campaign_id": c.campaign_id},
                       phone=s == SERVER)
        if c.coupon_value > 0:
            tc = self.soon(t, 0.001)
            cs = SERVER if tc >= self.pe.reg_t[p] else s
            self.issue_coupon(p, cs, tc, c.coupon_value, c.campaign_id)

    def order(self, p: int, j: int, orders: Orders) -> None:
        pe, py, cat, rows = self.pe, self.py, self.cat, self.rows.orders
        t = float(orders.t[j])
        amount = float(orders.amount[j])
        pre = t < pe.reg_t[p]
        s = MP if pre else SERVER
        if pre and pe.mp_phone[p] and not self.phone_shared:  # 授权手机号 at the first checkout
            self.phone_shared = True
            ta = max(float(pe.start[p, MP]), t - 30 / 86400)
            msg = {"type": "identify", "traits": {"phone": self.st.phone[p], "source": "mini_program_checkout"}}
            self.b.add(self.st.stamp(msg, p, MP, ta), ta, MP)
        channel = ORDER_CHANNELS[int(orders.channel[j])]
        store_id = staff_id = None
        if channel == "store":
            store_id = cat.store_ids[pe.home_store[p]]
            staff_id = self.guide(pe.home_store[p])
        elif pe.owner[p] >= 0 and py.random() < 0.4:
            staff_id = cat.staff_ids[pe.owner[p]]
        coupon = None
        discount = 0.0
        usable = [w for w in self.wallet if w[2] < t]
        if usable and py.random() < 0.5:
            coupon = usable[0]
            self.wallet.remove(coupon)
            discount = min(coupon[1], round(amount * 0.5, 2))
        self.n_orders += 1
        oid = f"SO{self.dates[min(int(t), len(self.dates) - 1)]}{self.chunk:04d}{self.n_orders:06d}"
        items = self.basket(oid, amount + discount)
        props: dict[str, Any] = {"order_id": oid, "amount": amount, "currency": "CNY", "items": items,
                                 "discount_amount": discount, "channel": channel}
        if coupon:
            props["coupon_id"] = coupon[0]
        if store_id:
            props["store_id"] = store_id
        if staff_id:
            props["staff_id"] = staff_id
        self.track(p, s, t, "order_paid", props)
        if py.random() < NPS_SURVEY_RATE and t + 1 < self.D:  # an NPS survey the day after some orders
            score = min(10, bisect.bisect_right(NPS_SCORE_CUM, py.random()))
            self.track(p, SERVER if not pre else MP, t + 1, "survey_answered",
                       {"survey_id": "nps_after_order", "survey_type": "nps", "score": score})
        if coupon:
            self.track(p, s, t + 1 / 86400, "coupon_redeemed", {"coupon_id": coupon[0], "order_id": oid})
        refunded = py.random() < self.tp.refund_rate
        tr = t + py.uniform(1, 10)
        refunded = refunded and tr < self.D
        if refunded:
            self.track(p, MP if tr < pe.reg_t[p] else SERVER, tr, "order_refunded",
                       {"order_id": oid, "amount": amount, "reason": py.choice(REFUND_REASONS)})
        member = not pre and bool(pe.has_member[p])
        for key, value in (("order_id", oid), ("phone", phone_format(pe.phone[p], py.randrange(4))),
                           ("openid", f"{MP_APP_ID}:{pe.openid_mp[p]}" if channel == "mini_program" else None),
                           ("member_no", pe.member_no[p] if member else None), ("paid_at", t),
                           ("amount", amount), ("currency", "CNY"), ("channel", channel), ("store_id", store_id),
                           ("staff_id", staff_id), ("coupon_id", coupon[0] if coupon else None),
                           ("discount_amount", discount), ("status", "refunded" if refunded else "paid")):
            rows[key].append(value)
        if member:
            self.points += int(amount)
            self.track(p, SERVER, t + 2 / 86400, "points_changed",
                       {"delta": int(amount), "balance": self.points, "reason": "order"})
            before = self.tier(self.spend)
            self.spend += amount
            after = self.tier(self.spend)
            if after != before:
                self.track(p, SERVER, t + 3 / 86400, "member_tier_changed", {"to_tier": after, "from_tier": before})

    @staticmethod
    def tier(spend: float) -> str:
        name = TIERS[0][0]
        for tier, threshold in TIERS:
            if spend >= threshold:
                name = tier
        return name

    def basket(self, oid: str, gross: float) -> list[dict[str, Any]]:
        """1–3 lines whose paid prices add up exactly (in cents) to ``gross``; the last line has quantity 1."""
        py = self.py
        n = 1 if py.random() < 0.6 else (2 if py.random() < 0.75 else 3)
        picks = [bisect.bisect_right(self.cum, py.random() * self.cum[-1]) for _ in range(n)]
        picks = [min(k, len(self.price) - 1) for k in picks]
        qty = [1 if py.random() < 0.8 else 2 for _ in range(n - 1)] + [1]
        total_c = round(gross * 100)
        weights = [self.price[k] * q for k, q in zip(picks, qty, strict=True)]
        wsum = sum(weights)
        units = [max(1, int(total_c * w / wsum / q)) for w, q in zip(weights[:-1], qty[:-1], strict=True)]
        last = total_c - sum(u * q for u, q in zip(units, qty, strict=False))
        if last < 1:
            picks, qty, units, last = picks[-1:], [1], [], total_c
        units.append(last)
        items = []
        for line, (k, q, u) in enumerate(zip(picks, qty, units, strict=True), start=1):
            items.append({"sku": self.cat.skus[k], "quantity": q, "price": u / 100})
            self.rows.items["order_id"].append(oid)
            self.rows.items["line_no"].append(line)
            self.rows.items["sku"].append(self.cat.skus[k])
            self.rows.items["quantity"].append(q)
            self.rows.items["price"].append(u / 100)
        return items

    def tablet_visits(self, p: int, A: float, reg_t: float) -> None:
        pe, py, cat = self.pe, self.py, self.cat
        k = int(pe.tablet[p])
        store = cat.tablets[k].store
        lo = max(reg_t, A)
        for _ in range(py.randint(1, 3)):
            t = self.store_hours(lo + py.random() * (self.D - lo), lo)
            phone = py.random() < 0.35
            self.track(p, TABLET, t, "store_visited", {"store_id": cat.store_ids[store],
                                                       "staff_id": self.guide(store)}, phone=phone, tablet=k)
            for _ in range(py.randint(1, 3)):
                t += py.uniform(0.5, 5) * MINUTE
                if t >= self.D:
                    break
                self.track(p, TABLET, t, "mp_page_viewed", {
                    "page": py.choice(("pages/member/checkin", "pages/member/points", "pages/product/detail")),
                    "app_id": MP_APP_ID, "duration_seconds": round(py.uniform(5, 120), 1)},
                    phone=phone, tablet=k)
