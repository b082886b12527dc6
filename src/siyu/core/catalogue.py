"""The catalogue of standard domain events and their typed properties.

Standard events are validated against this table; any other event name is a custom event and its
properties are accepted free-form. ``siyu events catalogue`` prints it; :func:`json_schema` gives
the JSON Schema of one event's properties for SDK authors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class PropType(StrEnum):
    STRING = "string"
    NUMBER = "number"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    ARRAY = "array"
    OBJECT = "object"


@dataclass(frozen=True)
class Prop:
    name: str
    type: PropType
    required: bool = False
    description: str = ""
    enum: tuple[str, ...] = ()


@dataclass(frozen=True)
class EventSpec:
    name: str
    description: str
    props: tuple[Prop, ...] = field(default_factory=tuple)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.props if p.required)


S, N, INT, B, A = PropType.STRING, PropType.NUMBER, PropType.INTEGER, PropType.BOOLEAN, PropType.ARRAY

CONSENT_PURPOSES = ("marketing", "analytics", "personalisation", "third_party_sharing", "sensitive_data")


def _e(name: str, description: str, *props: Prop) -> EventSpec:
    return EventSpec(name, description, tuple(props))


def _p(name: str, type_: PropType, required: bool = False, description: str = "", enum: tuple[str, ...] = ()) -> Prop:
    return Prop(name, type_, required, description, enum)


STANDARD_EVENTS: dict[str, EventSpec] = {
    e.name: e
    for e in (
        _e("wecom_friend_added", "Customer added a staff member on WeCom (添加企微好友)",
           _p("staff_id", S, True, "staff member (导购/客服) added"),
           _p("state", S, description="channel QR code (活码) state parameter"),
           _p("channel", S, description="acquisition channel of the QR code"),
           _p("add_way", S)),
        _e("wecom_friend_deleted", "WeCom contact removed (删除好友)",
           _p("staff_id", S, True), _p("deleted_by", S, enum=("customer", "staff"))),
        _e("group_joined", "Joined a community group (入群)",
           _p("group_id", S, True), _p("join_scene", S), _p("inviter_id", S)),
        _e("group_left", "Left a community group (退群)", _p("group_id", S, True)),
        _e("group_message_sent", "Sent a message in a community group",
           _p("group_id", S, True), _p("msg_type", S), _p("length", INT)),
        _e("article_read", "Read an official-account article (公众号阅读)",
           _p("content_id", S, True), _p("read_seconds", N, True), _p("completion", N, description="0..1")),
        _e("content_shared", "Shared content (分享)", _p("content_id", S, True), _p("share_to", S)),
        _e("video_played", "Played a video (视频号/短视频)",
           _p("content_id", S, True), _p("play_seconds", N), _p("completion", N)),
        _e("live_viewed", "Watched a live stream (直播)", _p("live_id", S, True), _p("view_seconds", N)),
        _e("mp_page_viewed", "Viewed a mini-program page (小程序)",
           _p("page", S, True), _p("app_id", S), _p("duration_seconds", N)),
        _e("product_viewed", "Viewed a product", _p("sku", S, True), _p("category", S), _p("price", N)),
        _e("cart_added", "Added to cart", _p("sku", S, True), _p("quantity", INT), _p("price", N)),
        _e("order_paid", "Paid an order (支付成功)",
           _p("order_id", S, True), _p("amount", N, True), _p("currency", S, True),
           _p("items", A, description="[{sku, quantity, price}]"), _p("coupon_id", S),
           _p("discount_amount", N), _p("channel", S), _p("store_id", S), _p("staff_id", S)),
        _e("order_refunded", "Refunded an order (退款)",
           _p("order_id", S, True), _p("amount", N, True), _p("reason", S)),
        _e("coupon_issued", "A coupon was issued (发券)",
           _p("coupon_id", S, True), _p("campaign_id", S), _p("face_value", N)),
        _e("coupon_redeemed", "A coupon was used (核销)", _p("coupon_id", S, True), _p("order_id", S)),
        _e("points_changed", "Points balance changed (积分)",
           _p("delta", INT, True), _p("balance", INT), _p("reason", S)),
        _e("member_tier_changed", "Member tier changed (会员等级)",
           _p("to_tier", S, True), _p("from_tier", S)),
        _e("cs_consulted", "Customer-service consultation (客服咨询)",
           _p("session_id", S, True), _p("satisfaction", INT, description="1..5"),
           _p("response_seconds", N), _p("staff_id", S)),
        _e("message_delivered", "A touch was delivered (触达)",
           _p("send_id", S, True), _p("channel", S, True), _p("campaign_id", S)),
        _e("message_clicked", "A touch was clicked (点击)",
           _p("send_id", S, True), _p("channel", S), _p("campaign_id", S)),
        _e("message_sent", "A touch was sent to a channel (发送)",
           _p("send_id", S, True), _p("channel", S, True), _p("campaign_id", S)),
        _e("message_failed", "The channel reported a touch as failed (推送失败)",
           _p("send_id", S, True), _p("channel", S, True), _p("campaign_id", S), _p("reason", S)),
        _e("message_opened", "A delivered touch was opened (打开)",
           _p("send_id", S, True), _p("channel", S), _p("campaign_id", S)),
        _e("unsubscribed", "Asked to receive no more touches on a channel (退订)",
           _p("channel", S, True), _p("campaign_id", S)),
        _e("survey_answered", "Answered a survey; NPS surveys carry a 0–10 score (问卷/NPS)",
           _p("survey_id", S, True), _p("survey_type", S, description="e.g. nps, csat"),
           _p("score", N, description="0..10 for NPS")),
        _e("store_visited", "Visited a store (到店)", _p("store_id", S, True), _p("staff_id", S)),
        _e("consent_changed", "Consent granted or withdrawn for a purpose (授权变更)",
           _p("purpose", S, True, enum=CONSENT_PURPOSES), _p("granted", B, True),
           _p("notice_version", S), _p("double_confirmed", B), _p("source", S)),
    )
}


def type_matches(value: Any, type_: PropType) -> bool:
    """Strict JSON type check: numbers must be JSON numbers (a bool is not a number)."""
    if type_ is PropType.STRING:
        return isinstance(value, str)
    if type_ is PropType.NUMBER:
        return isinstance(value, int | float) and not isinstance(value, bool) and value == value
    if type_ is PropType.INTEGER:
        return isinstance(value, int) and not isinstance(value, bool)
    if type_ is PropType.BOOLEAN:
        return isinstance(value, bool)
    if type_ is PropType.ARRAY:
        return isinstance(value, list)
    return isinstance(value, dict)


def json_schema(event: str) -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of a standard event's ``properties`` object."""
    spec = STANDARD_EVENTS[event]
    props: dict[str, Any] = {}
    for p in spec.props:
        schema: dict[str, Any] = {"type": p.type.value}
        if p.description:
            schema["description"] = p.description
        if p.enum:
            schema["enum"] = list(p.enum)
        props[p.name] = schema
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": spec.name,
        "description": spec.description,
        "type": "object",
        "properties": props,
        "required": list(spec.required),
        "additionalProperties": True,
    }
