"""The foundation's promises, checked on the demo world (20,000 people × 180 days) against its truth."""

from __future__ import annotations

from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq

from siyu.warehouse.identity.evaluate import pairwise_score
from siyu.warehouse.quality import quality_report


def test_oneid_pairwise_precision_and_recall(demo: dict[str, Any]) -> None:
    score = pairwise_score(pq.read_table(demo["lake"].files("ads", "id_map")),
                           pq.read_table(demo["root"] / "world" / "truth" / "identities.parquet"))
    assert score.identifiers_missing == 0
    assert score.precision >= 0.99, score
    assert score.recall >= 0.98, score


def test_shared_devices_are_all_held_apart(demo: dict[str, Any]) -> None:
    truth = pq.read_table(demo["root"] / "world" / "truth" / "identities.parquet")
    shared_truth = set(truth.filter(pc.is_null(truth["person_id"]))["identifier_value"].to_pylist())
    found = {s.split(":", 1)[1] for s in demo["build"].identity.shared_identifiers}
    assert len(shared_truth) == demo["planted"]["shared_devices"]
    assert shared_truth <= found


def test_quarantine_counts_equal_planted_defects(demo: dict[str, Any]) -> None:
    found = dict(demo["import"].quarantine_by_reason)
    planted = demo["planted"]
    assert found == {r: planted[r] for r in ("malformed_json", "missing_required_field", "wrong_type")}


def test_every_valid_event_reaches_dwd_exactly_once(demo: dict[str, Any]) -> None:
    ids = pq.read_table(demo["lake"].files("dwd", "events"), columns=["message_id"])["message_id"]
    assert len(ids) == demo["planted"]["valid_events"]
    assert len(pc.unique(ids)) == len(ids)


def test_quality_report_finds_the_planted_timing_defects_and_duplicates(demo: dict[str, Any]) -> None:
    rep = quality_report(demo["lake"]).as_dict()
    planted = demo["planted"]
    assert rep["duplicates"]["rows"] == planted["duplicate_deliveries"]
    assert rep["clock"]["skewed"] == planted["clock_skew"]
    assert rep["clock"]["late"] == planted["late_arrivals"]
    assert len(rep["files"]["transcoded_from_gb18030"]) == planted["gb18030_files"]
    assert not rep["alerts"], rep["alerts"]


def test_gb18030_export_lands_every_line(demo: dict[str, Any]) -> None:
    gb = [f for f in demo["import"].files if f.encoding == "gb18030"]
    assert len(gb) == 1 and gb[0].accepted == demo["planted"]["gb18030_events"] and gb[0].quarantined == 0
