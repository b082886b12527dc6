"""Everyday interactions (the bulk of the events), generated vectorised per chunk.

Each person interacts at rate ``eng`` per day from when they become observable until they disengage
(``min(BG/NBD dropout, interest lapse)``), after which the rate decays as ``exp(-t / decay_days)``.
Event days follow that intensity; the time of day follows the China-time hour profile. Each event
goes to one of the person's surfaces available at that time, then to an event kind of that surface.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from siyu.synth.batch import EventBatch
from siyu.synth.catalog import Catalog
from siyu.synth.config import APP, MP, MP_APP_ID, OA, WC, TrueParams
from siyu.synth.identity import Stamper
from siyu.synth.world import People, reshape_hours

SURFACE_WEIGHTS = np.array([1.0, 1.0, 0.5, 0.35])
KINDS: dict[int, tuple[tuple[str, float], ...]] = {
    APP: (("page", 30), ("screen", 10), ("product_viewed", 15), ("cart_added", 4), ("video_played", 8),
          ("live_viewed", 3), ("content_shared", 3), ("quiz_completed", 2)),
    MP: (("mp_page_viewed", 35), ("product_viewed", 15), ("cart_added", 5), ("live_viewed", 4),
         ("content_shared", 3), ("quiz_completed", 1), ("lucky_draw_played", 2)),
    OA: (("article_read", 30), ("content_shared", 4), ("video_played", 3)),
    WC: (("group_message_sent", 7), ("cs_consulted", 3)),
}
PAGES = (("首页", "/"), ("商品详情", "/product"), ("活动页", "/campaign"), ("会员中心", "/member"),
         ("购物车", "/cart"), ("搜索结果", "/search"))
SCREENS = ("Home", "ProductDetail", "Cart", "MemberCenter", "LiveRoom", "Search")
MP_PAGES = ("pages/index/index", "pages/product/detail", "pages/cart/cart", "pages/member/center",
            "pages/live/room", "pages/coupon/list")
SHARE_TO = ("wechat_friend", "moments", "wechat_group", "xiaohongshu")
SKIN_TYPES = ("干性肌肤", "油性肌肤", "混合性肌肤", "敏感肌肤", "中性肌肤")
PRIZES = ("小样礼包", "10元无门槛券", "积分x50", "谢谢参与", "正装精华")
MSG_TYPES = ("text", "image", "emoji", "mini_program", "voice")


def _exposure(pe: People, tau: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(engaged length, decayed mass, decay start, start) of each person's interaction intensity."""
    a = pe.A
    d = float(pe.days)
    dis = pe.dis_t
    alive_len = np.clip(np.minimum(dis, d) - a, 0.0, None)
    s0 = np.maximum(dis, a)
    finite = np.isfinite(dis) & (s0 < d)
    lag0 = np.where(finite, s0 - np.where(finite, dis, 0.0), 0.0)
    lag1 = np.where(finite, d - np.where(finite, dis, 0.0), 0.0)
    decay = np.where(finite, tau * (np.exp(-lag0 / tau) - np.exp(-lag1 / tau)), 0.0)
    return alive_len, decay, np.where(finite, dis, np.inf), a


def _pick(rng: np.random.Generator, n: int, weights: np.ndarray) -> np.ndarray:
    cum = np.cumsum(weights) / np.sum(weights)
    return np.minimum(np.searchsorted(cum, rng.random(n), side="right"), len(weights) - 1)


def _content(rng: np.random.Generator, cat: Catalog, kind: str, t: np.ndarray) -> list[str]:
    """Content published before ``t``, favouring recent items."""
    idx = cat.content_by_type[kind]
    pub = cat.content_published[idx]
    n = np.maximum(1, np.searchsorted(pub, t, side="right"))
    k = n - 1 - np.floor(n * rng.random(len(t)) ** 2).astype(np.int64)
    ids = cat.content_ids
    return [ids[i] for i in idx[np.clip(k, 0, len(idx) - 1)].tolist()]


def emit_interactions(rng: np.random.Generator, pe: People, cat: Catalog, tp: TrueParams, st: Stamper,
                      batch: EventBatch, chunk: int) -> None:
    """Draw and emit the chunk's interaction events."""
    tau = tp.decay_days
    alive_len, decay, dis, a = _exposure(pe, tau)
    mass = alive_len + decay
    counts = rng.poisson(pe.eng * mass)
    who = np.repeat(np.arange(pe.n), counts)
    u = rng.random(len(who)) * mass[who]
    in_alive = u < alive_len[who]
    t = a[who] + u
    dw = np.where(in_alive, 0.0, u - alive_len[who])
    d_who = np.where(np.isfinite(dis[who]), dis[who], 0.0)
    head = np.exp(-(np.maximum(dis[who], a[who]) - d_who) / tau)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_decay = d_who - tau * np.log(np.maximum(head - dw / tau, 1e-12))
    t = reshape_hours(rng, np.where(in_alive, t, t_decay))
    ok = (t >= a[who]) & (t < pe.days)
    who, t = who[ok], t[ok]

    avail = pe.has[who] & (pe.start[who] <= t[:, None])
    w = avail * SURFACE_WEIGHTS
    total = w.sum(axis=1)
    ok = total > 0
    who, t, w, total = who[ok], t[ok], w[ok], total[ok]
    cum = np.cumsum(w, axis=1)
    surf = np.argmax((rng.random(len(who)) * total)[:, None] < cum, axis=1)

    names = np.empty(len(who), dtype=object)
    for s, kinds in KINDS.items():
        sel = np.flatnonzero(surf == s)
        k = _pick(rng, len(sel), np.array([x[1] for x in kinds], dtype=float))
        names[sel] = np.array([x[0] for x in kinds], dtype=object)[k]
    in_group = (pe.group[who] >= 0) & (pe.g_join[who] <= t)
    names[(names == "group_message_sent") & ~in_group] = "cs_consulted"
    union = rng.random(len(who)) < 0.4

    for kind in np.unique(names).tolist():
        sel = np.flatnonzero(names == kind)
        props = _props(rng, kind, pe, cat, who[sel], t[sel], chunk, sel)
        mtype = kind if kind in ("page", "screen") else "track"
        labels = [pr.pop("_name") for pr in props] if mtype != "track" else [kind] * len(props)
        for s in np.unique(surf[sel]).tolist():
            part = np.flatnonzero(surf[sel] == s)
            idx = sel[part]
            pick = part.tolist()
            bodies = st.serialise(mtype, [labels[j] for j in pick], [props[j] for j in pick], who[idx].tolist(),
                                  s, t[idx].tolist(), union[idx].tolist())
            batch.extend(bodies, t[idx], surf[idx])


def _props(rng: np.random.Generator, kind: str, pe: People, cat: Catalog, who: np.ndarray, t: np.ndarray,
           chunk: int, sel: np.ndarray) -> list[dict[str, Any]]:
    n = len(who)
    r = rng.random((n, 3))
    if kind in ("product_viewed", "cart_added"):
        k = np.minimum(np.searchsorted(cat.product_cum, r[:, 0], side="right"), len(cat.skus) - 1).tolist()
        price = cat.product_price.tolist()
        if kind == "product_viewed":
            return [{"sku": cat.skus[i], "category": cat.product_category[i], "price": price[i]} for i in k]
        qty = (1 + (r[:, 1] < 0.2) + (r[:, 1] < 0.05)).tolist()
        return [{"sku": cat.skus[i], "quantity": q, "price": price[i]} for i, q in zip(k, qty, strict=True)]
    if kind == "page":
        k = (r[:, 0] * len(PAGES)).astype(int).tolist()
        return [{"_name": PAGES[i][0], "path": PAGES[i][1], "title": PAGES[i][0],
                 "url": f"https://m.brand.example{PAGES[i][1]}"} for i in k]
    if kind == "screen":
        k = (r[:, 0] * len(SCREENS)).astype(int).tolist()
        secs = np.round(rng.exponential(40.0, n), 1).tolist()
        return [{"_name": SCREENS[i], "duration_seconds": s} for i, s in zip(k, secs, strict=True)]
    if kind == "mp_page_viewed":
        k = (r[:, 0] * len(MP_PAGES)).astype(int).tolist()
        secs = np.round(rng.exponential(35.0, n) + 1, 1).tolist()
        return [{"page": MP_PAGES[i], "app_id": MP_APP_ID, "duration_seconds": s} for i, s in zip(k, secs, strict=True)]
    if kind == "article_read":
        cid = _content(rng, cat, "article", t)
        secs = np.round(rng.lognormal(4.0, 0.9, n), 1)
        comp = np.round(np.minimum(1.0, secs / rng.uniform(90, 300, n)), 3).tolist()
        return [{"content_id": c, "read_seconds": s, "completion": x}
                for c, s, x in zip(cid, secs.tolist(), comp, strict=True)]
    if kind == "video_played":
        cid = _content(rng, cat, "video", t)
        secs = np.round(rng.lognormal(3.3, 1.0, n), 1)
        comp = np.round(np.minimum(1.0, secs / rng.uniform(30, 240, n)), 3).tolist()
        return [{"content_id": c, "play_seconds": s, "completion": x}
                for c, s, x in zip(cid, secs.tolist(), comp, strict=True)]
    if kind == "live_viewed":
        cid = _content(rng, cat, "live", t)
        secs = np.round(rng.lognormal(5.0, 1.1, n), 1).tolist()
        return [{"live_id": c, "view_seconds": s} for c, s in zip(cid, secs, strict=True)]
    if kind == "content_shared":
        cid = _content(rng, cat, "article", t)
        to = (r[:, 0] * len(SHARE_TO)).astype(int).tolist()
        return [{"content_id": c, "share_to": SHARE_TO[i]} for c, i in zip(cid, to, strict=True)]
    if kind == "quiz_completed":
        score = rng.integers(40, 101, n).tolist()
        skin = (r[:, 0] * len(SKIN_TYPES)).astype(int).tolist()
        ans = rng.integers(1, 5, (n, 3)).tolist()
        return [{"quiz_id": "skin_test_v2", "score": s, "skin_type": SKIN_TYPES[k], "answers": a}
                for s, k, a in zip(score, skin, ans, strict=True)]
    if kind == "lucky_draw_played":
        prize = (r[:, 0] * len(PRIZES)).astype(int).tolist()
        return [{"draw_id": "draw_2026_spring", "prize": PRIZES[k], "won": k != 3} for k in prize]
    if kind == "group_message_sent":
        groups = pe.group[who].tolist()
        mt = (r[:, 0] * len(MSG_TYPES)).astype(int).tolist()
        length = rng.integers(1, 200, n).tolist()
        return [{"group_id": cat.group_ids[g], "msg_type": MSG_TYPES[m], "length": ln}
                for g, m, ln in zip(groups, mt, length, strict=True)]
    if kind == "cs_consulted":
        owner = pe.owner[who].tolist()
        sat = rng.integers(1, 6, n).tolist()
        has_sat = (r[:, 0] < 0.8).tolist()
        resp = np.round(rng.exponential(90.0, n), 1).tolist()
        out = []
        for j, (o, s, hs, rs) in enumerate(zip(owner, sat, has_sat, resp, strict=True)):
            d: dict[str, Any] = {"session_id": f"cs{chunk:04d}x{int(sel[j]):08d}", "response_seconds": rs}
            if hs:
                d["satisfaction"] = s
            if o >= 0:
                d["staff_id"] = cat.staff_ids[o]
            out.append(d)
        return out
    raise ValueError(f"no property builder for {kind}")  # pragma: no cover
