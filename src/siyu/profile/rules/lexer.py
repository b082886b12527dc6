"""Tokens of the text form: strings (JSON rules), numbers, ISO dates, durations, names and operators."""

from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import Enum
from typing import Any

from siyu.profile.rules.errors import MAX_MAGNITUDE, MAX_SCALE, MAX_TEXT_LENGTH, Position, RuleError


class Kind(Enum):
    STRING = "a string"
    NUMBER = "a number"
    DATE = "a date"
    DURATION = "a duration"
    NAME = "a name"
    OP = "an operator"
    PUNCT = "punctuation"
    EOF = "the end of the rule"


@dataclass(frozen=True, slots=True)
class Token:
    kind: Kind
    text: str
    value: Any
    offset: int

    def is_word(self, *words: str) -> bool:
        return self.kind is Kind.NAME and self.text.lower() in words


_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<date>\d{4}-\d{2}-\d{2})(?![\w.])
  | (?P<duration>\d+[dhm])(?!\w)
  | (?P<number>-?\d+(?:\.\d+)?)(?![\w.])
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><=|>=|!=|<>|==|=|<|>)
  | (?P<punct>[(),.])
""", re.VERBOSE)

#: Operators spelt two ways are folded to one.
OP_ALIASES = {"==": "=", "<>": "!="}
#: 15 significant digits always survive a round trip through a JSON (binary) number.
MAX_DIGITS = 15


class Locator:
    """Turns offsets into :class:`Position` (line and column) in O(log lines)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def at(self, offset: int) -> Position:
        offset = max(0, min(offset, len(self.text)))
        i = bisect.bisect_right(self.starts, offset) - 1
        start = self.starts[i]
        end = self.starts[i + 1] - 1 if i + 1 < len(self.starts) else len(self.text)
        return Position(offset, i + 1, offset - start + 1, self.text[start:end])

    def error(self, message: str, offset: int, code: str = "rule_syntax") -> RuleError:
        return RuleError(message, code=code, position=self.at(offset))


def number_problem(value: int | Decimal) -> str | None:
    """Why a number cannot be a rule value (too large, too precise), or None."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            return "numbers must be finite"
        _, digits, exponent = value.as_tuple()
        assert isinstance(exponent, int)
        if -exponent > MAX_SCALE:
            return f"numbers may have at most {MAX_SCALE} digits after the point"
        if len(digits) > MAX_DIGITS and any(digits[MAX_DIGITS:]):
            return f"decimals may have at most {MAX_DIGITS} significant digits"
    if abs(value) >= MAX_MAGNITUDE:  # type: ignore[operator]
        return f"numbers must be smaller than {MAX_MAGNITUDE:.0e} in magnitude"
    return None


def _string(text: str, lexeme: str, offset: int, loc: Locator) -> str:
    try:
        value = json.loads(lexeme)
    except ValueError as exc:
        raise loc.error(f"invalid string: {exc.args[0].split(':')[0]}", offset) from None
    assert isinstance(value, str)
    return value


def tokenize(text: str) -> list[Token]:
    """Split rule text into tokens; raises ``rule_syntax`` with the position of anything else."""
    if len(text) > MAX_TEXT_LENGTH:
        raise RuleError(f"rule is {len(text):,} characters; the limit is {MAX_TEXT_LENGTH:,}", code="rule_too_long")
    loc, tokens, pos = Locator(text), [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise _bad_char(text, pos, loc)
        kind, lexeme = m.lastgroup, m.group()
        if kind == "string":
            tokens.append(Token(Kind.STRING, lexeme, _string(text, lexeme, pos, loc), pos))
        elif kind == "date":
            try:
                tokens.append(Token(Kind.DATE, lexeme, date.fromisoformat(lexeme), pos))
            except ValueError:
                raise loc.error(f"{lexeme} is not a calendar date", pos) from None
        elif kind == "duration":
            if len(lexeme) > 12:
                raise loc.error(f"duration {lexeme} is too long", pos, "value_out_of_range")
            tokens.append(Token(Kind.DURATION, lexeme, (int(lexeme[:-1]), lexeme[-1]), pos))
        elif kind == "number":
            if len(lexeme) > 40:
                raise loc.error("number is too long", pos, "value_out_of_range")
            number: int | Decimal = Decimal(lexeme) if "." in lexeme else int(lexeme)
            if problem := number_problem(number):
                raise loc.error(problem, pos, "value_out_of_range")
            tokens.append(Token(Kind.NUMBER, lexeme, number, pos))
        elif kind == "name":
            tokens.append(Token(Kind.NAME, lexeme, lexeme, pos))
        elif kind == "op":
            tokens.append(Token(Kind.OP, lexeme, OP_ALIASES.get(lexeme, lexeme), pos))
        elif kind == "punct":
            tokens.append(Token(Kind.PUNCT, lexeme, lexeme, pos))
        pos = m.end()
    tokens.append(Token(Kind.EOF, "", None, len(text)))
    return tokens


def _bad_char(text: str, pos: int, loc: Locator) -> RuleError:
    ch = text[pos]
    if ch == "'":
        return loc.error("text values use double quotes: \"like this\"", pos)
    if ch == '"':
        return loc.error("string is not closed (or has a raw line break or a bad escape)", pos)
    if ch.isdigit() or ch == "-":
        return loc.error("malformed number, date or duration (write 3, 2.5, 2026-01-31, 30d or 24h)", pos)
    if not ch.isascii():
        return loc.error(f"unexpected character {ch!r}; quote names and text in double quotes", pos)
    return loc.error(f"unexpected character {ch!r}", pos)
