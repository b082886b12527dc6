"""From checked definitions to an evaluation plan: each tag's SQL, its inputs, and dependency levels.

Every tag becomes one query giving ``(one_id, value, score)``; tags that read other tags (``has_tag``
in a rule, a composite's inputs) run in a later level than their inputs, and cycles are refused.
Every value a definition carries is a bound parameter, prefixed per tag so a level's tags can be
``UNION ALL``-ed into one query.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from siyu.core.errors import SiyuError
from siyu.profile.params import with_prefix
from siyu.profile.rules import check_rule, compile_rule, parse_rule
from siyu.profile.rules.ast import HasTag, TagRule, walk
from siyu.profile.rules.schema import RuleSchema
from siyu.profile.statistics import statistic_sql
from siyu.profile.tags.model import Band, CompositeTag, PredictiveTag, RuleTag, StatisticalTag, TagDefinition


class TagPlanError(SiyuError):
    code = "bad_tag"


@dataclass(frozen=True)
class TagQuery:
    name: str
    sql: str  # columns: one_id, value, score
    params: dict[str, Any]
    inputs: frozenset[str]


def _bands_sql(bands: list[Band], prefix: str, params: dict[str, Any], score: str) -> str:
    whens = []
    for i, band in enumerate(bands):
        params[f"{prefix}bmin{i}"], params[f"{prefix}bval{i}"] = band.min, band.value
        whens.append(f"WHEN {score} >= ${prefix}bmin{i} THEN CAST(${prefix}bval{i} AS VARCHAR)")
    return f"CASE {' '.join(whens)} END"


def tag_inputs(tag: TagDefinition, schema: RuleSchema) -> frozenset[str]:
    """Tags this tag reads."""
    if isinstance(tag, RuleTag):
        rule = parse_rule(tag.rule)
        return frozenset(n.tag for n in walk(rule) if isinstance(n, HasTag | TagRule))
    if isinstance(tag, CompositeTag):
        return frozenset(tag.inputs())
    return frozenset()


def _rule_query(tag: RuleTag, schema: RuleSchema, as_of: date, prefix: str) -> tuple[str, dict[str, Any]]:
    compiled = compile_rule(check_rule(parse_rule(tag.rule), schema), schema, as_of=as_of)
    sql, params = with_prefix(compiled.sql, dict(compiled.params), prefix)
    return f"SELECT one_id, 'true' AS value, CAST(1.0 AS DOUBLE) AS score FROM ({sql}) AS r", params


def _predictive_query(tag: PredictiveTag, view: str, prefix: str) -> tuple[str, dict[str, Any]]:
    params: dict[str, Any] = {}
    score = f"CAST(s.\"{tag.source.column}\" AS DOUBLE)"
    value = _bands_sql(tag.bands, prefix, params, score)
    sql = (f"SELECT one_id, value, score FROM (SELECT s.one_id, {value} AS value, {score} AS score "
           f"FROM {view} AS s WHERE s.one_id IS NOT NULL AND {score} IS NOT NULL) AS b WHERE value IS NOT NULL")
    return sql, params


def _composite_query(tag: CompositeTag, goal: str, prefix: str) -> tuple[str, dict[str, Any]]:
    weights = tag.weights.get(goal, tag.weights["default"])
    params: dict[str, Any] = {f"{prefix}wsum": float(sum(weights.values()))}
    joins, terms = [], []
    for i, (name, w) in enumerate(sorted(weights.items())):
        params[f"{prefix}in{i}"], params[f"{prefix}w{i}"] = name, float(w)
        # each input scored by the person's standing among its holders (0–1], so weights compare like with like
        joins.append(f"LEFT JOIN (SELECT one_id, cume_dist() OVER (ORDER BY score) AS s FROM tag_values "
                     f"WHERE tag = ${prefix}in{i}) AS i{i} ON i{i}.one_id = p.one_id")
        terms.append(f"coalesce(i{i}.s, 0) * ${prefix}w{i}")
    score = f"round(({' + '.join(terms)}) / ${prefix}wsum, 6)"
    value = _bands_sql(tag.bands, prefix, params, "score")
    sql = (f"SELECT one_id, {value} AS value, score FROM (SELECT p.one_id, {score} AS score FROM profile AS p "
           f"{' '.join(joins)}) AS c WHERE score > 0")
    return f"SELECT one_id, value, score FROM ({sql}) AS b WHERE value IS NOT NULL", params


def tag_query(tag: TagDefinition, *, schema: RuleSchema, as_of: date, prefix: str, goal: str = "default",
              prediction_view: str | None = None) -> TagQuery:
    """The one query computing ``tag``; statistical and rule errors are re-raised naming the tag."""
    try:
        if isinstance(tag, RuleTag):
            sql, params = _rule_query(tag, schema, as_of, prefix)
        elif isinstance(tag, StatisticalTag):
            sql, params = statistic_sql(tag.statistic, tag.params, as_of=as_of, prefix=prefix)
        elif isinstance(tag, PredictiveTag):
            if prediction_view is None:
                raise TagPlanError("predictive tag needs its model output view", input_name=tag.name)
            sql, params = _predictive_query(tag, prediction_view, prefix)
        else:
            sql, params = _composite_query(tag, goal, prefix)
    except SiyuError as exc:
        raise TagPlanError(f"tag {tag.name!r}: {exc}", code=exc.code, input_name=tag.name) from exc
    return TagQuery(tag.name, sql, params, tag_inputs(tag, schema))


def dependency_levels(deps: dict[str, frozenset[str]]) -> list[list[str]]:
    """Tags grouped so every tag comes after the tags it reads; unknown inputs and cycles are errors."""
    for name, inputs in deps.items():
        missing = sorted(inputs - deps.keys())
        if missing:
            raise TagPlanError(f"tag {name!r} reads undefined tag(s): {', '.join(missing)}", input_name=name)
    levels: list[list[str]] = []
    done: set[str] = set()
    left = dict(deps)
    while left:
        ready = sorted(n for n, inputs in left.items() if inputs <= done)
        if not ready:
            raise TagPlanError("tags read each other in a cycle: " + ", ".join(sorted(left)), code="tag_cycle")
        levels.append(ready)
        done.update(ready)
        for n in ready:
            del left[n]
    return levels


def check_definitions(tags: dict[str, TagDefinition], schema: RuleSchema, *, as_of: date | None = None) -> None:
    """Everything that can be checked without a lake: rules parse and type-check, statistics exist and
    take their params, composite inputs exist, and no tags read each other in a cycle."""
    day = as_of or date(2000, 1, 1)
    for i, tag in enumerate(tags.values()):
        if not isinstance(tag, PredictiveTag):  # predictive tags need their model's table to compile
            tag_query(tag, schema=schema, as_of=day, prefix=f"t{i}_")
    dependency_levels({name: tag_inputs(tag, schema) for name, tag in tags.items()})
