"""Segments (人群圈选) on the lake: size, preview, export, overlap, daily membership and "why is X in/out".

Definitions live in YAML (``segments: [{name, name_zh, owner, description, rule}]``) or arrive as a
rule text/JSON. Every function compiles the rule with ``siyu.profile.rules`` (bound parameters only)
against the ``profile`` / ``events`` / ``orders`` / ``tag_values`` views registered by
``open_profile``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field

from siyu.core.errors import SiyuError
from siyu.profile.definitions import DefinitionError, read_yaml, validate_data
from siyu.profile.history import record_changes
from siyu.profile.params import namespace_ctes, with_prefix
from siyu.profile.rules import ExplainNode, PersonData, check_rule, compile_rule, explain_rule, parse_rule
from siyu.profile.rules.ast import Rule
from siyu.profile.rules.schema import DEFAULT_SCHEMA, RuleSchema
from siyu.profile.tags.model import TAG_NAME
from siyu.warehouse.build import register_layer
from siyu.warehouse.engine import Engine, open_engine
from siyu.warehouse.lake import Lake

#: What a preview shows: no raw identifiers beyond one_id; member numbers are masked.
PREVIEW_COLUMNS = ("one_id", "member_no", "lifecycle", "rfm_class", "tier", "orders", "monetary",
                   "last_interaction_date", "owner_staff_id")


class SegmentDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=TAG_NAME)
    name_zh: str = Field(min_length=1, max_length=64)
    owner: str = Field(min_length=1, max_length=128)
    description: str = Field("", max_length=2000)
    rule: str | dict[str, Any]


class SegmentFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    segments: list[SegmentDefinition] = Field(max_length=5000)


def load_segments(path: Path) -> dict[str, SegmentDefinition]:
    """Segment definitions from a YAML file or a folder of them; names unique."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*.y*ml") if p.is_file())
    if not path.exists():
        raise DefinitionError("no such file or folder", file=str(path))
    found: dict[str, SegmentDefinition] = {}
    for f in files:
        data, node = read_yaml(f)
        for i, seg in enumerate(validate_data({} if data is None else data, SegmentFile, name=str(f),
                                              node=node).segments):
            if seg.name in found:
                raise DefinitionError(f"segment {seg.name!r} is defined twice", file=str(f),
                                      field=f"segments[{i}].name")
            found[seg.name] = seg
    return found


@dataclass
class SegmentContext:
    """An engine with the profile views registered, the day rules are evaluated on, and named segments."""

    engine: Engine
    lake: Lake
    as_of: date
    segments: dict[str, SegmentDefinition]
    schema: RuleSchema = DEFAULT_SCHEMA
    #: When the facts were copied out of the lake (a published segment store); None when reading the lake.
    built_at: datetime | None = None

    def rule(self, text_or_name: str | dict[str, Any]) -> Rule:
        """A segment name (when one is defined) or a rule in text/JSON form, checked against the schema."""
        if isinstance(text_or_name, str) and text_or_name in self.segments:
            text_or_name = self.segments[text_or_name].rule
        return check_rule(parse_rule(text_or_name), self.schema)

    def segment_rule(self, name: str) -> Rule:
        if name not in self.segments:
            raise SiyuError(f"unknown segment {name!r}", code="unknown_segment", input_name=name)
        return parse_rule(self.segments[name].rule)

    def members_sql(self, rule: Rule) -> tuple[str, dict[str, Any]]:
        compiled = compile_rule(rule, self.schema, as_of=self.as_of, segment_rule=self.segment_rule)
        return compiled.sql, dict(compiled.params)


def open_profile(lake: Lake, engine: Engine | str = "duckdb", *, as_of: date | None = None,
                 segments: dict[str, SegmentDefinition] | None = None) -> SegmentContext:
    """Register the views segments read; ``as_of`` defaults to the day the profile facts were built for."""
    from siyu.profile.views import register_profile_sources, register_profile_view

    if not lake.exists("ads", "lifecycle"):
        raise SiyuError("no profile facts in this lake: run `siyu tags build` (or `siyu profile build`) first",
                        code="profile_not_built")
    eng = open_engine(engine) if isinstance(engine, str) else engine
    register_profile_sources(eng, lake)
    register_profile_view(eng, lake)
    if lake.exists("ads", "tag_values"):
        register_layer(eng, lake, "ads", "tag_values", "tag_values")
    else:
        eng.register_arrow("tag_values", pa.schema([("one_id", pa.string()), ("tag", pa.string()),
                                                    ("value", pa.string()), ("score", pa.float64())]).empty_table())
    built_for = eng.query("SELECT max(as_of) AS d FROM ads_lifecycle")["d"][0].as_py()
    return SegmentContext(eng, lake, as_of or built_for, segments or {})


def segment_size(ctx: SegmentContext, rule: Rule) -> int:
    sql, params = ctx.members_sql(rule)
    return int(ctx.engine.query(f"SELECT count(*) AS n FROM ({sql}) AS s", params)["n"][0].as_py())


def mask_identifier(value: str | None) -> str | None:
    """Keep the first 3 and last 2 characters (脱敏): 'M0012345678' → 'M00******78'."""
    if value is None or len(value) <= 5:
        return None if value is None else "*" * len(value)
    return value[:3] + "*" * (len(value) - 5) + value[-2:]


def segment_preview(ctx: SegmentContext, rule: Rule, limit: int = 20) -> pa.Table:
    """The first ``limit`` members (by one_id) with profile columns; identifiers masked."""
    sql, params = ctx.members_sql(rule)
    params["limit"] = max(0, min(int(limit), 10_000))
    table = ctx.engine.query(
        f"SELECT {', '.join('p.' + c for c in PREVIEW_COLUMNS)} FROM profile AS p "
        f"WHERE p.one_id IN (SELECT one_id FROM ({sql}) AS s) ORDER BY p.one_id LIMIT $limit", params)
    masked = pa.array([mask_identifier(v) for v in table["member_no"].to_pylist()], pa.string())
    return table.set_column(table.schema.get_field_index("member_no"), "member_no", masked)


#: Narrows a members query to those who may be used (consent): (engine, members SQL) → one_id SQL.
MembersFilter = Callable[[Engine, str], str]


def export_segment(ctx: SegmentContext, rule: Rule, out: Path, fmt: Literal["csv", "parquet"] = "csv", *,
                   allowed: MembersFilter | None = None) -> int:
    """Write the members' one_ids (and lifecycle/tier/RFM class) to ``out``; returns the rows written.

    ``allowed`` (see ``siyu.serving.consent_check.consented_members``) drops members who may not be used for
    the export's purpose; the CLI and the API always pass one."""
    sql, params = ctx.members_sql(rule)
    if allowed is not None:
        sql = allowed(ctx.engine, sql)
    table = ctx.engine.query(
        "SELECT p.one_id, p.lifecycle, p.rfm_class, p.tier, p.owner_staff_id FROM profile AS p "
        f"WHERE p.one_id IN (SELECT one_id FROM ({sql}) AS s) ORDER BY p.one_id", params)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    if fmt == "parquet":
        pq.write_table(table, tmp)
    else:
        pacsv.write_csv(table, tmp)
    tmp.replace(out)
    return table.num_rows


def segment_overlap(ctx: SegmentContext, a: Rule, b: Rule) -> dict[str, Any]:
    """Sizes of A only, B only and both, and the Jaccard index (重合度)."""
    sa, pa_ = ctx.members_sql(a)
    sb, pb = with_prefix(*ctx.members_sql(b), "b_")  # both rules number parameters from p0
    params = {**pa_, **pb}
    row = ctx.engine.query(f"""
SELECT count(CASE WHEN a.one_id IS NOT NULL AND b.one_id IS NULL THEN 1 END) AS only_a,
       count(CASE WHEN a.one_id IS NULL AND b.one_id IS NOT NULL THEN 1 END) AS only_b,
       count(CASE WHEN a.one_id IS NOT NULL AND b.one_id IS NOT NULL THEN 1 END) AS both
FROM ({sa}) AS a FULL OUTER JOIN ({sb}) AS b ON a.one_id = b.one_id""", params).to_pylist()[0]
    union = row["only_a"] + row["only_b"] + row["both"]
    return {**{k: int(v) for k, v in row.items()}, "jaccard": round(row["both"] / union, 6) if union else 0.0}


def snapshot_segments(ctx: SegmentContext) -> dict[str, int]:
    """Today's members of every defined segment into ``ads/segment_members``, with enter/exit records."""
    with ctx.lake.lock():  # replaces ads/segment_members and appends to its history
        from siyu.warehouse.build import write_layer

        parts: list[str] = []
        params: dict[str, Any] = {}
        for i, name in enumerate(sorted(ctx.segments)):
            sql, p = with_prefix(*ctx.members_sql(ctx.rule(name)), f"s{i}_")
            sql = namespace_ctes(sql, f"s{i}_")
            parts.append(f"SELECT one_id, CAST($seg{i} AS VARCHAR) AS segment FROM ({sql}) AS s{i}")
            params.update(p)
            params[f"seg{i}"] = name
        if not parts:
            raise SiyuError("no segments defined", code="no_segments")
        write_layer(ctx.engine, ctx.lake, "ads", "segment_members", " UNION ALL ".join(parts), params=params)
        register_layer(ctx.engine, ctx.lake, "ads", "segment_members")
        ctx.engine.create_view("segment_member_now", "SELECT one_id, segment, 'in' AS value FROM ads_segment_members")
        changes = record_changes(ctx.engine, ctx.lake, "segment_members", "segment_member_now", ("one_id", "segment"),
                                 ctx.as_of)
        sizes = {r["segment"]: int(r["n"]) for r in ctx.engine.query(
            "SELECT segment, count(*) AS n FROM ads_segment_members GROUP BY segment").to_pylist()}
        return {**{name: sizes.get(name, 0) for name in sorted(ctx.segments)}, "_changes": changes}


def find_person(ctx: SegmentContext, identifier: str) -> str:
    """``TYPE:VALUE`` (e.g. ``member_no:M001``, ``one_id:o_…``) → one_id, through the identifier map."""
    kind, _, value = identifier.partition(":")
    if not value:
        raise SiyuError(f"expected TYPE:VALUE, got {identifier!r}", code="bad_identifier", input_name=identifier)
    if kind == "one_id":
        rows = ctx.engine.query("SELECT one_id FROM profile WHERE one_id = $v", {"v": value})
    else:
        from siyu.core.identifiers import IdentifierType, stored_value

        try:
            itype = IdentifierType(kind)
            stored = stored_value(itype, value)
        except ValueError as exc:  # an unknown type or a malformed value (BadIdentifier)
            raise SiyuError(f"bad identifier {identifier!r}: {exc}", code="bad_identifier",
                            input_name=identifier) from None
        rows = ctx.engine.query(
            "SELECT coalesce(r.to_one_id, m.one_id) AS one_id FROM id_map AS m "
            "LEFT JOIN redirects AS r ON r.from_one_id = m.one_id "
            "WHERE m.identifier_type = $t AND m.identifier_value = $v",
            {"t": itype.value, "v": stored})
    if rows.num_rows == 0:
        raise SiyuError(f"no person with {identifier!r}", code="unknown_person", input_name=identifier)
    return str(rows["one_id"][0].as_py())


def people_data(ctx: SegmentContext, one_ids: list[str]) -> dict[str, PersonData]:
    """Everything the rule evaluator needs about these people, read from the views the SQL reads."""
    ctx.engine.register_arrow("wanted_people", pa.table({"one_id": pa.array(one_ids, pa.string())}))
    people = {o: PersonData(one_id=o) for o in one_ids}
    params = {"d": ctx.as_of}
    for row in ctx.engine.query("SELECT * FROM profile WHERE one_id IN (SELECT one_id FROM wanted_people)").to_pylist():
        people[row["one_id"]].fields = row
    for row in ctx.engine.query("SELECT one_id, tag, value FROM tag_values "
                                "WHERE one_id IN (SELECT one_id FROM wanted_people)").to_pylist():
        people[row["one_id"]].tags[row["tag"]] = row["value"]
    for view, target in (("events", "events"), ("orders", "orders")):
        rows = ctx.engine.query(f"SELECT * FROM {view} WHERE one_id IN (SELECT one_id FROM wanted_people) "
                                "AND dt <= CAST($d AS DATE)", params).to_pylist()
        for row in rows:
            getattr(people[row["one_id"]], target).append(row)
    return people


def explain_membership(ctx: SegmentContext, rule: Rule, identifier: str) -> tuple[str, ExplainNode]:
    """Why a person is in or out of a segment: every condition with its value and what was measured."""
    one_id = find_person(ctx, identifier)
    return one_id, explain_rule(rule, people_data(ctx, [one_id])[one_id], ctx.as_of,
                                segment_rule=ctx.segment_rule, schema=ctx.schema)
