"""Periods of days asked for with optional ``since`` / ``until`` query parameters."""

from __future__ import annotations

from datetime import date, timedelta


def default_period(since: date | None, until: date | None, *, default_until: date,
                   default_days: int) -> tuple[date, date]:
    """``(since, until)`` with the defaults filled in: ``until`` or ``default_until``, and ``since`` or
    ``default_days`` before that end — clamped to the first representable day, so an ``until`` in year 1
    is an empty period rather than an overflow.

    >>> default_period(None, date(1, 1, 3), default_until=date(2026, 1, 1), default_days=29)
    (datetime.date(1, 1, 1), datetime.date(1, 1, 3))
    """
    end = until or default_until
    if since is not None:
        return since, end
    return (end - timedelta(days=default_days) if end.toordinal() > default_days else date.min), end
