"""Validation verdicts: a table of lines → reason codes, and properties over arbitrary input."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from siyu.core.identifiers import IdentifierType, extract_identifiers, stored_value
from siyu.core.validation import Accepted, Reason, Rejected, validate_line

BASE = {"type": "track", "messageId": "m1", "userId": "u1", "timestamp": "2026-01-01T00:00:00Z",
        "event": "order_paid", "properties": {"order_id": "o1", "amount": 12.5, "currency": "CNY"}}


def line(**changes: object) -> bytes:
    msg = {**BASE, **changes}
    return orjson.dumps({k: v for k, v in msg.items() if v is not ...})


CASES = [
    (line(), None),
    (line(event="quiz_completed", properties={"anything": [1, 2]}), None),
    (line(type="page", event=..., name="home", properties={}), None),
    (b'{"type": "track", "messageId": ', Reason.MALFORMED_JSON),
    (b"[1, 2, 3]", Reason.NOT_AN_OBJECT),
    (line(type="purchase"), Reason.UNKNOWN_TYPE),
    (line(messageId=...), Reason.MISSING_REQUIRED_FIELD),
    (line(timestamp=...), Reason.MISSING_REQUIRED_FIELD),
    (line(userId=...), Reason.MISSING_REQUIRED_FIELD),
    (line(properties={"order_id": "o1", "currency": "CNY"}), Reason.MISSING_REQUIRED_FIELD),
    (line(properties={"order_id": "o1", "amount": "abc", "currency": "CNY"}), Reason.WRONG_TYPE),
    (line(properties={"order_id": "o1", "amount": True, "currency": "CNY"}), Reason.WRONG_TYPE),
    (line(properties={"order_id": {"x": 1}, "amount": 1, "currency": "CNY"}), Reason.WRONG_TYPE),
    (line(properties="not an object"), Reason.WRONG_TYPE),
    (line(timestamp=1767225600), Reason.WRONG_TYPE),
    (line(timestamp="yesterday"), Reason.INVALID_TIMESTAMP),
    (line(event="consent_changed", properties={"purpose": "spam", "granted": True}), Reason.WRONG_TYPE),
    (b'{"type":"track","pad":"' + b"x" * 40_000 + b'"}', Reason.OVERSIZED),
]


@pytest.mark.parametrize(("raw", "reason"), CASES)
def test_verdicts(raw: bytes, reason: Reason | None) -> None:
    verdict = validate_line(raw, max_bytes=32 * 1024)
    if reason is None:
        assert isinstance(verdict, Accepted), verdict
    else:
        assert isinstance(verdict, Rejected) and verdict.reason is reason, verdict


def test_clock_skew_is_corrected_with_the_segment_formula() -> None:
    raw = line(timestamp="2026-01-01T00:00:00Z", sentAt="2026-01-01T03:00:10Z", receivedAt="2026-01-01T00:00:11Z")
    verdict = validate_line(raw, max_bytes=32768)
    assert isinstance(verdict, Accepted)
    # device clock 3 h fast: corrected = receivedAt - (sentAt - timestamp) = 00:00:11 - 03:00:10 + 00:00:00
    assert verdict.event_time.isoformat() == "2025-12-31T21:00:01+00:00"


@pytest.mark.parametrize("phone", ["13812345678", "+86 138 1234 5678", "138-1234-5678", "+8613812345678"])
def test_phone_formats_give_one_keyed_hash(phone: str) -> None:
    found, problems = extract_identifiers({"userId": "u", "traits": {"phone": phone}})
    assert not problems
    assert found[IdentifierType.PHONE] == stored_value("phone", "+8613812345678")
    assert "1381234" not in found[IdentifierType.PHONE]  # plaintext never stored


def test_openid_is_scoped_by_app_and_bad_phone_is_reported_not_merged() -> None:
    msg = {"anonymousId": "a", "traits": {"phone": "12"},
           "context": {"externalIds": [{"type": "openid", "id": "o1", "collection": "wx_a"}]}}
    found, problems = extract_identifiers(msg)
    assert found[IdentifierType.OPENID] == "wx_a:o1"
    assert IdentifierType.PHONE not in found and problems


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=300), st.text(max_size=300),
                 st.recursive(st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats()
                              | st.text(max_size=20),
                              lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=10), c, max_size=4),
                              max_leaves=20).map(lambda v: orjson.dumps(v, option=orjson.OPT_NON_STR_KEYS))))
def test_any_input_gets_a_verdict_never_an_exception(raw: bytes | str) -> None:
    try:
        verdict = validate_line(raw, max_bytes=32768)
    except UnicodeEncodeError:
        return  # lone surrogates cannot come out of a decoded file
    assert isinstance(verdict, Accepted | Rejected)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["type", "messageId", "userId", "anonymousId", "timestamp", "event",
                                        "properties", "traits", "context", "sentAt", "receivedAt", "previousId"]),
                       st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=12)
                       | st.dictionaries(st.text(max_size=6), st.integers(0, 99) | st.text(max_size=6), max_size=3)))
def test_envelope_fuzz_gets_a_verdict(msg: dict) -> None:  # type: ignore[type-arg]
    verdict = validate_line(orjson.dumps(msg), max_bytes=32768)
    assert isinstance(verdict, Accepted | Rejected)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300) | st.integers(-(10**12), 10**12))
def test_fast_path_agrees_with_the_canonical_rules(raw: str | int) -> None:
    from siyu.core.identifiers import BadIdentifier

    found, problems = extract_identifiers({"userId": raw})
    try:
        expected = stored_value("user_id", raw)
    except BadIdentifier:
        assert IdentifierType.USER_ID not in found and problems
    else:
        assert found[IdentifierType.USER_ID] == expected
