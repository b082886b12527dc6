"""``siyu build``: ODS → DWD → DWS → ADS, incremental by day, on any engine.

A day is rebuilt when its ODS files changed since the last build (re-running a day replaces it; a
new day leaves history alone). OneID edges are extracted per day; the compact identity graph is
re-resolved each build with stable ids, and the days holding rows of a one_id that a split moved
are rewritten. ADS tables are small and rebuilt whole from DWS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pyarrow as pa

from siyu.core.entities import ENTITIES
from siyu.warehouse.engine import Engine, open_engine
from siyu.warehouse.identity.store import (
    ResolveSummary,
    extract_event_graph,
    extract_order_graph,
    register_identity,
    resolve_graph,
)
from siyu.warehouse.lake import Lake
from siyu.warehouse.layers import ads, dwd, dws
from siyu.warehouse.schemas import ODS_EVENTS_VIEW

Step = Callable[[str], None]


@dataclass
class BuildReport:
    engine: str
    days_built: list[str] = field(default_factory=list)
    identity: ResolveSummary | None = None
    rows: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        ident = None
        if self.identity:
            ident = {k: v for k, v in self.identity.__dict__.items() if k != "reassigned"}
            ident["reassigned"] = sorted(self.identity.reassigned)
        return {"engine": self.engine, "days_built": self.days_built, "identity": ident, "rows": self.rows,
                "seconds": self.seconds}


def _signature(lake: Lake, layer: str, table: str, day: str | None = None) -> list[list[Any]]:
    folder = lake.partition_dir(layer, table, day) if day else lake.table_dir(layer, table)
    if not folder.exists():
        return []
    return sorted([p.name, p.stat().st_size] for p in folder.glob("*.parquet"))


def _days_table(days: list[str]) -> pa.Table:
    return pa.table({"dt": pa.array([date.fromisoformat(d) for d in days], pa.date32())})


def _ods_files(lake: Lake, days: set[str]) -> list[str]:
    out: list[str] = []
    for d in sorted(days):
        folder = lake.partition_dir("ods", "events", d)
        if folder.exists():
            out.extend(str(p) for p in sorted(folder.glob("*.parquet")))
    return out


def _with_neighbours(days: list[str]) -> set[str]:
    out: set[str] = set()
    for d in days:
        day = date.fromisoformat(d)
        out.update(str(day + timedelta(n)) for n in (-1, 0, 1))
    return out


def register_entities(engine: Engine, lake: Lake) -> None:
    for name, view in (("orders", "ods_orders"), ("order_items", "ods_order_items"),
                       ("customer_staff", "ods_customer_staff")):
        spec = ENTITIES[name]
        schema = spec.schema.append(pa.field("batch_id", pa.string()))
        engine.register(view, lake.files("ods", f"entities_{name}"), schema)


def build(lake: Lake, engine: Engine | str = "duckdb", *, full: bool = False, step: Step | None = None,
          shared_limit: int = 2) -> BuildReport:
    """Build the layers that changed since the last build; ``full`` rebuilds every day."""
    import time

    eng = open_engine(engine) if isinstance(engine, str) else engine
    report = BuildReport(engine=eng.name)
    say = step or (lambda _m: None)
    manifest = lake.read_state(f"build-{eng.name}") if not full else {}
    ods_days = lake.partitions("ods", "events")
    sigs = {d: _signature(lake, "ods", "events", d) for d in ods_days}
    old = manifest.get("ods_days", {})
    dirty = [d for d in ods_days if old.get(d) != sigs[d]]
    vanished = [d for d in old if d not in sigs]
    ent_sig = {n: _signature(lake, "ods", f"entities_{n}") for n in ENTITIES}
    entities_changed = manifest.get("entities") != ent_sig
    register_entities(eng, lake)
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        report.seconds[name] = round(now - clock, 3)
        clock = now

    say(f"{len(dirty)} day(s) to build, entities {'changed' if entities_changed else 'unchanged'}")
    eng.register_arrow("build_days", _days_table(dirty))
    eng.register("ods_events", _ods_files(lake, set(dirty)), ODS_EVENTS_VIEW)
    if dirty:
        say("extracting identity edges")
        extract_event_graph(eng, lake, dirty)
    if entities_changed:
        extract_order_graph(eng, lake)
    lap("identity_extract")
    say("resolving OneID")
    report.identity = resolve_graph(eng, lake, shared_limit=shared_limit)
    register_identity(eng, lake)
    lap("identity_resolve")

    rebuild = set(dirty) | set(vanished)
    if report.identity.reassigned and lake.exists("dwd", "events"):
        eng.register("dwd_events", lake.files("dwd", "events"))
        moved = pa.table({"one_id": sorted(report.identity.reassigned)})
        eng.register_arrow("moved_ids", moved)
        hit = eng.query("SELECT DISTINCT CAST(dt AS VARCHAR) AS d FROM dwd_events WHERE one_id IN "
                        "(SELECT one_id FROM moved_ids)")
        rebuild.update(hit["d"].to_pylist())
    days = sorted(rebuild)
    report.days_built = days
    if days:
        say(f"dwd events for {len(days)} day(s)")
        eng.register_arrow("build_days", _days_table(days))
        eng.register("ods_events", _ods_files(lake, _with_neighbours(days)), ODS_EVENTS_VIEW)
        with lake.staging("dwd", "events") as tmp:
            eng.write(dwd.EVENTS, tmp / "out", partition_by="dt")
            lake.commit_partitions("dwd", "events", tmp / "out", days)
    lap("dwd_events")
    eng.register("dwd_events", lake.files("dwd", "events"))
    say("dwd orders")
    for table, sql in (("orders", dwd.ORDERS), ("order_items", dwd.ORDER_ITEMS)):
        with lake.staging("dwd", table) as tmp:
            eng.write(sql, tmp / "out", partition_by="dt" if table == "orders" else None)
            lake.replace_table("dwd", table, tmp / "out")
    eng.register("dwd_orders", lake.files("dwd", "orders"))
    lap("dwd_orders")

    dws_days = sorted(set(days) | (set(lake.partitions("dwd", "orders")) | set(lake.partitions("dwd", "events"))
                                   if entities_changed or report.identity.new_redirects else set()))
    if dws_days:
        say(f"dws for {len(dws_days)} day(s)")
        eng.register_arrow("build_days", _days_table(dws_days))
        with lake.staging("dws", "user_daily") as tmp:
            eng.write(dws.USER_DAILY, tmp / "out", partition_by="dt")
            lake.commit_partitions("dws", "user_daily", tmp / "out", dws_days)
    lap("dws")

    say("ads")
    eng.register("dws_user_daily", lake.files("dws", "user_daily"))
    as_of = eng.query("SELECT CAST(max(dt) AS VARCHAR) AS d FROM dws_user_daily")["d"][0].as_py()
    params = {"as_of": as_of}
    eng.create_view("user_daily_current", ads.USER_DAILY_CURRENT)
    for table, sql, p in (("profiles", ads.PROFILES, params), ("kpi_daily", ads.KPI_DAILY, None),
                          ("id_map", ads.ID_MAP, None)):
        with lake.staging("ads", table) as tmp:
            eng.write(sql, tmp / "out", params=p)
            lake.replace_table("ads", table, tmp / "out")
    lap("ads")
    lake.write_state(f"build-{eng.name}", {"ods_days": sigs, "entities": ent_sig})
    for layer, table in (("dwd", "events"), ("dwd", "orders"), ("dws", "user_daily"), ("ads", "profiles"),
                         ("ads", "kpi_daily"), ("ads", "id_map")):
        eng.register("count_probe", lake.files(layer, table))
        report.rows[f"{layer}.{table}"] = int(eng.query("SELECT count(*) AS n FROM count_probe")["n"][0].as_py())
    return report

