"""A deterministic catalogue of 300 tags for a beauty brand, the rules the segment benchmarks time.

``write_tag_set(folder)`` writes the catalogue as YAML files (one per group, inspectable and valid for
``siyu tags validate --defs folder``): behaviour rules over events with property filters and windows
(per product category × window × threshold, content, community, service, coupons, messages), order-value
rules, profile-field rules (lifecycle, RFM class, tier, channels), ``has_tag`` combinations, sequences,
the 7 statistical tags with parameter variants, and composite scores. Predictive tags are left out:
they need model output tables that a benchmark lake does not have.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from siyu.profile.rules.schema import DEFAULT_SCHEMA
from siyu.profile.tags.model import load_tag_definitions
from siyu.profile.tags.plan import check_definitions

TAG_COUNT = 300

#: product categories of the synthetic brand (``siyu.synth.catalog.CATEGORIES``) → name slug.
CATEGORIES = {"洁面": "cleanser", "精华": "serum", "面霜": "cream", "面膜": "mask", "防晒": "sunscreen",
              "彩妆": "makeup", "身体护理": "bodycare", "礼盒": "giftset"}
LIFECYCLE = {"potential": "潜在", "new": "新客", "active": "活跃", "silent": "沉默", "churned": "流失"}
RFM = {"important_value": "重要价值", "important_develop": "重要发展", "important_retain": "重要保持",
       "important_win_back": "重要挽留", "general_value": "一般价值", "general_develop": "一般发展",
       "general_retain": "一般保持", "general_win_back": "一般挽留"}
TIERS = {"bronze": "铜卡", "silver": "银卡", "gold": "金卡", "diamond": "钻石卡"}
CS, CONTENT = "客服主管", "运营-内容组"
BANDS = [{"value": "high", "min": 0.6}, {"value": "medium", "min": 0.3}, {"value": "low", "min": 0}]

Tag = dict[str, Any]


def _rule(name: str, zh: str, rule: str, category: str = "behavioural", owner: str = "运营-用户组") -> Tag:
    return {"name": name, "name_zh": zh, "kind": "rule", "category": category, "owner": owner,
            "description": f"{zh}: {rule}", "rule": rule}


def browse_tags() -> list[Tag]:
    """Product views per category × window × threshold (64)."""
    tags = []
    for cat, slug in CATEGORIES.items():
        for days, times in [(7, 1), (7, 3), (30, 1), (30, 3), (90, 1), (90, 3), (90, 5), (180, 10)]:
            tags.append(_rule(f"view_{slug}_{days}d_{times}x", f"近{days}天浏览{cat}{times}次+",
                              f'count(product_viewed where category = "{cat}", last {days}d) >= {times}',
                              owner="运营-商品组"))
    return tags


def order_tags() -> list[Tag]:
    """Order value, frequency, basket size, channel and coupon rules (54) and order-event amounts (8)."""
    tags = []
    for days in (30, 90, 180, 365):
        tags += [_rule(f"spend_{days}d_{x}", f"近{days}天消费满{x}元", f"order_sum(last {days}d) >= {x}", "derived")
                 for x in (200, 500, 1000, 3000, 5000)]
        tags += [_rule(f"orders_{days}d_{n}x", f"近{days}天下单{n}次+", f"order_count(last {days}d) >= {n}", "derived")
                 for n in (1, 2, 3, 5)]
    for days in (90, 365):
        tags += [_rule(f"aov_{days}d_{x}", f"近{days}天客单价≥{x}元", f"order_avg(last {days}d) >= {x}", "derived")
                 for x in (100, 200, 300)]
        tags += [_rule(f"{ch}_orders_{days}d", f"近{days}天{ch}下单", f'order_count(where channel = "{ch}", '
                       f"last {days}d) >= 1") for ch in ("mini_program", "store", "app")]
        tags += [_rule(f"coupon_orders_{days}d_{n}x", f"近{days}天用券下单{n}次+",
                       f"order_count(where coupon_id is not null, last {days}d) >= {n}") for n in (1, 2)]
    tags.append(_rule("discount_buyer", "折扣购买者", "order_count(where discount_amount > 0, last 365d) >= 2"))
    tags.append(_rule("lapsed_buyer", "半年未复购", "order_count() >= 1 and order_count(last 180d) = 0", "derived"))
    for days in (30, 90, 365):
        tags += [_rule(f"mp_paid_{days}d_{x}", f"近{days}天小程序支付满{x}元",
                       f'sum(order_paid.amount where channel = "mini_program", last {days}d) >= {x}')
                 for x in (300, 1000)]
    tags += [_rule(f"big_ticket_{x}", f"单笔≥{x}元", f"max(order_paid.amount, last 365d) >= {x}") for x in (300, 600)]
    return tags


def engagement_tags() -> list[Tag]:
    """Service, content, community, store, coupon, message, app and quiz behaviour (80)."""
    t: list[Tag] = []
    t += [_rule(f"cs_unhappy_{d}d", f"近{d}天客服不满", f"count(cs_consulted where satisfaction <= 2, last {d}d) >= 1",
                owner=CS) for d in (30, 90, 180)]
    t.append(_rule("cs_low_avg_90d", "客服均分低", "avg(cs_consulted.satisfaction, last 90d) <= 2.5", owner=CS))
    t.append(_rule("cs_high_avg_90d", "客服均分高", "avg(cs_consulted.satisfaction, last 90d) >= 4.5", owner=CS))
    t.append(_rule("cs_angry_30d", "近30天打1分", "min(cs_consulted.satisfaction, last 30d) <= 1", owner=CS))
    t += [_rule(f"article_60s_{d}d_{n}x", f"近{d}天深读文章{n}篇+",
                f"count(article_read where read_seconds >= 60, last {d}d) >= {n}", owner=CONTENT)
          for d in (7, 30, 90) for n in (1, 3)]
    t.append(_rule("article_finisher_30d", "读完文章", "max(article_read.completion, last 30d) >= 0.9", owner=CONTENT))
    t.append(_rule("article_complete_90d_3x", "常读完文章",
                   "count(article_read where completion >= 0.8, last 90d) >= 3", owner=CONTENT))
    t += [_rule(f"video_{d}d_{n}x", f"近{d}天看视频{n}次+", f"count(video_played, last {d}d) >= {n}", owner=CONTENT)
          for d in (30, 90) for n in (1, 3)]
    t += [_rule(f"live_{d}d", f"近{d}天看直播", f"did(live_viewed, last {d}d)", owner="运营-直播组")
          for d in (7, 30, 90)]
    t += [_rule(f"share_{d}d_{n}x", f"近{d}天分享{n}次+", f"count(content_shared, last {d}d) >= {n}", owner=CONTENT)
          for d in (30, 90) for n in (1, 2, 5)]
    t += [_rule(f"share_to_{s}_90d", f"分享到{s}", f'did(content_shared where share_to = "{s}", last 90d)',
                owner=CONTENT) for s in ("moments", "xiaohongshu", "wechat_group", "wechat_friend")]
    t += [_rule(f"group_msgs_{d}d_{n}x", f"近{d}天群发言{n}次+", f"count(group_message_sent, last {d}d) >= {n}",
                owner="运营-社群组") for d in (30, 90) for n in (1, 5, 20)]
    t += [_rule(f"store_visits_{d}d_{n}x", f"近{d}天到店{n}次+", f"count(store_visited, last {d}d) >= {n}",
                owner="门店运营") for d in (90, 365) for n in (1, 3, 6)]
    t += [_rule(f"coupon_redeemed_{d}d", f"近{d}天核销券", f"did(coupon_redeemed, last {d}d)", owner="运营-活动组")
          for d in (30, 90, 365)]
    t.append(_rule("coupon_unused_30d", "领券未用",
                   "did(coupon_issued, last 30d) and not did(coupon_redeemed, last 30d)", owner="运营-活动组"))
    t += [_rule(f"message_clicked_{ch}_{d}d", f"近{d}天点击{ch}消息", f'did(message_clicked where channel = "{ch}", '
                f"last {d}d)", owner="运营-触达组") for ch in ("sms", "wecom", "official_account") for d in (30, 90)]
    t.append(_rule("message_fatigue_30d", "消息疲劳", "count(message_delivered, last 30d) >= 5 and "
                   "not did(message_clicked, last 30d)", owner="运营-触达组"))
    t += [_rule(f"cart_{d}d", f"近{d}天加购", f"did(cart_added, last {d}d)") for d in (7, 30)]
    t += [_rule(f"mp_pages_{d}d_{n}x", f"近{d}天小程序浏览{n}页+", f"count(mp_page_viewed, last {d}d) >= {n}")
          for d in (7, 30) for n in (5, 20)]
    skins = {"sensitive": "敏感肌肤", "normal": "中性肌肤", "combination": "混合性肌肤", "oily": "油性肌肤",
             "dry": "干性肌肤"}
    t += [_rule(f"skin_{slug}", f"肤质:{zh}", f'did(quiz_completed where skin_type = "{zh}")', "basic")
          for slug, zh in skins.items()]
    t.append(_rule("lucky_winner_90d", "近90天抽奖中奖", "did(lucky_draw_played where won = true, last 90d)"))
    t += [_rule(f"wecom_via_{ch}", f"企微来源:{ch}", f'did(wecom_friend_added where channel = "{ch}")', "basic",
                owner="运营-企微组")
          for ch in ("store_qr", "package_card", "douyin", "xiaohongshu", "official_account_search")]
    t += [_rule(f"{e}_90d", f"近90天{e}", f"did({e}, last 90d)", owner="运营-社群组")
          for e in ("group_joined", "group_left")]
    pages = {"home": "page:首页", "member": "page:会员中心", "cart_page": "page:购物车", "search": "page:搜索结果",
             "product_page": "page:商品详情", "campaign_page": "page:活动页", "app_live_room": "screen:LiveRoom"}
    t += [_rule(f"visited_{slug}_30d", f"近30天访问{page}", f'did("{page}", last 30d)') for slug, page in pages.items()]
    return t


def field_tags() -> list[Tag]:
    """Profile fields: lifecycle, RFM class, tier, channels, recency, spend, membership (33)."""
    t = [_rule(f"stage_{s}", f"生命周期:{zh}", f'lifecycle = "{s}"', "basic", "会员运营")
         for s, zh in LIFECYCLE.items()]
    t += [_rule(f"rfm_{en}", f"RFM:{zh}", f'rfm_class = "{zh}"', "derived", "会员运营") for en, zh in RFM.items()]
    t += [_rule(f"tier_{s}", f"等级:{zh}", f'tier = "{s}"', "basic", "会员运营") for s, zh in TIERS.items()]
    t += [_rule(f"{s}_{tier}", f"{LIFECYCLE[s]}{TIERS[tier]}会员", f'lifecycle = "{s}" and tier = "{tier}"', "derived",
                "会员运营") for s in ("silent", "churned") for tier in ("gold", "diamond")]
    t += [_rule(f"channel_{c}", f"渠道:{c}", f'channels contains "{c}"', "basic")
          for c in ("wecom", "official_account", "mini_program", "community", "store", "customer_service")]
    t += [_rule(f"idle_{d}d", f"{d}天无互动", f"days_since_last_interaction >= {d}", "basic") for d in (30, 60, 90)]
    t += [_rule(f"lifetime_spend_{x}", f"累计消费{x}元+", f"monetary >= {x}", "basic") for x in (1000, 5000)]
    t.append(_rule("is_member", "会员", "member_no is not null", "basic", "会员运营"))
    return t


def combination_tags() -> list[Tag]:
    """``has_tag`` combinations with fields and events (30), some reading tags that read tags."""
    t = [_rule(f"browse_no_buy_{slug}", f"浏览{cat}未购买",
               f'has_tag("view_{slug}_30d_3x") and not has_tag("orders_30d_1x")', "derived")
         for cat, slug in CATEGORIES.items()]
    t += [_rule(f"winback_{slug}", f"{cat}召回",
                f'has_tag("view_{slug}_90d_1x") and lifecycle in ("silent", "churned")', "derived")
          for cat, slug in CATEGORIES.items()]
    rules = {
        "high_value": 'has_tag("spend_365d_3000") and has_tag("orders_365d_5x")',
        "vip_at_risk": 'has_tag("high_value") and days_since_last_interaction >= 30',
        "loyal_member": 'has_tag("is_member") and has_tag("orders_365d_3x")',
        "coupon_hunter": 'has_tag("coupon_orders_365d_2x") and has_tag("discount_buyer")',
        "happy_repeat": 'has_tag("orders_90d_2x") and not has_tag("cs_unhappy_90d")',
        "unhappy_vip": 'has_tag("cs_unhappy_90d") and tier in ("gold", "diamond")',
        "content_to_buyer": 'has_tag("article_60s_30d_3x") and has_tag("orders_30d_1x")',
        "community_core": 'has_tag("group_msgs_30d_5x") and has_tag("share_30d_2x")',
        "omnichannel": 'has_tag("store_orders_365d") and has_tag("mini_program_orders_365d")',
        "wecom_retain": 'has_tag("channel_wecom") and has_tag("rfm_important_retain")',
        "live_buyer": 'has_tag("live_30d") and has_tag("spend_30d_500")',
        "sensitive_sunscreen": 'has_tag("skin_sensitive") and has_tag("view_sunscreen_30d_1x")',
        "new_engaged": 'lifecycle = "new" and (has_tag("mp_pages_7d_5x") or has_tag("article_60s_7d_1x"))',
        "winback_reachable": 'has_tag("lapsed_buyer") and '
                             '(has_tag("message_clicked_wecom_30d") or has_tag("live_30d"))',
    }
    t += [_rule(name, name, rule, "derived", "会员运营") for name, rule in rules.items()]
    return t


def sequence_tags() -> list[Tag]:
    """Behaviour sequences (8)."""
    rules = {
        "view_then_cart_30d": "sequence(product_viewed, cart_added, within 1h, last 30d)",
        "cart_then_pay_30d": "sequence(cart_added, order_paid, within 24h, last 30d)",
        "cart_abandoner_7d": "did(cart_added, last 7d) and not sequence(cart_added, order_paid, within 24h, last 7d)",
        "click_then_buy_90d": "sequence(message_clicked, order_paid, within 24h, last 90d)",
        "coupon_converted_90d": "sequence(coupon_issued, coupon_redeemed, within 7d, last 90d)",
        "read_then_view_30d": "sequence(article_read, product_viewed, within 30m, last 30d)",
        "live_then_buy_90d": "sequence(live_viewed, order_paid, within 2h, last 90d)",
        "friend_then_buy": "sequence(wecom_friend_added, order_paid, within 7d)",
    }
    return [_rule(name, name, rule) for name, rule in rules.items()]


def _stat(name: str, zh: str, statistic: str, params: dict[str, Any] | None = None) -> Tag:
    return {"name": name, "name_zh": zh, "kind": "statistical", "category": "behavioural", "owner": "数据组",
            "description": f"{zh} ({statistic})", "statistic": statistic, "params": params or {}}


def statistical_tags() -> list[Tag]:
    """All 7 statistics, with parameter variants (17)."""
    return [
        _stat("spending_capacity", "消费能力", "spending_capacity"),
        _stat("spending_capacity_180d", "半年消费能力", "spending_capacity", {"window_days": 180}),
        _stat("spending_band_cny", "消费金额档", "spending_capacity",
              {"method": "fixed", "thresholds": [500, 2000, 5000], "labels": ["low", "medium", "high", "top"]}),
        _stat("price_sensitivity", "价格敏感度", "price_sensitivity"),
        _stat("price_sensitivity_any", "价格敏感度(含单笔)", "price_sensitivity", {"min_orders": 1}),
        _stat("coupon_reliance", "用券依赖", "price_sensitivity", {"w_coupon": 0.8, "w_depth": 0.2}),
        _stat("category_preference", "品类偏好", "category_preference"),
        _stat("category_top2", "前两品类", "category_preference", {"top_k": 2}),
        _stat("category_focus", "品类专注", "category_preference", {"top_k": 3, "min_share": 0.5, "window_days": 180}),
        _stat("active_hours", "活跃时段", "active_hours"),
        _stat("active_hours_30d", "近30天活跃时段", "active_hours", {"window_days": 30}),
        _stat("peak_hour", "活跃高峰小时", "peak_hour"),
        _stat("peak_hour_30d", "近30天高峰小时", "peak_hour", {"window_days": 30, "min_interactions": 3}),
        _stat("content_preference", "内容偏好", "content_preference"),
        _stat("content_preference_30d", "近30天内容偏好", "content_preference", {"window_days": 30, "min_seconds": 60}),
        _stat("interaction_depth", "互动深度", "interaction_depth"),
        _stat("interaction_depth_90d", "90天互动深度", "interaction_depth", {"window_days": 90}),
    ]


def composite_tags() -> list[Tag]:
    """Weighted scores over statistical and rule tags, per business goal (6)."""
    weights = {
        "campaign_fit": {"default": {"spending_capacity": 0.4, "price_sensitivity": 0.2, "content_preference": 0.2,
                                     "interaction_depth": 0.2},
                         "promotion": {"spending_capacity": 0.3, "price_sensitivity": 0.5, "content_preference": 0.1,
                                       "interaction_depth": 0.1}},
        "loyalty_score": {"default": {"spending_capacity": 0.5, "orders_365d_3x": 0.3, "is_member": 0.2}},
        "engagement_score": {"default": {"interaction_depth": 0.4, "content_preference": 0.3, "live_30d": 0.3}},
        "promo_fit": {"default": {"price_sensitivity": 0.6, "coupon_redeemed_90d": 0.4}},
        "vip_care": {"default": {"spending_capacity": 0.4, "high_value": 0.3, "cs_unhappy_90d": 0.3}},
        "content_fit": {"default": {"content_preference_30d": 0.5, "article_60s_30d_3x": 0.3, "share_30d_1x": 0.2}},
    }
    return [{"name": name, "name_zh": name, "kind": "composite", "category": "derived", "owner": "运营-活动组",
             "description": f"综合评分 {name}", "weights": w, "bands": [dict(b) for b in BANDS]}
            for name, w in weights.items()]


def tag_set() -> dict[str, list[Tag]]:
    """The catalogue, by file: exactly :data:`TAG_COUNT` tags."""
    groups = {"10-browse": browse_tags(), "20-orders": order_tags(), "30-engagement": engagement_tags(),
              "40-fields": field_tags(), "50-combinations": combination_tags(), "60-sequences": sequence_tags(),
              "70-statistics": statistical_tags(), "80-composites": composite_tags()}
    total = sum(len(g) for g in groups.values())
    if total != TAG_COUNT:
        raise AssertionError(f"the tag set has {total} tags, not {TAG_COUNT}")
    return groups


class _NoAliases(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:  # siyu refuses YAML anchors and aliases
        return True


def write_tag_set(folder: Path) -> dict[str, int]:
    """Write the catalogue as ``folder/<group>.yaml``, check it like ``siyu tags validate``; tags per kind."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.yaml"):
        old.unlink()
    for stem, tags in tag_set().items():
        text = yaml.dump({"tags": tags}, Dumper=_NoAliases, allow_unicode=True, sort_keys=False, width=200)
        (folder / f"{stem}.yaml").write_text(f"# generated by benchmarks/tag_set.py: {len(tags)} tags\n{text}")
    defs = load_tag_definitions(folder)
    check_definitions(defs, DEFAULT_SCHEMA)
    kinds: dict[str, int] = {}
    for tag in defs.values():
        kinds[tag.kind] = kinds.get(tag.kind, 0) + 1
    return kinds


# --- rules for the segment-size and real-time benchmarks -----------------------------------------

#: Segment sizes timed on DuckDB: event predicates with filters and windows, orders, sequences, fields, tags.
SEGMENT_RULES = {
    "serum_viewers": 'count(product_viewed where category = "精华", last 30d) >= 3',
    "high_spenders": "order_sum(last 365d) >= 3000 and order_count(last 365d) >= 4",
    "cart_abandoners": "did(cart_added, last 7d) and not sequence(cart_added, order_paid, within 24h, last 7d)",
    "silent_important_buyers": 'lifecycle = "silent" and rfm_class in ("重要保持", "重要挽留") '
                               "and count(order_paid, last 180d) >= 2",
    "members_reading": 'has_tag("is_member") and count(article_read where read_seconds >= 60, last 30d) >= 2 '
                       'and not has_tag("cs_unhappy_90d")',
    "gold_wecom_clickers": 'tier in ("gold", "diamond") and did(message_clicked where channel = "wecom", last 90d) '
                           "and order_avg(last 365d) >= 200",
    "suncare_or_mp_spend": 'count(product_viewed where category in ("防晒", "面霜"), last 90d) >= 5 '
                           'or sum(order_paid.amount where channel = "mini_program", last 90d) >= 1000',
}

#: Incremental segments for the real-time watcher: events and orders only (no batch-only fields).
REALTIME_RULES = {
    **{f"view_{slug}_7d": f'count(product_viewed where category = "{cat}", last 7d) >= 2'
       for cat, slug in list(CATEGORIES.items())[:6]},
    "cart_7d": "did(cart_added, last 7d)",
    "cart_abandoner": "did(cart_added, last 2d) and not sequence(cart_added, order_paid, within 24h, last 2d)",
    "buyer_30d": "order_count(last 30d) >= 1",
    "spend_90d_1000": "order_sum(last 90d) >= 1000",
    "mp_spend_30d": 'sum(order_paid.amount where channel = "mini_program", last 30d) >= 300',
    "deep_reader_7d": "count(article_read where read_seconds >= 60, last 7d) >= 2",
    "unhappy_30d": "count(cs_consulted where satisfaction <= 2, last 30d) >= 1",
    "cs_low_avg_30d": "avg(cs_consulted.satisfaction, last 30d) <= 2.5",
    "sharer_30d": "count(content_shared, last 30d) >= 2",
    "community_7d": "count(group_message_sent, last 7d) >= 3",
    "live_then_buy": "sequence(live_viewed, order_paid, within 2h, last 30d)",
    "coupon_unused_7d": "did(coupon_issued, last 7d) and not did(coupon_redeemed, last 7d)",
    "store_regular_90d": "count(store_visited, last 90d) >= 3",
    "heavy_app_1d": "count(mp_page_viewed, last 1d) >= 10",
}
