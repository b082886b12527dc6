"""Questions about a rule without running it: which events it reads, whether it can run in real time."""

from __future__ import annotations

from collections.abc import Iterator

from siyu.profile.rules.ast import EventRule, FieldRule, InSegment, OrderRule, Rule, SequenceRule, walk
from siyu.profile.rules.check import SegmentLookup, resolve_segment
from siyu.profile.rules.errors import RuleError
from siyu.profile.rules.schema import DEFAULT_SCHEMA, RuleSchema


def leaves(rule: Rule, segment_rule: SegmentLookup | None = None, schema: RuleSchema = DEFAULT_SCHEMA,
           chain: tuple[str, ...] = ()) -> Iterator[Rule]:
    """Every leaf, looking through ``in_segment`` when ``segment_rule`` is given (each segment once)."""
    seen: set[str] = set()
    stack = [(rule, chain)]
    while stack:
        node, ch = stack.pop()
        for leaf in walk(node):
            if isinstance(leaf, InSegment) and segment_rule is not None and leaf.name not in seen:
                seen.add(leaf.name)
                stack.append((resolve_segment(leaf.name, segment_rule, ch, schema, leaf.pos), (*ch, leaf.name)))
            yield leaf


def referenced_events(rule: Rule, segment_rule: SegmentLookup | None = None,
                      schema: RuleSchema = DEFAULT_SCHEMA) -> set[str]:
    """Event names the rule reads (``count``/``did``/``sum``… and both steps of ``sequence``)."""
    names: set[str] = set()
    for leaf in leaves(rule, segment_rule, schema):
        if isinstance(leaf, EventRule):
            names.add(leaf.event)
        elif isinstance(leaf, SequenceRule):
            names.update((leaf.first, leaf.then))
    return names


def reads_orders(rule: Rule, segment_rule: SegmentLookup | None = None, schema: RuleSchema = DEFAULT_SCHEMA) -> bool:
    """Whether the rule reads the ``orders`` view (``order_count``, ``order_sum``, ``order_avg``)."""
    return any(isinstance(leaf, OrderRule) for leaf in leaves(rule, segment_rule, schema))


def incremental_support(rule: Rule, schema: RuleSchema = DEFAULT_SCHEMA,
                        segment_rule: SegmentLookup | None = None) -> tuple[bool, str]:
    """Whether the rule can be kept current from events alone (实时人群), and if not, why.

    Rules reading batch-only fields (RFM, lifecycle, tier…) only change when the nightly batch runs.
    """
    try:
        for leaf in leaves(rule, segment_rule, schema):
            if isinstance(leaf, FieldRule) and leaf.field in schema.batch_only:
                return False, f"reads {leaf.field!r}, which only the batch computes"
            if isinstance(leaf, InSegment) and segment_rule is None:
                return False, f"in_segment({leaf.name!r}) cannot be resolved without the segment definitions"
    except RuleError as exc:
        return False, exc.reason
    return True, "every condition can be evaluated from the person's fields, tags, events and orders"
