"""``siyu tags build``: evaluate every due tag as of a day into ``ads/tag_values``, with history and catalogue.

Levels of tags (see ``plan.dependency_levels``) are each one ``UNION ALL`` query written to the
lake, so a level reads the levels before it as ``tag_values``. Tags not due by their refresh
cadence keep yesterday's values; predictive tags whose model has not written its table yet are
reported as pending, never faked. Afterwards: ``ads/tag_values_changes`` (who entered / left /
changed each tag that day) and ``ads/tag_catalogue`` (coverage and freshness per tag).
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from siyu.core.logs import get_logger
from siyu.profile.build import build_profile
from siyu.profile.config import ProfileConfig
from siyu.profile.history import record_changes
from siyu.profile.params import namespace_ctes
from siyu.profile.rules.schema import DEFAULT_SCHEMA, RuleSchema
from siyu.profile.tags.model import PredictiveTag, Refresh, TagDefinition, definition_hash, load_tag_definitions
from siyu.profile.tags.plan import TagPlanError, TagQuery, dependency_levels, tag_inputs, tag_query
from siyu.profile.views import materialize_profile_views
from siyu.warehouse.build import register_layer, write_layer
from siyu.warehouse.engine import Engine, open_engine
from siyu.warehouse.lake import Lake, with_lake_lock

log = get_logger(__name__)

TAG_VALUES_SCHEMA = pa.schema([("one_id", pa.string()), ("tag", pa.string()), ("value", pa.string()),
                               ("score", pa.float64())])
_DUE_AFTER_DAYS = {Refresh.DAILY: 1, Refresh.WEEKLY: 7, Refresh.MONTHLY: 28}


@dataclass
class TagReport:
    as_of: date
    goal: str
    built: list[str] = field(default_factory=list)
    carried: list[str] = field(default_factory=list)
    pending: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    rows: int = 0
    changes: int = 0
    levels: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "as_of": self.as_of.isoformat()}


_LEVEL_PREFIX = "_tag_level_"


def _drop_level_tables(lake: Lake) -> None:
    """Working tables of one build (a level's tags each); gone once ``ads/tag_values`` is written."""
    for folder in lake.table_dir("ads", "x").parent.glob(f"{_LEVEL_PREFIX}*"):
        shutil.rmtree(folder, ignore_errors=True)


def _due(tag: TagDefinition, last: str | None, as_of: date) -> bool:
    if last is None:
        return True
    return (as_of - date.fromisoformat(last)).days >= _DUE_AFTER_DAYS[tag.refresh] or as_of.isoformat() == last


@with_lake_lock()
def build_tags(lake: Lake, defs: Path, engine: Engine | str = "duckdb", *, as_of: date | None = None,
               goal: str = "default", full: bool = False, schema: RuleSchema = DEFAULT_SCHEMA,
               config: ProfileConfig | None = None) -> TagReport:
    """Build the profile facts if needed, then every due tag in ``defs`` (a folder of YAML files)."""
    tags = load_tag_definitions(defs)
    eng = open_engine(engine) if isinstance(engine, str) else engine
    t0 = time.perf_counter()
    facts = build_profile(lake, eng, as_of=as_of, config=config)
    materialize_profile_views(eng)
    as_of = facts.as_of
    report = TagReport(as_of=as_of, goal=goal, seconds={"facts": round(time.perf_counter() - t0, 3)})
    state = lake.read_state("tags")
    for name, tag in tags.items():
        old = state.get(name)
        if old and old["hash"] != definition_hash(tag) and old["version"] == tag.version:
            report.warnings.append(f"tag {name!r} changed since its last build but its version is still "
                                   f"{tag.version}: bump `version` so consumers know its meaning changed")
    deps = {name: tag_inputs(tag, schema) for name, tag in tags.items()}
    levels = dependency_levels(deps)
    has_old = lake.exists("ads", "tag_values")
    register_layer(eng, lake, "ads", "tag_values", "old_tag_values") if has_old else eng.register_arrow(
        "old_tag_values", TAG_VALUES_SCHEMA.empty_table())
    due = {n for n, tag in tags.items() if full or _due(tag, state.get(n, {}).get("as_of"), as_of)}
    # a tag reading a rebuilt tag is rebuilt too
    for level in levels:
        due.update(n for n in level if deps[n] & due)
    _drop_level_tables(lake)
    eng.register_arrow("tag_values", TAG_VALUES_SCHEMA.empty_table())
    carried = sorted(set(tags) - due)
    level_tables: list[str] = []
    t = time.perf_counter()
    for i, level in enumerate(levels):
        queries = _level_queries(eng, lake, [tags[n] for n in level if n in due], schema, as_of, goal, report)
        parts = [f"SELECT one_id, CAST($tag_name{j} AS VARCHAR) AS tag, value, score "
                 f"FROM ({namespace_ctes(q.sql, f'q{j}_')}) AS q{j}" for j, q in enumerate(queries)]
        params: dict[str, Any] = {}
        for j, q in enumerate(queries):
            params.update(q.params)
            params[f"tag_name{j}"] = q.name
        level_carried = [n for n in level if n in carried]
        if level_carried:
            eng.register_arrow(f"carried_{i}", pa.table({"tag": level_carried}))
            parts.append(f"SELECT one_id, tag, value, score FROM old_tag_values "
                         f"WHERE tag IN (SELECT tag FROM carried_{i})")
        if not parts:
            continue
        table = f"{_LEVEL_PREFIX}{i:03d}"
        write_layer(eng, lake, "ads", table, " UNION ALL ".join(parts), params=params)
        level_tables.append(table)
        eng.register("tag_values", [f for tb in level_tables for f in lake.files("ads", tb)], TAG_VALUES_SCHEMA)
        report.built += [q.name for q in queries]
        report.carried += level_carried
    report.levels = len(level_tables)
    report.seconds["tags"] = round(time.perf_counter() - t, 3)
    t = time.perf_counter()
    write_layer(eng, lake, "ads", "tag_values", "SELECT one_id, tag, value, score FROM tag_values")
    if lake.schema("ads", "tag_values") is None:
        lake.save_schema("ads", "tag_values", TAG_VALUES_SCHEMA)
    _drop_level_tables(lake)
    register_layer(eng, lake, "ads", "tag_values")
    report.rows = int(eng.query("SELECT count(*) AS n FROM ads_tag_values")["n"][0].as_py())
    eng.create_view("tag_value_now", "SELECT one_id, tag, value FROM ads_tag_values")
    report.changes = record_changes(eng, lake, "tag_values", "tag_value_now", ("one_id", "tag"), as_of)
    _write_catalogue(eng, lake, tags, report, state)
    report.seconds["history_and_catalogue"] = round(time.perf_counter() - t, 3)
    for name in report.built:
        state[name] = {"version": tags[name].version, "hash": definition_hash(tags[name]), "as_of": as_of.isoformat()}
    lake.write_state("tags", state)
    log.info("tags built", **{k: v for k, v in report.as_dict().items() if k in ("as_of", "rows", "changes")})
    return report


def _level_queries(eng: Engine, lake: Lake, level: list[TagDefinition], schema: RuleSchema, as_of: date,
                   goal: str, report: TagReport) -> list[TagQuery]:
    queries = []
    for k, tag in enumerate(level):
        view = None
        if isinstance(tag, PredictiveTag):
            layer, table = tag.source.table.split("/")
            if not lake.exists(layer, table):
                report.pending[tag.name] = f"model output {tag.source.table} is not built yet"
                continue
            view = f"pred_{len(report.built) + k}"
            register_layer(eng, lake, layer, table, view)
            columns = eng.schema(f"SELECT * FROM {view}").names
            if "one_id" not in columns or tag.source.column not in columns:
                raise TagPlanError(f"tag {tag.name!r}: {tag.source.table} has no one_id or {tag.source.column} "
                                   f"column (it has: {', '.join(columns)})", input_name=tag.name)
        prefix = f"t{len(report.built) + k}_"
        queries.append(tag_query(tag, schema=schema, as_of=as_of, prefix=prefix, goal=goal, prediction_view=view))
    return queries


def _write_catalogue(eng: Engine, lake: Lake, tags: dict[str, TagDefinition], report: TagReport,
                     state: dict[str, Any]) -> None:
    people = int(eng.query("SELECT count(*) AS n FROM profile")["n"][0].as_py()) or 1
    stats = {r["tag"]: r for r in eng.query(
        "SELECT tag, count(DISTINCT one_id) AS holders, count(DISTINCT value) AS distinct_values "
        "FROM ads_tag_values GROUP BY tag").to_pylist()}
    now = datetime.now(UTC)
    rows = []
    for name, tag in sorted(tags.items()):
        s = stats.get(name, {})
        built = name in report.built
        status = "built" if built else "pending" if name in report.pending else "carried"
        rows.append({
            "tag": name, "name_zh": tag.name_zh, "kind": tag.kind, "category": tag.category.value,
            "owner": tag.owner, "description": tag.description, "refresh": tag.refresh.value,
            "version": tag.version, "status": status, "holders": int(s.get("holders") or 0),
            "coverage": round(int(s.get("holders") or 0) / people, 6),
            "distinct_values": int(s.get("distinct_values") or 0),
            "as_of": report.as_of if built else (date.fromisoformat(state[name]["as_of"]) if name in state else None),
            "built_at": now if built else None,
        })
    table = pa.Table.from_pylist(rows, schema=pa.schema([
        ("tag", pa.string()), ("name_zh", pa.string()), ("kind", pa.string()), ("category", pa.string()),
        ("owner", pa.string()), ("description", pa.string()), ("refresh", pa.string()), ("version", pa.int64()),
        ("status", pa.string()), ("holders", pa.int64()), ("coverage", pa.float64()),
        ("distinct_values", pa.int64()), ("as_of", pa.date32()), ("built_at", pa.timestamp("us", tz="UTC"))]))
    with lake.staging("ads", "tag_catalogue") as tmp:
        (tmp / "out").mkdir()
        pq.write_table(table, tmp / "out" / "part-0.parquet")
        lake.replace_table("ads", "tag_catalogue", tmp / "out")
