"""Text form → rule tree: a recursive-descent parser with an explicit depth limit.

Precedence is ``not`` > ``and`` > ``or``; keywords and function names are case-insensitive. The
parser only builds the tree; names and types are checked against a schema by :mod:`.check`.
"""

from __future__ import annotations

import difflib
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from siyu.profile.rules.ast import (
    And,
    Condition,
    DateRange,
    Duration,
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
    TimeUnit,
    Value,
    Window,
)
from siyu.profile.rules.errors import MAX_DEPTH, MAX_IN_VALUES, RuleError
from siyu.profile.rules.lexer import Kind, Locator, Token, tokenize

EVENT_FUNCTIONS = {"count": EventAgg.COUNT, "sum": EventAgg.SUM, "avg": EventAgg.AVG,
                   "min": EventAgg.MIN, "max": EventAgg.MAX}
ORDER_FUNCTIONS = {"order_count": OrderAgg.COUNT, "order_sum": OrderAgg.SUM, "order_avg": OrderAgg.AVG}
FUNCTIONS = sorted({"has_tag", "tag", "in_segment", "did", "sequence", *EVENT_FUNCTIONS, *ORDER_FUNCTIONS})
KEYWORDS = ("and", "or", "not", "in", "is", "null", "between", "contains", "where", "last", "within")
OPERATOR_HINT = "=, !=, <, <=, >, >=, in (...), not in (...), between … and …, is null, is not null or contains"


def parse_text(text: str) -> Rule:
    """Parse the text form, e.g. ``lifecycle = "silent" and not has_tag("complained")``."""
    return _Parser(text).parse()


class _Parser:
    def __init__(self, text: str) -> None:
        self.loc = Locator(text)
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0

    # -- token helpers -------------------------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind is not Kind.EOF:
            self.i += 1
        return tok

    def error(self, message: str, tok: Token | None = None, code: str = "rule_syntax") -> RuleError:
        return self.loc.error(message, (tok or self.tok).offset, code)

    def found(self, tok: Token | None = None) -> str:
        tok = tok or self.tok
        return "the end of the rule" if tok.kind is Kind.EOF else repr(tok.text)

    def expect_punct(self, p: str, what: str) -> Token:
        if self.tok.kind is Kind.PUNCT and self.tok.text == p:
            return self.advance()
        raise self.error(f"expected '{p}' {what}, found {self.found()}")

    def accept_punct(self, p: str) -> bool:
        if self.tok.kind is Kind.PUNCT and self.tok.text == p:
            self.advance()
            return True
        return False

    def accept_word(self, *words: str) -> bool:
        if self.tok.is_word(*words):
            self.advance()
            return True
        return False

    def expect_word(self, word: str, what: str) -> Token:
        if self.tok.is_word(word):
            return self.advance()
        raise self.error(f"expected '{word}' {what}, found {self.found()}")

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"rule is nested more than {MAX_DEPTH} levels deep", code="too_deep")

    # -- boolean structure ---------------------------------------------------------------------------
    def parse(self) -> Rule:
        if self.tok.kind is Kind.EOF:
            raise self.error("the rule is empty; an empty rule would match everyone, so it is refused",
                             code="rule_empty")
        rule = self.or_expr()
        if self.tok.kind is not Kind.EOF:
            hint = " (join conditions with 'and' or 'or')" if self.tok.kind is not Kind.PUNCT else ""
            raise self.error(f"unexpected {self.found()}{hint}")
        return rule

    def or_expr(self) -> Rule:
        items = [self.and_expr()]
        while self.accept_word("or"):
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_expr(self) -> Rule:
        items = [self.not_expr()]
        while self.accept_word("and"):
            items.append(self.not_expr())
        return items[0] if len(items) == 1 else And(tuple(items))

    def not_expr(self) -> Rule:
        if self.tok.is_word("not"):
            self.advance()
            self.enter()
            item = self.not_expr()
            self.depth -= 1
            return Not(item)
        return self.primary()

    def primary(self) -> Rule:
        tok = self.tok
        if tok.kind is Kind.PUNCT and tok.text == "(":
            self.advance()
            self.enter()
            rule = self.or_expr()
            self.expect_punct(")", "to close the parenthesis")
            self.depth -= 1
            return rule
        if tok.kind is not Kind.NAME or tok.is_word("and", "or"):
            raise self.error(f"expected a condition, found {self.found()}")
        self.advance()
        if self.tok.kind is Kind.PUNCT and self.tok.text == "(":
            return self.function(tok)
        op, value = self.comparison(f"after field {tok.text!r}")
        return FieldRule(tok.text, op, value, self.loc.at(tok.offset))

    # -- comparisons and values ----------------------------------------------------------------------
    def comparison(self, where: str) -> tuple[Op, Operand]:
        tok = self.tok
        if tok.kind is Kind.OP:
            self.advance()
            return Op(tok.value), self.value(f"after '{tok.text}'")
        if self.accept_word("in"):
            return Op.IN, self.value_list()
        if tok.is_word("not") and self.tokens[self.i + 1].is_word("in"):
            self.i += 2
            return Op.NOT_IN, self.value_list()
        if self.accept_word("is"):
            negated = self.accept_word("not")
            self.expect_word("null", "after 'is'" + (" not" if negated else ""))
            return (Op.IS_NOT_NULL if negated else Op.IS_NULL), None
        if self.accept_word("between"):
            low = self.value()
            self.expect_word("and", "between the two values of 'between'")
            return Op.BETWEEN, (low, self.value())
        if self.accept_word("contains"):
            return Op.CONTAINS, self.value()
        raise self.error(f"expected an operator {where} ({OPERATOR_HINT}), found {self.found()}")

    def value(self, where: str = "") -> Value:
        tok = self.advance()
        where = f" {where}" if where else ""
        if tok.kind in (Kind.STRING, Kind.NUMBER, Kind.DATE):
            return tok.value
        if tok.is_word("true", "false"):
            return tok.text.lower() == "true"
        if tok.is_word("date", "timestamp") and self.tok.kind is Kind.PUNCT and self.tok.text == "(":
            return self.typed_literal(tok)
        if tok.is_word("null"):
            raise self.error("compare with null using 'is null' or 'is not null'", tok)
        if tok.kind is Kind.NAME and not tok.is_word(*KEYWORDS):
            raise self.error(f"expected a value{where}, found {tok.text!r}; text values need double quotes: "
                             f"\"{tok.text}\"", tok)
        raise self.error(f"expected a value{where}, found {self.found(tok)}", tok)

    def typed_literal(self, fn: Token) -> date | datetime:
        self.expect_punct("(", f"after {fn.text}")
        arg = self.advance()
        if arg.kind is not Kind.STRING:
            raise self.error(f"{fn.text}(...) takes a quoted ISO string", arg)
        self.expect_punct(")", f"to close {fn.text}(...)")
        try:
            if fn.text.lower() == "date":
                return date.fromisoformat(arg.value)
            ts = datetime.fromisoformat(arg.value)
        except ValueError:
            raise self.error(f"{arg.text} is not an ISO {fn.text.lower()}", arg, "type_mismatch") from None
        if ts.tzinfo is not None:
            raise self.error("timestamps are local to the business time zone; drop the offset", arg, "type_mismatch")
        return ts

    def value_list(self) -> tuple[Value, ...]:
        self.expect_punct("(", "to open the list of values")
        values = [self.value()]
        while self.accept_punct(","):
            if len(values) >= MAX_IN_VALUES:
                raise self.error(f"more than {MAX_IN_VALUES:,} values in one list", code="too_many_values")
            values.append(self.value())
        self.expect_punct(")", "to close the list of values")
        return tuple(values)

    # -- functions -----------------------------------------------------------------------------------
    def function(self, name_tok: Token) -> Rule:
        name = name_tok.text.lower()
        pos = self.loc.at(name_tok.offset)
        self.expect_punct("(", f"after {name_tok.text}")
        if name in ("has_tag", "tag", "in_segment"):
            arg = self.quoted(f"{name}(...)")
            self.expect_punct(")", f"to close {name}(...)")
            if name == "has_tag":
                return HasTag(arg, pos)
            if name == "in_segment":
                return InSegment(arg, pos)
            op, value = self.comparison(f'after tag("{arg}")')
            return TagRule(arg, op, value, pos)
        if name == "did" or name in EVENT_FUNCTIONS:
            agg = EVENT_FUNCTIONS.get(name, EventAgg.COUNT)
            event = self.event_name()
            prop = None
            if agg is not EventAgg.COUNT:
                self.expect_punct(".", f"between the event and the property: {name}(event.property)")
                prop = self.property_name()
            where, window = self.filters_and_window(name)
            if name == "did":
                return EventRule(event, agg, None, where, window, Op.GE, 1, pos)
            op, value = self.aggregate_comparison(name)
            return EventRule(event, agg, prop, where, window, op, value, pos)
        if name in ORDER_FUNCTIONS:
            where, window = self.filters_and_window(name, leading_comma=False)
            op, value = self.aggregate_comparison(name)
            return OrderRule(ORDER_FUNCTIONS[name], where, window, op, value, pos)
        if name == "sequence":
            first = self.event_name()
            self.expect_punct(",", "between the two events of sequence(...)")
            then = self.event_name()
            self.expect_punct(",", "before 'within' in sequence(a, b, within 24h)")
            self.expect_word("within", "in sequence(a, b, within 24h)")
            within = self.duration()
            window = self.window() if self.accept_punct(",") else None
            self.expect_punct(")", "to close sequence(...)")
            return SequenceRule(first, then, within, window, pos)
        close = difflib.get_close_matches(name, FUNCTIONS, n=1)
        hint = f"; did you mean {close[0]}(...)?" if close else f"; known: {', '.join(FUNCTIONS)}"
        raise self.error(f"unknown function {name_tok.text}(...){hint}", name_tok, "unknown_function")

    def quoted(self, where: str) -> str:
        tok = self.advance()
        if tok.kind is not Kind.STRING:
            raise self.error(f"{where} takes a name in double quotes, found {self.found(tok)}", tok)
        return tok.value

    def event_name(self) -> str:
        tok = self.advance()
        if tok.kind in (Kind.NAME, Kind.STRING):
            return tok.value
        raise self.error(f"expected an event name, found {self.found(tok)}", tok)

    def property_name(self) -> str:
        tok = self.advance()
        if tok.kind is Kind.NAME:
            return tok.text
        raise self.error(f"expected a property name, found {self.found(tok)}", tok)

    def filters_and_window(self, fn: str, leading_comma: bool = True) -> tuple[tuple[Condition, ...], Window | None]:
        where: list[Condition] = []
        if self.accept_word("where"):
            while True:
                tok = self.tok
                prop = self.property_name()
                op, value = self.comparison(f"after property {prop!r}")
                where.append(Condition(prop, op, value, self.loc.at(tok.offset)))
                if not self.accept_word("and"):
                    break
        window = None
        if self.accept_punct(",") or (not leading_comma and self.tok.is_word("last", "between")):
            window = self.window()
        self.expect_punct(")", f"to close {fn}(...)" + (" (conditions after 'where' are joined by 'and')"
                                                          if where else ""))
        return tuple(where), window

    def window(self) -> Window:
        tok = self.tok
        if self.accept_word("last"):
            amount, unit = self.duration_parts()
            if unit != "d":
                raise self.error("windows count whole days: last 30d", tok, "bad_window")
            return LastDays(amount)
        if self.accept_word("between"):
            start = self.advance()
            self.expect_word("and", "between the two dates of the window")
            end = self.advance()
            if start.kind is not Kind.DATE or end.kind is not Kind.DATE:
                raise self.error("a window is 'between YYYY-MM-DD and YYYY-MM-DD'", tok, "bad_window")
            return DateRange(start.value, end.value)
        raise self.error(f"expected a window ('last 30d' or 'between 2026-01-01 and 2026-01-31'), found "
                         f"{self.found()}", code="bad_window")

    def duration_parts(self) -> tuple[int, str]:
        tok = self.advance()
        if tok.kind is not Kind.DURATION:
            raise self.error(f"expected a duration such as 30d or 24h, found {self.found(tok)}", tok)
        return tok.value

    def duration(self) -> Duration:
        amount, unit = self.duration_parts()
        return Duration(amount, TimeUnit(unit))

    def aggregate_comparison(self, fn: str) -> tuple[Op, int | Decimal]:
        tok = self.tok
        if tok.kind is not Kind.OP:
            raise self.error(f"expected a comparison after {fn}(...), such as >= 1, found {self.found()}")
        self.advance()
        value: Any = self.value()
        if isinstance(value, bool) or not isinstance(value, int | Decimal):
            raise self.error(f"{fn}(...) is compared with a number", self.tokens[self.i - 1], "type_mismatch")
        return Op(tok.value), value
