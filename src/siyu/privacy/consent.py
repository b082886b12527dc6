"""Consent per purpose (授权): what a decision is, when a grant counts, and the latest decision per person.

A decision arrives as a ``consent_changed`` track event (any channel: mini program, WeCom sidebar, store
tablet, the brand's own app) with ``properties``::

    {"purpose": "marketing", "granted": true, "notice_version": "2025-12", "double_confirmed": true,
     "source": "wecom_sidebar", "pre_ticked": false, "bundled": false}

PIPL asks for explicit, separate consent: an active tick plus a second confirmation, never pre-ticked,
never bundled with other terms. So a **grant counts** only when it was not pre-ticked, not bundled and,
for the purposes in :data:`DOUBLE_CONFIRMATION`, confirmed twice. A grant that does not count is kept in
the history with its reason but changes nothing; a **withdrawal always counts** (withdrawing must be as
easy as granting). The answer for a person and a purpose is the latest decision that counts; a person
who never decided has **not** consented (opt-in).

The rule is written twice — :func:`grant_counts` in Python for the ledger, :data:`COUNTS_SQL` for event
tables — and a test checks that the two agree on every combination.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from siyu.core.identifiers import IDENTIFIER_PRIORITY, extract_identifiers
from siyu.core.timeutil import corrected_time, parse_ts

CONSENT_EVENT = "consent_changed"


class Purpose(StrEnum):
    """What a person's data may be used for; each is consented to separately."""

    MARKETING = "marketing"  # 营销触达: messages, coupons, journeys
    ANALYTICS = "analytics"  # 统计分析
    PERSONALISATION = "personalisation"  # 个性化推荐
    THIRD_PARTY_SHARING = "third_party_sharing"  # 向第三方提供
    SENSITIVE_DATA = "sensitive_data"  # 敏感个人信息 (PIPL art. 29: separate consent)


#: Purposes whose grant needs an explicit second confirmation (二次确认).
DOUBLE_CONFIRMATION: frozenset[Purpose] = frozenset({Purpose.MARKETING, Purpose.THIRD_PARTY_SHARING,
                                                     Purpose.SENSITIVE_DATA})


def grant_counts(purpose: str, granted: bool, *, double_confirmed: bool | None, pre_ticked: bool | None,
                 bundled: bool | None) -> tuple[bool, str | None]:
    """Whether a decision counts, and if not why: ``pre_ticked``, ``bundled`` or ``not_double_confirmed``."""
    if not granted:
        return True, None
    if pre_ticked:
        return False, "pre_ticked"
    if bundled:
        return False, "bundled"
    if purpose in DOUBLE_CONFIRMATION and not double_confirmed:
        return False, "not_double_confirmed"
    return True, None


def _flag(column: str, name: str) -> str:
    return f"coalesce(TRY_CAST(json_extract_string({column}, '$.{name}') AS BOOLEAN), false)"


def counts_sql(properties: str = "properties", purpose: str = "purpose", granted: str = "granted") -> str:
    """:func:`grant_counts` as a SQL boolean over an event row (DuckDB dialect; SQLGlot takes it to Spark)."""
    double = ", ".join(f"'{p.value}'" for p in sorted(DOUBLE_CONFIRMATION))
    return (f"(NOT {granted} OR (NOT {_flag(properties, 'pre_ticked')} AND NOT {_flag(properties, 'bundled')} "
            f"AND ({purpose} NOT IN ({double}) OR {_flag(properties, 'double_confirmed')})))")


COUNTS_SQL = counts_sql()


def latest_consent_sql(events: str, *, one_id: str = "one_id") -> str:
    """The latest decision that counts per (one_id, purpose) from an event relation with ``one_id``,
    ``event``, ``event_time`` and ``properties``; at equal times a withdrawal wins.

    Columns: one_id, purpose, granted, changed_at, notice_version, source.
    """
    purpose = "json_extract_string(properties, '$.purpose')"
    granted = "TRY_CAST(json_extract_string(properties, '$.granted') AS BOOLEAN)"
    return f"""
SELECT one_id, purpose, granted, changed_at, notice_version, source FROM (
    SELECT one_id, purpose, granted, changed_at, notice_version, source,
           row_number() OVER (PARTITION BY one_id, purpose ORDER BY changed_at DESC, granted ASC) AS rn
    FROM (
        SELECT {one_id} AS one_id, {purpose} AS purpose, {granted} AS granted, event_time AS changed_at,
               json_extract_string(properties, '$.notice_version') AS notice_version,
               json_extract_string(properties, '$.source') AS source, properties
        FROM {events}
        WHERE event = '{CONSENT_EVENT}' AND {one_id} IS NOT NULL
    ) AS d
    WHERE purpose IS NOT NULL AND granted IS NOT NULL AND {counts_sql("properties", "purpose", "granted")}
) AS x WHERE rn = 1"""


@dataclass(frozen=True, slots=True)
class ConsentDecision:
    """One grant or withdrawal as it arrived; ``subject`` is the person's strongest identifier (type:value,
    personal values tokenised) and ``counts``/``reason`` say whether it changes anything."""

    message_id: str
    subject: str
    purpose: str
    granted: bool
    occurred_at: datetime
    source: str | None
    notice_version: str | None
    double_confirmed: bool
    counts: bool
    reason: str | None
    one_id: str | None = None

    def with_one_id(self, one_id: str | None) -> ConsentDecision:
        return ConsentDecision(self.message_id, self.subject, self.purpose, self.granted, self.occurred_at,
                               self.source, self.notice_version, self.double_confirmed, self.counts, self.reason,
                               one_id)


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def decision_from_message(msg: dict[str, Any]) -> ConsentDecision | None:
    """The decision a validated Segment message carries, or None when it is not a usable consent event
    (another event, no purpose, an unknown purpose, ``granted`` not a boolean, or no identifier)."""
    if msg.get("type") != "track" or msg.get("event") != CONSENT_EVENT:
        return None
    props = msg.get("properties")
    if not isinstance(props, dict):
        return None
    try:
        purpose = Purpose(str(props.get("purpose")))
    except ValueError:
        return None
    granted = _bool(props.get("granted"))
    message_id = msg.get("messageId")
    if granted is None or not isinstance(message_id, str) or not message_id:
        return None
    found, _ = extract_identifiers(msg)
    if not found:
        return None
    kind = max(found, key=lambda k: IDENTIFIER_PRIORITY[k])
    occurred = _occurred_at(msg)
    counts, reason = grant_counts(purpose, granted, double_confirmed=_bool(props.get("double_confirmed")),
                                  pre_ticked=_bool(props.get("pre_ticked")), bundled=_bool(props.get("bundled")))
    source = props.get("source")
    notice = props.get("notice_version")
    return ConsentDecision(message_id[:128], f"{kind.value}:{found[kind]}", purpose.value, granted, occurred,
                           str(source)[:64] if source is not None else None,
                           str(notice)[:64] if notice is not None else None,
                           bool(props.get("double_confirmed") is True), counts, reason)


def _occurred_at(msg: dict[str, Any]) -> datetime:
    """The event time the lake will give the message (clock skew corrected), so the two compare."""
    def ts(key: str) -> datetime | None:
        try:
            return parse_ts(msg.get(key))
        except (TypeError, ValueError):
            return None

    stamp = ts("timestamp") or ts("receivedAt") or datetime.now(UTC)
    return corrected_time(stamp, ts("sentAt"), ts("receivedAt")).astimezone(UTC)


__all__ = ["CONSENT_EVENT", "COUNTS_SQL", "DOUBLE_CONFIRMATION", "ConsentDecision", "Purpose",
           "counts_sql", "decision_from_message", "grant_counts", "latest_consent_sql"]
