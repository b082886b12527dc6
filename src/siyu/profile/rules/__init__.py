"""The segment rule language (人群圈选规则): define a segment of customers in text or JSON.

    lifecycle = "silent" and rfm_class in ("重要挽留", "重要保持")
        and count(order_paid, last 90d) >= 2 and not has_tag("complained")

Stages: :func:`parse_rule` (text or JSON → rule tree) → :func:`check_rule` (against a
:class:`RuleSchema`) → :func:`compile_rule` (one SQL query + bound parameters, any engine) — and
:func:`evaluate_rule`, the plain-Python reference semantics used for real time and :func:`explain_rule`.
Invalid rules raise :class:`RuleError`; they never compile to "everyone". See ``docs/segments.md``.
"""

from __future__ import annotations

from typing import Any

from siyu.profile.rules.analysis import incremental_support, referenced_events
from siyu.profile.rules.ast import Rule
from siyu.profile.rules.check import SegmentLookup, check_rule
from siyu.profile.rules.compiler import CompiledRule, compile_rule
from siyu.profile.rules.errors import (
    MAX_DEPTH,
    MAX_IN_VALUES,
    MAX_TEXT_LENGTH,
    MAX_WINDOW_DAYS,
    Position,
    RuleError,
)
from siyu.profile.rules.evaluator import PersonData, evaluate_population, evaluate_rule
from siyu.profile.rules.explain import ExplainNode, explain_rule
from siyu.profile.rules.json_form import parse_json, rule_json_schema
from siyu.profile.rules.parser import parse_text
from siyu.profile.rules.printer import to_json, to_text
from siyu.profile.rules.realtime import Changes, PersonState, SegmentWatcher
from siyu.profile.rules.schema import (
    BATCH_ONLY_FIELDS,
    DEFAULT_PROFILE_FIELDS,
    DEFAULT_SCHEMA,
    FieldType,
    RuleSchema,
)

__all__ = [
    "BATCH_ONLY_FIELDS",
    "DEFAULT_PROFILE_FIELDS",
    "DEFAULT_SCHEMA",
    "MAX_DEPTH",
    "MAX_IN_VALUES",
    "MAX_TEXT_LENGTH",
    "MAX_WINDOW_DAYS",
    "Changes",
    "CompiledRule",
    "ExplainNode",
    "FieldType",
    "PersonData",
    "PersonState",
    "Position",
    "Rule",
    "RuleError",
    "RuleSchema",
    "SegmentLookup",
    "SegmentWatcher",
    "check_rule",
    "compile_rule",
    "evaluate_population",
    "evaluate_rule",
    "explain_rule",
    "incremental_support",
    "parse_json",
    "parse_rule",
    "parse_text",
    "referenced_events",
    "rule_json_schema",
    "to_json",
    "to_text",
]


def parse_rule(text_or_json: str | dict[str, Any]) -> Rule:
    """Parse either form: a dict, or a string starting with ``{`` (JSON), else the text form.

    >>> to_json(parse_rule('lifecycle = "silent"'))
    {'field': 'lifecycle', 'op': '=', 'value': 'silent'}
    """
    if isinstance(text_or_json, dict):
        return parse_json(text_or_json)
    if not isinstance(text_or_json, str):
        raise RuleError(f"a rule is text or a JSON object, not {type(text_or_json).__name__}", code="rule_invalid")
    if text_or_json.lstrip().startswith("{"):
        return parse_json(text_or_json)
    return parse_text(text_or_json)


