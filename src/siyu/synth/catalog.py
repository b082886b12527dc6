"""The static world shared by every chunk: stores, staff, groups, products, content, campaigns, tablets.

It is drawn once from its own child seed, so it does not change with the number of chunks, and it is
small enough to be sent to every worker process.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CITY_DISTRICTS = {
    "上海": ("静安", "徐汇", "浦东"), "北京": ("朝阳", "海淀", "西城"), "杭州": ("西湖", "滨江", "拱墅"),
    "广州": ("天河", "越秀", "海珠"), "深圳": ("南山", "福田", "罗湖"), "成都": ("锦江", "武侯", "高新"),
    "南京": ("鼓楼", "玄武", "建邺"), "武汉": ("江汉", "武昌", "洪山"), "苏州": ("姑苏", "工业园区", "吴中"),
    "西安": ("雁塔", "碑林", "曲江"), "重庆": ("渝中", "江北", "南岸"), "长沙": ("岳麓", "芙蓉", "天心"),
}
CITIES = tuple(CITY_DISTRICTS)
REGIONS = {"上海": "华东", "杭州": "华东", "南京": "华东", "苏州": "华东", "北京": "华北", "广州": "华南",
           "深圳": "华南", "成都": "西南", "重庆": "西南", "武汉": "华中", "长沙": "华中", "西安": "西北"}
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN = ("伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "洋", "艳", "杰", "娟", "涛", "明", "超", "秀英",
         "婷", "雪", "琳", "晨", "欣怡", "子涵", "雨桐", "思远")
CATEGORIES = ("洁面", "精华", "面霜", "面膜", "防晒", "彩妆", "身体护理", "礼盒")
PRODUCT_LINES = ("水光系列", "修护系列", "抗老系列", "美白系列", "控油系列", "敏感肌系列")
CATEGORY_ITEMS = {
    "洁面": ("氨基酸洁面乳", "洁面慕斯", "卸妆油"), "精华": ("精华液", "安瓶精华", "精华油"),
    "面霜": ("保湿面霜", "修护霜", "眼霜"), "面膜": ("补水面膜", "睡眠面膜", "清洁泥膜"),
    "防晒": ("防晒乳", "防晒喷雾", "隔离霜"), "彩妆": ("气垫", "口红", "粉底液"),
    "身体护理": ("身体乳", "护手霜", "沐浴露"), "礼盒": ("节日礼盒", "旅行套装", "明星套组"),
}
CATEGORY_PRICE = {"洁面": 89.0, "精华": 329.0, "面霜": 259.0, "面膜": 129.0, "防晒": 149.0, "彩妆": 199.0,
                  "身体护理": 99.0, "礼盒": 499.0}
TOPICS = ("换季护肤指南", "成分党必看", "新品上市", "会员专享福利", "直播预告", "敏感肌急救", "熬夜党修护",
          "防晒误区", "618攻略", "双11清单", "妆前护肤", "达人测评")
HOOKS = ("3分钟看懂", "这样用效果翻倍", "限时领券", "90%的人都用错了", "导购小课堂", "真实测评")
CONTENT_TYPES = ("article", "video", "live")
CAMPAIGN_NAMES = ("新年焕新礼", "春节红包季", "38女神节", "春季会员日", "520心动礼", "618年中大促",
                  "夏日防晒节", "七夕限定", "中秋礼盒季", "国庆出游季", "双11预售", "年终感恩回馈",
                  "新品试用招募", "老客唤醒计划")
CAMPAIGN_CHANNELS = ("wecom", "sms", "official_account")
GROUP_KINDS = ("会员福利群", "新品体验官群", "护肤交流群", "VIP专属群")


@dataclass
class Campaign:
    campaign_id: str
    name: str
    channel: str
    send_day: int
    effect: float
    audience_frac: float
    coupon_value: float
    is_ab_test: bool
    unit_cost: float
    fixed_cost: float


@dataclass
class Tablet:
    device_id: str
    store: int
    persons: np.ndarray  # global person indices (0-based) that use this tablet


@dataclass
class Catalog:
    """Everything that is not a person."""

    days: int
    store_ids: list[str]
    store_names: list[str]
    store_region: list[str]
    staff_ids: list[str]
    staff_names: list[str]
    staff_role: list[str]
    staff_store: list[int]  # -1 for customer service
    guides_by_store: list[list[int]]
    cs_staff: list[int]
    group_ids: list[str]
    group_names: list[str]
    group_owner: list[int]
    group_created: np.ndarray  # days relative to start
    groups_by_staff: list[list[int]]
    skus: list[str]
    product_names: list[str]
    product_category: list[str]
    product_line: list[str]
    product_price: np.ndarray
    product_cum: np.ndarray  # cumulative popularity for sampling
    content_ids: list[str]
    content_titles: list[str]
    content_type: list[str]
    content_category: list[str]
    content_published: np.ndarray  # days relative to start
    content_by_type: dict[str, np.ndarray]  # indices sorted by publication
    campaigns: list[Campaign]
    tablets: list[Tablet]

    @property
    def ab_campaign(self) -> Campaign:
        return next(c for c in self.campaigns if c.is_ab_test)


def _name(rng: np.random.Generator) -> str:
    return SURNAMES[int(rng.integers(len(SURNAMES)))] + GIVEN[int(rng.integers(len(GIVEN)))]


def build_catalog(rng: np.random.Generator, users: int, days: int) -> Catalog:
    """Draw the static world; sizes scale with ``users`` (staff ~ users/200, stores ~ staff/5)."""
    n_staff = max(10, users // 200)
    n_stores = max(2, n_staff // 5)
    store_ids, store_names, store_region = [], [], []
    for s in range(n_stores):
        city = CITIES[s % len(CITIES)]
        lap = s // len(CITIES)
        district = CITY_DISTRICTS[city][lap % 3]
        store_ids.append(f"s_{s + 1:04d}")
        store_names.append(f"{city}{district}{lap // 3 + 1}号店")
        store_region.append(REGIONS[city])
    staff_ids, staff_names, staff_role, staff_store = [], [], [], []
    guides_by_store: list[list[int]] = [[] for _ in range(n_stores)]
    cs_staff: list[int] = []
    for i in range(n_staff):
        staff_ids.append(f"st_{i + 1:05d}")
        staff_names.append(_name(rng))
        if i % 5 == 4:
            staff_role.append("cs")
            staff_store.append(-1)
            cs_staff.append(i)
        else:
            store = i % n_stores
            staff_role.append("guide")
            staff_store.append(store)
            guides_by_store[store].append(i)
    for s in range(n_stores):  # every store has at least one guide
        if not guides_by_store[s]:
            guides_by_store[s].append(next(i for i in range(n_staff) if staff_role[i] == "guide"))
    guides = [i for i in range(n_staff) if staff_role[i] == "guide"]
    n_groups = max(3, len(guides) // 2)
    group_ids, group_names, group_owner = [], [], []
    groups_by_staff: list[list[int]] = [[] for _ in range(n_staff)]
    for g in range(n_groups):
        owner = guides[g % len(guides)]
        group_ids.append(f"wrg_{g + 1:05d}")
        kind = GROUP_KINDS[int(rng.integers(len(GROUP_KINDS)))]
        group_names.append(f"{store_names[staff_store[owner]]}{kind}{g // len(guides) + 1}")
        group_owner.append(owner)
        groups_by_staff[owner].append(g)
    group_created = np.round(rng.uniform(-400, max(1.0, days * 0.3), n_groups), 3)

    n_products = 300
    skus, pnames, pcat, pline = [], [], [], []
    prices = np.empty(n_products)
    for k in range(n_products):
        cat = CATEGORIES[k % len(CATEGORIES)]
        line = PRODUCT_LINES[int(rng.integers(len(PRODUCT_LINES)))]
        item = CATEGORY_ITEMS[cat][int(rng.integers(3))]
        size = ("30ml", "50ml", "100ml", "5片装", "标准装", "限定版")[int(rng.integers(6))]
        skus.append(f"SKU{10001 + k}")
        pnames.append(f"{line}{item} {size}")
        pcat.append(cat)
        pline.append(line)
        prices[k] = np.round(CATEGORY_PRICE[cat] * rng.uniform(0.5, 1.8), 0) - 0.1
    pop = 1.0 / np.arange(1, n_products + 1) ** 0.9
    pop = pop[rng.permutation(n_products)]
    product_cum = np.cumsum(pop) / pop.sum()

    n_content = 500
    ctype = rng.choice(len(CONTENT_TYPES), size=n_content, p=[0.6, 0.3, 0.1])
    published = np.sort(np.round(rng.uniform(-120, max(1.0, days - 1), n_content), 4))
    content_ids = [f"c_{k + 1:05d}" for k in range(n_content)]
    titles = [f"{TOPICS[int(rng.integers(len(TOPICS)))]}｜{HOOKS[int(rng.integers(len(HOOKS)))]}"
              for _ in range(n_content)]
    ccat = [CATEGORIES[int(rng.integers(len(CATEGORIES)))] for _ in range(n_content)]
    ctypes = [CONTENT_TYPES[int(c)] for c in ctype]
    by_type = {t: np.flatnonzero(ctype == i) for i, t in enumerate(CONTENT_TYPES)}
    for i, t in enumerate(CONTENT_TYPES):  # every type has an item published before the window
        if not len(by_type[t]):
            ctype[i] = i
            ctypes[i] = t
            by_type = {t: np.flatnonzero(ctype == j) for j, t in enumerate(CONTENT_TYPES)}
        first = by_type[t][0]
        if published[first] > 0:  # then every item of this type is later, so order is kept
            published[first] = -1.0

    return Catalog(
        days=days, store_ids=store_ids, store_names=store_names, store_region=store_region,
        staff_ids=staff_ids, staff_names=staff_names, staff_role=staff_role, staff_store=staff_store,
        guides_by_store=guides_by_store, cs_staff=cs_staff, group_ids=group_ids, group_names=group_names,
        group_owner=group_owner, group_created=group_created, groups_by_staff=groups_by_staff,
        skus=skus, product_names=pnames, product_category=pcat, product_line=pline,
        product_price=prices, product_cum=product_cum, content_ids=content_ids, content_titles=titles,
        content_type=ctypes, content_category=ccat, content_published=published, content_by_type=by_type,
        campaigns=_campaigns(rng, days), tablets=_tablets(rng, users, n_stores),
    )


def _campaigns(rng: np.random.Generator, days: int) -> list[Campaign]:
    """~12 campaigns spread over the window; one placebo (effect 0) and one A/B test near the middle."""
    n = 12
    fracs = np.linspace(0.05, 0.9, n) + rng.uniform(-0.02, 0.02, n)
    ab_index = int(np.argmin(np.abs(fracs - 0.5)))
    placebo = (ab_index + 3) % n
    out = []
    for k in range(n):
        is_ab = k == ab_index
        channel = "wecom" if is_ab else CAMPAIGN_CHANNELS[k % 3]
        send_day = int(np.clip(round(float(fracs[k]) * days), 0, max(0, days - 1)))
        if is_ab:
            send_day = int(np.clip(send_day, 0, max(0, days - 14)))
        effect = 0.0 if is_ab or k == placebo else round(float(rng.uniform(0.15, 0.8)), 2)
        out.append(Campaign(
            campaign_id=f"cmp_{k + 1:03d}", name=CAMPAIGN_NAMES[k % len(CAMPAIGN_NAMES)], channel=channel,
            send_day=send_day, effect=effect,
            audience_frac=1.0 if is_ab else round(float(rng.uniform(0.25, 0.7)), 2),
            coupon_value=float((0, 20, 30, 50)[int(rng.integers(4))]), is_ab_test=is_ab,
            unit_cost={"sms": 0.045, "wecom": 0.0, "official_account": 0.0}[channel],
            fixed_cost=float(np.round(rng.uniform(2000, 20000), -2)),
        ))
    return out


def _tablets(rng: np.random.Generator, users: int, n_stores: int) -> list[Tablet]:
    """Shared store tablets (~20): each used by 30–80 distinct persons (fewer in tiny worlds)."""
    n = int(np.clip(users // 1000, 1, 20))
    cap = max(1, users // (4 * n))
    sizes = np.minimum(rng.integers(30, 81, n), cap)
    chosen = rng.choice(users, size=int(sizes.sum()), replace=False)
    out, at = [], 0
    for k in range(n):
        out.append(Tablet(f"store-tablet-{k + 1:03d}", k % n_stores, np.sort(chosen[at:at + sizes[k]])))
        at += int(sizes[k])
    return out
