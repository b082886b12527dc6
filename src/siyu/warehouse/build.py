"""``siyu build``: ODS → DWD → DWS → ADS, incremental by day, on any engine.

A day is rebuilt when its ODS files changed since the last build (re-running a day replaces it; a
new day leaves history alone). OneID edges are extracted per day; the compact identity graph is
re-resolved each build with stable ids, and the days holding rows of a one_id that a split moved
are rewritten. DWD orders and the ADS tables are small and rebuilt whole.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pyarrow as pa

from siyu.core.entities import ENTITIES
from siyu.core.logs import get_logger
from siyu.warehouse.engine import Engine, open_engine
from siyu.warehouse.identity.store import (
    ResolveSummary,
    extract_entity_graph,
    extract_event_graph,
    register_identity,
    resolve_graph,
)
from siyu.warehouse.lake import Lake, with_lake_lock
from siyu.warehouse.layers import ads, dwd, dws
from siyu.warehouse.schemas import ODS_EVENTS_VIEW

log = get_logger(__name__)
Step = Callable[[str], None]
#: (layer, table) of every table a build writes, in build order.
BUILT_TABLES = (("dwd", "events"), ("dwd", "orders"), ("dwd", "order_items"), ("dws", "user_daily"),
                ("ads", "profiles"), ("ads", "kpi_daily"), ("ads", "id_map"))


@dataclass
class BuildReport:
    engine: str
    days_built: list[str] = field(default_factory=list)
    identity: ResolveSummary | None = None
    rows: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    #: True when the build stopped after dwd events (``defer``): orders, dws and ads are still to do.
    deferred: bool = False

    def as_dict(self) -> dict[str, Any]:
        ident = None
        if self.identity:
            ident = {k: v for k, v in self.identity.__dict__.items() if k != "reassigned"}
            ident["reassigned"] = sorted(self.identity.reassigned)
        return {"engine": self.engine, "days_built": self.days_built, "identity": ident, "rows": self.rows,
                "seconds": self.seconds, "deferred": self.deferred}


def register_layer(eng: Engine, lake: Lake, layer: str, table: str, view: str | None = None) -> None:
    """Expose a lake table as ``view`` (default ``<layer>_<table>``), empty tables included."""
    eng.register(view or f"{layer}_{table}", lake.files(layer, table), lake.schema(layer, table))


def write_layer(eng: Engine, lake: Lake, layer: str, table: str, sql: str, *, days: list[str] | None = None,
                params: dict[str, Any] | None = None) -> None:
    """Run ``sql`` and make its result the table (``days`` given: only those ``dt`` partitions)."""
    with lake.staging(layer, table) as tmp:
        eng.write(sql, tmp / "out", params=params, partition_by="dt" if days is not None else None)
        if days is not None:
            lake.commit_partitions(layer, table, tmp / "out", days)
        else:
            lake.replace_table(layer, table, tmp / "out")
    if lake.schema(layer, table) is None:
        lake.save_schema(layer, table, eng.schema(sql, params))


def _signature(lake: Lake, layer: str, table: str, day: str | None = None) -> list[list[Any]]:
    folder = lake.partition_dir(layer, table, day) if day else lake.table_dir(layer, table)
    if not folder.exists():
        return []
    return sorted([p.name, p.stat().st_size] for p in folder.glob("*.parquet"))


def _days_table(days: list[str] | set[str]) -> pa.Table:
    return pa.table({"dt": pa.array(sorted(date.fromisoformat(d) for d in days), pa.date32())})


def _ods_files(lake: Lake, days: set[str]) -> list[str]:
    out: list[str] = []
    for d in sorted(days):
        folder = lake.partition_dir("ods", "events", d)
        if folder.exists():
            out.extend(str(p) for p in sorted(folder.glob("*.parquet")))
    return out


def _with_neighbours(days: list[str]) -> set[str]:
    """Days plus the day either side: a duplicate delivery can fall over midnight."""
    return {str(date.fromisoformat(d) + timedelta(n)) for d in days for n in (-1, 0, 1)}


def register_entities(eng: Engine, lake: Lake) -> None:
    for name in ("orders", "order_items", "customer_staff"):
        schema = ENTITIES[name].schema.append(pa.field("batch_id", pa.string()))
        eng.register(f"ods_{name}", lake.files("ods", f"entities_{name}"), schema)


class _Clock:
    def __init__(self, report: BuildReport) -> None:
        self.report, self.t = report, time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.report.seconds[name] = round(now - self.t, 3)
        log.info("build.step", engine=self.report.engine, step=name, seconds=self.report.seconds[name])
        self.t = now


@with_lake_lock()
def build(lake: Lake, engine: Engine | str = "duckdb", *, full: bool = False, step: Step | None = None,
          shared_limit: int = 2, chunk_days: int = 30, defer: Callable[[], bool] | None = None) -> BuildReport:
    """Build the layers that changed since the last build; ``full`` rebuilds every day.

    Day-partitioned layers are built ``chunk_days`` at a time, so the working set of one query is
    bounded by a month of data however long the history is.

    ``defer``: asked once dwd events are written, when the new data brought no new identifier or link;
    True stops there (``report.deferred``) so a loader can make the next events queryable first. The
    manifest is not advanced, so the next build does those days again, whole.
    """
    eng = open_engine(engine) if isinstance(engine, str) else engine
    report = BuildReport(engine=eng.name)
    say = step or (lambda _m: None)
    clock = _Clock(report)
    manifest = {} if full else lake.read_state(f"build-{eng.name}")
    ods_days = lake.partitions("ods", "events")
    sigs = {d: _signature(lake, "ods", "events", d) for d in ods_days}
    old = manifest.get("ods_days", {})
    dirty = [d for d in ods_days if old.get(d) != sigs[d]]
    vanished = [d for d in old if d not in sigs]
    ent_sig = {n: _signature(lake, "ods", f"entities_{n}") for n in ENTITIES}
    entities_changed = manifest.get("entities") != ent_sig
    register_entities(eng, lake)

    say(f"identity edges for {len(dirty)} day(s)")
    for chunk in _chunks(dirty, chunk_days):
        eng.register_arrow("build_days", _days_table(chunk))
        eng.register("ods_events", _ods_files(lake, set(chunk)), ODS_EVENTS_VIEW)
        extract_event_graph(eng, lake, chunk)
    if entities_changed:
        extract_entity_graph(eng, lake)
    clock.lap("identity_extract")
    say("resolving OneID")
    report.identity = resolve_graph(eng, lake, days=dirty, entities_changed=entities_changed, full=full,
                                    shared_limit=shared_limit)
    register_identity(eng, lake)
    clock.lap("identity_resolve")

    days = sorted(set(dirty) | set(vanished) | _days_with(eng, lake, report.identity.reassigned))
    report.days_built = days
    for chunk in _chunks(days, chunk_days):
        say(f"dwd events for {chunk[0]} … {chunk[-1]}")
        eng.register_arrow("build_days", _days_table(chunk))
        eng.register("ods_events", _ods_files(lake, _with_neighbours(chunk)), ODS_EVENTS_VIEW)
        write_layer(eng, lake, "dwd", "events", dwd.EVENTS, days=chunk)
    clock.lap("dwd_events")
    register_layer(eng, lake, "dwd", "events")
    if (defer is not None and report.identity.unchanged and not entities_changed and not vanished
            and lake.exists("ads", "profiles") and defer()):
        report.deferred = True
        log.info("build.deferred", engine=eng.name, days=len(days))
        return report
    say("dwd orders")
    write_layer(eng, lake, "dwd", "orders", dwd.ORDERS, days=None)
    write_layer(eng, lake, "dwd", "order_items", dwd.ORDER_ITEMS)
    register_layer(eng, lake, "dwd", "orders")
    clock.lap("dwd_orders")

    # Orders are rebuilt whole, and merges change whose row is whose: then every day's DWS is redone.
    dws_days = set(days)
    if entities_changed or report.identity.new_redirects:
        dws_days |= set(lake.partitions("dwd", "events")) | set(lake.partitions("dwd", "orders"))
    for chunk in _chunks(sorted(dws_days), chunk_days):
        say(f"dws for {chunk[0]} … {chunk[-1]}")
        eng.register_arrow("build_days", _days_table(chunk))
        write_layer(eng, lake, "dws", "user_daily", dws.USER_DAILY, days=chunk)
    clock.lap("dws")

    say("ads")
    register_layer(eng, lake, "dws", "user_daily")
    as_of = eng.query("SELECT CAST(max(dt) AS VARCHAR) AS d FROM dws_user_daily")["d"][0].as_py()
    eng.create_view("user_daily_current", ads.USER_DAILY_CURRENT)
    write_layer(eng, lake, "ads", "profiles", ads.PROFILES, params={"as_of": as_of or "1970-01-01"})
    write_layer(eng, lake, "ads", "kpi_daily", ads.KPI_DAILY)
    if not report.identity.unchanged or not lake.exists("ads", "id_map"):  # the graph is as it was: so is the map
        write_layer(eng, lake, "ads", "id_map", ads.ID_MAP)
    clock.lap("ads")
    lake.write_state(f"build-{eng.name}", {"ods_days": sigs, "entities": ent_sig})
    for layer, table in BUILT_TABLES:
        register_layer(eng, lake, layer, table, "count_probe")
        report.rows[f"{layer}.{table}"] = int(eng.query("SELECT count(*) AS n FROM count_probe")["n"][0].as_py())
    log.info("build.done", engine=eng.name, days=len(days), **report.rows)
    return report


def _chunks(days: list[str], size: int) -> list[list[str]]:
    return [days[i:i + size] for i in range(0, len(days), max(1, size))]


def _days_with(eng: Engine, lake: Lake, one_ids: set[str]) -> set[str]:
    """DWD days holding rows stamped with any of ``one_ids`` (a split moved their identifiers)."""
    if not one_ids or not lake.exists("dwd", "events"):
        return set()
    register_layer(eng, lake, "dwd", "events")
    eng.register_arrow("moved_ids", pa.table({"one_id": sorted(one_ids)}))
    hit = eng.query("SELECT DISTINCT CAST(dt AS VARCHAR) AS d FROM dwd_events "
                    "WHERE one_id IN (SELECT one_id FROM moved_ids)")
    return set(hit["d"].to_pylist())
