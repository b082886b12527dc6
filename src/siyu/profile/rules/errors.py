"""Rule errors (规则错误) and the language's limits.

Every invalid rule raises :class:`RuleError` with a stable ``code``; errors found in the text form also
carry a :class:`Position` and show the offending line with a caret under it::

    rule_syntax at line 1, column 13: expected a value after '=', found 'and'
      lifecycle = and tier = "gold"
                  ^
"""

from __future__ import annotations

from dataclasses import dataclass

from siyu.core.errors import SiyuError

#: Longest accepted rule text (text or JSON form), in characters.
MAX_TEXT_LENGTH = 100_000
#: Deepest nesting of and/or/not/parentheses (and of JSON objects and arrays).
MAX_DEPTH = 64
#: Most values in one ``in (...)`` list.
MAX_IN_VALUES = 10_000
#: Longest window (``last Nd``, ``between``) and ``within`` duration, in days.
MAX_WINDOW_DAYS = 3650
#: Most predicates (leaves) in one rule, counting inlined segments.
MAX_PREDICATES = 1_000
#: Deepest chain of ``in_segment`` references.
MAX_SEGMENT_DEPTH = 8
#: Longest string value, tag, event or segment name.
MAX_STRING_LENGTH = 4_096
#: Numbers: at most this many digits after the point, and strictly below this magnitude.
MAX_SCALE = 6
MAX_MAGNITUDE = 10**18


@dataclass(frozen=True, slots=True)
class Position:
    """Where in the rule text an error is: 0-based ``offset``, 1-based ``line`` and ``column``."""

    offset: int
    line: int
    column: int
    line_text: str = ""

    @classmethod
    def at(cls, text: str, offset: int) -> Position:
        offset = max(0, min(offset, len(text)))
        line = text.count("\n", 0, offset) + 1
        start = text.rfind("\n", 0, offset) + 1
        end = text.find("\n", offset)
        return cls(offset, line, offset - start + 1, text[start: end if end >= 0 else len(text)])

    def caret(self) -> str:
        """The line of text with a caret under the column (long lines are cut around it)."""
        line, col = self.line_text, self.column - 1
        if len(line) > 100:
            lo = max(0, col - 50)
            line, col = line[lo: lo + 100], col - lo
        pad = "".join("\t" if ch == "\t" else " " for ch in line[:col])
        return f"  {line}\n  {pad}^"


class RuleError(SiyuError):
    """An invalid segment rule. ``code`` is stable (``rule_syntax``, ``unknown_field``, ``type_mismatch``…)."""

    code = "rule_error"

    def __init__(self, message: str, *, code: str = "rule_error", position: Position | None = None) -> None:
        self.reason = message
        self.position = position
        if position is not None:
            message = f"at line {position.line}, column {position.column}: {message}\n{position.caret()}"
        super().__init__(message, code=code, input_name="rule")
