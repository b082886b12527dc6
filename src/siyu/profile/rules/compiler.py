"""Checked rule → one SQL query (siyu's DuckDB dialect) and its bound parameters.

Shape: ``SELECT DISTINCT prof0.one_id FROM profile AS prof0 LEFT JOIN (…) AS j0 … WHERE <predicate>``.
Every event, order, tag, sequence and segment predicate is a ``LEFT JOIN`` of a subquery with at most
one row per ``one_id`` (a count, a sum, or a hit flag); the ``WHERE`` clause only combines them, so
people without any events get ``count = 0`` and ``sum = 0`` without special cases.

Safety: every value, event, tag and property name and date is a ``$pN`` parameter; column names come
from the schema (checked as plain lower-case names) and are quoted; operators come from the tables
below. Every comparison is wrapped in ``COALESCE(…, FALSE)`` so the logic is two-valued: a comparison
on NULL is false, and ``not`` of it is true, exactly as the Python evaluator does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from siyu.profile.rules.ast import (
    And,
    Condition,
    EventAgg,
    EventRule,
    FieldRule,
    HasTag,
    InSegment,
    LastDays,
    Not,
    Op,
    Operand,
    Or,
    OrderAgg,
    OrderRule,
    Rule,
    SequenceRule,
    TagRule,
    Value,
    Window,
)
from siyu.profile.rules.check import SegmentLookup, check_rule, property_type, resolve_segment
from siyu.profile.rules.errors import MAX_PREDICATES, RuleError
from siyu.profile.rules.schema import DEFAULT_SCHEMA, FieldType, RuleSchema

#: Scalar comparison operators → SQL.
SQL_OPS: Mapping[Op, str] = {Op.EQ: "=", Op.NE: "<>", Op.LT: "<", Op.LE: "<=", Op.GT: ">", Op.GE: ">="}


@dataclass(frozen=True)
class CompiledRule:
    """``sql`` selects one column, ``one_id`` (distinct); run it with ``engine.query(sql, params)``."""

    sql: str
    params: dict[str, Any]


def compile_rule(rule: Rule, schema: RuleSchema = DEFAULT_SCHEMA, *, as_of: date,
                 segment_rule: SegmentLookup | None = None) -> CompiledRule:
    """Compile a rule to one query over the ``profile``, ``tag_values``, ``events`` and ``orders`` views.

    ``compile_rule(parse_rule('lifecycle = "silent"'), as_of=date(2026, 3, 1)).params == {"p0": "silent"}``;
    ``segment_rule(name)`` supplies the rules of segments referenced with ``in_segment``.
    """
    if isinstance(as_of, datetime) or not isinstance(as_of, date):
        raise RuleError("as_of must be a date", code="rule_invalid")
    compiler = _Compiler(schema, as_of, segment_rule)
    sql = compiler.select(check_rule(rule, schema), ())
    return CompiledRule(sql, compiler.params)


@dataclass
class _Scope:
    """One ``SELECT … FROM profile`` level: its alias, its joins, and joins already made (by key)."""

    alias: str
    joins: list[tuple[str, str]] = field(default_factory=list)
    made: dict[object, str] = field(default_factory=dict)


class _Compiler:
    def __init__(self, schema: RuleSchema, as_of: date, segment_rule: SegmentLookup | None) -> None:
        self.schema, self.as_of, self.segment_rule = schema, as_of, segment_rule
        self.params: dict[str, Any] = {}
        self.names = 0
        self.predicates = 0
        # Column names are emitted from the schema's own strings, never from the rule.
        self.fields = {name: name for name in schema.fields}
        self.event_columns = {name: name for name in schema.event_properties}
        self.order_columns = {name: name for name in schema.order_columns}

    def bind(self, value: Value, type_: FieldType | None = None) -> str:
        name = f"p{len(self.params)}"
        if isinstance(value, datetime) or type_ is FieldType.TIMESTAMP:
            # Spark reads a bound Python datetime in the driver's time zone; text is cast in the session's.
            assert isinstance(value, datetime)
            self.params[name] = value.isoformat(sep=" ")
            return f"CAST(${name} AS TIMESTAMP)"
        self.params[name] = value
        return f"${name}"

    def fresh(self, prefix: str) -> str:
        self.names += 1
        return f"{prefix}{self.names - 1}"

    def select(self, rule: Rule, chain: tuple[str, ...]) -> str:
        scope = _Scope(self.fresh("prof"))
        where = self.expr(rule, scope, chain)
        joins = "".join(f"\nLEFT JOIN ({sub}) AS {alias} ON {alias}.one_id = {scope.alias}.one_id"
                        for sub, alias in scope.joins)
        return (f"SELECT DISTINCT {scope.alias}.one_id FROM profile AS {scope.alias}{joins}\n"
                f"WHERE {scope.alias}.one_id IS NOT NULL AND {where}")

    def join(self, scope: _Scope, key: object, build: Any) -> str:
        """Alias of the subquery for ``key`` in this scope, building it once."""
        if key not in scope.made:
            alias = self.fresh("j")
            scope.joins.append((build(), alias))
            scope.made[key] = alias
        return scope.made[key]

    # -- predicates ----------------------------------------------------------------------------------
    def expr(self, rule: Rule, scope: _Scope, chain: tuple[str, ...]) -> str:
        if isinstance(rule, And | Or):
            word = " AND " if isinstance(rule, And) else " OR "
            return "(" + word.join(self.expr(x, scope, chain) for x in rule.items) + ")"
        if isinstance(rule, Not):
            return f"(NOT {self.expr(rule.item, scope, chain)})"
        self.predicates += 1
        if self.predicates > MAX_PREDICATES:
            raise RuleError(f"rule has more than {MAX_PREDICATES:,} conditions (segments included)",
                            code="too_complex")
        if isinstance(rule, FieldRule):
            col = f'{scope.alias}."{self.fields[rule.field]}"'
            return self.condition(col, rule.op, rule.value, self.schema.fields[rule.field])
        if isinstance(rule, HasTag | TagRule):
            return self.tag(rule, scope)
        if isinstance(rule, EventRule):
            return self.event(rule, scope)
        if isinstance(rule, OrderRule):
            return self.orders(rule, scope)
        if isinstance(rule, SequenceRule):
            alias = self.join(scope, rule, lambda: self.sequence_sql(rule))
            return f"({alias}.hit IS NOT NULL)"
        if isinstance(rule, InSegment):
            def build() -> str:
                sub = resolve_segment(rule.name, self.segment_rule, chain, self.schema, rule.pos)
                return f"SELECT one_id, TRUE AS hit FROM ({self.select(sub, (*chain, rule.name))}) AS {self.fresh('s')}"
            alias = self.join(scope, ("segment", rule.name), build)
            return f"({alias}.hit IS NOT NULL)"
        raise RuleError(f"cannot compile {type(rule).__name__}", code="rule_invalid")

    def condition(self, expr: str, op: Op, operand: Operand, type_: FieldType) -> str:
        """``expr op operand`` as a two-valued SQL predicate."""
        if op is Op.IS_NULL:
            return f"({expr} IS NULL)"
        if op is Op.IS_NOT_NULL:
            return f"({expr} IS NOT NULL)"
        if op in SQL_OPS:
            assert operand is not None and not isinstance(operand, tuple)
            return f"COALESCE({expr} {SQL_OPS[op]} {self.bind(operand, type_)}, FALSE)"
        if op is Op.CONTAINS:
            assert operand is not None and not isinstance(operand, tuple)
            return f"COALESCE(contains({expr}, {self.bind(operand, type_)}), FALSE)"
        assert isinstance(operand, tuple)
        if op in (Op.IN, Op.NOT_IN):
            values = ", ".join(self.bind(v, type_) for v in operand)
            return f"COALESCE({expr} {'NOT IN' if op is Op.NOT_IN else 'IN'} ({values}), FALSE)"
        if op is Op.BETWEEN:
            return f"COALESCE({expr} BETWEEN {self.bind(operand[0], type_)} AND {self.bind(operand[1], type_)}, FALSE)"
        raise RuleError(f"operator {op} cannot be compiled", code="bad_operator")  # pragma: no cover

    def property_condition(self, c: Condition, types: Mapping[str, FieldType], names: dict[str, str],
                           table: str) -> str:
        type_, from_json = property_type(types, c.property, c.value)
        if not from_json:
            return self.condition(f'{table}."{names[c.property]}"', c.op, c.value, type_)
        text = f"json_extract_string({table}.properties, {self.bind('$.' + c.property)})"
        if type_ is FieldType.NUMBER:
            return self.condition(f"TRY_CAST({text} AS DOUBLE)", c.op, c.value, type_)
        if type_ is FieldType.BOOLEAN:  # JSON true/false read as text 'true'/'false'
            value = tuple(_bool_text(v) for v in c.value) if isinstance(c.value, tuple) else (
                None if c.value is None else _bool_text(c.value))
            return self.condition(text, c.op, value, FieldType.STRING)
        return self.condition(text, c.op, c.value, type_)

    def window(self, window: Window | None, column: str) -> str:
        if window is None:
            return ""
        if isinstance(window, LastDays):
            start, end = self.as_of - timedelta(days=window.days - 1), self.as_of
        else:
            start, end = window.start, window.end
        return f" AND {column} >= {self.bind(start)} AND {column} <= {self.bind(end)}"

    def tag(self, rule: HasTag | TagRule, scope: _Scope) -> str:
        if isinstance(rule, TagRule) and rule.op is Op.IS_NULL:
            return f"(NOT {self.tag(HasTag(rule.tag), scope)})"
        if isinstance(rule, HasTag) or rule.op is Op.IS_NOT_NULL:
            key: object = ("has_tag", rule.tag)
        else:
            key = ("tag", rule.tag, rule.op, repr(rule.value))

        def build() -> str:
            cond = "t.value IS NOT NULL"
            if isinstance(rule, TagRule) and rule.op is not Op.IS_NOT_NULL:
                cond = self.condition("t.value", rule.op, rule.value, FieldType.STRING)
            return (f"SELECT t.one_id, TRUE AS hit FROM tag_values AS t WHERE t.one_id IS NOT NULL "
                    f"AND t.tag = {self.bind(rule.tag)} AND {cond} GROUP BY t.one_id")

        return f"({self.join(scope, key, build)}.hit IS NOT NULL)"

    def event(self, rule: EventRule, scope: _Scope) -> str:
        # repr, not ==: True == 1 == Decimal(1), but a JSON property compared with true is not compared with 1.
        key = ("event", rule.event, rule.agg, rule.property, repr(rule.where), rule.window)

        def build() -> str:
            measures = "COUNT(*) AS n"
            if rule.property is not None:
                if rule.property in self.event_columns:
                    x = f'e."{self.event_columns[rule.property]}"'
                else:
                    x = f"TRY_CAST(json_extract_string(e.properties, {self.bind('$.' + rule.property)}) AS DOUBLE)"
                measures += {EventAgg.SUM: f", SUM({x}) AS s", EventAgg.AVG: f", SUM({x}) AS s, COUNT({x}) AS k",
                             EventAgg.MIN: f", MIN({x}) AS v", EventAgg.MAX: f", MAX({x}) AS v"}[rule.agg]
            filters = "".join(" AND " + self.property_condition(c, self.schema.event_properties,
                                                                self.event_columns, "e") for c in rule.where)
            return (f"SELECT e.one_id, {measures} FROM events AS e WHERE e.one_id IS NOT NULL "
                    f"AND e.event = {self.bind(rule.event)}{self.window(rule.window, 'e.dt')}{filters} "
                    f"GROUP BY e.one_id")

        return self.measure(self.join(scope, key, build), rule.agg.value, rule.op, rule.value)

    def orders(self, rule: OrderRule, scope: _Scope) -> str:
        def build() -> str:
            filters = "".join(" AND " + self.property_condition(c, self.schema.order_columns,
                                                                self.order_columns, "o") for c in rule.where)
            return (f"SELECT o.one_id, COUNT(*) AS n, SUM(o.amount) AS s, COUNT(o.amount) AS k FROM orders AS o "
                    f"WHERE o.one_id IS NOT NULL{self.window(rule.window, 'o.dt')}{filters} GROUP BY o.one_id")

        alias = self.join(scope, ("orders", repr(rule.where), rule.window), build)
        return self.measure(alias, rule.agg.value, rule.op, rule.value)

    def measure(self, alias: str, agg: str, op: Op, value: Any) -> str:
        """Nobody's events: count and sum are 0; avg, min and max are NULL (so the comparison is false)."""
        sql_op, v = SQL_OPS[op], self.bind(value)
        if agg == OrderAgg.COUNT:
            return f"(COALESCE({alias}.n, 0) {sql_op} {v})"
        if agg == OrderAgg.SUM:
            return f"COALESCE(COALESCE({alias}.s, 0) {sql_op} {v}, FALSE)"
        if agg == OrderAgg.AVG:  # avg op x ⇔ sum op x·n (n > 0): exact on decimals on both engines
            return f"COALESCE({alias}.s {sql_op} {v} * {alias}.k, FALSE)"
        return f"COALESCE({alias}.v {sql_op} {v}, FALSE)"

    def sequence_sql(self, rule: SequenceRule) -> str:
        return (f"SELECT a.one_id, TRUE AS hit FROM events AS a JOIN events AS b ON b.one_id = a.one_id "
                f"WHERE a.one_id IS NOT NULL AND a.event = {self.bind(rule.first)} "
                f"AND b.event = {self.bind(rule.then)}{self.window(rule.window, 'a.dt')} "
                f"AND b.event_time > a.event_time "
                f"AND b.event_time <= a.event_time + INTERVAL 1 SECOND * {self.bind(rule.within.seconds)} "
                f"GROUP BY a.one_id")


def _bool_text(value: Value) -> str:
    return "true" if value is True else "false"
