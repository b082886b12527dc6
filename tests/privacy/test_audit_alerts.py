"""Audit alerts: planted after-hours bulk exports and a burst of PII reads are flagged, normal traffic is not."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest

from siyu.privacy.audit import AuditEntry, AuditLog
from siyu.privacy.audit_alerts import (
    AFTER_HOURS_EXPORT,
    ALERT_SCHEMA,
    UNUSUAL_PII_READS,
    after_hours_exports,
    entries_table,
    parse_window,
    unusual_pii_reads,
)
from siyu.store import open_store

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY = datetime(2026, 6, 1, tzinfo=SHANGHAI)  # 2026-06-01 is a Monday
_seq = itertools.count(1)


def _entry(local: datetime, actor: str, action: str, rows: int | None = None, role: str = "analyst") -> AuditEntry:
    details: dict[str, Any] = {} if rows is None else {"rows": rows}
    return AuditEntry(seq=next(_seq), at=local.astimezone(UTC), actor=actor, actor_role=role, action=action,
                      target_type="segment", target="s", details=details, prev_hash="0" * 64, hash="0" * 64,
                      hmac=None)


def _at(day: int, hour: int, minute: int = 0) -> datetime:
    return MONDAY + timedelta(days=day, hours=hour, minutes=minute)


def _normal_traffic() -> list[AuditEntry]:
    """Two weeks: analysts read 20–60 records an hour in office hours, an ETL key 5,000 every hour, big exports
    in office hours and small ones in the evening."""
    rng = random.Random(7)
    out = []
    for day in range(14):
        for hour in range(24):
            out.append(_entry(_at(day, hour, 5), "etl", "pii_read", 5000 + rng.randint(-300, 300), role="operator"))
            if day % 7 >= 5 or not 9 <= hour < 19:
                continue
            for actor in ("alice", "bob"):
                for minute in (10, 30, 50):
                    out.append(_entry(_at(day, hour, minute), actor, "pii_read", rng.randint(7, 20)))
        if day % 7 < 5:
            out.append(_entry(_at(day, 15, 20), "bob", "export", 8000))  # bulk, but in office hours
            out.append(_entry(_at(day, 21, 0), "alice", "export", 40))  # evening, but small
            out.append(_entry(_at(day, 11, 0), "alice", "consent_change"))
    return out


PLANTED_EXPORTS = [
    _entry(_at(9, 2, 13), "bob", "export", 20_000),  # Wednesday 02:13
    _entry(_at(12, 11, 0), "carol", "export", 5000),  # Saturday, office hours but not a working day
    *[_entry(_at(3, 22, m), "alice", "export", 300) for m in range(0, 50, 10)],  # Thursday night, 5 × 300
]
PLANTED_READS = [_entry(_at(8, 14, m), "alice", "pii_read", 100) for m in range(30)]  # Tuesday 14:00, 3,000


def _pairs(alerts: pa.Table) -> list[tuple[str, str]]:
    return list(zip(alerts.column("kind").to_pylist(), alerts.column("actor").to_pylist(), strict=True))


def test_normal_traffic_raises_no_alert() -> None:
    normal = _normal_traffic()
    assert after_hours_exports(normal).num_rows == 0
    assert unusual_pii_reads(normal).num_rows == 0


def test_planted_after_hours_bulk_exports_are_flagged() -> None:
    alerts = after_hours_exports(_normal_traffic() + PLANTED_EXPORTS + PLANTED_READS)
    assert alerts.schema == ALERT_SCHEMA
    assert _pairs(alerts) == [(AFTER_HOURS_EXPORT, "alice"), (AFTER_HOURS_EXPORT, "bob"), (AFTER_HOURS_EXPORT, "carol")]
    by_actor = {row["actor"]: row for row in alerts.to_pylist()}
    assert by_actor["bob"]["value"] == 20_000 and by_actor["bob"]["seqs"] == [PLANTED_EXPORTS[0].seq]
    assert "02:13" in by_actor["bob"]["reason"] and "Wednesday 2026-06-10" in by_actor["bob"]["reason"]
    assert by_actor["alice"]["value"] == 1540 and len(by_actor["alice"]["seqs"]) == 6  # 5 × 300 + the usual 40
    assert "non-working day" in by_actor["carol"]["reason"]


def test_a_burst_of_pii_reads_by_one_key_is_flagged() -> None:
    alerts = unusual_pii_reads(_normal_traffic() + PLANTED_EXPORTS + PLANTED_READS, window="1h")
    assert _pairs(alerts) == [(UNUSUAL_PII_READS, "alice")]
    alert = alerts.to_pylist()[0]
    assert alert["window_start"] == datetime(2026, 6, 9, 6, 0, tzinfo=UTC)  # 14:00 in Shanghai
    assert alert["window_end"] - alert["window_start"] == timedelta(hours=1)
    assert alert["value"] > 3000 and set(e.seq for e in PLANTED_READS) <= set(alert["seqs"])
    assert alert["threshold"] == 200 and "median of" in alert["reason"] and "alice" in alert["reason"]


def test_the_threshold_follows_each_keys_own_history() -> None:
    # A steady ETL key at 5,000 an hour is normal for it; twice that is not, though both are far above the floor.
    steady = [_entry(_at(0, h), "etl", "pii_read", 5000) for h in range(24)]
    assert unusual_pii_reads(steady).num_rows == 0
    alerts = unusual_pii_reads([*steady, _entry(_at(1, 3), "etl", "pii_read", 10_000)])
    assert _pairs(alerts) == [(UNUSUAL_PII_READS, "etl")] and alerts.column("threshold")[0].as_py() == 5000


def test_a_key_without_history_is_judged_by_the_floor() -> None:
    alerts = unusual_pii_reads([_entry(_at(2, 3), "intruder", "pii_read", 5000),
                                _entry(_at(2, 9), "newbie", "pii_read", 50)], min_reads=200)
    assert _pairs(alerts) == [(UNUSUAL_PII_READS, "intruder")]
    assert "no baseline yet" in alerts.column("reason")[0].as_py()


def test_reads_without_a_row_count_count_as_one() -> None:
    reads = [_entry(_at(0, 10, 0) + timedelta(seconds=s), "k", "pii_read") for s in range(300)]
    assert unusual_pii_reads(reads, min_reads=299).column("value").to_pylist() == [300]
    assert unusual_pii_reads(reads, min_reads=300).num_rows == 0


@pytest.mark.parametrize(("day", "hour", "minute", "flagged"), [
    (0, 18, 59, False), (0, 19, 0, True), (0, 8, 59, True), (0, 9, 0, False), (5, 10, 0, True), (6, 23, 0, True),
])
def test_working_hours_edges(day: int, hour: int, minute: int, flagged: bool) -> None:
    alerts = after_hours_exports([_entry(_at(day, hour, minute), "k", "export", 1000)])
    assert alerts.num_rows == int(flagged)


def test_export_rules_are_parameters() -> None:
    saturday = [_entry(_at(5, 10), "k", "export", 5000)]
    assert after_hours_exports(saturday, workdays=range(7)).num_rows == 0
    assert after_hours_exports([_entry(_at(0, 20), "k", "export", 999)], min_rows=1000).num_rows == 0
    assert after_hours_exports([_entry(_at(0, 20), "k", "export", 999)], min_rows=500).num_rows == 1
    assert after_hours_exports([_entry(_at(0, 20), "k", "export", 5000)], working_hours=(8, 22)).num_rows == 0
    # 20:00 in Shanghai is 14:00 in Berlin (summer time): office hours there
    assert after_hours_exports([_entry(_at(0, 20), "k", "export", 5000)], tz="Europe/Berlin").num_rows == 0
    with pytest.raises(ValueError, match="working hours"):
        after_hours_exports([], working_hours=(19, 9))


def test_an_off_hours_export_without_a_row_count_is_flagged() -> None:
    alerts = after_hours_exports([_entry(_at(0, 23), "k", "export")])
    assert alerts.num_rows == 1 and "did not record a row count" in alerts.column("reason")[0].as_py()


def test_tables_and_entries_give_the_same_alerts() -> None:
    entries = _normal_traffic() + PLANTED_EXPORTS + PLANTED_READS
    table = entries_table(entries)
    assert table.num_rows == len(entries)
    assert after_hours_exports(table).equals(after_hours_exports(entries))
    assert unusual_pii_reads(table).equals(unusual_pii_reads(entries))
    assert after_hours_exports([]).schema == ALERT_SCHEMA and unusual_pii_reads([]).num_rows == 0


@pytest.mark.parametrize(("text", "expected"), [
    ("1h", timedelta(hours=1)), ("30min", timedelta(minutes=30)), ("30m", timedelta(minutes=30)),
    ("1d", timedelta(days=1)), ("90s", timedelta(seconds=90)), (timedelta(hours=2), timedelta(hours=2)),
])
def test_windows_parse(text: Any, expected: timedelta) -> None:
    assert parse_window(text) == expected


@pytest.mark.parametrize("bad", ["", "1", "h", "0h", "-1h", "1 week", timedelta(0)])
def test_bad_windows_are_refused(bad: Any) -> None:
    with pytest.raises(ValueError, match="window"):
        parse_window(bad)


def test_alerts_over_entries_from_the_store(tmp_path: Path) -> None:
    night = datetime(2026, 6, 2, 3, 0, tzinfo=SHANGHAI)
    with open_store(f"sqlite:///{tmp_path / 'siyu.db'}") as store:
        log = AuditLog(store, hmac_key=None, clock=lambda: night)
        log.record("k1", "analyst", "export", "segment", "vip", {"rows": 12_000, "format": "csv"})
        log.record("k1", "analyst", "pii_read", "one_id", "o_1", {"fields": ["phone_masked"]})
        alerts = after_hours_exports(log.scan(action="export"))
    assert alerts.to_pylist()[0]["seqs"] == [1] and alerts.column("actor").to_pylist() == ["k1"]
