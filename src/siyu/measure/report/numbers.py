"""Number formatting for the report: one place decides how a count, an amount or a rate reads."""

from __future__ import annotations


def number(value: float | None) -> str:
    """A count or amount for people: ``1234567`` → ``1,234,567``; ``12.345`` → ``12.35``; ``23.40`` → ``23.4``;
    ``0.01234`` → ``0.0123``; None → ``–``.
    """
    if value is None:
        return "–"
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{value:.3g}"


def percent(rate: float | None, digits: int = 1) -> str:
    """A fraction as a percentage: ``0.4567`` → ``45.7%``."""
    return "–" if rate is None else f"{rate * 100:.{digits}f}%"


def signed_percent(rate: float | None, digits: int = 1) -> str:
    """A relative change with its sign: ``0.12`` → ``+12.0%``, ``-0.034`` → ``-3.4%``."""
    return "–" if rate is None else f"{rate * 100:+.{digits}f}%"


def signed_number(value: float) -> str:
    return ("+" if value > 0 else "") + number(value)


def pct_value(rate: float | None, digits: int = 2) -> float | None:
    """A fraction as a rounded percentage number for chart data (charts label axes with ``%``)."""
    return None if rate is None else round(rate * 100, digits)
