"""The audit log: a chain that verifies, every kind of tampering found where it happened, concurrent appends.

Every test runs on SQLite and on a real PostgreSQL server (marked ``postgres``), like ``tests/store``.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import delete, inspect, select, text, update
from sqlalchemy.exc import DBAPIError

from siyu.privacy import audit
from siyu.privacy.audit import GENESIS, AuditAction, AuditEntry, AuditLog, Break, Head, entry_hash
from siyu.store import Store, StoreInputError, current_revision, head_revision, open_store
from siyu.store.migrate import alembic_config
from siyu.store.models import AuditRecord

KEY = b"test audit key"
T = AuditRecord.__table__
BASE = datetime(2026, 6, 1, 1, 0, tzinfo=UTC)


def _clock() -> Any:
    """A clock one minute further on at every call, from BASE."""
    ticks = iter(range(10**6))
    return lambda: BASE + timedelta(minutes=next(ticks))


@pytest.fixture
def log(store: Store) -> AuditLog:
    return AuditLog(store, hmac_key=KEY, clock=_clock(), batch_size=4)  # small batches: breaks cross pages


def _fill(log: AuditLog, n: int = 12) -> list[AuditEntry]:
    actions = list(AuditAction)[:11]  # a fixed cycle of eleven, whatever actions are added later
    return [log.record(f"key{i % 3}", None if i % 2 else "analyst", actions[i % len(actions)], "one_id", f"o_{i}",
                       {"rows": i, "fields": ["phone_masked"], "note": "手机号 138****5678"}) for i in range(n)]


def _unguard(store: Store) -> None:
    """Drop the append-only triggers, as an attacker with DDL rights would."""
    with store.engine.begin() as conn:
        if store.dialect == "sqlite":
            conn.execute(text("DROP TRIGGER audit_log_no_update"))
            conn.execute(text("DROP TRIGGER audit_log_no_delete"))
        else:
            conn.execute(text("DROP TRIGGER audit_log_append_only ON audit_log"))


def _update(store: Store, at_seq: int, **values: Any) -> None:
    with store.engine.begin() as conn:
        assert conn.execute(update(T).where(T.c.seq == at_seq).values(**values)).rowcount == 1


def _delete(store: Store, *seqs: int) -> None:
    with store.engine.begin() as conn:
        conn.execute(delete(T).where(T.c.seq.in_(seqs)))


def _row(store: Store, seq: int) -> dict[str, Any]:
    with store.engine.connect() as conn:
        return dict(conn.execute(select(T).where(T.c.seq == seq)).mappings().one())


def test_the_migration_creates_the_table(store: Store, store_url: str) -> None:
    script = ScriptDirectory.from_config(alembic_config()).get_revision("0002")
    assert script is not None and script.down_revision == "0001"
    assert current_revision(store_url) == head_revision()
    assert "audit_log" in inspect(store.engine).get_table_names()


def test_a_naive_clock_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="naive"):
        AuditLog(store, clock=datetime.now).record("k", None, "config_change")


def test_chain_verifies_after_appends(log: AuditLog) -> None:
    written = _fill(log, 25)
    assert [e.seq for e in written] == list(range(1, 26))
    assert written[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(written))
    report = log.verify()
    assert report.ok and report.checked == 25 and report.hmac_checked and report.reason is None
    assert report.head == log.head() == Head(25, written[-1].hash)
    assert log.entries(limit=1000) == written  # what record returned is what is stored


def test_the_hash_is_sha256_of_the_documented_canonical_json(log: AuditLog) -> None:
    entry = log.record("a1b2c3d4e5f6", "analyst", AuditAction.EXPORT, "segment", "silent_vip", {"rows": 5, "b": [1]})
    doc = {"seq": 1, "at": "2026-06-01T01:00:00.000000Z", "actor": "a1b2c3d4e5f6", "actor_role": "analyst",
           "action": "export", "target_type": "segment", "target": "silent_vip", "details": '{"b":[1],"rows":5}',
           "prev_hash": "0" * 64}
    expected = hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert entry.hash == expected
    assert entry.hmac == hmac.new(KEY, expected.encode(), hashlib.sha256).hexdigest()


def test_an_empty_log_verifies_and_has_no_head(log: AuditLog) -> None:
    assert log.head() is None and log.verify().ok and log.verify().checked == 0
    report = log.verify(expected_head=Head(3, "a" * 64))
    assert (report.ok, report.reason, report.broken_at) == (False, Break.TRUNCATED, 1)


def test_the_table_refuses_update_and_delete(log: AuditLog, store: Store) -> None:
    _fill(log, 3)
    with pytest.raises(DBAPIError, match="append-only"):
        _update(store, 2, actor="someone else")
    with pytest.raises(DBAPIError, match="append-only"):
        _delete(store, 2)
    assert log.verify().ok


@pytest.mark.parametrize(("field", "value"), [
    ("at", BASE + timedelta(minutes=6, microseconds=1)),
    ("actor", "key9"),
    ("actor_role", "admin"),
    ("actor_role", None),
    ("action", "consent_change"),
    ("target_type", "segment"),
    ("target", "o_999"),
    ("details", '{"fields":["phone_masked"],"note":"手机号 138****5678","rows":600}'),
    ("prev_hash", "f" * 64),
    ("hash", "e" * 64),
])
def test_editing_any_field_of_one_entry_is_found_at_that_entry(log: AuditLog, store: Store, field: str,
                                                                value: Any) -> None:
    _fill(log)
    _unguard(store)
    _update(store, 7, **{field: value})
    report = log.verify()
    assert (report.ok, report.reason, report.broken_at, report.checked) == (False, Break.EDITED, 7, 6)
    assert report.head is not None and report.head.seq == 6 and "entry 7" in report.message


def test_editing_the_hmac_is_found_at_that_entry(log: AuditLog, store: Store) -> None:
    _fill(log)
    _unguard(store)
    _update(store, 7, hmac="0" * 64)
    report = log.verify()
    assert (report.reason, report.broken_at) == (Break.HMAC_MISMATCH, 7)
    assert AuditLog(store, hmac_key=None).verify().ok  # the chain itself is intact


@pytest.mark.parametrize(("gone", "at", "says"), [((6,), 6, "entry 6 is missing"),
                                                  ((5, 6, 7), 5, "entries 5..7 are missing"),
                                                  ((1,), 1, "entry 1 is missing")])
def test_deleting_entries_is_found_at_the_first_missing_one(log: AuditLog, store: Store, gone: tuple[int, ...],
                                                             at: int, says: str) -> None:
    _fill(log)
    _unguard(store)
    _delete(store, *gone)
    report = log.verify()
    assert (report.ok, report.reason, report.broken_at) == (False, Break.DELETED, at)
    assert says in report.message


def test_deleting_and_renumbering_is_found_where_the_entry_was_removed(log: AuditLog, store: Store) -> None:
    _fill(log)
    _unguard(store)
    _delete(store, 6)
    for seq in range(7, 13):
        _update(store, seq, seq=seq - 1)
    report = log.verify()
    assert not report.ok and report.broken_at == 6 and report.reason in (Break.EDITED, Break.DELETED)


def test_swapping_two_entries_is_found_as_reordering(log: AuditLog, store: Store) -> None:
    _fill(log)
    _unguard(store)
    four, nine = _row(store, 4), _row(store, 9)
    _update(store, 4, **{k: v for k, v in nine.items() if k != "seq"})
    _update(store, 9, **{k: v for k, v in four.items() if k != "seq"})
    report = log.verify()
    assert (report.ok, report.reason, report.broken_at) == (False, Break.REORDERED, 4)
    assert "written as 9" in report.message


def test_swapping_seq_numbers_is_found_as_reordering(log: AuditLog, store: Store) -> None:
    _fill(log)
    _unguard(store)
    _update(store, 4, seq=10_000)
    _update(store, 9, seq=4)
    _update(store, 10_000, seq=9)
    report = log.verify()
    assert (report.reason, report.broken_at) == (Break.REORDERED, 4) and "written as 9" in report.message


def test_a_truncated_tail_is_found_only_against_a_recorded_head(log: AuditLog, store: Store) -> None:
    _fill(log)
    head = log.head()
    assert head is not None and Head.parse(str(head)) == head
    _unguard(store)
    _delete(store, 11, 12)
    assert log.verify().ok  # a shorter chain is a valid chain: the documented limit
    for anchor in (head, str(head), (head.seq, head.hash)):
        report = log.verify(expected_head=anchor)
        assert (report.ok, report.reason, report.broken_at) == (False, Break.TRUNCATED, 11)
        assert "11..12" in report.message and report.head == Head(10, _row(store, 10)["hash"])


def test_a_rebuilt_chain_passes_without_the_key_but_not_with_it_or_a_recorded_head(log: AuditLog,
                                                                                   store: Store) -> None:
    _fill(log)
    head = log.head()
    _unguard(store)
    prev = _row(store, 4)["hash"]
    for seq in range(5, 13):  # edit entry 5, then recompute every hash after it: a consistent forged chain
        row = _row(store, seq)
        row.update(prev_hash=prev, actor="innocent" if seq == 5 else row["actor"])
        row["hash"] = entry_hash(**{k: v for k, v in row.items() if k not in ("hash", "hmac")})
        _update(store, seq, prev_hash=row["prev_hash"], actor=row["actor"], hash=row["hash"])
        prev = row["hash"]
    assert AuditLog(store, hmac_key=None).verify().ok  # the plain chain cannot see this
    report = log.verify()
    assert (report.reason, report.broken_at) == (Break.HMAC_MISMATCH, 5)
    anchored = AuditLog(store, hmac_key=None).verify(expected_head=head)
    assert (anchored.reason, anchored.broken_at) == (Break.REWRITTEN, 12)


def test_the_hmac_key_comes_from_the_settings_by_default(store: Store) -> None:
    default = AuditLog(store)
    assert default.keyed and default.record("k", None, "config_change", details={"key": "x"}).hmac is not None
    assert default.verify().ok and AuditLog(store).verify().hmac_checked
    other = AuditLog(store, hmac_key="another key")
    assert (other.verify().reason, other.verify().broken_at) == (Break.HMAC_MISMATCH, 1)
    assert other.verify(check_hmac=False).ok
    with pytest.raises(StoreInputError, match="no audit HMAC key"):
        AuditLog(store, hmac_key=None).verify(check_hmac=True)


def test_concurrent_appends_from_two_threads_make_one_gap_free_chain(store_url: str, store: Store) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def append(name: str) -> None:
        try:
            with open_store(store_url) as own:  # its own engine and connections, like another server
                writer = AuditLog(own, hmac_key=KEY)
                start.wait(timeout=60)
                for i in range(40):
                    writer.record(name, "analyst", "pii_read", "one_id", f"o_{i}", {"rows": 1})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=append, args=(f"thread{n}",)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    _assert_gap_free(AuditLog(store, hmac_key=KEY), {"thread0": 40, "thread1": 40})


_WORKER = """
import sys, time
from pathlib import Path
from siyu.privacy.audit import AuditLog
from siyu.store import open_store
with open_store(sys.argv[1]) as store:
    log = AuditLog(store, hmac_key=b"test audit key")
    print("ready", flush=True)
    while not Path(sys.argv[3]).exists():  # start together, so the appends really race
        time.sleep(0.005)
    for i in range(40):
        log.record(sys.argv[2], "analyst", "pii_read", "one_id", f"o_{i}", {"rows": 1})
"""


def test_concurrent_appends_from_two_processes_make_one_gap_free_chain(store_url: str, store: Store,
                                                                      tmp_path: Path) -> None:
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER, store_url, f"proc{n}", str(go)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for n in range(2)]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready", proc.communicate()[1]
    go.touch()
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    _assert_gap_free(AuditLog(store, hmac_key=KEY), {"proc0": 40, "proc1": 40})


def _assert_gap_free(log: AuditLog, per_actor: dict[str, int]) -> None:
    report = log.verify()
    assert report.ok, report.message
    total = sum(per_actor.values())
    assert report.checked == total and [e.seq for e in log.scan()] == list(range(1, total + 1))
    assert {actor: log.count(actor=actor) for actor in per_actor} == per_actor


def test_an_append_that_loses_the_race_is_retried(log: AuditLog, monkeypatch: pytest.MonkeyPatch) -> None:
    _fill(log, 3)
    real, calls = audit._tail, []

    def stale(session: Any) -> Any:  # the first look at the tail sees the entry before the newest one
        calls.append(1)
        last = real(session)
        if len(calls) > 1:
            return last
        return session.execute(select(T.c.seq, T.c.hash).where(T.c.seq == last.seq - 1)).first()

    monkeypatch.setattr(audit, "_tail", stale)
    assert log.record("k", None, "key_created", "key", "0123456789ab").seq == 4
    assert len(calls) == 2 and log.verify().ok


def test_an_entry_can_commit_with_the_callers_change(log: AuditLog, store: Store) -> None:
    with pytest.raises(RuntimeError), store.writing() as session:
        log.record("admin", "admin", "role_change", "key", "0123456789ab", {"to": "auditor"}, session=session)
        raise RuntimeError("the change failed")
    assert log.head() is None
    with store.writing() as session:
        log.record("admin", "admin", "role_change", "key", "0123456789ab", {"to": "auditor"}, session=session)
    assert log.count() == 1 and log.verify().ok


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"action": "peek"}, "action"),
    ({"details": {"phone": "13812345678"}}, "details"),
    ({"details": {"people": [{"phone": "+86 13812345678"}]}}, "details"),
    ({"target": "13812345678"}, "target"),
    ({"details": {"when": object()}}, "details"),
    ({"details": {"ratio": float("nan")}}, "details"),
    ({"actor": ""}, "actor"),
    ({"actor": "a\x00b"}, "actor"),
    ({"target": "x" * 257}, "target"),
])
def test_bad_entries_are_refused_naming_the_field(log: AuditLog, kwargs: dict[str, Any], field: str) -> None:
    args: dict[str, Any] = {"actor": "k", "role": "analyst", "action": "pii_read", "target_type": "one_id",
                            "target": "o_1", "details": {}, **kwargs}
    with pytest.raises(StoreInputError) as caught:
        log.record(**args)
    assert caught.value.input_name == field
    assert log.head() is None


def test_entries_filter_page_and_count(log: AuditLog) -> None:
    written = _fill(log, 12)  # one minute apart from BASE; actors key0, key1, key2
    assert log.entries(since=BASE + timedelta(minutes=3), until=BASE + timedelta(minutes=6)) == written[3:6]
    assert [e.seq for e in log.entries(actor="key1")] == [2, 5, 8, 11] and log.count(actor="key1") == 4
    assert log.entries(action="pii_read") == [written[0], written[11]]
    assert log.count(action=["export", "erasure"]) == 2 and log.entries(target="o_4") == [written[4]]
    assert log.entries(offset=10, limit=5) == written[10:] and log.entries(limit=2, newest_first=True)[0].seq == 12
    assert list(log.scan(actor="key0")) == written[0::3]  # batches of 4 under the hood
    assert log.entries(limit=1)[0].details == {"rows": 0, "fields": ["phone_masked"], "note": "手机号 138****5678"}
    for bad in ({"limit": 0}, {"limit": 1001}, {"offset": -1}, {"action": "peek"}):
        with pytest.raises(StoreInputError):
            log.entries(**bad)


@pytest.mark.parametrize("bad", ["", "12", "0:" + "a" * 64, "3:" + "A" * 64, "3:abc", "x:" + "a" * 64])
def test_a_head_is_parsed_strictly(bad: str) -> None:
    with pytest.raises(StoreInputError, match="seq"):
        Head.parse(bad)
