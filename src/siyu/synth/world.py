"""The people of one chunk: who they are, where they are reachable, and every identifier they own.

All draws are vectorised over the chunk. Times are float days since the window start (00:00 China
time on ``start``); existing customers have negative acquisition times. Identifier values are made
unique by construction (affine permutations of the global person index for phone, user id and
member number; 128+ random bits for the rest), so truth never has to resolve collisions.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

import numpy as np

from siyu.synth.catalog import Catalog
from siyu.synth.config import (
    ACQ_CHANNELS,
    ACQ_WEIGHTS,
    APP,
    HOUR_WEIGHTS,
    MOBILE_PREFIXES,
    MP,
    OA,
    SERVER,
    SURFACE_PROBS,
    WC,
    TrueParams,
)

#: Surface a person of each acquisition channel meets first (if they have it).
PRIMARY = {"douyin": MP, "xiaohongshu": APP, "store_qr": WC, "package_card": WC, "official_account_search": OA}
PINYIN_FAMILY = ("zhang", "wang", "li", "liu", "chen", "yang", "huang", "zhao", "wu", "zhou", "xu", "sun")
PINYIN_GIVEN = ("wei", "fang", "na", "min", "jing", "li", "qiang", "lei", "yang", "yan", "jie", "ting", "xue")
EMAIL_DOMAINS = ("qq.com", "163.com", "126.com", "gmail.com", "foxmail.com", "outlook.com")
INF = np.inf


@dataclass
class People:
    """Column arrays for the persons of one chunk (index ``i`` is person ``lo + i`` globally)."""

    lo: int
    n: int
    days: int
    pid: list[str]
    channel: np.ndarray
    acq: np.ndarray
    anon_only: np.ndarray
    has: np.ndarray  # (n, 4) bool: app, mp, oa, wecom
    start: np.ndarray  # (n, 4) float: when each surface became available
    registered: np.ndarray
    reg_t: np.ndarray  # INF when not registered within the window
    reg_surface: np.ndarray  # APP, MP or SERVER (store/POS); -1 when not registered
    reg_wc: np.ndarray  # registered by a guide in the WeCom sidebar (identify carries external_userid)
    has_device: np.ndarray
    has_anon2: np.ndarray
    anon2_t: np.ndarray
    has_member: np.ndarray
    has_email: np.ndarray
    has_union: np.ndarray
    mp_login: np.ndarray
    oa_login: np.ndarray
    wc_union: np.ndarray
    app_wx: np.ndarray
    wc_bind: np.ndarray
    mp_phone: np.ndarray  # an unregistered buyer authorised their phone in the mini program (identify)
    lam: np.ndarray
    p: np.ndarray
    nu: np.ndarray
    eng: np.ndarray
    lapse_t: np.ndarray
    home_store: np.ndarray
    owner: np.ndarray  # owning staff (-1 without WeCom)
    second_staff: np.ndarray
    group: np.ndarray  # -1 when in no group
    g_join: np.ndarray
    tablet: np.ndarray  # index into catalog.tablets or -1
    uid: list[str]
    anon_app: list[str]
    anon2: list[str]
    device: list[str]
    anon_mp: list[str]
    openid_mp: list[str]
    openid_oa: list[str]
    unionid: list[str]
    ext: list[str]
    phone: list[str]  # 11 digits
    member_no: list[str]
    email: list[str]
    # filled after purchases
    drop_t: np.ndarray = field(default_factory=lambda: np.empty(0))
    dis_t: np.ndarray = field(default_factory=lambda: np.empty(0))
    buyer: np.ndarray = field(default_factory=lambda: np.empty(0, bool))
    entity_link: list[str | None] = field(default_factory=list)

    @property
    def A(self) -> np.ndarray:
        """When each person becomes observable: acquisition, or the window start for existing ones."""
        return np.maximum(self.acq, 0.0)


HOUR_CUM = np.cumsum(HOUR_WEIGHTS) / np.sum(HOUR_WEIGHTS)


def time_of_day(rng: np.random.Generator, shape: int | tuple[int, ...]) -> np.ndarray:
    """Fractions of a day drawn from the China-time hour profile."""
    hour = np.searchsorted(HOUR_CUM, rng.random(shape), side="right")
    return (hour + rng.random(shape)) / 24.0


def reshape_hours(rng: np.random.Generator, t: np.ndarray) -> np.ndarray:
    """Keep each time's (China-time) day but redraw its time of day from the hour profile."""
    return np.floor(t) + time_of_day(rng, t.shape)


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_HEX_UP = np.frombuffer(b"0123456789ABCDEF", dtype=np.uint8)


def uuid_matrix(rng: np.random.Generator, n: int, upper: bool = False) -> np.ndarray:
    """``n`` RFC 4122 version-4 UUIDs as an ``(n, 36)`` matrix of ASCII codes (deterministic, vectorised)."""
    raw = np.frombuffer(rng.bytes(16 * n), dtype=np.uint8).reshape(n, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    digits = _HEX_UP if upper else _HEX
    hexed = np.empty((n, 32), dtype=np.uint8)
    hexed[:, 0::2] = digits[raw >> 4]
    hexed[:, 1::2] = digits[raw & 0x0F]
    out = np.full((n, 36), ord("-"), dtype=np.uint8)
    for shift, (a, b) in enumerate(((0, 8), (8, 12), (12, 16), (16, 20), (20, 32))):
        out[:, a + shift:b + shift] = hexed[:, a:b]  # one dash before every group but the first
    return out


def uuid_bytes(rng: np.random.Generator, n: int, upper: bool = False) -> list[bytes]:
    """``n`` RFC 4122 version-4 UUIDs as ASCII bytes."""
    return list(uuid_matrix(rng, n, upper).view("S36").ravel().tolist())


def uuid_strings(rng: np.random.Generator, n: int, upper: bool = False) -> list[str]:
    """``n`` RFC 4122 version-4 UUID strings from the generator (deterministic, no ``uuid4()``)."""
    return [b.decode() for b in uuid_bytes(rng, n, upper)]


def wx_ids(rng: np.random.Generator, n: int, prefix: str, length: int) -> list[str]:
    """WeChat-looking ids (``o…`` openid/unionid, ``wm…`` external_userid) of ``length`` characters."""
    body = length - len(prefix)
    nbytes = (body + 3) // 4 * 3  # base64 turns every 3 bytes into 4 characters
    text = base64.urlsafe_b64encode(rng.bytes(nbytes * n)).decode()
    step = nbytes // 3 * 4
    return [prefix + text[k:k + body] for k in range(0, step * n, step)]


def draw_people(rng: np.random.Generator, lo: int, n: int, days: int, cat: Catalog, tp: TrueParams,
                salt: tuple[int, int, int], width: int) -> People:
    """Draw ``n`` persons with global indices ``lo..lo+n-1``."""
    gidx = np.arange(lo, lo + n, dtype=np.int64)
    channel = rng.choice(len(ACQ_CHANNELS), size=n, p=np.asarray(ACQ_WEIGHTS))
    existing = rng.random(n) < tp.existing_share
    acq = np.where(existing, -rng.uniform(0.0, tp.existing_max_days, n), rng.uniform(0.0, days, n))
    acq = reshape_hours(rng, acq)
    tablet = np.full(n, -1, dtype=np.int64)
    for k, tab in enumerate(cat.tablets):
        members = tab.persons[(tab.persons >= lo) & (tab.persons < lo + n)] - lo
        tablet[members] = k
    on_tablet = tablet >= 0
    anon_only = (rng.random(n) < tp.anonymous_share) & ~on_tablet

    probs = np.asarray([SURFACE_PROBS[c] for c in ACQ_CHANNELS])[channel]
    has = rng.random((n, 4)) < probs
    primary = np.asarray([PRIMARY[c] for c in ACQ_CHANNELS])[channel]
    has[np.arange(n), primary] |= ~has.any(axis=1)
    has[anon_only] = (True, False, False, False)
    first = np.where(has[np.arange(n), primary], primary, np.argmax(has, axis=1))
    start = np.maximum(acq[:, None], reshape_hours(rng, acq[:, None] + rng.exponential(30.0, (n, 4))))
    start[np.arange(n), first] = acq
    has &= start < days

    reg_p = np.where(channel == ACQ_CHANNELS.index("store_qr"), 0.75, tp.register_prob)
    registered = (rng.random(n) < reg_p) & ~anon_only
    reg_t = np.maximum(acq, reshape_hours(rng, acq + rng.exponential(20.0, n)))
    a_obs = np.maximum(acq, 0.0)
    reg_t[on_tablet] = np.minimum(reg_t[on_tablet], a_obs[on_tablet] + 0.3 * (days - a_obs[on_tablet]))
    registered |= on_tablet
    registered &= reg_t < days
    reg_t = np.where(registered, reg_t, INF)
    reg_surface = np.where(has[:, APP], APP, np.where(has[:, MP], MP, SERVER))
    reg_surface = np.where(registered, reg_surface, -1)
    reg_wc = (reg_surface == SERVER) & has[:, WC] & (rng.random(n) < 0.8)

    u = rng.random((n, 10))
    has_device = has[:, APP] & (u[:, 0] < np.where(anon_only, 0.6, 0.7))
    # a second browser/device shows up at least a day after the first logged-in identify
    anon2_t = np.maximum(np.maximum(reg_t, start[:, APP]), 0.0) + 1.0 + rng.exponential(30.0, n)
    has_anon2 = registered & has[:, APP] & (u[:, 1] < 0.2) & (anon2_t < days)
    has_member = registered & (u[:, 2] < 0.9)
    has_email = registered & (u[:, 3] < 0.1)
    wechat = has[:, MP] | has[:, OA] | has[:, WC]
    has_union = wechat & (u[:, 4] < tp.unionid_prob)
    mp_login = registered & has[:, MP] & ((reg_surface == MP) | (u[:, 5] < 0.6))
    oa_login = registered & has[:, OA] & (u[:, 6] < 0.3)
    wc_union = has_union & has[:, WC] & (u[:, 7] < 0.8)
    app_wx = has_union & has[:, APP] & ~registered & (u[:, 8] < 0.5)

    ident = ~anon_only
    lam = np.where(ident, rng.gamma(tp.r, 1.0 / tp.alpha, n), np.nan)
    p = np.where(ident, rng.beta(tp.a, tp.b, n), np.nan)
    nu = np.where(ident, rng.gamma(tp.q, 1.0 / tp.gamma, n), np.nan)
    eng = rng.gamma(tp.engagement_shape, tp.engagement_mean / tp.engagement_shape, n) * np.where(anon_only, 0.6, 1)
    lapse_t = acq + rng.exponential(tp.lapse_mean_days, n)

    n_stores = len(cat.store_ids)
    home_store = rng.integers(0, n_stores, n)
    for k, tab in enumerate(cat.tablets):
        home_store[tablet == k] = tab.store
    owner = np.full(n, -1, dtype=np.int64)
    second = np.full(n, -1, dtype=np.int64)
    group = np.full(n, -1, dtype=np.int64)
    g_join = np.full(n, INF)
    picks = rng.random((n, 4))
    for i in np.flatnonzero(has[:, WC]):
        guides = cat.guides_by_store[home_store[i]]
        if picks[i, 0] < 0.85 or not cat.cs_staff:
            owner[i] = guides[int(picks[i, 1] * len(guides))]
        else:
            owner[i] = cat.cs_staff[int(picks[i, 1] * len(cat.cs_staff))]
        if picks[i, 2] < 0.1 and cat.cs_staff:
            cs = cat.cs_staff[int(picks[i, 3] * len(cat.cs_staff))]
            second[i] = cs if cs != owner[i] else -1
    join_u = rng.random((n, 3))
    for i in np.flatnonzero(has[:, WC] & (join_u[:, 0] < 0.45)):
        mine = cat.groups_by_staff[owner[i]]
        g = mine[int(join_u[i, 1] * len(mine))] if mine else int(join_u[i, 1] * len(cat.group_ids))
        t = max(start[i, WC], cat.group_created[g]) - 7.0 * np.log1p(-join_u[i, 2])
        if t < days:
            group[i], g_join[i] = g, t

    uid_num = (gidx * 7919 + salt[0]) % 10**7
    mem_num = (gidx * 48271 + salt[1]) % 10**9
    ph_num = (gidx * 104729 + salt[2]) % 10**8
    prefixes = rng.integers(0, len(MOBILE_PREFIXES), n)
    fam = rng.integers(0, len(PINYIN_FAMILY), n)
    giv = rng.integers(0, len(PINYIN_GIVEN), n)
    dom = rng.integers(0, len(EMAIL_DOMAINS), n)
    shout = rng.random(n) < 0.3
    emails = []
    for k in range(n):
        e = f"{PINYIN_FAMILY[fam[k]]}.{PINYIN_GIVEN[giv[k]]}{uid_num[k]:07d}@{EMAIL_DOMAINS[dom[k]]}"
        emails.append(e.title() if shout[k] else e)
    ios = rng.random(n) < 0.5
    dev_ios = uuid_strings(rng, n, upper=True)
    dev_android = rng.bytes(8 * n).hex()
    return People(
        lo=lo, n=n, days=days,
        pid=[f"p_{g + 1:0{width}d}" for g in gidx.tolist()],
        channel=channel, acq=acq, anon_only=anon_only, has=has, start=np.where(has, start, INF),
        registered=registered, reg_t=reg_t, reg_surface=reg_surface, reg_wc=reg_wc, has_device=has_device,
        has_anon2=has_anon2, anon2_t=np.where(has_anon2, anon2_t, INF), has_member=has_member,
        has_email=has_email, has_union=has_union, mp_login=mp_login, oa_login=oa_login, wc_union=wc_union,
        app_wx=app_wx, wc_bind=np.zeros(n, bool), mp_phone=np.zeros(n, bool), lam=lam, p=p, nu=nu, eng=eng,
        lapse_t=lapse_t,
        home_store=home_store, owner=owner, second_staff=second, group=group, g_join=g_join, tablet=tablet,
        uid=[f"u_{x:07d}" for x in uid_num.tolist()],
        anon_app=uuid_strings(rng, n), anon2=uuid_strings(rng, n),
        device=[dev_ios[i] if ios[i] else dev_android[16 * i:16 * i + 16] for i in range(n)],
        anon_mp=uuid_strings(rng, n), openid_mp=wx_ids(rng, n, "o", 28), openid_oa=wx_ids(rng, n, "o", 28),
        unionid=wx_ids(rng, n, "o", 28), ext=wx_ids(rng, n, "wm", 32),
        phone=[MOBILE_PREFIXES[k] + f"{x:08d}" for k, x in zip(prefixes.tolist(), ph_num.tolist(), strict=True)],
        member_no=[f"M{x:09d}" for x in mem_num.tolist()], email=emails,
    )
