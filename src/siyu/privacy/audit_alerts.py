"""Risky-behaviour alerts over the audit log (审计告警): bulk exports outside working hours, and an unusual volume
of PII reads by one key (PIPL; the "audit platform" of the requirements).

Pure functions, table in and table out: give them the entries of a day or a week — a pyarrow table shaped like
:func:`entries_table`, or :class:`~siyu.privacy.audit.AuditEntry` objects straight from
:meth:`AuditLog.scan <siyu.privacy.audit.AuditLog.scan>` — and get back :data:`ALERT_SCHEMA` rows, one per
alert, with the evidence (``seqs``) and the reason in English. They read no clock and no settings, so the same
entries always give the same alerts.

Row counts come from ``details["rows"]`` (:data:`siyu.privacy.audit.ROWS`): exports must carry it; a PII read
without it counts as one record.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa

from siyu.privacy.audit import ROWS, AuditAction, AuditEntry

_TS = pa.timestamp("us", tz="UTC")
ENTRY_SCHEMA = pa.schema([("seq", pa.int64()), ("at", _TS), ("actor", pa.string()), ("actor_role", pa.string()),
                          ("action", pa.string()), ("target_type", pa.string()), ("target", pa.string()),
                          ("details", pa.string())])
#: One alert: what kind, whose, when (the span of the entries behind it), how much against what threshold, why.
ALERT_SCHEMA = pa.schema([("kind", pa.string()), ("actor", pa.string()), ("actor_role", pa.string()),
                          ("window_start", _TS), ("window_end", _TS), ("value", pa.int64()),
                          ("threshold", pa.float64()), ("seqs", pa.list_(pa.int64())), ("reason", pa.string())])
AFTER_HOURS_EXPORT = "after_hours_export"
UNUSUAL_PII_READS = "unusual_pii_reads"
#: MAD × this estimates the standard deviation of normally distributed data.
MAD_SCALE = 1.4826
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class _Rec(NamedTuple):
    seq: int
    at: datetime
    actor: str
    role: str | None
    action: str
    rows: int | None


def entries_table(entries: Iterable[AuditEntry]) -> pa.Table:
    """Audit entries as a pyarrow table of :data:`ENTRY_SCHEMA` (``details`` as JSON text)."""
    return pa.Table.from_pylist([
        {"seq": e.seq, "at": e.at, "actor": e.actor, "actor_role": e.actor_role, "action": str(e.action),
         "target_type": e.target_type, "target": e.target,
         "details": json.dumps(e.details, sort_keys=True, ensure_ascii=False, default=str)} for e in entries
    ], schema=ENTRY_SCHEMA)


def parse_window(window: str | timedelta) -> timedelta:
    """``"1h"``, ``"30min"``/``"30m"``, ``"1d"``, ``"90s"`` (or a timedelta) → a positive timedelta."""
    if isinstance(window, timedelta):
        width = window
    else:
        match = re.fullmatch(r"\s*(\d+)\s*(s|sec|m|min|h|d)\s*", str(window))
        if match is None:
            raise ValueError(f"a window looks like '1h', '30min', '1d' or '90s', not {window!r}")
        width = timedelta(seconds=int(match[1]) * _UNITS[match[2]])
    if width <= timedelta(0):
        raise ValueError(f"a window must be longer than zero, not {window!r}")
    return width


def _rows_of(details: Any) -> int | None:
    if isinstance(details, str):
        try:
            details = json.loads(details)
        except ValueError:
            return None
    value = details.get(ROWS) if isinstance(details, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _records(entries: pa.Table | Iterable[AuditEntry]) -> list[_Rec]:
    items: Iterable[Any] = entries.to_pylist() if isinstance(entries, pa.Table) else entries
    get: Callable[[Any, str], Any] = dict.__getitem__ if isinstance(entries, pa.Table) else getattr
    out = []
    for item in items:
        at: datetime = get(item, "at")
        at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
        out.append(_Rec(int(get(item, "seq")), at, str(get(item, "actor")), get(item, "actor_role"),
                        str(get(item, "action")), _rows_of(get(item, "details"))))
    return out


def _table(alerts: list[dict[str, Any]]) -> pa.Table:
    alerts.sort(key=lambda a: (a["window_start"], a["actor"], a["kind"]))
    return pa.Table.from_pylist(alerts, schema=ALERT_SCHEMA)


def after_hours_exports(entries: pa.Table | Iterable[AuditEntry], working_hours: tuple[int, int] = (9, 19),
                        tz: str = "Asia/Shanghai", min_rows: int = 1000,
                        workdays: Collection[int] = (0, 1, 2, 3, 4)) -> pa.Table:
    """Bulk exports outside working hours (非工作时间批量导出).

    Working time is ``working_hours[0]`` ≤ local hour < ``working_hours[1]`` in ``tz`` on ``workdays``
    (Monday = 0; public holidays and 调休 make-up days are not known here — pass all seven days to judge by
    the hour only). One alert per key and local day whose off-hours exports add up to ``min_rows`` or more,
    so one big export and many small ones are both caught. An off-hours export without a row count is
    flagged too: an unknown size is not assumed small.
    """
    start, end = working_hours
    if not 0 <= start < end <= 24:
        raise ValueError(f"working hours are (start, end) with 0 ≤ start < end ≤ 24, not {working_hours!r}")
    zone = ZoneInfo(tz)
    groups: dict[tuple[str, Any], list[tuple[_Rec, datetime]]] = defaultdict(list)
    for rec in _records(entries):
        if rec.action != AuditAction.EXPORT:
            continue
        local = rec.at.astimezone(zone)
        if local.weekday() in workdays and start <= local.hour < end:
            continue
        groups[(rec.actor, local.date())].append((rec, local))
    alerts = []
    for (actor, day), found in groups.items():
        total = sum(rec.rows or 0 for rec, _ in found)
        unknown = sum(rec.rows is None for rec, _ in found)
        if total < min_rows and not unknown:
            continue
        times = ", ".join(f"{local:%H:%M}" for _, local in found[:5]) + (", …" if len(found) > 5 else "")
        off = "a non-working day" if day.weekday() not in workdays else f"outside {start:02d}:00–{end:02d}:00"
        note = f"; {unknown} export(s) did not record a row count" if unknown else ""
        alerts.append({
            "kind": AFTER_HOURS_EXPORT, "actor": actor, "actor_role": found[-1][0].role,
            "window_start": found[0][0].at, "window_end": found[-1][0].at, "value": total,
            "threshold": float(min_rows), "seqs": [rec.seq for rec, _ in found],
            "reason": f"key {actor} exported {total:,} rows in {len(found)} export(s) on {_DAYS[day.weekday()]} "
                      f"{day} at {times} ({tz}), {off}; the limit off hours is {min_rows:,} rows{note}",
        })
    return _table(alerts)


def unusual_pii_reads(entries: pa.Table | Iterable[AuditEntry], window: str | timedelta = "1h", *,
                      k: float = 5.0, min_reads: int = 200, min_history: int = 5) -> pa.Table:
    """Windows in which one key read an unusual volume of personal data (异常批量查询).

    Each key's PII reads (``details["rows"]`` each, else 1) are summed in fixed windows aligned to UTC
    midnight of 1970-01-01. A window is flagged when its volume exceeds
    ``max(min_reads, median + k · 1.4826 · MAD)`` over that key's active windows in ``entries`` — median and
    MAD (median absolute deviation) because one burst barely moves them, unlike a mean and standard
    deviation. A key with fewer than ``min_history`` active windows has no baseline yet: only the absolute
    floor ``min_reads`` applies, so a new key reading thousands of records is still caught.
    """
    width = parse_window(window)
    label = window if isinstance(window, str) else f"{width}"
    per_key: dict[str, dict[int, list[_Rec]]] = defaultdict(lambda: defaultdict(list))
    for rec in _records(entries):
        if rec.action == AuditAction.PII_READ:
            per_key[rec.actor][(rec.at - _EPOCH) // width].append(rec)
    alerts = []
    for actor, windows in per_key.items():
        volumes = {index: sum(r.rows if r.rows is not None else 1 for r in recs) for index, recs in windows.items()}
        values = np.fromiter(volumes.values(), dtype=float)
        if len(values) >= min_history:
            median = float(np.median(values))
            mad = float(np.median(np.abs(values - median)))
            threshold = max(float(min_reads), median + k * MAD_SCALE * mad)
            basis = (f"its usual is {median:,.0f} per active window (median of {len(values)}, MAD {mad:,.0f}), "
                     f"so the threshold is {threshold:,.0f}")
        else:
            threshold = float(min_reads)
            basis = (f"with only {len(values)} active window(s) there is no baseline yet, so the floor of "
                     f"{min_reads:,} applies")
        for index, volume in volumes.items():
            if volume <= threshold:
                continue
            begins = _EPOCH + index * width
            recs = windows[index]
            alerts.append({
                "kind": UNUSUAL_PII_READS, "actor": actor, "actor_role": recs[-1].role, "window_start": begins,
                "window_end": begins + width, "value": volume, "threshold": threshold,
                "seqs": [r.seq for r in recs],
                "reason": f"key {actor} read {volume:,} personal records in the {label} from "
                          f"{begins:%Y-%m-%d %H:%M} UTC; {basis}",
            })
    return _table(alerts)
