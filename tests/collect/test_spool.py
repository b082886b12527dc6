"""The spool: durable when append returns, idempotent by messageId, correct under many threads."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from siyu.collect.spool import Spool, SpoolClosed, SpoolError, SpoolItem

NOW = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def ok(mid: str, at: datetime = NOW, source: str = "web") -> SpoolItem:
    return SpoolItem(f'{{"messageId":"{mid}"}}'.encode(), source, at, message_id=mid)


def bad(payload: bytes = b"{oops", reason: str = "malformed_json") -> SpoolItem:
    return SpoolItem(payload, "web", NOW, reason=reason, detail="cannot parse")


@pytest.fixture(params=[True, False], ids=["group", "direct"])
def spool(tmp_path: Path, request: pytest.FixtureRequest) -> Spool:
    sp = Spool(tmp_path / "spool.db", group_commit=request.param)
    request.addfinalizer(sp.close)
    return sp


def test_append_is_idempotent_by_message_id_and_keeps_every_rejected_item(spool: Spool) -> None:
    assert spool.append([ok("m1"), ok("m2"), ok("m1"), bad(), bad()]) == [True, True, False, True, True]
    assert spool.append([ok("m2"), ok("m3")]) == [False, True]
    rows = spool.pending(100)
    assert [r.message_id for r in rows] == ["m1", "m2", None, None, "m3"]
    assert [r.reason for r in rows] == [None, None, "malformed_json", "malformed_json", None]
    assert rows[2].body == b"{oops" and rows[2].detail == "cannot parse" and rows[0].received_at == NOW
    stats = spool.stats()
    assert (stats.pending, stats.accepted, stats.duplicates, stats.quarantined) == (5, 3, 2, 2)
    assert stats.oldest_pending_received_at == NOW and stats.last_seq == 5


def test_dedupe_survives_reopen(tmp_path: Path) -> None:
    with Spool(tmp_path / "s.db") as sp:
        sp.append([ok("m1")])
        spool_id = sp.spool_id
    with Spool(tmp_path / "s.db") as sp:
        assert sp.spool_id == spool_id
        assert sp.append([ok("m1"), ok("m2")]) == [False, True]


def test_pending_mark_landed_purge_and_prune(spool: Spool) -> None:
    old, young = NOW - timedelta(days=8), NOW
    spool.append([ok("a", old), ok("b", old), bad(), ok("c", young)])
    first = spool.pending(2)
    assert [r.seq for r in first] == [1, 2]
    assert spool.mark_landed(1, 2) == 2 and spool.mark_landed(1, 2) == 0  # marking again is a no-op
    assert [r.seq for r in spool.pending(10)] == [3, 4]
    assert [r.seq for r in spool.pending(10, upto=3)] == [3]
    assert [r.seq for r in spool.rows(1, 3)] == [1, 2, 3]  # landed rows too, for a redo
    # Only landed rows go, oldest first; the pending row 3 stops the purge.
    assert spool.purge_landed(NOW - timedelta(days=1)) == 2
    assert [r.seq for r in spool.rows(1, 4)] == [3, 4]
    # Forgetting old ids ends their dedupe window: "a" is new again, "c" is still a duplicate.
    assert spool.prune_seen(NOW - timedelta(days=7)) == 2
    assert spool.append([ok("a"), ok("c")]) == [True, False]
    assert spool.last_seq() == 5  # AUTOINCREMENT: seq never reused, even after the purge


def test_malformed_items_are_refused_before_the_shared_transaction(spool: Spool) -> None:
    with pytest.raises(ValueError, match="message_id"):
        spool.append([SpoolItem(b"{}", "web", NOW)])  # accepted items need a messageId
    with pytest.raises(TypeError, match="timezone-aware"):
        spool.append([SpoolItem(b"{}", "web", datetime(2026, 1, 1), message_id="x")])
    assert spool.stats().pending == 0


def test_closed_spool_refuses_appends(tmp_path: Path) -> None:
    sp = Spool(tmp_path / "s.db")
    sp.close()
    sp.close()
    with pytest.raises(SpoolClosed):
        sp.append([ok("m1")])


def test_group_commit_under_many_threads_stores_every_item_once(tmp_path: Path) -> None:
    """32 threads send overlapping ids (each id by 4 threads): each id stored once, nothing lost."""
    sp = Spool(tmp_path / "s.db")
    results: dict[int, list[bool]] = {}
    barrier = threading.Barrier(32)

    def worker(t: int) -> None:
        barrier.wait()
        out: list[bool] = []
        for k in range(25):
            ids = [f"m{(t % 8) * 1000 + k * 10 + j}" for j in range(10)]
            out += sp.append([ok(i) for i in ids] + [bad(f"t{t}-{k}".encode())])
        results[t] = out

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(32)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    rows = sp.pending(100_000)
    accepted = [r.message_id for r in rows if r.reason is None]
    assert len(accepted) == len(set(accepted)) == 8 * 25 * 10
    expected_bad = sorted(f"t{t}-{k}".encode() for t in range(32) for k in range(25))
    assert sorted(r.body for r in rows if r.reason) == expected_bad
    stored = sum(sum(v) for v in results.values())
    assert stored == len(rows) and sum(len(v) for v in results.values()) == 32 * 25 * 11
    stats = sp.stats()
    assert (stats.accepted, stats.duplicates, stats.quarantined) == (2000, 6000, 800)
    sp.close()


def test_a_failing_request_does_not_fail_the_others_in_its_group(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    sp = Spool(tmp_path / "s.db")
    real = Spool._commit

    def commit(self: Spool, batches: list[list[SpoolItem]]) -> list[list[bool]]:
        if any(it.source == "poison" for b in batches for it in b):
            raise RuntimeError("disk on fire")
        return real(self, batches)

    monkeypatch.setattr(Spool, "_commit", commit)
    errors: list[Exception] = []
    barrier = threading.Barrier(12)

    def worker(t: int) -> None:
        barrier.wait()
        try:
            sp.append([ok(f"x{t}", source="poison" if t == 5 else "web")])
        except SpoolError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(12)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(errors) == 1 and "disk on fire" in str(errors[0])
    assert sorted(r.message_id or "" for r in sp.pending(100)) == sorted(f"x{t}" for t in range(12) if t != 5)
    sp.close()


CHILD = """
import sys
from datetime import UTC, datetime
from siyu.collect.spool import Spool, SpoolItem
sp = Spool(sys.argv[1])
now = datetime.now(UTC)
items = [SpoolItem(b'{"n": %d}' % i, "web", now, message_id=f"k{i}") for i in range(500)]
sp.append(items + [SpoolItem(b"junk", "web", now, reason="malformed_json", detail="x")])
print("appended", flush=True)
sys.stdin.read()  # wait to be killed
"""


def test_appended_data_survives_sigkill_right_after_append_returns(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"appended\n"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with Spool(path) as sp:
        rows = sp.pending(10_000)
        assert [r.message_id for r in rows[:-1]] == [f"k{i}" for i in range(500)]
        assert rows[-1].reason == "malformed_json"
        assert sp.append([ok("k7")]) == [False]  # the dedupe record committed with the row


def test_two_processes_share_one_spool_and_its_dedupe(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    code = ("import sys\nfrom datetime import UTC, datetime\nfrom siyu.collect.spool import Spool, SpoolItem\n"
            "sp = Spool(sys.argv[1])\nnow = datetime.now(UTC)\n"
            "for i in range(200):\n"
            "    sp.append([SpoolItem(b'{}', 'web', now, message_id=f'p{i}')])\n"
            "sp.close()\n")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(path)]) for _ in range(2)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    with Spool(path) as sp:
        rows = sp.pending(10_000)
        assert sorted(r.message_id or "" for r in rows) == sorted(f"p{i}" for i in range(200))
        assert sp.stats().duplicates == 200
