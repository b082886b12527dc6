"""Text form → rule tree (seen through its JSON form), and every error with its code and position."""

from __future__ import annotations

import json
from typing import Any

import pytest

from siyu.profile.rules import RuleError, check_rule, parse_rule, rule_json_schema, to_json, to_text

LIFECYCLE = {"field": "lifecycle", "op": "=", "value": "silent"}

# text → JSON form: one line a case.
CASES: list[tuple[str, dict[str, Any]]] = [
    ('lifecycle = "silent"', LIFECYCLE),
    ('LIFECYCLE = "silent"', {"field": "LIFECYCLE", "op": "=", "value": "silent"}),
    ('lifecycle == "silent"', LIFECYCLE),
    ('tier != "gold"', {"field": "tier", "op": "!=", "value": "gold"}),
    ('tier <> "gold"', {"field": "tier", "op": "!=", "value": "gold"}),
    ("orders >= 2", {"field": "orders", "op": ">=", "value": 2}),
    ("monetary < 99.5", {"field": "monetary", "op": "<", "value": 99.5}),
    ("recency_days > -1", {"field": "recency_days", "op": ">", "value": -1}),
    ('rfm_class in ("重要挽留", "重要保持")', {"field": "rfm_class", "op": "in", "value": ["重要挽留", "重要保持"]}),
    ('tier NOT IN ("gold")', {"field": "tier", "op": "not in", "value": ["gold"]}),
    ("tier is null", {"field": "tier", "op": "is null"}),
    ("tier IS NOT NULL", {"field": "tier", "op": "is not null"}),
    ("orders between 1 and 5", {"field": "orders", "op": "between", "value": [1, 5]}),
    ('channels contains "wecom"', {"field": "channels", "op": "contains", "value": "wecom"}),
    ("first_order_date >= 2026-01-01", {"field": "first_order_date", "op": ">=", "value": {"date": "2026-01-01"}}),
    ('first_order_date < date("2026-01-01")',
     {"field": "first_order_date", "op": "<", "value": {"date": "2026-01-01"}}),
    ('last_seen_at >= timestamp("2026-01-01 08:30:00")',
     {"field": "last_seen_at", "op": ">=", "value": {"timestamp": "2026-01-01T08:30:00"}}),
    ("flag = TRUE", {"field": "flag", "op": "=", "value": True}),
    ('tier = "say \\"hi\\"\\n"', {"field": "tier", "op": "=", "value": 'say "hi"\n'}),
    ('tier = "\\u4e2d"', {"field": "tier", "op": "=", "value": "中"}),
    ('has_tag("complained")', {"has_tag": "complained"}),
    ('tag("interest") = "sports"', {"tag": "interest", "op": "=", "value": "sports"}),
    ('tag("interest") in ("a", "b")', {"tag": "interest", "op": "in", "value": ["a", "b"]}),
    ('in_segment("vip")', {"segment": "vip"}),
    ("count(order_paid, last 90d) >= 2",
     {"event": "order_paid", "agg": "count", "window": {"last_days": 90}, "op": ">=", "value": 2}),
    ("count(order_paid) = 0", {"event": "order_paid", "agg": "count", "op": "=", "value": 0}),
    ("did(order_paid)", {"event": "order_paid", "agg": "count", "op": ">=", "value": 1}),
    ("DID(order_paid, between 2026-01-01 and 2026-01-31)",
     {"event": "order_paid", "agg": "count", "window": {"from": "2026-01-01", "to": "2026-01-31"}, "op": ">=",
      "value": 1}),
    ('count(product_viewed where category = "sports" and price >= 100, last 30d) >= 3',
     {"event": "product_viewed", "agg": "count", "where": [{"property": "category", "op": "=", "value": "sports"},
                                                          {"property": "price", "op": ">=", "value": 100}],
      "window": {"last_days": 30}, "op": ">=", "value": 3}),
    ('count("自定义事件") > 1', {"event": "自定义事件", "agg": "count", "op": ">", "value": 1}),
    ("sum(order_paid.amount, last 365d) >= 3000",
     {"event": "order_paid", "agg": "sum", "property": "amount", "window": {"last_days": 365}, "op": ">=",
      "value": 3000}),
    ("avg(article_read.read_seconds) > 30.5",
     {"event": "article_read", "agg": "avg", "property": "read_seconds", "op": ">", "value": 30.5}),
    ("max(cs_consulted.satisfaction where amount between 1 and 2 and x is null) <= 2",
     {"event": "cs_consulted", "agg": "max", "property": "satisfaction",
      "where": [{"property": "amount", "op": "between", "value": [1, 2]}, {"property": "x", "op": "is null"}],
      "op": "<=", "value": 2}),
    ("order_count() >= 1", {"orders": "count", "op": ">=", "value": 1}),
    ("order_sum(last 365d) >= 3000", {"orders": "sum", "window": {"last_days": 365}, "op": ">=", "value": 3000}),
    ('order_avg(where channel = "mp", last 30d) < 50',
     {"orders": "avg", "where": [{"property": "channel", "op": "=", "value": "mp"}], "window": {"last_days": 30},
      "op": "<", "value": 50}),
    ("sequence(cart_added, order_paid, within 24h)",
     {"sequence": ["cart_added", "order_paid"], "within": {"hours": 24}}),
    ("sequence(cart_added, order_paid, within 2d, last 7d)",
     {"sequence": ["cart_added", "order_paid"], "within": {"days": 2}, "window": {"last_days": 7}}),
    ("sequence(a, b, within 30m)", {"sequence": ["a", "b"], "within": {"minutes": 30}}),
    ("not has_tag(\"x\")", {"not": {"has_tag": "x"}}),
    ("not not has_tag(\"x\")", {"not": {"not": {"has_tag": "x"}}}),
    ('tier = "a" and orders = 1 or tier = "b"',
     {"or": [{"and": [{"field": "tier", "op": "=", "value": "a"}, {"field": "orders", "op": "=", "value": 1}]},
             {"field": "tier", "op": "=", "value": "b"}]}),
    ('tier = "a" and (orders = 1 or tier = "b")',
     {"and": [{"field": "tier", "op": "=", "value": "a"},
              {"or": [{"field": "orders", "op": "=", "value": 1}, {"field": "tier", "op": "=", "value": "b"}]}]}),
    ('not tier = "a" and orders = 1',
     {"and": [{"not": {"field": "tier", "op": "=", "value": "a"}}, {"field": "orders", "op": "=", "value": 1}]}),
    ('((tier = "a"))', {"field": "tier", "op": "=", "value": "a"}),
    ('tier = "a"\n  AND\torders = 1', {"and": [{"field": "tier", "op": "=", "value": "a"},
                                               {"field": "orders", "op": "=", "value": 1}]}),
]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[c[0][:40] for c in CASES])
def test_text_parses_to(text: str, expected: dict[str, Any]) -> None:
    rule = parse_rule(text)
    assert to_json(rule) == expected
    assert parse_rule(expected) == rule == parse_rule(json.dumps(expected)) == parse_rule(to_text(rule))


# text → (error code, line, column): the caret goes under the column.
ERRORS: list[tuple[str, str, int, int]] = [
    ("", "rule_empty", 1, 1),
    ("lifecycle = and tier = 1", "rule_syntax", 1, 13),
    ("lifecycle = silent", "rule_syntax", 1, 13),
    ("lifecycle = 'silent'", "rule_syntax", 1, 13),
    ('lifecycle = "silent', "rule_syntax", 1, 13),
    ('lifecycle = "bad \\q escape"', "rule_syntax", 1, 13),
    ("lifecycle silent", "rule_syntax", 1, 11),
    ('lifecycle = "a" tier = "b"', "rule_syntax", 1, 17),
    ('lifecycle = "a" and', "rule_syntax", 1, 20),
    ('(lifecycle = "a"', "rule_syntax", 1, 17),
    ('lifecycle = "a")', "rule_syntax", 1, 16),
    ("orders = null", "rule_syntax", 1, 10),
    ("orders in ()", "rule_syntax", 1, 12),
    ("orders = 1e3", "rule_syntax", 1, 10),
    ("orders = 12345678901234567890", "value_out_of_range", 1, 10),
    ("monetary = 1.1234567", "value_out_of_range", 1, 12),
    ("first_order_date = 2026-02-30", "rule_syntax", 1, 20),
    ('last_seen_at = timestamp("2026-01-01T00:00:00+08:00")', "type_mismatch", 1, 26),
    ("foo(1)", "unknown_function", 1, 1),
    ("cnt(order_paid) > 1", "unknown_function", 1, 1),
    ("count(order_paid)", "rule_syntax", 1, 18),
    ('count(order_paid) >= "2"', "type_mismatch", 1, 22),
    ("count(order_paid, last 24h) > 1", "bad_window", 1, 19),
    ("count(order_paid, lats 7d) > 1", "bad_window", 1, 19),
    ("count(order_paid where) > 1", "rule_syntax", 1, 23),
    ("sum(order_paid) > 1", "rule_syntax", 1, 15),
    ("sequence(a, b)", "rule_syntax", 1, 14),
    ("has_tag(vip)", "rule_syntax", 1, 9),
    ("沉默 = 1", "rule_syntax", 1, 1),
    ('lifecycle = "a";', "rule_syntax", 1, 16),
    ('tier = "a" and\n  orders = "x" or', "rule_syntax", 2, 18),
    ('tier = "a" and\n  orders >>= 1', "rule_syntax", 2, 11),
]


@pytest.mark.parametrize(("text", "code", "line", "column"), ERRORS, ids=[e[0][:40] or "empty" for e in ERRORS])
def test_syntax_errors(text: str, code: str, line: int, column: int) -> None:
    with pytest.raises(RuleError) as err:
        parse_rule(text)
    assert err.value.position is not None
    assert (err.value.code, err.value.position.line, err.value.position.column) == (code, line, column), str(err.value)
    lines = str(err.value).splitlines()
    assert lines[-1].index("^") - 2 == column - 1  # the caret sits under the column (2-space indent)


# checked against the default schema: text → (code, column, a phrase of the message)
CHECK_ERRORS: list[tuple[str, str, int, str]] = [
    ('lifecycel = "silent"', "unknown_field", 1, "did you mean 'lifecycle'"),
    ('tier = "a" and monetory > 1', "unknown_field", 16, "'monetary'"),
    ('orders = "abc"', "type_mismatch", 1, "integer"),
    ("orders = 2.5", "type_mismatch", 1, "integer"),
    ("first_order_date = 5", "type_mismatch", 1, "date"),
    ('first_order_date = "yesterday"', "type_mismatch", 1, "date"),
    ("lifecycle = true", "type_mismatch", 1, "string"),
    ('orders contains "1"', "bad_operator", 1, "contains"),
    ("count(x) >= -1", "type_mismatch", 1, "≥ 0"),
    ("count(x) >= 1.5", "type_mismatch", 1, "whole number"),
    ("count(x, last 0d) >= 1", "bad_window", 1, "last Nd"),
    ("count(x, last 3651d) >= 1", "bad_window", 1, "3650"),
    ("count(x, between 2026-02-01 and 2026-01-01) >= 1", "bad_window", 1, "after"),
    ("sum(x.category) > 1", "type_mismatch", 1, "numeric"),
    ("sequence(a, b, within 0h)", "bad_window", 1, "positive"),
    ("sequence(a, b, within 3651d)", "bad_window", 1, "3650"),
    ('order_count(where colour = "x") > 1', "unknown_column", 19, "unknown order column"),
    ("count(x where visit = 2026-01-01) > 1", "type_mismatch", 15, "JSON"),
    ('count(x where category > 1) > 1', "type_mismatch", 15, "string"),
    ('has_tag("")', "rule_invalid", 1, "non-empty"),
    ('in_segment(" ")', "rule_invalid", 1, "non-empty"),
    ('tier = "\\u0000"', "bad_text", 1, "NUL"),
]


@pytest.mark.parametrize(("text", "code", "column", "phrase"), CHECK_ERRORS, ids=[e[0][:40] for e in CHECK_ERRORS])
def test_check_errors(text: str, code: str, column: int, phrase: str) -> None:
    rule = parse_rule(text)
    with pytest.raises(RuleError) as err:
        check_rule(rule)
    assert err.value.code == code, str(err.value)
    assert err.value.position is not None and err.value.position.column == column, str(err.value)
    assert phrase in str(err.value)


JSON_ERRORS: list[tuple[Any, str]] = [
    ({}, "rule_json"),
    ({"and": []}, "rule_json"),
    ({"or": []}, "rule_json"),
    ({"feild": "x", "op": "=", "value": 1}, "rule_json"),
    ({"field": "tier", "op": "=", "value": "a", "extra": 1}, "rule_json"),
    ({"field": "tier", "op": "like", "value": "a"}, "rule_json"),
    ({"field": "tier", "op": "=", "value": ["a"]}, "rule_json"),
    ({"field": "tier", "op": "in", "value": "a"}, "rule_json"),
    ({"field": "tier", "op": "between", "value": [1]}, "rule_json"),
    ({"field": "tier", "op": "is null", "value": 1}, "rule_json"),
    ({"field": "tier", "op": "="}, "rule_json"),
    ({"field": "x", "op": "=", "value": {"date": "2026-1-1"}}, "rule_json"),
    ({"field": "x", "op": "=", "value": {"date": "2026-02-30"}}, "type_mismatch"),
    ({"field": "x", "op": "=", "value": 0.1 + 0.2}, "value_out_of_range"),
    ({"event": "x", "op": ">=", "value": 1, "window": {"last_days": 1, "from": "2026-01-01"}}, "rule_json"),
    ({"sequence": ["a", "b"], "within": {"hours": 1, "days": 1}}, "rule_json"),
    ({"sequence": ["a"], "within": {"hours": 1}}, "rule_json"),
    ([{"has_tag": "x"}], "rule_invalid"),
    ('{"has_tag": "x"', "rule_syntax"),
    ('{"field": "orders", "op": "=", "value": NaN}', "rule_syntax"),
]


@pytest.mark.parametrize(("doc", "code"), JSON_ERRORS, ids=[str(e[0])[:40] for e in JSON_ERRORS])
def test_json_errors(doc: Any, code: str) -> None:
    with pytest.raises(RuleError) as err:
        parse_rule(doc)
    assert err.value.code == code, str(err.value)


def test_json_error_names_the_path() -> None:
    with pytest.raises(RuleError, match=r"and\[1\]"):
        parse_rule({"and": [{"has_tag": "x"}, {"field": "tier", "op": "~", "value": "a"}]})


def test_single_item_and_is_the_item() -> None:
    assert parse_rule({"and": [{"has_tag": "x"}]}) == parse_rule('has_tag("x")')


def test_json_schema_describes_the_forms() -> None:
    schema = json.dumps(rule_json_schema())
    for key in ("has_tag", "sequence", "last_days", "is not null", "segment", "orders"):
        assert key in schema
