"""Masking (脱敏): show enough of a personal value to recognise it, never enough to use it.

One function per kind of personal data, chosen by the field's class (``siyu.privacy.classification``):

==============  ==========================  ================================================================
kind            example                     rule
==============  ==========================  ================================================================
phone           13812341234 → 138****1234   mainland mobile: first 3 and last 4 digits; ``+86`` kept
email           zhangsan@example.com →      first letter of the local part; the domain is kept
                z*******@example.com
name            张三 → 张*, 欧阳娜娜 → 欧***  first character only
national_id     110101199003071234 →        first 6 (region) and last 4; the 8 birth-date digits are hidden
                110101********1234
address         广东省深圳市南山区… →        province and city kept, the rest masked
                广东省深圳市********
generic         M0012345678 → M00******78   first 3 and last 2, like ``siyu.profile.segments.mask_identifier``
==============  ==========================  ================================================================

Every function takes anything: ``None`` stays ``None``, an empty string stays empty, other types are
masked as their text, and a run of stars is at most :data:`MAX_STARS` long so a huge value cannot
blow up a report. A value that does not look like its kind (a "phone" with letters) falls back to
the generic rule rather than being shown.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from siyu.privacy.classification import FieldClass, PiiKind, field_class

#: Longest run of ``*`` a mask writes; longer hidden parts still show this many.
MAX_STARS = 16
#: Nested records deeper than this are replaced whole rather than walked.
MAX_DEPTH = 32
_HIDDEN = "***"


def _stars(n: int) -> str:
    return "*" * max(0, min(n, MAX_STARS))


def mask_generic(value: str) -> str:
    """Keep the first 3 and last 2 characters; 5 characters or fewer become all stars."""
    if len(value) <= 5:
        return _stars(len(value))
    return value[:3] + _stars(len(value) - 5) + value[-2:]


_PHONE_CHARS = re.compile(r"^\+?[\d\s\-()]+$")
_CN_MOBILE = re.compile(r"^(?:\+?86|0086)?(1\d{10})$")


def mask_phone(value: str) -> str:
    """Mainland mobile → ``138****1234`` (``+86138****1234`` with a country code); other numbers keep
    3 + 4 digits (2 + 2 when shorter than 11), separators dropped."""
    text = value.strip()
    if not _PHONE_CHARS.match(text):
        return mask_generic(text)
    digits = re.sub(r"\D", "", text)
    mobile = _CN_MOBILE.match(("+" if text.startswith("+") else "") + digits)
    if mobile:
        national = mobile.group(1)
        prefix = "+86" if len(digits) > 11 and text.startswith("+") else digits[: len(digits) - 11]
        return f"{prefix}{national[:3]}****{national[-4:]}"
    if len(digits) >= 11:
        return digits[:3] + _stars(len(digits) - 7) + digits[-4:]
    if len(digits) >= 7:
        return digits[:2] + _stars(len(digits) - 4) + digits[-2:]
    return _stars(len(digits))


def mask_email(value: str) -> str:
    """``zhangsan@example.com`` → ``z*******@example.com``: the domain says little about the person."""
    local, at, domain = value.strip().rpartition("@")
    if not at:
        return mask_generic(domain)
    if len(local) <= 1:
        return _stars(len(local)) + "@" + domain
    return local[0] + _stars(len(local) - 1) + "@" + domain


def mask_name(value: str) -> str:
    """Keep the first character (usually the surname): ``张三`` → ``张*``, ``欧阳娜娜`` → ``欧***``."""
    name = value.strip()
    if len(name) <= 1:
        return _stars(len(name))
    return name[0] + _stars(len(name) - 1)


_ID18 = re.compile(r"^\d{17}[\dXx]$")
_ID15 = re.compile(r"^\d{15}$")


def mask_national_id(value: str) -> str:
    """Resident identity card number (居民身份证号): first 6 + ``********`` + last 4.

    The 18 characters are region (6) · birth date YYYYMMDD (8) · sequence (3, odd = male) · check (1),
    so the mask hides exactly the birth date; the county code and the sex digit stay visible, as in the
    most common display convention. Old 15-digit numbers (birth date YYMMDD) keep 6 + last 3.
    """
    text = value.strip()
    if _ID18.match(text):
        return text[:6] + "********" + text[-4:]
    if _ID15.match(text):
        return text[:6] + "******" + text[-3:]
    return mask_generic(text)


_MUNICIPALITIES = ("北京", "上海", "天津", "重庆")
# Names may not contain digits or the words of finer levels (district, county, road, street, number…),
# so an address without a province can never keep a street by mistake.
_PLACE = r"[^\d\W区县路街道号镇乡村巷弄栋楼室]"
_ADMIN_PREFIX = re.compile(
    rf"^(?P<province>{_PLACE}{{1,7}}?(?:省|自治区|特别行政区))?(?P<city>{_PLACE}{{1,11}}?(?:市|自治州|地区|盟))?")


def mask_address(value: str) -> str:
    """Keep the province and city (``广东省深圳市``), mask the rest; without a recognisable prefix,
    mask everything (foreign and free-text addresses)."""
    text = value.strip()
    match = _ADMIN_PREFIX.match(text)
    kept = match.group(0) if match else ""
    if not kept:
        kept = next((m for m in _MUNICIPALITIES if text.startswith(m)), "")
    return kept + _stars(len(text) - len(kept))


_MASKS = {
    PiiKind.PHONE: mask_phone,
    PiiKind.EMAIL: mask_email,
    PiiKind.NAME: mask_name,
    PiiKind.NATIONAL_ID: mask_national_id,
    PiiKind.ADDRESS: mask_address,
    PiiKind.GENERIC: mask_generic,
}


def _as_text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", errors="replace")
    try:
        return str(value)
    except Exception:  # a value whose __str__ fails is still masked, never shown
        return _HIDDEN


def mask_value(kind: PiiKind | str, value: object) -> str | None:
    """Mask ``value`` as a ``kind`` (phone, email, name, national_id, address, generic).

    ``None`` stays ``None``; an unknown kind is masked with the generic rule (fail closed).

    >>> mask_value("phone", "13812341234")
    '138****1234'
    """
    if value is None:
        return None
    try:
        mask = _MASKS[PiiKind(kind)]
    except ValueError:
        mask = mask_generic
    return mask(_as_text(value))


def _masked_as(key: str, inherited: FieldClass | None) -> FieldClass | None:
    """The rule a value under ``key`` is masked by: its own, else its parent's (``address.street``)."""
    own = field_class(key)
    return own if own.data_class.rule.masked_without_grant else inherited


def _mask_any(value: Any, masked_as: FieldClass | None, depth: int) -> Any:
    if depth > MAX_DEPTH:
        return _HIDDEN
    if isinstance(value, Mapping):
        return {key: _mask_any(item, _masked_as(str(key), masked_as), depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_mask_any(item, masked_as, depth + 1) for item in value]
    if masked_as is None:
        return value
    return mask_value(masked_as.kind or PiiKind.GENERIC, value)


def mask_record(record: Mapping[str, Any], *, may_read_pii: bool) -> dict[str, Any]:
    """A copy of ``record`` with every sensitive or core field masked, unless the caller may read PII.

    Nested records (Segment ``traits``, ``context``) are walked: a value takes its own field's rule, or
    its parent's when the parent is masked (every part of a structured ``address``); a list takes its
    field's rule. Anything nested deeper than :data:`MAX_DEPTH` is hidden whole.

    >>> mask_record({"phone": "13812341234", "tier": "gold"}, may_read_pii=False)
    {'phone': '138****1234', 'tier': 'gold'}
    """
    if may_read_pii:
        return dict(record)
    return {key: _mask_any(value, _masked_as(str(key), None), 1) for key, value in record.items()}


def mask_table(table: pa.Table, may_read_pii: bool) -> pa.Table:
    """``table`` with every sensitive or core column masked (as strings), unless the caller may read PII.

    Nested (struct, list) columns of those classes are masked as their text; other columns are untouched.
    """
    if may_read_pii:
        return table
    for index, name in enumerate(table.column_names):
        known = field_class(name)
        if not known.data_class.rule.masked_without_grant:
            continue
        kind = known.kind or PiiKind.GENERIC
        masked = pa.array([mask_value(kind, v) for v in table.column(index).to_pylist()], pa.string())
        table = table.set_column(index, pa.field(name, pa.string()), masked)
    return table
