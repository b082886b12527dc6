"""Data-quality report over the lake: what was rejected and why, and what looks wrong in what was kept.

Checks (each with an alert threshold; ``siyu quality --fail-on-alert`` exits 1 when any fires):

* quarantine counts by reason code;
* missing rate of each required field, per event (alert above 5%, as the source reports require);
* duplicate deliveries (same messageId) as a share of accepted rows;
* client clock skew (|sentAt − receivedAt| over 5 minutes) and late arrivals (over 1 hour);
* identifier problems (e.g. a phone that is not a phone) and events without a strong identifier;
* day-over-day row-count anomalies against the trailing 7-day median (below half or above double),
  reported as warnings: a campaign day is a real spike, not broken data;
* files read in another encoding (GB18030) or cut short.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from siyu.core.catalogue import STANDARD_EVENTS
from siyu.core.errors import SiyuError
from siyu.core.identifiers import ID_COLUMNS, STRONG_TYPES
from siyu.warehouse.engine import Engine, open_engine
from siyu.warehouse.lake import Lake
from siyu.warehouse.schemas import ODS_EVENTS_VIEW, QUARANTINE

MISSING_RATE_ALERT = 0.05
DUPLICATE_RATE_ALERT = 0.05
SKEW_MS = 5 * 60 * 1000
LATE_MS = 60 * 60 * 1000

_STRONG_ANY = " OR ".join(f"{ID_COLUMNS[t]} IS NOT NULL" for t in sorted(STRONG_TYPES))

QUARANTINE_BY_REASON = "SELECT reason, count(*) AS n FROM ods_quarantine GROUP BY reason ORDER BY reason"

#: Rejected rows per (event, missing field); landing read the event name from the payload.
MISSING_FIELDS = """
SELECT coalesce(event, '?') AS event, detail AS field, count(*) AS n
FROM ods_quarantine WHERE reason = 'missing_required_field'
GROUP BY 1, 2
"""

EVENT_COUNTS = "SELECT event, count(*) AS n FROM ods_events GROUP BY event"

#: A row is a duplicate delivery when an earlier-loaded row (any batch) has the same messageId.
DUPLICATE_ROWS = """
SELECT count(*) AS n FROM (
    SELECT batch_id, row_number() OVER (
        PARTITION BY message_id ORDER BY loaded_at, batch_id, source, event_time, received_at) AS copy_no
    FROM ods_events_all
) AS r JOIN quality_batches AS b ON r.batch_id = b.batch_id
WHERE copy_no > 1
"""

ODS_TOTALS = f"""
SELECT count(*) AS rows,
       CAST(sum(CASE WHEN id_problems IS NOT NULL THEN 1 ELSE 0 END) AS BIGINT) AS id_problem_rows,
       CAST(sum(CASE WHEN NOT ({_STRONG_ANY}) THEN 1 ELSE 0 END) AS BIGINT) AS anonymous_rows
FROM ods_events
"""

SCOPED_VIEWS = {
    "ods_events": "SELECT e.* FROM ods_events_all AS e JOIN quality_batches AS b ON e.batch_id = b.batch_id",
    "ods_quarantine": "SELECT q.* FROM ods_quarantine_all AS q JOIN quality_batches AS b ON q.batch_id = b.batch_id",
    "dwd_events": "SELECT d.* FROM dwd_events_all AS d JOIN quality_batches AS b ON d.batch_id = b.batch_id",
}

DWD_TIMING = f"""
SELECT count(*) AS rows,
       CAST(sum(CASE WHEN abs(skew_ms) > {SKEW_MS} THEN 1 ELSE 0 END) AS BIGINT) AS skewed,
       CAST(sum(CASE WHEN arrival_lag_ms > {LATE_MS} AND abs(skew_ms) <= {SKEW_MS} THEN 1 ELSE 0 END) AS BIGINT)
           AS late,
       quantile_cont(abs(skew_ms), 0.5) AS skew_p50_ms,
       quantile_cont(abs(skew_ms), 0.99) AS skew_p99_ms,
       max(abs(skew_ms)) AS skew_max_ms
FROM dwd_events
"""

#: Day-over-day counts look at the whole lake, not one load: a load may add rows to many days.
DAILY_ROWS = "SELECT CAST(dt AS VARCHAR) AS dt, count(*) AS n FROM dwd_events_all GROUP BY dt ORDER BY dt"


@dataclass
class QualityReport:
    sections: dict[str, Any] = field(default_factory=dict)
    alerts: list[str] = field(default_factory=list)
    #: Worth a look but not a pipeline failure (a campaign day is a real spike, not broken data).
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"alerts": self.alerts, "warnings": self.warnings, **self.sections}


def _rows(t: pa.Table) -> list[dict[str, Any]]:
    return t.to_pylist()


def load_batches(lake: Lake) -> list[str]:
    """Import batch ids in the order they were loaded."""
    first: dict[str, str] = {}
    for entry in lake.read_state("imports").values():
        stamp = entry.get("loaded_at", "")
        first[entry["batch_id"]] = min(first.get(entry["batch_id"], stamp), stamp)
    return sorted(first, key=lambda b: (first[b], b))


def quality_report(lake: Lake, engine: Engine | str = "duckdb", *, batch: str | None = None) -> QualityReport:
    """Compute the report for one load (``batch``: an id or ``"latest"``) or, by default, every load."""
    eng = open_engine(engine) if isinstance(engine, str) else engine
    rep = QualityReport()
    batches = load_batches(lake)
    if batch == "latest":
        batch = batches[-1] if batches else None
    elif batch is not None and batch not in batches:
        raise SiyuError(f"no import batch {batch!r}; known: {', '.join(batches[-5:]) or 'none'}",
                        code="not_found", input_name="batch")
    scope = [batch] if batch else batches
    rep.sections["batches"] = scope
    eng.register_arrow("quality_batches", pa.table({"batch_id": pa.array(scope, pa.string())}))
    eng.register("ods_quarantine_all", lake.files("ods", "quarantine"),
                 QUARANTINE.append(pa.field("dt", pa.date32())))
    eng.register("ods_events_all", lake.files("ods", "events"), ODS_EVENTS_VIEW)
    if lake.exists("dwd", "events"):
        eng.register("dwd_events_all", lake.files("dwd", "events"))
    for view, sql in SCOPED_VIEWS.items():
        if view != "dwd_events" or lake.exists("dwd", "events"):
            eng.create_view(view, sql)
    by_reason = {r["reason"]: r["n"] for r in _rows(eng.query(QUARANTINE_BY_REASON))}
    rep.sections["quarantine_by_reason"] = by_reason

    totals = _rows(eng.query(ODS_TOTALS))[0]
    accepted = int(totals["rows"] or 0)
    dup = int(_rows(eng.query(DUPLICATE_ROWS))[0]["n"] or 0)
    rep.sections["accepted_rows"] = accepted
    rep.sections["duplicates"] = {"rows": dup, "rate": round(dup / accepted, 6) if accepted else 0.0}
    if accepted and dup / accepted > DUPLICATE_RATE_ALERT:
        rep.alerts.append(f"duplicate rate {dup / accepted:.1%} above {DUPLICATE_RATE_ALERT:.0%}")
    rep.sections["identifiers"] = {
        "rows_with_identifier_problems": int(totals["id_problem_rows"] or 0),
        "rows_without_strong_identifier": int(totals["anonymous_rows"] or 0),
    }

    per_event = {r["event"]: int(r["n"]) for r in _rows(eng.query(EVENT_COUNTS))}
    rejected_event = {}
    for r in _rows(eng.query("SELECT coalesce(event, '?') AS event, count(*) AS n FROM ods_quarantine GROUP BY 1")):
        rejected_event[r["event"]] = int(r["n"])
    all_lines = accepted + sum(by_reason.values())
    envelope: dict[str, int] = {}
    missing = []
    for r in _rows(eng.query(MISSING_FIELDS)):
        if not str(r["field"]).startswith("properties."):  # envelope fields: a rate over every line
            envelope[r["field"]] = envelope.get(r["field"], 0) + int(r["n"])
            continue
        total = per_event.get(r["event"], 0) + rejected_event.get(r["event"], 0)
        rate = r["n"] / total if total else 1.0
        missing.append({"event": r["event"], "field": r["field"], "missing": int(r["n"]), "of": total,
                        "rate": round(rate, 6)})
    for name, n in envelope.items():
        missing.append({"event": "*", "field": name, "missing": n, "of": all_lines,
                        "rate": round(n / all_lines, 6) if all_lines else 1.0})
    for m in missing:
        rate = m["rate"]
        if rate > MISSING_RATE_ALERT:
            rep.alerts.append(f"{m['event']}.{m['field']} missing in {rate:.1%} of rows (alert above 5%)")
    rep.sections["missing_required_fields"] = sorted(missing, key=lambda m: (-m["rate"], m["event"], m["field"]))
    rep.sections["standard_events_seen"] = sorted(e for e in per_event if e in STANDARD_EVENTS)

    if lake.exists("dwd", "events"):
        timing = _rows(eng.query(DWD_TIMING))[0]
        rep.sections["clock"] = {k: (float(v) if v is not None and k.endswith("_ms") else v)
                                 for k, v in timing.items()}
        daily = _rows(eng.query(DAILY_ROWS))
        rep.sections["row_count_anomalies"] = _anomalies(daily)
        for a in rep.sections["row_count_anomalies"]:
            rep.warnings.append(f"{a['dt']}: {a['rows']} rows vs trailing 7-day median {a['median']:.0f}")

    files = [f for f in lake.read_state("imports").values() if f["batch_id"] in scope]
    rep.sections["files"] = {
        "imported": len(files),
        "transcoded_from_gb18030": sorted(f["path"] for f in files if f.get("encoding") == "gb18030"),
        "with_errors": sorted(f"{f['path']}: {f['error']}" for f in files if f.get("error")),
    }
    for f in rep.sections["files"]["with_errors"]:
        rep.alerts.append(f"file problem: {f}")
    return rep


def _anomalies(daily: list[dict[str, Any]], window: int = 7) -> list[dict[str, Any]]:
    """Days whose row count is below half or above double the median of the previous ``window`` days."""
    out = []
    counts = [int(d["n"]) for d in daily]
    for i in range(window, len(daily)):
        prior = sorted(counts[i - window:i])
        median = (prior[window // 2] + prior[(window - 1) // 2]) / 2
        if median > 0 and not 0.5 <= counts[i] / median <= 2.0:
            out.append({"dt": daily[i]["dt"], "rows": counts[i], "median": median})
    return out
