"""Typed identifiers and where each is read from in a Segment message.

=========================  ==========================================================================
identifier type            read from (first match wins per location; all locations are collected)
=========================  ==========================================================================
``user_id``                ``userId``
``anonymous_id``           ``anonymousId``
``device_id``              ``context.device.id``
``unionid``                ``context.externalIds[type=unionid].id``, ``traits.unionid``, ``context.traits.unionid``
``openid``                 ``context.externalIds[type=openid]`` with ``collection`` = app id, or
                           ``traits.openid`` + ``traits.openid_app_id`` (same under ``context.traits``);
                           stored as ``"<app_id>:<openid>"`` because an openid is only unique per app
``wecom_external_userid``  ``context.externalIds[type=wecom_external_userid].id``, ``traits.wecom_external_userid``
``phone``                  ``traits.phone``, ``context.traits.phone``, ``context.externalIds[type=phone]``;
                           normalised to E.164, then stored only as a keyed hash (``ph_…``)
``email``                  ``traits.email``, ``context.traits.email``, ``context.externalIds[type=email]``;
                           lower-cased, stored only as a keyed hash (``em_…``)
``member_no``              ``traits.member_no``, ``context.traits.member_no``, ``context.externalIds[type=member_no]``
=========================  ==========================================================================

For ``alias`` calls ``previousId`` (the id the person was known by before) is read as an
``anonymous_id`` when the message carries no ``anonymousId`` of its own, so that ``alias`` links the
two ids exactly as Segment's alias semantics ask.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from enum import StrEnum
from functools import lru_cache
from typing import Any

import phonenumbers

from siyu.core.config import get_settings


class IdentifierType(StrEnum):
    USER_ID = "user_id"
    ANONYMOUS_ID = "anonymous_id"
    DEVICE_ID = "device_id"
    UNIONID = "unionid"
    OPENID = "openid"
    WECOM_EXTERNAL_USERID = "wecom_external_userid"
    PHONE = "phone"
    EMAIL = "email"
    MEMBER_NO = "member_no"


#: Strength used by OneID: higher merges first and wins ties. Weak ids (anonymous, device) can be shared.
IDENTIFIER_PRIORITY: dict[IdentifierType, int] = {
    IdentifierType.USER_ID: 90,
    IdentifierType.MEMBER_NO: 85,
    IdentifierType.UNIONID: 80,
    IdentifierType.PHONE: 75,
    IdentifierType.WECOM_EXTERNAL_USERID: 70,
    IdentifierType.OPENID: 65,
    IdentifierType.EMAIL: 60,
    IdentifierType.ANONYMOUS_ID: 20,
    IdentifierType.DEVICE_ID: 10,
}

STRONG_TYPES = frozenset(t for t, p in IDENTIFIER_PRIORITY.items() if p >= 50)

#: Column name of each identifier in wide tables (ods/dwd).
ID_COLUMNS: dict[IdentifierType, str] = {t: f"id_{t.value}" for t in IdentifierType}

_TRAIT_KEYS = {
    IdentifierType.UNIONID: "unionid",
    IdentifierType.WECOM_EXTERNAL_USERID: "wecom_external_userid",
    IdentifierType.PHONE: "phone",
    IdentifierType.EMAIL: "email",
    IdentifierType.MEMBER_NO: "member_no",
}


class BadIdentifier(ValueError):
    """An identifier value that cannot be normalised (e.g. a phone that is not a phone number)."""


def keyed_hash(kind: str, value: str, key: str | None = None) -> str:
    """HMAC-SHA256 token for a PII value: joinable, irreversible without the key."""
    secret = (key or get_settings().hash_key).encode()
    digest = hmac.new(secret, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()
    return f"{kind[:2]}_{digest[:32]}"


def normalise_phone(raw: str, region: str | None = None) -> str:
    """Return the E.164 form of a phone number (``+8613812345678``) or raise :class:`BadIdentifier`."""
    try:
        parsed = phonenumbers.parse(str(raw), region or get_settings().default_phone_region)
    except phonenumbers.NumberParseException as exc:
        raise BadIdentifier(f"not a phone number: {exc}") from None
    if not phonenumbers.is_possible_number(parsed):
        raise BadIdentifier("not a possible phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def canonical_value(kind: IdentifierType | str, raw: Any) -> str:
    """Canonical plaintext of an identifier (E.164 phone, lower-case email, stripped strings)."""
    kind = kind if isinstance(kind, IdentifierType) else IdentifierType(kind)
    if raw is None or isinstance(raw, bool | dict | list):
        raise BadIdentifier(f"{kind.value} must be a string or number")
    value = str(raw).strip()
    if not value:
        raise BadIdentifier(f"{kind.value} is empty")
    if len(value) > 256:
        raise BadIdentifier(f"{kind.value} longer than 256 characters")
    if kind is IdentifierType.PHONE:
        return normalise_phone(value)
    if kind is IdentifierType.EMAIL:
        if "@" not in value:
            raise BadIdentifier("email without @")
        return value.lower()
    return value


_PII = frozenset({IdentifierType.PHONE, IdentifierType.EMAIL})


@lru_cache(maxsize=1 << 20)
def _pii_token(kind: IdentifierType, raw: str, key: str) -> str:
    """Cached: phone parsing is the most expensive step of landing, and people reuse one phone."""
    return keyed_hash(kind.value, canonical_value(kind, raw), key)


def stored_value(kind: IdentifierType | str, raw: Any) -> str:
    """The value as it is stored in the lake: canonical, and keyed-hashed for phone and email."""
    kind = kind if isinstance(kind, IdentifierType) else IdentifierType(kind)
    if kind in _PII:
        if isinstance(raw, str | int) and not isinstance(raw, bool):
            return _pii_token(kind, str(raw), get_settings().hash_key)
        canonical_value(kind, raw)  # raises the right BadIdentifier
    return canonical_value(kind, raw)


def _dig(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def extract_identifiers(msg: dict[str, Any]) -> tuple[dict[IdentifierType, str], list[str]]:
    """Read every identifier of a Segment message, normalised and (for PII) hashed.

    Returns ``(identifiers, problems)``: one value per type (the first location wins, later
    conflicting values are reported as problems rather than silently merged).
    """
    found: dict[IdentifierType, str] = {}
    problems: list[str] = []

    def put(kind: IdentifierType, raw: Any, where: str) -> None:
        if raw is None:
            return
        # Fast path for the common case: an already clean, plain identifier string.
        if type(raw) is str and kind not in _PII and 0 < len(raw) <= 256 and not raw[0].isspace() \
                and not raw[-1].isspace():
            value = raw
        else:
            try:
                value = stored_value(kind, raw)
            except BadIdentifier as exc:
                problems.append(f"{where}: {exc}")
                return
        prior = found.get(kind)
        if prior is None:
            found[kind] = value
        elif prior != value:
            problems.append(f"{where}: conflicting {kind.value}")

    put(IdentifierType.USER_ID, msg.get("userId"), "userId")
    put(IdentifierType.ANONYMOUS_ID, msg.get("anonymousId"), "anonymousId")
    if msg.get("type") == "alias":
        put(IdentifierType.ANONYMOUS_ID, msg.get("previousId"), "previousId")
    put(IdentifierType.DEVICE_ID, _dig(msg, "context", "device", "id"), "context.device.id")
    for where, traits in (("traits", msg.get("traits")), ("context.traits", _dig(msg, "context", "traits"))):
        if not isinstance(traits, dict):
            continue
        for kind, key in _TRAIT_KEYS.items():
            put(kind, traits.get(key), f"{where}.{key}")
        if traits.get("openid") is not None:
            app = traits.get("openid_app_id")
            if not app:
                problems.append(f"{where}.openid: openid without openid_app_id")
            else:
                put(IdentifierType.OPENID, f"{app}:{traits['openid']}", f"{where}.openid")
    external = _dig(msg, "context", "externalIds")
    if isinstance(external, list):
        for item in _iter_dicts(external):
            try:
                kind = IdentifierType(str(item.get("type")))
            except ValueError:
                continue  # other systems' ids are kept in the payload, not used for OneID
            raw = item.get("id")
            if kind is IdentifierType.OPENID:
                app = item.get("collection")
                if not app:
                    problems.append("context.externalIds.openid: openid without collection (app id)")
                    continue
                raw = f"{app}:{raw}"
            put(kind, raw, f"context.externalIds.{kind.value}")
    return found, problems


def _iter_dicts(items: Iterable[Any]) -> Iterable[dict[str, Any]]:
    return (i for i in items if isinstance(i, dict))
