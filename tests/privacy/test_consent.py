"""Consent: when a grant counts (Python and SQL agree), decisions from messages, the ledger on both stores."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import duckdb
import pytest

from siyu.core.identifiers import IdentifierType, stored_value
from siyu.privacy.consent import ConsentDecision, Purpose, counts_sql, decision_from_message, grant_counts
from siyu.privacy.consent_ledger import ConsentLedger
from siyu.store import Store

FLAGS = (None, False, True)


def test_python_and_sql_agree_on_every_combination() -> None:
    rows = list(itertools.product([p.value for p in Purpose], (False, True), FLAGS, FLAGS, FLAGS))
    con = duckdb.connect()
    con.execute("CREATE TABLE d (purpose VARCHAR, granted BOOLEAN, properties VARCHAR, i INTEGER)")
    for i, (purpose, granted, double, pre, bundled) in enumerate(rows):
        props = {k: v for k, v in (("double_confirmed", double), ("pre_ticked", pre), ("bundled", bundled))
                 if v is not None}
        con.execute("INSERT INTO d VALUES (?, ?, ?, ?)", [purpose, granted, _json(props), i])
    got = dict(con.execute(f"SELECT i, {counts_sql()} FROM d").fetchall())
    for i, (purpose, granted, double, pre, bundled) in enumerate(rows):
        expected, _ = grant_counts(purpose, granted, double_confirmed=double, pre_ticked=pre, bundled=bundled)
        assert got[i] is expected, (purpose, granted, double, pre, bundled)


def _json(d: dict[str, object]) -> str:
    import json

    return json.dumps(d)


def test_grant_rules() -> None:
    assert grant_counts("marketing", False, double_confirmed=None, pre_ticked=True, bundled=True) == (True, None)
    assert grant_counts("marketing", True, double_confirmed=True, pre_ticked=None, bundled=None) == (True, None)
    assert grant_counts("marketing", True, double_confirmed=False, pre_ticked=None, bundled=None) == \
        (False, "not_double_confirmed")
    assert grant_counts("analytics", True, double_confirmed=None, pre_ticked=None, bundled=None) == (True, None)
    assert grant_counts("analytics", True, double_confirmed=True, pre_ticked=True, bundled=None) == \
        (False, "pre_ticked")
    assert grant_counts("personalisation", True, double_confirmed=True, pre_ticked=False, bundled=True) == \
        (False, "bundled")


def _msg(**props: object) -> dict[str, object]:
    return {"type": "track", "event": "consent_changed", "messageId": "m-1", "userId": "u_1",
            "context": {"traits": {"phone": "13812345678"}}, "timestamp": "2026-11-01T08:00:00Z",
            "sentAt": "2026-11-01T08:00:10Z", "receivedAt": "2026-11-01T08:00:05Z",
            "properties": {"purpose": "marketing", "granted": True, "double_confirmed": True, **props}}


def test_decision_from_message() -> None:
    d = decision_from_message(_msg(source="wecom_sidebar", notice_version="2025-12"))
    assert d is not None
    assert d.subject == "user_id:u_1"  # the strongest identifier
    assert d.occurred_at == datetime(2026, 11, 1, 7, 59, 55, tzinfo=UTC)  # receivedAt - (sentAt - timestamp)
    assert (d.purpose, d.granted, d.counts, d.source, d.notice_version) == \
        ("marketing", True, True, "wecom_sidebar", "2025-12")
    phone_only = _msg()
    del phone_only["userId"]
    d2 = decision_from_message(phone_only)
    assert d2 is not None and d2.subject == f"phone:{stored_value(IdentifierType.PHONE, '13812345678')}"
    assert "13812345678" not in d2.subject
    assert decision_from_message(_msg(purpose="spam")) is None
    assert decision_from_message(_msg(granted="yes")) is None
    assert decision_from_message({**_msg(), "event": "page_viewed"}) is None
    pre = decision_from_message(_msg(pre_ticked=True))
    assert pre is not None and (pre.counts, pre.reason) == (False, "pre_ticked")


def _decision(mid: str, granted: bool, at: datetime, *, subject: str = "user_id:u_1", counts: bool = True,
              purpose: str = "marketing", one_id: str | None = None) -> ConsentDecision:
    return ConsentDecision(mid, subject, purpose, granted, at, "app", "2025-12", True, counts,
                           None if counts else "pre_ticked", one_id)


def test_ledger_history_latest_and_erase(store: Store) -> None:
    ledger = ConsentLedger(store)
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    decisions = [_decision("a", True, t0), _decision("b", False, t0 + timedelta(days=1)),
                 _decision("c", True, t0 + timedelta(days=2), counts=False),  # pre-ticked: history only
                 _decision("d", True, t0 + timedelta(days=3), subject="phone:ph_x", one_id="o_1"),
                 _decision("e", True, t0, subject="user_id:u_2")]
    assert ledger.record(decisions, recorded_by="test") == 5
    assert ledger.record(decisions[:2], recorded_by="test") == 0  # idempotent on message_id
    history = ledger.history(["user_id:u_1"], ["o_1"])
    assert [r["message_id"] for r in history] == ["a", "b", "c", "d"]
    assert ledger.latest(["user_id:u_1"], [], "marketing")["message_id"] == "b"  # type: ignore[index]
    assert ledger.latest(["user_id:u_1"], ["o_1"], "marketing")["message_id"] == "d"  # type: ignore[index]
    assert ledger.latest(["user_id:u_1"], [], "analytics") is None
    tie = [_decision("t1", True, t0, subject="user_id:u_3"), _decision("t2", False, t0, subject="user_id:u_3")]
    ledger.record(tie, recorded_by="test")
    assert ledger.latest(["user_id:u_3"], [], "marketing")["granted"] is False  # type: ignore[index]
    assert ledger.erase(["user_id:u_1"], ["o_1"]) == 4
    assert ledger.history(["user_id:u_1"], ["o_1"]) == []
    assert len(ledger.history(["user_id:u_2"], [])) == 1


def test_many_subjects_are_chunked(store: Store) -> None:
    ledger = ConsentLedger(store)
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    ledger.record([_decision(f"m{i}", True, t0, subject=f"user_id:u{i}") for i in range(1200)], recorded_by="t")
    assert len(ledger.history([f"user_id:u{i}" for i in range(1200)], [])) == 1200
    assert ledger.recorded_since(t0 - timedelta(days=365), "marketing").num_rows == 1200


@pytest.mark.parametrize("purpose", [p.value for p in Purpose])
def test_every_purpose_is_a_known_value(purpose: str) -> None:
    assert Purpose(purpose).value == purpose
