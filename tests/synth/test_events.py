"""The event files: every valid line validates, every planted defect is rejected for its reason,
and the counts in ``truth/defects.json`` are exact."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from siyu.core.catalogue import STANDARD_EVENTS
from siyu.core.validation import Reason
from siyu.synth import DefectRates, generate_world
from tests.synth.conftest import World, part_lines

MINUTE = timedelta(seconds=60)


def test_rejections_match_planted_defects_by_reason(world: World) -> None:
    found = Counter(r.reason for r in world.rejected)
    assert set(found) <= {Reason.MALFORMED_JSON, Reason.MISSING_REQUIRED_FIELD, Reason.WRONG_TYPE}
    for reason in ("malformed_json", "missing_required_field", "wrong_type"):
        assert found[Reason(reason)] == world.defects[reason] > 0, reason


def test_duplicates_valid_events_and_line_totals_are_exact(world: World) -> None:
    ids = Counter(a.message_id for a in world.accepted)
    assert sum(n - 1 for n in ids.values()) == world.defects["duplicate_deliveries"] > 0
    assert len(ids) == world.defects["valid_events"] == world.summary.valid_events
    total = len(part_lines(world.root)) + world.defects["gb18030_events"]
    assert total == world.defects["lines_written"] == world.summary.lines_written


def test_duplicates_differ_at_most_in_received_at(world: World) -> None:
    first: dict[str, dict] = {}
    for a in world.accepted:
        if a.message_id in first:
            other = {k: v for k, v in first[a.message_id].items() if k != "receivedAt"}
            assert {k: v for k, v in a.msg.items() if k != "receivedAt"} == other
        else:
            first[a.message_id] = a.msg


def test_clock_skew_and_late_arrivals_are_exact_and_recoverable(world: World) -> None:
    seen: set[str] = set()
    skewed = late = 0
    for a in world.accepted:
        if a.message_id in seen:
            continue
        seen.add(a.message_id)
        assert a.sent_at is not None and a.received_at is not None
        if abs(a.sent_at - a.received_at) >= MINUTE:
            skewed += 1
            assert abs(a.timestamp - a.received_at) >= timedelta(minutes=9)
            continue
        if a.received_at - a.timestamp >= MINUTE:
            late += 1
            assert timedelta(hours=1) <= a.sent_at - a.timestamp <= timedelta(hours=48)
        # with a true device clock the corrected time is the timestamp plus network latency
        assert timedelta(milliseconds=50) <= a.event_time - a.timestamp <= timedelta(seconds=2)
    assert skewed == world.defects["clock_skew"] > 0
    assert late == world.defects["late_arrivals"] > 0


def test_every_standard_event_and_message_type_appears(world: World) -> None:
    events = Counter(a.event for a in world.accepted if a.type == "track")
    missing = set(STANDARD_EVENTS) - set(events)
    assert not missing
    assert {"quiz_completed", "lucky_draw_played"} <= set(events)  # custom, free-form properties
    types = {a.type for a in world.accepted}
    assert types == {"track", "identify", "page", "screen", "group", "alias"}


def test_both_utc_and_china_offsets_appear_in_timestamps(world: World) -> None:
    raw = [a.msg["timestamp"] for a in world.accepted[:5000]]
    assert any(t.endswith("Z") for t in raw)
    assert any(t.endswith("+08:00") for t in raw)
    assert all(a.msg["sentAt"].endswith("Z") and a.msg["receivedAt"].endswith("Z") for a in world.accepted[:5000])


def test_activity_peaks_at_lunch_and_evening_china_time(world: World) -> None:
    hours = Counter((a.timestamp + timedelta(hours=8)).hour for a in world.accepted)
    assert hours[20] > 3 * hours[4] and hours[12] > 3 * hours[4]


def test_gb18030_export_is_not_utf8_and_holds_chinese_wecom_events(world: World) -> None:
    raw = (world.root / "events" / "wecom-export-gb18030.jsonl").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    lines = raw.decode("gb18030").splitlines()
    assert len(lines) == world.defects["gb18030_events"] > 0
    assert world.defects["gb18030_files"] == 1
    gb = world.accepted[-len(lines):]
    assert {a.event for a in gb} <= {"wecom_friend_added", "group_joined", "group"}
    in_parts = {a.message_id for a in world.accepted[:-len(lines)]}
    assert not in_parts & {a.message_id for a in gb}


def test_defect_rates_are_configurable(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rates = DefectRates(duplicate_deliveries=0, malformed_json=0, missing_required_field=0, wrong_type=0,
                        clock_skew=0, late_arrivals=0, gb18030_share=0.5)
    summary = generate_world(tmp_path, users=300, days=20, seed=5, defects=rates, workers=1)
    counts = {k: v for k, v in summary.defects.items()
              if k not in ("gb18030_files", "gb18030_events", "shared_devices", "shared_device_persons",
                           "valid_events")}
    assert set(counts.values()) == {0}
    assert summary.lines_written == summary.valid_events
    with pytest.raises(ValueError):
        DefectRates(malformed_json=-0.1)
