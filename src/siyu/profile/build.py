"""``siyu profile build``: RFM, lifecycle stages and member tiers as of a day, with their history."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from siyu.core.errors import LakeError
from siyu.profile.config import ProfileConfig
from siyu.profile.history import record_changes
from siyu.profile.lifecycle import lifecycle_sql
from siyu.profile.rfm import rfm_classes_table, rfm_sql
from siyu.profile.tiers import tier_levels_table, tiers_sql
from siyu.profile.views import register_profile_sources, register_profile_view
from siyu.warehouse.build import register_layer, write_layer
from siyu.warehouse.engine import Engine, open_engine
from siyu.warehouse.lake import Lake, with_lake_lock


@dataclass
class ProfileReport:
    as_of: date
    people: int = 0
    rfm_classes: dict[str, int] = field(default_factory=dict)
    lifecycle: dict[str, int] = field(default_factory=dict)
    tiers: dict[str, int] = field(default_factory=dict)
    lifecycle_changes: int = 0
    tier_changes: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "as_of": self.as_of.isoformat()}


def latest_day(eng: Engine) -> date:
    """The lake's last business day: the default as_of (with ``user_daily`` registered)."""
    day = eng.query("SELECT max(dt) AS d FROM user_daily")["d"][0].as_py()
    if day is None:
        raise LakeError("the lake has no built days: run `siyu build` first", code="lake_not_built")
    return day


def _counts(eng: Engine, table: str, column: str) -> dict[str, int]:
    rows = eng.query(f"SELECT {column} AS k, count(*) AS n FROM {table} GROUP BY 1 ORDER BY 2 DESC").to_pylist()
    return {str(r["k"]): int(r["n"]) for r in rows}


@with_lake_lock()
def build_profile(lake: Lake, engine: Engine | str = "duckdb", *, as_of: date | None = None,
                  config: ProfileConfig | None = None) -> ProfileReport:
    """Compute ``ads/rfm``, ``ads/lifecycle`` and ``ads/tiers`` as of ``as_of`` (default: last day).

    Lifecycle and tier changes against the previously recorded state go to ``ads/*_changes``.
    """
    if not lake.exists("ads", "profiles"):
        raise LakeError(f"{lake.root} has no ads/profiles: run `siyu build` first", code="lake_not_built")
    config = config or ProfileConfig()
    eng = open_engine(engine) if isinstance(engine, str) else engine
    t = time.perf_counter()
    register_profile_sources(eng, lake)
    as_of = as_of or latest_day(eng)
    report = ProfileReport(as_of=as_of)

    def lap(name: str) -> None:
        nonlocal t
        now = time.perf_counter()
        report.seconds[name] = round(now - t, 3)
        t = now

    eng.register_arrow("rfm_classes", rfm_classes_table())
    sql, params = rfm_sql(config.rfm, as_of)
    write_layer(eng, lake, "ads", "rfm", sql, params=params)
    lap("rfm")
    sql, params = lifecycle_sql(config.lifecycle, as_of)
    write_layer(eng, lake, "ads", "lifecycle", sql, params=params)
    register_layer(eng, lake, "ads", "lifecycle")
    eng.create_view("lifecycle_value", "SELECT one_id, lifecycle AS value FROM ads_lifecycle")
    report.lifecycle_changes = record_changes(eng, lake, "lifecycle", "lifecycle_value", ("one_id",), as_of)
    lap("lifecycle")
    eng.register_arrow("tier_levels", tier_levels_table(config.tiers))
    sql, params = tiers_sql(config.tiers, as_of)
    write_layer(eng, lake, "ads", "tiers", sql, params=params)
    register_layer(eng, lake, "ads", "tiers")
    eng.create_view("tier_value", "SELECT one_id, tier AS value FROM ads_tiers")
    report.tier_changes = record_changes(eng, lake, "tiers", "tier_value", ("one_id",), as_of)
    lap("tiers")
    register_profile_view(eng, lake)
    report.people = int(eng.query("SELECT count(*) AS n FROM profile")["n"][0].as_py())
    report.rfm_classes = _counts(eng, "ads_rfm", "rfm_class")
    report.lifecycle = _counts(eng, "ads_lifecycle", "lifecycle")
    report.tiers = _counts(eng, "ads_tiers", "tier")
    return report


def backfill_profile(lake: Lake, engine: Engine | str = "duckdb", *, start: date, end: date | None = None,
                     config: ProfileConfig | None = None) -> list[ProfileReport]:
    """Build the facts for every day from ``start`` to ``end`` (default: the lake's last day), in order,
    so lifecycle and tier histories hold a transition on the day it happened rather than the day of the
    first build. Days before the last recorded one are refused (see ``history.record_changes``)."""
    eng = open_engine(engine) if isinstance(engine, str) else engine
    if end is None:
        register_profile_sources(eng, lake)
        end = latest_day(eng)
    if start > end:
        raise LakeError(f"backfill from {start} to {end}: the start is after the end", code="bad_date_range")
    reports, day = [], start
    while day <= end:
        reports.append(build_profile(lake, eng, as_of=day, config=config))
        day += timedelta(days=1)
    return reports
